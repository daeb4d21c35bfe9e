/**
 * A CPU-bound stage run as one copy and as several in threads: generator ->
 * jsonata (an order of 20 lines totalled, sorted and joined) -> null, with
 * `threads: N` on the jsonata stage. The time includes starting the
 * threads. `bench/main.ts` runs `--threads 1` and `--threads 2` in turn and
 * prints the speed-up.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Router } from "../core/router.ts";
import { generator } from "../actors/input/generator.ts";
import { jsonata } from "../actors/transform/jsonata.ts";
import { nullOutput } from "../actors/output/null.ts";
import { report } from "./measure.ts";

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

/** Runs the pipeline; returns events delivered and seconds. */
async function run(events: number, threads: number): Promise<[number, number]> {
  const router = new Router();
  router.register(generator, "input", {
    interval: 0,
    count: events,
    data: ORDER,
  });
  router.register(jsonata, "price", { expression: EXPRESSION }, { threads });
  router.register(nullOutput, "sink");
  router.connect("input.outbox", "price.inbox");
  router.connect("price.outbox", "sink.inbox");
  const started = performance.now();
  await router.start();
  await router.finished;
  const seconds = (performance.now() - started) / 1000;
  const stopped = await router.stop();
  if (stopped.unaccounted !== 0 || stopped.failed !== 0) {
    throw new Error(`Lost events: ${JSON.stringify(stopped)}`);
  }
  return [stopped.delivered, seconds];
}

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "1" },
    events: { type: "string", default: "100000" },
  },
});
const threads = Number(values.threads);
// A short untimed run first, so that the main thread's JIT is warm.
await run(10_000, threads);
const [delivered, seconds] = await run(Number(values.events), threads);
report({
  scenario: `jsonata, threads: ${threads}`,
  events: delivered,
  seconds,
  threads,
});
