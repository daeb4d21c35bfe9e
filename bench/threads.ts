/**
 * A stage run as one copy and as several in threads: generator -> stage ->
 * null, with `threads: N` on the stage. `--scenario jsonata-N` is a
 * CPU-bound stage (an order of 20 lines totalled, sorted and joined by
 * jsonata), `--scenario header-N` a cheap one (a header set), where threads
 * cost more than they give. The time includes starting the threads.
 * `bench/main.ts` runs N = 2 and N = 1 in turn and prints the speed-up.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Router } from "../core/router.ts";
import { generator } from "../actors/input/generator.ts";
import { header } from "../actors/transform/header.ts";
import { jsonata } from "../actors/transform/jsonata.ts";
import type { ActorSpec } from "../core/registry.ts";
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

/** Runs the pipeline; returns events delivered and seconds. */
async function run(
  stage: keyof typeof STAGES,
  events: number,
  threads: number,
): Promise<[number, number]> {
  const { spec, options, data } = STAGES[stage];
  const router = new Router();
  router.register(generator, "input", { interval: 0, count: events, data });
  router.register(spec as ActorSpec, "stage", options, { threads });
  router.register(nullOutput, "sink");
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
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
const events = Number(values.events ?? STAGES[stage].events);
// A short untimed run first, so that the main thread's JIT is warm.
await run(stage, Math.ceil(events / 10), threads);
const [delivered, seconds] = await run(stage, events, threads);
report({
  scenario: `${stage}, threads: ${threads}`,
  events: delivered,
  seconds,
  threads,
});
