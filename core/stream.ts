/**
 * Actors as WHATWG `TransformStream`s: {@link toTransformStream} runs one
 * actor under its own {@link Supervisor}, outside any router, so that it
 * composes with every Web Streams program (`fetch` bodies, files,
 * `CompressionStream`, `TextDecoderStream`, `Deno.serve`...) while delivery
 * tracking, `retry`, the crash policy, the accounting and the stop semantics
 * stay exactly those of an actor in a router.
 *
 * - **Writes** go to the actor's `inbox`: an event, or an array of events, per
 *   chunk. A value that is not an event is discarded and counted, as
 *   anywhere else. An array is checked and copied as it is written, so that
 *   a writer that changes it afterwards changes nothing the stream holds;
 *   only a batch that a pipe (`pipeTo`, `pipeThrough`) brings straight from
 *   the readable side of another such stream, carrying no delivery tracker,
 *   goes on as it is (it was checked there, and no one else could reach
 *   it).
 * - **The readable side** carries what the actor sends to its `outbox`: one
 *   event per chunk, or with `batch: true` arrays of at most
 *   `MAX_BATCH` (512) events, which is much faster (a stream chunk costs about
 *   a microsecond per stage; an event in a batch costs next to nothing).
 * - **Failed events** (after the actor's `retry`) error the stream by default
 *   (`errors: "throw"`): a Web Streams stage that cannot handle a chunk errors
 *   its stream, so nothing fails unseen and nothing waits on a readable no one
 *   reads. With `errors: "readable"`, they are the chunks of a third member,
 *   `errors`, with `header.error` set, and the stream goes on; read it (pipe
 *   it somewhere), since once it holds `capacity` unread events the actor
 *   waits for room, as with any full queue.
 * - **Back-pressure**: the writable's queuing strategy counts events (an
 *   array counts its length), with the actor's `capacity` as high-water mark
 *   with `batch: true` and 16 with single events (see {@link WrittenEvents}),
 *   so `writer.desiredSize` and `writer.ready` say when to wait, and `pipeTo`
 *   waits by itself. Events held by one stream are bounded: those in the
 *   writable's queue (up to its high-water mark when the producer respects
 *   `ready`), what it gathers for the inbox (two batches at most), the inbox
 *   (`capacity`), a batch in the actor's hands, the readable's queue
 *   (`capacity`) and the batch its consumer reads. Once the inbox has a
 *   whole batch queued, the next chunk waits in the writable's queue until
 *   the actor took that batch, so that a chain of streams does not hold its
 *   events twice over (the garbage collector copies every event held).
 * - **Ending**: closing the writable drains the actor as a router's stop
 *   does (an input stops producing, every event is consumed, `drained()` and
 *   `teardown()` run); the readable closes after that, so a finished `pipeTo`
 *   means the actor released its resources. Aborting the writable, or
 *   cancelling the readable, abandons the actor as a stop that timed out
 *   does: what it holds is thrown away and counted (`abandoned_total` of its
 *   queues), delivery trackers fail, and the other side errors with the same
 *   reason. An actor that crashes more often than its `restart` policy
 *   allows errors both sides with the crash.
 * - **Delivery tracking**: an event written with a tracker (see
 *   `attachTracker`) keeps it waiting while it, and every event derived from
 *   it, is in the stream; the tracker completes once the consumer of the
 *   readable read them and asked for more (for `pipeTo`, once the
 *   destination is ready for more chunks, that is, has written them when its
 *   high-water mark is 1), or once an output actor consumed them; it fails
 *   when one is failed, dropped or abandoned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import type { Event } from "./event.ts";
 * import { toTransformStream } from "./stream.ts";
 *
 * const events: Event[] = [
 *   { header: {}, data: { n: 1 } },
 *   { header: {}, data: { n: 2 } },
 * ];
 * const doubled = await Array.fromAsync(
 *   ReadableStream.from(events).pipeThrough(
 *     toTransformStream(jsonata, { expression: "n * 2" }),
 *   ),
 * );
 * assert.deepEqual(doubled.map((event) => event.data), [2, 4]);
 * ```
 *
 * @module
 */

import {
  Actor,
  ACTOR_LOG,
  type ActorSettings,
  CrashError,
  describe,
  RUNTIME,
} from "./actor.ts";
import { type Event, isEvent } from "./event.ts";
import {
  BatchWindow,
  DEFAULT_CAPACITY,
  MAX_BATCH,
  OutboundQueue,
  Queue,
  type QueueFigures,
} from "./queue.ts";
import { setImmediate } from "node:timers";
import { type ActorSpec, createActor } from "./registry.ts";
import { Supervisor } from "./supervisor.ts";
import { failTrackers, type TrackedEvent, TRACKER } from "./tracking.ts";

/**
 * What a stream made by {@link toTransformStream} does with the events its
 * actor fails: `"throw"` errors the stream with an {@link EventFailedError};
 * `"readable"` makes them the chunks of the stream's `errors` readable.
 *
 * @example
 * ```ts
 * import type { StreamErrors } from "./stream.ts";
 * const errors: StreamErrors = "readable";
 * ```
 */
export type StreamErrors = "throw" | "readable";

/**
 * How {@link toTransformStream} makes a stream of an actor.
 *
 * @example
 * ```ts
 * import type { StreamOptions } from "./stream.ts";
 * const options: StreamOptions = { errors: "readable", batch: true };
 * ```
 */
export interface StreamOptions {
  /**
   * What happens to the events the actor fails after its retries (default
   * `"throw"`); see {@link StreamErrors}.
   */
  errors?: StreamErrors;
  /**
   * Whether the readable sides carry arrays of events (at most
   * `MAX_BATCH` (512) each) instead of one event per chunk (default
   * `false`). The writable takes both either way.
   */
  batch?: boolean;
}

/**
 * The settings of an actor made from a spec by {@link toTransformStream}:
 * its name (default: the spec's type), the settings every actor takes
 * (`capacity`, `retry`, `restart`...) and the {@link StreamOptions}.
 *
 * @example
 * ```ts
 * import type { StreamSettings } from "./stream.ts";
 * const settings: StreamSettings = {
 *   name: "double",
 *   capacity: 100,
 *   retry: { max: 2, backoffMs: 10 },
 *   errors: "readable",
 * };
 * ```
 */
export interface StreamSettings extends ActorSettings, StreamOptions {
  /** The actor's name in logs and errors (default: the spec's type). */
  name?: string;
}

/**
 * The chunk type of the readable sides of a stream made with `options`: an
 * array of events with `batch: true`, else one event.
 *
 * @example
 * ```ts
 * import type { Event } from "./event.ts";
 * import type { StreamChunk } from "./stream.ts";
 * const chunk: StreamChunk<{ batch: true }> = [] as Event[];
 * ```
 */
export type StreamChunk<S> = S extends { batch: true } ? Event[] : Event;

/**
 * The figures of a stream made by {@link toTransformStream}: its actor's
 * counters and queues, and the queues of its two ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import { toTransformStream } from "./stream.ts";
 * const stream = toTransformStream(jsonata, { expression: "$" });
 * await stream.writable.close();
 * await stream.readable.pipeTo(new WritableStream());
 * assert.equal(stream.figures().actor.consumed_total, 0);
 * ```
 */
export interface StreamFigures {
  /** The actor's counters. */
  actor: ReturnType<Actor["figures"]>;
  /** The actor's own queues, by name (`inbox`, `outbox`, `error`...). */
  queues: Record<string, QueueFigures>;
  /** What the writable gathers into batches for the inbox. */
  writable?: QueueFigures;
  /** What waits to be read from the readable side. */
  readable?: QueueFigures;
  /** What waits to be read from `errors` (or be thrown). */
  errors?: QueueFigures;
}

/**
 * A stream made by {@link toTransformStream}: a `TransformStream` of events
 * (the writable takes an event or an array of events per chunk; the
 * readable gives chunks of type `C`), with its actor and figures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import { type ActorStream, toTransformStream } from "./stream.ts";
 * const stream: ActorStream = toTransformStream(jsonata, { expression: "$" });
 * assert.equal(stream.actor.name, "jsonata");
 * await stream.writable.abort(new Error("not needed"));
 * await stream.finished;
 * ```
 */
export interface ActorStream<C extends Event | Event[] = Event>
  extends TransformStream<Event | Event[], C> {
  /** The actor the stream runs. */
  readonly actor: Actor;
  /**
   * Resolves once the actor's run ended and its `teardown()` ran, whatever
   * the path (drained, abandoned, failed); it never rejects.
   */
  readonly finished: Promise<void>;
  /** The figures now. */
  figures(): StreamFigures;
}

/**
 * An {@link ActorStream} made with `errors: "readable"`: the events the
 * actor failed are the chunks of `errors`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonata } from "../actors/transform/jsonata.ts";
 * import { type ActorStreamWithErrors, toTransformStream } from "./stream.ts";
 * const stream: ActorStreamWithErrors = toTransformStream(
 *   jsonata,
 *   { expression: "$" },
 *   { errors: "readable" },
 * );
 * await stream.writable.close();
 * await stream.readable.pipeTo(new WritableStream());
 * assert.equal((await Array.fromAsync(stream.errors)).length, 0);
 * ```
 */
export interface ActorStreamWithErrors<C extends Event | Event[] = Event>
  extends ActorStream<C> {
  /**
   * The events the actor failed, with `header.error` set; it closes when
   * the actor's run ended.
   */
  readonly errors: ReadableStream<C>;
}

/**
 * What {@link toTransformStream} returns for `options`.
 *
 * @example
 * ```ts
 * import type { Event } from "./event.ts";
 * import type { StreamOf } from "./stream.ts";
 * type Batched = StreamOf<{ batch: true; errors: "readable" }>;
 * const chunk: Awaited<ReturnType<ReturnType<Batched["errors"]["getReader"]>["read"]>>["value"] = [] as Event[];
 * ```
 */
export type StreamOf<S extends StreamOptions> = S extends { errors: "readable" }
  ? ActorStreamWithErrors<StreamChunk<S>>
  : ActorStream<StreamChunk<S>>;

/**
 * What a stream made with `errors: "throw"` (the default) errors with when
 * its actor fails an event: the event (with `header.error`) and the actor's
 * name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventFailedError } from "./stream.ts";
 * const error = new EventFailedError("parse", {
 *   header: { error: { actor: "parse", queue: "inbox", name: "SyntaxError", message: "Unexpected token", time: "" } },
 *   data: "{oops",
 * });
 * assert.equal(error.message, 'Actor "parse" failed an event: SyntaxError: Unexpected token');
 * ```
 */
export class EventFailedError extends Error {
  /** The failed event, with `header.error` set. */
  readonly event: Event;
  /** The actor that failed it. */
  readonly actor: string;

  /** Makes the error of `actor` failing `event`. */
  constructor(actor: string, event: Event) {
    const error = event.header.error as
      | { name?: unknown; message?: unknown }
      | undefined;
    super(
      `Actor "${actor}" failed an event: ${String(error?.name ?? "Error")}: ${
        String(error?.message ?? "")
      }`,
    );
    this.name = "EventFailedError";
    this.actor = actor;
    this.event = event;
  }
}

/**
 * The actor `actor` (or one made from `spec`, `options` and `settings`, as
 * `Router.register` makes it) as a `TransformStream` of events, run by its
 * own supervisor: see the module documentation for what a write, a close,
 * an abort, a cancel and a failure do.
 *
 * The actor is set up at once (the first write waits for its `setup()`; a
 * setup that fails errors both sides). Close or abort the writable, or
 * cancel the readable, so that it is torn down.
 *
 * Any actor works: a transform or a flow actor sends on what it consumes; an
 * output consumes (its readable side carries nothing and closes once it
 * flushed and tore down); an input produces on its own (closing the writable
 * stops it). Only `inbox` is written to; the actor's other inbound queues
 * are closed at once, and its outbound queues other than `outbox` and
 * `error` are not connected (what is sent there is dropped and counted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * import { toTransformStream } from "./stream.ts";
 *
 * class Upper extends Actor {
 *   readonly kind = "transform";
 *   override consume(event: Event, context: Context) {
 *     if (typeof event.data !== "string") throw new TypeError("not text");
 *     event.data = event.data.toUpperCase();
 *     return context.send(event);
 *   }
 * }
 * const upper = toTransformStream(new Upper("upper"), { errors: "readable" });
 * const failed = Array.fromAsync(upper.errors);
 * const out = await Array.fromAsync(
 *   ReadableStream.from([
 *     { header: {}, data: "a" },
 *     { header: {}, data: 2 },
 *     { header: {}, data: "c" },
 *   ]).pipeThrough(upper),
 * );
 * assert.deepEqual(out.map((event) => event.data), ["A", "C"]);
 * assert.deepEqual((await failed).map((event) => event.data), [2]);
 * ```
 */
export function toTransformStream<
  const S extends StreamOptions = StreamOptions,
>(
  actor: Actor,
  options?: S,
): StreamOf<S>;
/** Makes an actor from `spec` and raw `options`, and runs it as a stream. */
export function toTransformStream<
  Options,
  const S extends StreamSettings = StreamSettings,
>(
  spec: ActorSpec<Options>,
  options?: unknown,
  settings?: S,
): StreamOf<S>;
export function toTransformStream(
  actorOrSpec: Actor | ActorSpec,
  options?: unknown,
  settings?: StreamSettings,
): ActorStream<Event | Event[]> {
  if (actorOrSpec instanceof Actor) {
    return new SupervisedStream(
      actorOrSpec,
      (options ?? {}) as StreamOptions,
    );
  }
  const { name, errors, batch, ...actorSettings } = settings ?? {};
  const actor = createActor(
    actorOrSpec,
    name ?? actorOrSpec.type,
    options,
    actorSettings,
  );
  return new SupervisedStream(actor, {
    ...(errors === undefined ? {} : { errors }),
    ...(batch === undefined ? {} : { batch }),
  }) as ActorStream<Event | Event[]>;
}

/**
 * The most single-event chunks a writable side queues before it asks the
 * producer to wait (see {@link WrittenEvents}).
 */
const SINGLE_CHUNKS = 16;

/**
 * Why the trackers of what was written after `close()` fail: a writable
 * side sizes a chunk (keeping its trackers waiting) before it refuses it,
 * and by the time its sink closes, what it still holds was refused so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LATE_WRITE } from "./stream.ts";
 * assert.match(LATE_WRITE, /after the writable side was closed/);
 * ```
 */
export const LATE_WRITE = "Written after the writable side was closed";

/**
 * The arrays that streams copied as they were written and whose events
 * carried no delivery tracker then: inside the streams, no one else holds
 * them, so that an actor passing one on whole (`sendAll` of the batch it
 * consumes) passes on no tracker either.
 */
const UNTRACKED = new WeakSet<Event[]>();

/** The writables of streams, and what each holds. */
const WRITABLES = new WeakMap<WritableStream, WrittenEvents>();

/**
 * What a writable side of events holds in its own queue, before its sink
 * takes it: its queuing strategy counts events (an array counts its length)
 * and keeps the delivery tracker of each event waiting from the moment it
 * is written (the stage before may let go of it as soon as it is queued
 * here), until the sink takes it ({@link WrittenEvents.take}) or the
 * stream breaks ({@link WrittenEvents.fail}).
 *
 * An array is checked and copied as it is written, in the same pass that
 * keeps its trackers: the sink takes the copy, so that a writer that
 * changes the array afterwards (while it waits in the queue, or once the
 * sink took it) changes nothing the stream holds, and its events are not
 * checked twice. The exception: while a pipe from the readable side of
 * another stream feeds this writable ({@link WrittenEvents.pipedFrom}), a
 * batch that stream handed out without trackers is taken as it is.
 *
 * With arrays (`batch`), the high-water mark is `capacity`; with single
 * events, at most 16: the queue the sink feeds already holds `capacity`
 * events, and a long queue of single chunks before it only costs time (each
 * is an object with a promise of its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WrittenEvents } from "./stream.ts";
 * const written = new WrittenEvents(1000, true);
 * assert.equal(written.strategy.highWaterMark, 1000);
 * const chunk = [{ header: {}, data: 1 }, { header: {}, data: 2 }];
 * assert.equal(written.strategy.size!(chunk), 2);
 * chunk.pop();
 * const [taken, checked, tracked] = written.take();
 * assert.equal((taken as unknown[]).length, 2);
 * assert.equal(checked, true);
 * assert.equal(tracked, false);
 * assert.equal(new WrittenEvents(1000, false).strategy.highWaterMark, 16);
 * ```
 */
export class WrittenEvents {
  /** The strategy to make the `WritableStream` with. */
  readonly strategy: QueuingStrategy<Event | Event[]>;
  /** What was written, in order: an event, or a copy of an array. */
  #chunks: (Event | Event[])[] = [];
  /** Of each chunk of `#chunks`, what {@link retainTrackers} found. */
  #found: number[] = [];
  /**
   * The readable side of another stream piped into this writable, while the
   * pipe runs (see {@link EventReadable.passOn}).
   */
  pipedFrom: EventReadable | undefined;
  /** Why the stream broke or closed, once {@link WrittenEvents.fail} ran. */
  #failedWith: string | undefined;

  /**
   * For a writable feeding a queue of `capacity`; `batch`: arrays.
   * `onUnreadable` is told when reading a chunk written throws (a proxy
   * whose traps throw, a revoked one): the writable then errors with that
   * error, as the Streams standard says, and its owner must break the rest
   * of the stream, or its other side and the actor would wait for ever.
   */
  constructor(
    capacity: number,
    batch: boolean,
    onUnreadable: (error: unknown) => void = () => {},
  ) {
    this.strategy = {
      highWaterMark: batch ? capacity : Math.min(capacity, SINGLE_CHUNKS),
      size: (chunk) => {
        try {
          return this.#size(chunk);
        } catch (error) {
          onUnreadable(error);
          throw error;
        }
      },
    };
  }

  /** The size of `chunk`, whose trackers are kept and which is queued. */
  #size(chunk: Event | Event[]): number {
    const array = Array.isArray(chunk);
    if (this.#failedWith !== undefined) {
      // Written after the stream broke (a stream that aborts still
      // sizes what is written until the write in flight settled): it
      // is refused, and nothing would fail its trackers later.
      failTrackers(array ? chunk : [chunk], this.#failedWith);
      return array ? Math.max(1, chunk.length) : 1;
    }
    if (array && this.pipedFrom?.passOn(chunk) === true) {
      // Straight from the pipe, as the stream before handed it out.
      this.#found.push(EVENTS_ONLY);
      this.#chunks.push(chunk);
      return Math.max(1, chunk.length);
    }
    const found = retainTrackers(chunk);
    this.#found.push(array ? found : found & ~EVENTS_ONLY);
    this.#chunks.push(array ? chunk.slice() : chunk);
    return array ? Math.max(1, chunk.length) : 1;
  }

  /**
   * Makes this what `writable` holds: the readable side of a stream piped
   * into it may then pass its batches on as they are (see
   * {@link EventReadable.passOn}).
   */
  serve(writable: WritableStream<Event | Event[]>): void {
    WRITABLES.set(writable, this);
  }

  /**
   * The sink takes the oldest chunk: its trackers are its own now. Returns
   * it as it was written (an array as copied then), whether it is an array
   * of events only (then the sink need not check them again), and whether
   * some event of it carried a delivery tracker.
   */
  take(): [chunk: Event | Event[], checked: boolean, tracked: boolean] {
    const found = this.#found.shift() ?? 0;
    return [
      this.#chunks.shift()!,
      (found & EVENTS_ONLY) !== 0,
      (found & SOME_TRACKED) !== 0,
    ];
  }

  /** The stream broke: the trackers of what it still queues fail. */
  fail(reason: string): void {
    this.#failedWith ??= reason;
    for (const chunk of this.#chunks) {
      failTrackers(Array.isArray(chunk) ? chunk : [chunk], reason);
    }
    this.#chunks = [];
    this.#found = [];
  }
}

/**
 * Opens `window` until the end of this turn of the event loop, then closes
 * it and calls `flush`: single events written one by one in the meantime
 * travel on as one batch instead of a batch each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BatchWindow } from "./queue.ts";
 * import { gatherThisTurn } from "./stream.ts";
 * const window = new BatchWindow();
 * let flushed = 0;
 * gatherThisTurn(window, () => flushed++);
 * gatherThisTurn(window, () => flushed++);
 * assert.equal(window.isOpen, true);
 * // Immediates run in order: the window's flush comes first.
 * await new Promise((resolve) => setImmediate(resolve));
 * assert.equal(flushed, 1);
 * assert.equal(window.isOpen, false);
 * ```
 */
export function gatherThisTurn(window: BatchWindow, flush: () => void): void {
  if (window.isOpen) return;
  window.open();
  setImmediate(() => {
    window.close();
    flush();
  });
}

/**
 * What {@link retainTrackers} found in a chunk: every value is an event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EVENTS_ONLY, retainTrackers } from "./stream.ts";
 * assert.equal(retainTrackers({ header: {}, data: 1 }) & EVENTS_ONLY, EVENTS_ONLY);
 * ```
 */
export const EVENTS_ONLY = 1;

/**
 * What {@link retainTrackers} found in a chunk: some event has a delivery
 * tracker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retainTrackers, SOME_TRACKED } from "./stream.ts";
 * assert.equal(retainTrackers([{ header: {}, data: 1 }]) & SOME_TRACKED, 0);
 * ```
 */
export const SOME_TRACKED = 2;

/**
 * Keeps the delivery tracker of each event of `chunk` (an event or an array
 * of events) waiting once more: the event enters a queue from outside.
 * The one pass over a chunk written checks it too: returns
 * {@link EVENTS_ONLY} when every value of `chunk` is an event (see
 * `isEvent`), plus {@link SOME_TRACKED} when some event carries a tracker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, Tracker } from "./tracking.ts";
 * import { EVENTS_ONLY, retainTrackers, SOME_TRACKED } from "./stream.ts";
 * const tracker = new Tracker();
 * assert.equal(
 *   retainTrackers([attachTracker({ header: {}, data: 1 }, tracker)]),
 *   EVENTS_ONLY | SOME_TRACKED,
 * );
 * tracker.release();
 * assert.equal(tracker.settled, true);
 * assert.equal(retainTrackers([{ header: {}, data: 2 }]), EVENTS_ONLY);
 * assert.equal(retainTrackers([{ header: {}, data: 2 }, null as never]), 0);
 * ```
 */
export function retainTrackers(chunk: Event | readonly Event[]): number {
  if (!Array.isArray(chunk)) {
    if (!isEvent(chunk)) return 0;
    const tracker = (chunk as TrackedEvent)[TRACKER];
    if (tracker === undefined) return EVENTS_ONLY;
    tracker.retain();
    return EVENTS_ONLY | SOME_TRACKED;
  }
  let found = EVENTS_ONLY;
  for (let i = 0; i < chunk.length; i++) {
    const event = chunk[i];
    if (!isEvent(event)) {
      found &= ~EVENTS_ONLY;
      continue;
    }
    const tracker = (event as TrackedEvent)[TRACKER];
    if (tracker === undefined) continue;
    tracker.retain();
    found |= SOME_TRACKED;
  }
  return found;
}

/**
 * What {@link EventReadable.next} returns when no batch is ready yet and it
 * arranged for {@link EventReadable.wake} to be called once one is (or the
 * end is near): the batch then goes to the consumer in the same turn as it
 * was made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventReadable, WAITING } from "./stream.ts";
 * const readable = new EventReadable(true);
 * let ready = false;
 * readable.next = () => ready ? [{ header: {}, data: 1 }] : WAITING;
 * const reader = readable.stream.getReader();
 * const read = reader.read();
 * ready = true;
 * readable.wake();
 * assert.equal(((await read).value as unknown[]).length, 1);
 * ```
 */
export const WAITING: unique symbol = Symbol("waiting");

/** The type of {@link WAITING}. */
type Waiting = typeof WAITING;

/**
 * Hands batches of events to the consumer of a `ReadableStream`, one event
 * per chunk or one batch per chunk, and lets go of the delivery trackers of
 * a chunk once the consumer read it and asks for more: per event when the
 * chunks are events (then a batch with trackers is handed out an event per
 * pull), per batch when they are batches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventReadable } from "./stream.ts";
 * const readable = new EventReadable(false);
 * readable.next = async () => undefined; // nothing more: the stream closes
 * assert.equal((await Array.fromAsync(readable.stream)).length, 0);
 * ```
 */
export class EventReadable {
  /** The stream the consumer reads. */
  readonly stream: ReadableStream<Event | Event[]>;
  /**
   * Called when the consumer asks for more (after the trackers of the batch
   * before were released): the next batch, or `undefined` at the end, at
   * once or as a promise (a rejection errors the stream).
   */
  next: () => Event[] | undefined | Promise<Event[] | undefined> | Waiting =
    () => undefined;
  /** Called once when the consumer cancels the stream. */
  onCancel: (reason: unknown) => void = () => {};
  #controller!: ReadableStreamDefaultController<Event | Event[]>;
  #batch: boolean;
  #tracks: boolean;
  /** The batch handed out, from its first event whose tracker is held. */
  #held: Event[] | undefined;
  /** Of `#held`, the events before this one were read and let go of. */
  #released = 0;
  /** Of `#held`, the events before this one were handed out. */
  #handed = 0;
  #over = false;
  /**
   * Ends the pull in progress, while `next` said {@link WAITING} and
   * {@link EventReadable.wake} was not called yet.
   */
  #endPull: (() => void) | undefined;
  /**
   * The batches handed out to a pipe into the writable of another stream
   * that carry no delivery tracker and that the stream let go of: while
   * the pipe carries them there, no one can change them, and that stream
   * takes them as they are.
   */
  #passable = new WeakSet<Event[]>();
  /**
   * Pipes from {@link stream} into the writable of another stream that run
   * (see {@link PipedEvents}): only while one does are batches passable; a
   * batch read by hand is not, even once written where a pipe ran.
   */
  pipes = 0;

  /**
   * Makes the stream; `batch`: one chunk per batch, else per event.
   * `tracks`: it releases the trackers of a batch read (and fails those of
   * a batch lost); else whoever hands the batches does.
   */
  constructor(batch: boolean, tracks = true) {
    this.#batch = batch;
    this.#tracks = tracks;
    this.stream = new PipedEvents(this, {
      start: (controller) => void (this.#controller = controller),
      pull: () => this.#pull(),
      cancel: (reason) => {
        if (this.#over) return;
        this.#over = true;
        this.#drop(`The readable was cancelled: ${describe(reason)}`);
        this.#wakeUp();
        this.onCancel(reason);
      },
    });
  }

  /** Whether the stream closed, errored or was cancelled. */
  get over(): boolean {
    return this.#over;
  }

  /**
   * Whether `batch` is one this stream handed out, without trackers, and
   * that no one could change since: asked once per batch, by the writable
   * of another stream that a pipe from this one feeds.
   */
  passOn(batch: Event[]): boolean {
    return this.#passable.delete(batch);
  }

  /**
   * Errors the stream with `reason` (unless it is over already): the batch
   * the consumer was reading is lost, its trackers fail.
   */
  error(reason: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.#controller.error(reason);
    this.#drop(describe(reason));
    this.#wakeUp();
  }

  /**
   * What `next` waited for (after it returned {@link WAITING}) happened:
   * `next` is asked again at once, and what it gives is handed out in the
   * same turn, without a promise between the producer and the consumer.
   */
  wake(): void {
    const end = this.#endPull;
    if (end === undefined) return;
    this.#endPull = undefined;
    const served = this.#serveNext();
    if (served === WAITING) this.#endPull = end;
    else if (served === undefined) end();
    else void served.then(end);
  }

  /** Ends the pull that waits, if one does. */
  #wakeUp(): void {
    const end = this.#endPull;
    this.#endPull = undefined;
    end?.();
  }

  #pull(): Promise<void> | undefined {
    const held = this.#held;
    if (held !== undefined) {
      // The consumer read what was handed out and asks for more.
      for (let i = this.#released; i < this.#handed; i++) {
        // A consumer may have changed the array it read.
        (held[i] as TrackedEvent | null)?.[TRACKER]?.release();
      }
      this.#released = this.#handed;
      if (this.#handed < held.length) {
        this.#controller.enqueue(held[this.#handed++]!);
        return;
      }
      this.#held = undefined;
    }
    const served = this.#serveNext();
    return served === WAITING
      ? new Promise<void>((resolve) => this.#endPull = resolve)
      : served;
  }

  /**
   * Asks `next` and hands out what it gives: `undefined` once that is done
   * (or `next` threw, which errored the stream), a promise of when it is, or
   * {@link WAITING} when `next` waits for {@link EventReadable.wake}.
   */
  #serveNext(): Promise<void> | Waiting | undefined {
    let next;
    try {
      next = this.next();
    } catch (error) {
      this.error(error);
      return undefined;
    }
    if (next === WAITING) return WAITING;
    if (!(next instanceof Promise)) return this.#handOut(next);
    return next.then(
      (batch) => this.#handOut(batch),
      (error) => this.error(error),
    );
  }

  /** Hands out the next batch: whole, or its first event (see the class). */
  #handOut(batch: Event[] | undefined): undefined {
    if (this.#over) {
      if (batch !== undefined && this.#tracks) {
        failTrackers(batch, "The readable is over");
      }
      return;
    }
    if (batch === undefined) {
      this.#over = true;
      this.#controller.close();
      return;
    }
    const tracks = this.#tracks && !UNTRACKED.has(batch);
    if (this.#batch) {
      if (tracks) this.#hold(batch, batch.length);
      else if (this.#tracks && this.pipes > 0) this.#passable.add(batch);
      this.#controller.enqueue(batch);
    } else if (tracks && batch.some(isTracked)) {
      this.#hold(batch, 1);
      this.#controller.enqueue(batch[0]!);
    } else {
      for (let i = 0; i < batch.length; i++) {
        this.#controller.enqueue(batch[i]!);
      }
    }
  }

  /** Holds the trackers of `batch`, of which `handed` events are handed out. */
  #hold(batch: Event[], handed: number): void {
    this.#held = batch;
    this.#released = 0;
    this.#handed = handed;
  }

  /** Fails the trackers held: of events not handed out, or not read yet. */
  #drop(reason: string): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) failTrackers(held.slice(this.#released), reason);
  }
}

/**
 * The `ReadableStream` of an {@link EventReadable}: a pipe from it into the
 * writable of another stream (`pipeTo`, `pipeThrough`) tells that writable
 * where its chunks come from while it runs, so that the batches without
 * trackers go on as they are, neither checked nor copied again.
 */
class PipedEvents extends ReadableStream<Event | Event[]> {
  #source: EventReadable;

  constructor(
    source: EventReadable,
    underlying: UnderlyingDefaultSource<Event | Event[]>,
  ) {
    super(underlying, { highWaterMark: 0 });
    this.#source = source;
  }

  override pipeTo(
    destination: WritableStream<Event | Event[]>,
    options?: StreamPipeOptions,
  ): Promise<void> {
    const written = !this.locked && destination instanceof WritableStream &&
        !destination.locked
      ? WRITABLES.get(destination)
      : undefined;
    const piping = super.pipeTo(destination, options);
    // Only once the pipe holds both ends: no one else reads or writes them.
    if (written !== undefined && this.locked && destination.locked) {
      const source = this.#source;
      written.pipedFrom = source;
      source.pipes++;
      const ended = () => {
        source.pipes--;
        if (written.pipedFrom === source) written.pipedFrom = undefined;
      };
      piping.then(ended, ended);
    }
    return piping;
  }

  override pipeThrough<T>(
    transform: ReadableWritablePair<T, Event | Event[]>,
    options?: StreamPipeOptions,
  ): ReadableStream<T> {
    const { writable, readable } = (transform ?? {}) as Partial<
      typeof transform
    >;
    const signal = options?.signal;
    if (
      !(writable instanceof WritableStream) || !WRITABLES.has(writable) ||
      !(readable instanceof ReadableStream) || this.locked || writable.locked ||
      (signal !== undefined && !(signal instanceof AbortSignal))
    ) return super.pipeThrough(transform, options);
    // As pipeThrough does, through pipeTo, which knows when the pipe ends.
    this.pipeTo(writable, options).catch(() => {});
    return readable;
  }
}

/** Whether `event` carries a delivery tracker. */
function isTracked(event: Event): boolean {
  return (event as TrackedEvent)[TRACKER] !== undefined;
}

/** The stream {@link toTransformStream} makes. */
class SupervisedStream implements ActorStream<Event | Event[]> {
  readonly actor: Actor;
  readonly writable: WritableStream<Event | Event[]>;
  readonly readable: ReadableStream<Event | Event[]>;
  /** Set with `errors: "readable"`. */
  readonly errors?: ReadableStream<Event | Event[]>;
  readonly finished: Promise<void>;
  #supervisor: Supervisor;
  /** Gathers what is written into batches for the inbox, when there is one. */
  #input: OutboundQueue | undefined;
  #inbox: Queue | undefined;
  /** What the actor sends to `outbox`, for the readable side. */
  #output: Queue | undefined;
  /** What the actor sends to `error`. */
  #failed: Queue | undefined;
  #readable: EventReadable;
  #errors: EventReadable | undefined;
  #writer: WritableStreamDefaultController | undefined;
  #written: WrittenEvents;
  /** The stream failed (aborted, cancelled, a failed event, a crash). */
  #broken = false;
  /**
   * Open while single events written in this turn of the event loop are
   * gathered into one batch for the inbox (a write per event would make
   * batches of one).
   */
  #gathering = new BatchWindow();

  constructor(actor: Actor, options: StreamOptions) {
    this.actor = actor;
    const pool = actor.pool;
    if (
      actor[RUNTIME] !== undefined ||
      [...pool.outbound.values()].some((queue) => queue.target !== null)
    ) {
      throw new TypeError(
        `Cannot make a stream of actor "${actor.name}": it already runs, or is connected, in a router or another stream`,
      );
    }
    if (!pool.inbound.has("inbox") && pool.names.anyInbound) {
      pool.addInbound("inbox");
    }
    const inbox = pool.inbound.get("inbox");
    if (inbox === undefined && actor.produce === undefined) {
      throw new TypeError(
        `Cannot make a stream of actor "${actor.name}": it has no inbound queue "inbox"`,
      );
    }
    for (const queue of pool.inbound.values()) {
      if (queue !== inbox) queue.close();
    }
    const capacity = inbox?.capacity ?? DEFAULT_CAPACITY;
    const log = actor[ACTOR_LOG];
    this.#inbox = inbox;
    if (inbox !== undefined) {
      this.#input = new OutboundQueue(`${actor.name}.writable`, {
        window: this.#gathering,
        onDiscard: (_value, reason, queue) =>
          log.warn(
            'Discarded a value that is not an event written to "{queue}": {reason}',
            { queue, reason },
          ),
      });
      this.#input.connect(inbox);
    }
    const outbox = pool.outbound.get("outbox");
    if (outbox !== undefined) {
      this.#output = new Queue(`${actor.name}.readable`, { capacity });
      outbox.connect(this.#output);
    }
    const errorQueue = pool.outbound.get("error");
    if (errorQueue !== undefined) {
      this.#failed = new Queue(`${actor.name}.errors`, { capacity });
      errorQueue.connect(this.#failed);
    }
    const supervisor = new Supervisor(actor, {
      log,
      onGiveUp: (_supervisor, error) => this.#giveUp(error),
    });
    this.#supervisor = supervisor;
    const ready = (async () => {
      await supervisor.setup();
      if (!this.#broken) supervisor.start();
    })();
    const ended = this.#run(ready);
    this.finished = ended.then(() => {});
    const input = this.#input;
    const written = new WrittenEvents(
      capacity,
      options.batch === true,
      (error) => this.#break(error),
    );
    this.#written = written;
    this.writable = new WritableStream<Event | Event[]>({
      start: (controller) => {
        this.#writer = controller;
        // An abort breaks the stream at once: the stream calls `abort` only
        // after the write in flight, which may wait for a stuck actor. In a
        // microtask, once the stream is erroring, so that `abort()` still
        // resolves.
        const signal = controller.signal;
        const abort = () => this.#break(signal.reason);
        signal.addEventListener("abort", () => queueMicrotask(abort), {
          once: true,
        });
        return ready;
      },
      write: () => {
        if (input === undefined) {
          throw new TypeError(
            `Actor "${actor.name}" has no inbound queue "inbox": its stream takes no writes (close the writable to stop it)`,
          );
        }
        // As written: an array was checked and copied then.
        const [chunk, checked, tracked] = written.take();
        if (Array.isArray(chunk)) {
          if (!tracked) UNTRACKED.add(chunk);
          const waiting = checked
            ? input.pushEvents(chunk)
            : input.pushAll(chunk);
          // The next chunk waits in the writable's queue until the actor
          // took this batch (see `Queue.whenQueuedBelow`).
          return waiting === undefined
            ? inbox!.whenQueuedBelow(MAX_BATCH)
            : waiting.then(() => inbox!.whenQueuedBelow(MAX_BATCH));
        }
        gatherThisTurn(this.#gathering, () => void input.flush());
        return input.push(chunk);
      },
      close: () => {
        written.fail(LATE_WRITE);
        return this.#close();
      },
      abort: (reason) => this.#break(reason),
    }, written.strategy);
    written.serve(this.writable);
    this.#readable = this.#reader(this.#output, options.batch, ended);
    this.#readable.onCancel = (reason) => this.#break(reason);
    this.readable = this.#readable.stream;
    if (options.errors === "readable") {
      this.#errors = this.#reader(this.#failed, options.batch, ended);
      this.#errors.onCancel = () => this.#failed?.clear();
      this.errors = this.#errors.stream;
    } else if (this.#failed !== undefined) {
      void this.#throwFailed(this.#failed);
    }
  }

  figures(): StreamFigures {
    const figures: StreamFigures = {
      actor: this.actor.figures(),
      queues: this.actor.pool.figures(),
    };
    if (this.#input !== undefined) figures.writable = this.#input.figures();
    if (this.#output !== undefined) figures.readable = this.#output.figures();
    if (this.#failed !== undefined) figures.errors = this.#failed.figures();
    return figures;
  }

  /**
   * Runs the actor to its end and tears it down; resolves with what the
   * readable sides error with (a failed setup or teardown), or `undefined`.
   */
  async #run(ready: Promise<void>): Promise<unknown> {
    try {
      await ready;
    } catch (error) {
      this.#break(error);
      return error;
    }
    await this.#supervisor.done;
    try {
      await this.#supervisor.teardown();
    } catch (error) {
      this.actor[ACTOR_LOG].error(
        'Actor "{actor}" failed to tear down: {error}',
        { actor: this.actor.name, error: describe(error) },
      );
      return error;
    }
    return undefined;
  }

  /**
   * A readable side reading `queue` (none: it closes when the run ended).
   * What is queued is taken at once, past the queue's own stream; a batch
   * is finished once the consumer asks for more.
   */
  #reader(
    queue: Queue | undefined,
    batch: boolean | undefined,
    ended: Promise<unknown>,
  ): EventReadable {
    const readable = new EventReadable(batch === true);
    const reader = queue?.readable.getReader();
    queue?.consumeManually();
    let held = 0;
    const read = async () => {
      const next = await reader?.read();
      if (next !== undefined && !next.done) {
        held = next.value.length;
        return next.value;
      }
      const failure = await ended;
      if (failure !== undefined) throw failure;
      return undefined;
    };
    // Woken in a microtask of its own, not inside the actor's send: the
    // consumer's code (a pipe's destination) runs on its own stack.
    const wakeNow = () => readable.wake();
    const wake = () => queueMicrotask(wakeNow);
    readable.next = () => {
      if (queue === undefined) return read();
      queue.finish(held);
      held = 0;
      const taken = queue.takeQueued();
      if (taken !== undefined) {
        held = taken.length;
        return taken;
      }
      if (queue.closed) return read();
      // What the actor sends next is handed out as soon as it is queued.
      queue.onQueued(wake);
      return WAITING;
    };
    return readable;
  }

  async #close(): Promise<void> {
    this.#supervisor.stopProducing();
    await this.#input?.close();
  }

  /** With `errors: "throw"`: the first failed event breaks the stream. */
  async #throwFailed(queue: Queue): Promise<void> {
    const reader = queue.readable.getReader();
    const next = await reader.read();
    reader.releaseLock();
    if (next.done) return;
    const error = new EventFailedError(this.actor.name, next.value[0]!);
    failTrackers(next.value, error.message);
    this.#break(error);
  }

  /**
   * The actor gave up after crashing too often: both sides error with the
   * crash, and the supervisor fails what is still in the inbox (as it does
   * in a router) until the inbox closes.
   */
  #giveUp(error: unknown): void {
    this.#errorSides(
      new CrashError(
        `Actor "${this.actor.name}" crashed more often than its restart policy allows: ${
          describe(error)
        }`,
        { cause: error },
      ),
    );
    this.#inbox?.close();
  }

  /** Aborted, cancelled or failed: every side errors, the actor is abandoned. */
  #break(reason: unknown): void {
    if (this.#broken) return;
    this.#errorSides(reason);
    this.#input?.abandon();
    this.#supervisor.abandon();
  }

  #errorSides(reason: unknown): void {
    this.#broken = true;
    this.#writer?.error(reason);
    this.#written.fail(describe(reason));
    this.#readable.error(reason);
    this.#errors?.error(reason);
    this.#output?.clear();
    this.#failed?.clear();
  }
}
