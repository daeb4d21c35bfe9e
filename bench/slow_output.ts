/**
 * A fast input feeding an output at least 100 times slower, for a fixed time:
 * memory must stay bounded because back-pressure holds the input back.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Actor, sleep } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { Router } from "../core/router.ts";
import { generator } from "../actors/input/generator.ts";
import { nullOutput } from "../actors/output/null.ts";
import { report } from "./measure.ts";

/** An output that waits 1 ms after every 10 events: about 10,000 events/s. */
class SlowOutput extends Actor {
  readonly kind = "output";
  #seen = 0;
  #signal: AbortSignal;

  constructor(name: string, signal: AbortSignal) {
    super(name, {}, { outbound: ["error"] });
    this.#signal = signal;
  }

  override async consume(_event: Event): Promise<void> {
    if (++this.#seen % 10 === 0) await sleep(1, this.#signal);
  }
}

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "5" } },
});
const seconds = Number(values.seconds);

// The input's own rate, with nothing slowing it down.
const fast = new Router();
fast.register(generator, "input", { interval: 0, count: 1_000_000, data: "x" });
fast.register(nullOutput, "sink");
fast.connect("input.outbox", "sink.inbox");
let started = performance.now();
await fast.start();
await fast.finished;
const inputRate = (await fast.stop()).delivered /
  ((performance.now() - started) / 1000);

const abort = new AbortController();
const router = new Router();
router.register(generator, "input", {
  interval: 0,
  data: { message: "x".repeat(100) },
});
router.register(new SlowOutput("slow", abort.signal));
router.connect("input.outbox", "slow.inbox");
started = performance.now();
await router.start();
await sleep(seconds * 1000, abort.signal);
const stopped = await router.stop({ timeoutMs: 10_000 });
abort.abort();
const elapsed = (performance.now() - started) / 1000;
report({
  scenario: "slow output",
  events: stopped.delivered,
  seconds: elapsed,
  input_events_per_second: inputRate,
  slowdown: inputRate / (stopped.delivered / elapsed),
  lost: stopped.dropped +
    Object.values(stopped.queued).reduce((a, b) => a + b, 0),
});
