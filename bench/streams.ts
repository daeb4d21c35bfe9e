/**
 * Three actors chained as TransformStreams (`toTransformStream`) against
 * three hand-written pass-through TransformStreams, chunked the same way:
 * arrays of up to 512 events per chunk (`--chunks batch`, the default), or
 * one event per chunk (`--chunks event`). A lazy source makes the events,
 * a WritableStream at the end counts them; each side is timed after an
 * untimed warm-up run of `--warmup` events. Run one scenario per process
 * (`--scenario compysition|hand`); `bench/main.ts` runs them in turn.
 *
 * Batched, it times 30,000,000 events after a warm-up of 10,000,000 by
 * default: what a pipeline that runs for months does, not its first second.
 * A chain of actors holds more events than the hand-written one, so V8
 * grows its young generation (8, 16, then 32 MB a semi-space), and on this
 * virtual machine the first touch of a new page costs about 11 µs (a
 * 256 MB array: 65,536 page faults in 0.75 s): each step stalls the chain
 * for 30-60 ms (sampled every 100,000 events: 2-3 M events/s while it
 * lasts, 29-31 M/s otherwise; `perf stat`: 25,000 page faults in a run
 * against the hand-written chain's 12,000). The JIT needs about the first
 * 1,000,000 events as well. Timed from 200,000 events on, 3,000,000 events
 * (under 0.1 s for the hand-written chain) measured mostly those one-off
 * costs: 26-35% of the hand-written chain's events/s, against 58-59% in
 * steady state.
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
  countOption,
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
    warmup: { type: "string" },
    "hand-holds": { type: "string" },
  },
});
const holds = values["hand-holds"] === undefined
  ? undefined
  : countOption("hand-holds", values["hand-holds"], 1);
const kind = values.scenario === "hand" ? "hand" : "compysition";
const chunks = values.chunks === "event" ? "event" : "batch";
const batched = chunks === "batch";
const count = values.events === undefined
  ? (batched ? 30_000_000 : 200_000)
  : countOption("events", values.events, 1);
// One untimed run first, so that both sides are measured warm (see above).
const warmup = values.warmup === undefined
  ? Math.min(count, batched ? 10_000_000 : 200_000)
  : countOption("warmup", values.warmup);
await run(kind, chunks, warmup);
const cpuBefore = cpuSeconds();
const [events, seconds] = await run(kind, chunks, count);
const cpu = cpuSeconds() - cpuBefore;
report({
  scenario: kind === "hand"
    ? `hand-written (${chunks}${holds === undefined ? "" : `, holds ${holds}`})`
    : `compysition (${chunks})`,
  events,
  seconds,
  warmup_events: warmup,
  cpu_seconds: cpu,
  events_per_cpu_second: events / cpu,
});
