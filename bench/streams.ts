/**
 * Three actors chained as TransformStreams (`toTransformStream`) against
 * three hand-written pass-through TransformStreams, chunked the same way:
 * arrays of up to 512 events per chunk (`--chunks batch`, the default), or
 * one event per chunk (`--chunks event`). A lazy source makes the events,
 * a WritableStream at the end counts them; each side is timed after an
 * untimed warm-up run. Run one scenario per process
 * (`--scenario compysition|hand`); `bench/main.ts` runs them in turn.
 *
 * Batched, it times 10,000,000 events by default (about half a second for
 * the hand-written chain): a new chain of actors climbs to its steady speed
 * over its first 400,000 events or so (about 15, 19, then 25 M events/s per
 * 200,000 here), and a major collection costs either side a few
 * milliseconds, so that 3,000,000 events (under 0.1 s for the hand-written
 * chain) measured mostly the climb and where a collection fell.
 *
 * The hand-written stages use the default queuing strategies (a writable
 * holds one chunk). `--hand-holds N` gives their writables a strategy that
 * counts events up to `N` instead, as an actor's writable counts up to its
 * capacity (1024 by default): how much of the gap is the events a chain
 * holds in flight, which the garbage collector copies and V8 grows its young
 * generation for.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Event } from "../core/event.ts";
import { MAX_BATCH } from "../core/queue.ts";
import { toTransformStream } from "../core/stream.ts";
import {
  BatchPassThrough,
  cpuSeconds,
  PassThrough,
  report,
} from "./measure.ts";

/** `count` events numbered from 1, made as they are read, `size` a chunk. */
function source(count: number, size: number): ReadableStream<Event[]> {
  let seq = 0;
  return new ReadableStream<Event[]>({
    pull(controller) {
      const events: Event[] = [];
      while (events.length < size && seq < count) {
        seq++;
        events.push({ header: { input: { seq } }, data: "x" });
      }
      controller.enqueue(events);
      if (seq === count) controller.close();
    },
  }, { highWaterMark: 0 });
}

/** One event per chunk: the events of `batches`, one by one. */
function single(batches: ReadableStream<Event[]>): ReadableStream<Event> {
  const reader = batches.getReader();
  let batch: Event[] = [];
  let next = 0;
  return new ReadableStream<Event>({
    async pull(controller) {
      while (next === batch.length) {
        const read = await reader.read();
        if (read.done) return controller.close();
        batch = read.value;
        next = 0;
      }
      controller.enqueue(batch[next++]!);
    },
  }, { highWaterMark: 0 });
}

/**
 * Three stages of `kind`, chunked as `chunks` says; `holds`: the events a
 * hand-written stage's writable holds (default: its default strategy).
 */
function stages(
  kind: string,
  chunks: string,
  holds: number | undefined,
): TransformStream<Event | Event[], Event | Event[]>[] {
  return ["one", "two", "three"].map((name) =>
    kind === "hand"
      ? new TransformStream<Event | Event[], Event | Event[]>(
        { transform: (chunk, controller) => controller.enqueue(chunk) },
        holds === undefined ? undefined : {
          highWaterMark: holds,
          size: (chunk) => Array.isArray(chunk) ? chunk.length : 1,
        },
      )
      : toTransformStream(
        chunks === "batch" ? new BatchPassThrough(name) : new PassThrough(name),
        { batch: chunks === "batch" },
      )
  );
}

/** Pipes `count` events through the three stages; returns events and seconds. */
async function run(
  kind: string,
  chunks: string,
  count: number,
): Promise<[number, number]> {
  const batches = source(count, chunks === "batch" ? MAX_BATCH : 64);
  let stream: ReadableStream<Event | Event[]> = chunks === "batch"
    ? batches
    : single(batches);
  for (const stage of stages(kind, chunks, holds)) {
    stream = stream.pipeThrough(stage);
  }
  let received = 0;
  const started = performance.now();
  await stream.pipeTo(
    new WritableStream<Event | Event[]>({
      write: (chunk) => {
        received += Array.isArray(chunk) ? chunk.length : 1;
      },
    }),
  );
  return [received, (performance.now() - started) / 1000];
}

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "compysition" },
    chunks: { type: "string", default: "batch" },
    events: { type: "string" },
    "hand-holds": { type: "string" },
  },
});
const holds = values["hand-holds"] === undefined
  ? undefined
  : Number(values["hand-holds"]);
const kind = values.scenario === "hand" ? "hand" : "compysition";
const chunks = values.chunks === "event" ? "event" : "batch";
const count = Number(
  values.events ?? (chunks === "batch" ? 10_000_000 : 200_000),
);
// One untimed run first, so that both sides are measured with the JIT warm.
await run(kind, chunks, Math.min(count, 200_000));
const cpuBefore = cpuSeconds();
const [events, seconds] = await run(kind, chunks, count);
const cpu = cpuSeconds() - cpuBefore;
report({
  scenario: kind === "hand"
    ? `hand-written (${chunks}${holds === undefined ? "" : `, holds ${holds}`})`
    : `compysition (${chunks})`,
  events,
  seconds,
  cpu_seconds: cpu,
  events_per_cpu_second: events / cpu,
});
