/**
 * Latency with small batches: one event at a time goes from an input through
 * `--stages` pass-through transforms (default 5) to an output, and the next
 * is sent once it arrived, so that every batch holds one event and the
 * pipeline is lightly loaded. Prints the trip's p50, p90 and p99 in
 * microseconds (from `send` in the input to `consume` in the output), after
 * an untimed warm-up; asserts nothing about time.
 *
 *   deno run --allow-all bench/latency.ts --stages 5 --events 20000
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Actor } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { Router } from "../core/router.ts";
import { countOption, PassThrough, report } from "./measure.ts";

const { values } = parseArgs({
  options: {
    stages: { type: "string", default: "5" },
    events: { type: "string", default: "20000" },
    warmup: { type: "string", default: "5000" },
  },
});
const stages = countOption("stages", values.stages!, 1);
const events = countOption("events", values.events!, 1);
const warmup = countOption("warmup", values.warmup!);

/** Where the output tells the input that the event arrived. */
let arrived: (() => void) | undefined;

/** Sends one event, waits for it at the output, and so on; times each trip. */
class Pinger extends Actor {
  readonly kind = "input";
  readonly trips: number[] = [];

  constructor(name: string) {
    super(name, {}, { inbound: [] });
  }

  override async produce(signal: AbortSignal): Promise<void> {
    for (let seq = 0; seq < warmup + events && !signal.aborted; seq++) {
      const done = new Promise<void>((resolve) => arrived = resolve);
      const sent = performance.now();
      const waiting = this.send({ header: {}, data: seq });
      if (waiting !== undefined) await waiting;
      await done;
      if (seq >= warmup) this.trips.push(performance.now() - sent);
    }
  }
}

/** Tells the pinger that each event arrived. */
class Ponger extends Actor {
  readonly kind = "output";

  constructor(name: string) {
    super(name, {}, { outbound: ["error"] });
  }

  override consume(_event: Event): void {
    arrived?.();
  }
}

const router = new Router({ logLevel: "warning" });
const pinger = router.register(new Pinger("input")) as Pinger;
const chain = ["input"];
for (let i = 1; i <= stages; i++) {
  router.register(new PassThrough(`stage${i}`));
  chain.push(`stage${i}`);
}
router.register(new Ponger("output"));
chain.push("output");
for (let i = 1; i < chain.length; i++) {
  router.connect(`${chain[i - 1]}.outbox`, `${chain[i]}.inbox`);
}
const started = performance.now();
await router.start();
await router.finished;
const seconds = (performance.now() - started) / 1000;
await router.stop();
const trips = pinger.trips.sort((a, b) => a - b);
const at = (q: number) =>
  trips[Math.min(trips.length - 1, Math.floor(q * trips.length))]! * 1000;
report({
  scenario: `latency, ${stages} stages`,
  events: trips.length,
  seconds,
  stages,
  p50_us: at(0.5),
  p90_us: at(0.9),
  p99_us: at(0.99),
});
