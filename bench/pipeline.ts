/**
 * generator -> three pass-through transforms -> null, in Compysition, and the
 * same shape as a naive one-event-per-chunk Web Streams pipeline, each timed
 * after an untimed warm-up run of 200,000 events. Run one
 * scenario per process (`--scenario compysition|naive`) so that each has its
 * own peak memory; `bench/main.ts` runs them all.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Event } from "../core/event.ts";
import { Router } from "../core/router.ts";
import { generator } from "../actors/input/generator.ts";
import { nullOutput } from "../actors/output/null.ts";
import { countOption, cpuSeconds, PassThrough, report } from "./measure.ts";

/** Runs the Compysition pipeline; returns events delivered and seconds. */
async function compysition(events: number): Promise<[number, number]> {
  const router = new Router();
  router.register(generator, "input", {
    interval: 0,
    count: events,
    data: "x",
  });
  const stages = ["one", "two", "three"];
  for (const name of stages) router.register(new PassThrough(name));
  router.register(nullOutput, "sink");
  const chain = ["input", ...stages, "sink"];
  for (let i = 1; i < chain.length; i++) {
    router.connect(`${chain[i - 1]}.outbox`, `${chain[i]}.inbox`);
  }
  const started = performance.now();
  await router.start();
  await router.finished;
  const seconds = (performance.now() - started) / 1000;
  const stopped = await router.stop();
  return [stopped.delivered, seconds];
}

/** Runs the naive Web Streams pipeline; returns events delivered and seconds. */
async function naive(events: number): Promise<[number, number]> {
  let seq = 0;
  const source = new ReadableStream<Event>({
    pull(controller) {
      seq++;
      controller.enqueue({ header: { input: { seq } }, data: "x" });
      if (seq === events) controller.close();
    },
  });
  const pass = () =>
    new TransformStream<Event, Event>({
      transform: (event, controller) => controller.enqueue(event),
    });
  let delivered = 0;
  const started = performance.now();
  await source.pipeThrough(pass()).pipeThrough(pass()).pipeThrough(pass())
    .pipeTo(new WritableStream({ write: () => void delivered++ }));
  const seconds = (performance.now() - started) / 1000;
  return [delivered, seconds];
}

/** Events of the untimed warm-up run of each scenario. */
const WARM_UP_EVENTS = 200_000;

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "compysition" },
    events: { type: "string", default: "1000000" },
  },
});
const count = countOption("events", values.events!, 1);
const [scenario, run] = values.scenario === "naive"
  ? ["naive web streams", naive] as const
  : ["compysition", compysition] as const;
// One untimed run first, so that both sides are measured with the JIT warm.
await run(Math.min(count, WARM_UP_EVENTS));
const cpuBefore = cpuSeconds();
const [delivered, seconds] = await run(count);
const cpu = cpuSeconds() - cpuBefore;
report({
  scenario,
  events: delivered,
  seconds,
  cpu_seconds: cpu,
  events_per_cpu_second: delivered / cpu,
});
