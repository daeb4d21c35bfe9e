/**
 * A stage run as one copy and as several in threads: generator -> stage ->
 * null, with `threads: N` on the stage. `--scenario jsonata-N` is a
 * CPU-bound stage (an order of 20 lines totalled, sorted and joined by
 * jsonata), `--scenario header-N` a cheap one (a header set), where threads
 * cost more than they give. The rate is measured after a warm-up tenth of
 * the events (the threads' JIT warm); the time the start took (threads
 * starting) is printed beside it. `bench/main.ts` runs N = 2 and N = 1 in
 * turn and prints the speed-up.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Actor } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { Router } from "../core/router.ts";
import { generator } from "../actors/input/generator.ts";
import { header } from "../actors/transform/header.ts";
import { jsonata } from "../actors/transform/jsonata.ts";
import type { ActorSpec } from "../core/registry.ts";
import { countOption, report } from "./measure.ts";

/** An order of 20 lines. */
const ORDER = {
  id: "o-1",
  customer: { name: "Ada", country: "GB" },
  lines: Array.from({ length: 20 }, (_, i) => ({
    sku: `sku-${(i * 7919) % 1000}`,
    price: ((i * 37) % 100) + 0.5,
    quantity: (i % 5) + 1,
  })),
};

/** What the stage computes of each order. */
const EXPRESSION = `{
  "id": id,
  "customer": customer.name,
  "total": $sum(lines.(price * quantity)),
  "skus": $join($sort(lines.sku), ","),
  "expensive": [lines[price > 50].sku],
  "largest": $max(lines.(price * quantity))
}`;

/** The stages measured. */
const STAGES = {
  jsonata: {
    spec: jsonata,
    options: { expression: EXPRESSION },
    data: ORDER,
    events: 20_000,
  },
  header: {
    spec: header,
    options: { set: { "route.kind": "order" } },
    data: '{"id":"o-1","total":12.5}',
    events: 300_000,
  },
};

/**
 * An output that counts events and notes when the warm-up part had arrived,
 * so that the rate is measured with every thread's JIT warm.
 */
class Clock extends Actor {
  readonly kind = "output";
  #warm: number;
  count = 0;
  warmAt = 0;
  warmCpu = 0;

  constructor(name: string, warm: number) {
    super(name, {}, { outbound: [] });
    this.#warm = warm;
  }

  override consumeBatch(events: Event[]): void {
    this.count += events.length;
    if (this.warmAt === 0 && this.count >= this.#warm) {
      this.warmAt = performance.now();
      this.warmCpu = cpuSeconds();
    }
  }
}

/**
 * The CPU time of the process (all its threads), in seconds, from
 * /proc/self/stat (Linux; 0 elsewhere).
 */
function cpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime, fields 14 and 15, in clock ticks (100 a second).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** What one run measured. */
interface Timed {
  events: number;
  seconds: number;
  cpuSeconds: number;
  startSeconds: number;
}

/**
 * Runs `warm` events, then `events` more through one pipeline; returns what
 * the second part took, and the seconds the start took.
 */
async function run(
  stage: keyof typeof STAGES,
  warm: number,
  events: number,
  threads: number,
): Promise<Timed> {
  const { spec, options, data } = STAGES[stage];
  const router = new Router();
  router.register(generator, "input", {
    interval: 0,
    count: warm + events,
    data,
  });
  router.register(spec as ActorSpec, "stage", options, { threads });
  const clock = router.register(new Clock("sink", warm)) as Clock;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  const starting = performance.now();
  await router.start();
  const started = performance.now();
  await router.finished;
  const ended = performance.now();
  const endedCpu = cpuSeconds();
  const stopped = await router.stop();
  if (stopped.unaccounted !== 0 || stopped.failed !== 0) {
    throw new Error(`Lost events: ${JSON.stringify(stopped)}`);
  }
  return {
    events: clock.count - warm,
    seconds: (ended - clock.warmAt) / 1000,
    cpuSeconds: endedCpu - clock.warmCpu,
    startSeconds: (started - starting) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "jsonata-2" },
    events: { type: "string" },
  },
});
const [stage, threadsText] = values.scenario.split("-") as [
  keyof typeof STAGES,
  string,
];
if (!(stage in STAGES)) throw new Error(`Unknown stage "${stage}"`);
const threads = Number(threadsText ?? 1);
if (!Number.isSafeInteger(threads) || threads < 1) {
  throw new TypeError(
    `--scenario ${values.scenario}: the threads after "-" must be a whole number of at least 1`,
  );
}
const events = values.events === undefined
  ? STAGES[stage].events
  : countOption("events", values.events, 1);
// The first tenth warms the JIT of the main thread and of every thread up.
const timed = await run(stage, Math.ceil(events / 10), events, threads);
report({
  scenario: `${stage}, threads: ${threads}`,
  events: timed.events,
  seconds: timed.seconds,
  threads,
  start_seconds: timed.startSeconds,
  // How many cores the run kept busy: at most what the machine gave it.
  cores_used: timed.cpuSeconds / timed.seconds,
});
