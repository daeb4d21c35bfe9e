/**
 * Bounded queues built on WHATWG Web Streams.
 *
 * A {@link Queue} is a channel with a `WritableStream` end and a
 * `ReadableStream` end. Chunks are arrays of events; the capacity is counted in
 * events, not chunks. An actor's inbound queues are `Queue`s; its outbound
 * queues are {@link OutboundQueue}s that batch what the actor sends and write
 * it into the `Queue` they are connected to.
 *
 * @module
 */

import { quoteList } from "./errors.ts";
import { type Event, isEvent, whyNotEvent } from "./event.ts";
import { failTrackers } from "./tracking.ts";

/**
 * What a queue does with an event that arrives while it is full.
 *
 * @example
 * ```ts
 * import { Queue, type WhenFull } from "./queue.ts";
 * const whenFull: WhenFull = "drop_oldest";
 * new Queue("a.inbox", { capacity: 10, whenFull }).capacity; // 10
 * ```
 */
export type WhenFull = "block" | "drop_newest" | "drop_oldest";

/**
 * The policies a queue may follow when full.
 *
 * @example
 * ```ts
 * import { WHEN_FULL } from "./queue.ts";
 * WHEN_FULL.includes("block"); // true
 * ```
 */
export const WHEN_FULL: readonly WhenFull[] = [
  "block",
  "drop_newest",
  "drop_oldest",
];

/**
 * The default capacity of a queue, in events.
 *
 * @example
 * ```ts
 * import { DEFAULT_CAPACITY, Queue } from "./queue.ts";
 * new Queue("a.inbox").capacity === DEFAULT_CAPACITY; // true
 * ```
 */
export const DEFAULT_CAPACITY = 1000;

/** The most events one chunk carries between two actors. */
export const MAX_BATCH = 512;

/**
 * What is wrong with queue settings, one sentence tail per problem (e.g.
 * `capacity must be a whole number of at least 1, got 0`); empty when they
 * are good.
 *
 * @example
 * ```ts
 * import { queueOptionProblems } from "./queue.ts";
 * queueOptionProblems({ capacity: 10, whenFull: "block" }); // []
 * queueOptionProblems({ capacity: 0 }).length; // 1
 * ```
 */
export function queueOptionProblems(
  options: Pick<QueueOptions, "capacity" | "whenFull">,
): string[] {
  const { capacity, whenFull } = options;
  const problems: string[] = [];
  if (capacity !== undefined && (!Number.isInteger(capacity) || capacity < 1)) {
    problems.push(
      `capacity must be a whole number of at least 1, got ${capacity}`,
    );
  }
  if (whenFull !== undefined && !WHEN_FULL.includes(whenFull)) {
    problems.push(
      `whenFull must be one of ${quoteList(WHEN_FULL)}, got "${whenFull}"`,
    );
  }
  return problems;
}

/**
 * The queue settings (`capacity`, `whenFull`) that `from` sets, leaving out
 * those it leaves undefined, so that spreading them over defaults keeps the
 * defaults.
 *
 * @example
 * ```ts
 * import { queueSettings } from "./queue.ts";
 * queueSettings({ capacity: 10, whenFull: undefined }); // { capacity: 10 }
 * ```
 */
export function queueSettings(
  from: { capacity?: number | undefined; whenFull?: WhenFull | undefined },
): Pick<QueueOptions, "capacity" | "whenFull"> {
  const settings: Pick<QueueOptions, "capacity" | "whenFull"> = {};
  if (from.capacity !== undefined) settings.capacity = from.capacity;
  if (from.whenFull !== undefined) settings.whenFull = from.whenFull;
  return settings;
}

/**
 * Counters of one queue.
 *
 * For an inbound queue, `in_total` counts events accepted, `out_total` events
 * the consumer took and finished with, `dropped_total` events lost to the
 * full-queue policy, to closing or to a stop that timed out,
 * `discarded_total` values that were not events, `failed_total` events whose
 * `consume` failed after all retries, and `depth` the events held:
 * queued plus handed to the consumer and not yet finished (never more than
 * `capacity`). For an outbound queue, `in_total` counts events sent,
 * `out_total` events written to the connected queue, `dropped_total` events
 * sent while it was not connected or after it closed, and `depth` events
 * gathered but not written yet.
 *
 * @example
 * ```ts
 * import { Queue, type QueueFigures } from "./queue.ts";
 * const figures: QueueFigures = new Queue("a.inbox", { capacity: 5 }).figures();
 * figures.capacity; // 5
 * figures.in_total; // 0
 * ```
 */
export interface QueueFigures {
  /** Events accepted (inbound) or sent (outbound). */
  in_total: number;
  /** Events finished by the consumer (inbound) or written on (outbound). */
  out_total: number;
  /** Events lost: to the full-queue policy, closing, a timed-out stop, or no connection. */
  dropped_total: number;
  /** Values written that were not events. */
  discarded_total: number;
  /** Events whose `consume` failed after all retries (inbound only). */
  failed_total: number;
  /** Events held now. */
  depth: number;
  /** Most events held at once. */
  capacity: number;
}

/**
 * Settings of a {@link Queue}.
 *
 * @example
 * ```ts
 * import { Queue, type QueueOptions } from "./queue.ts";
 * const options: QueueOptions = { capacity: 100, whenFull: "drop_newest" };
 * new Queue("a.inbox", options).capacity; // 100
 * ```
 */
export interface QueueOptions {
  /** Most events held at once (default {@link DEFAULT_CAPACITY}). */
  capacity?: number;
  /** What to do when full (default `"block"`). */
  whenFull?: WhenFull;
  /**
   * Called for each value written that is not an event, with the reason, the
   * queue's name and the name of the outbound queue that wrote it (when
   * connected).
   */
  onDiscard?: (
    value: unknown,
    reason: string,
    queue: string,
    source: string | undefined,
  ) => void;
}

/**
 * A bounded channel of events with a `WritableStream` end and a
 * `ReadableStream` end. Writers write arrays of events (a single event is also
 * accepted); readers read arrays of at most {@link MAX_BATCH} events.
 *
 * The capacity counts the events queued and the events of the batch the
 * consumer holds: a batch read stays counted until the consumer reads again
 * (or {@link Queue.settle}s part of it), so a slow consumer holds at most
 * `capacity` events in all.
 *
 * With `whenFull: "block"` a write resolves only once every event in it fits,
 * so back-pressure reaches the producer and `depth` never exceeds `capacity`.
 * `drop_newest` drops what does not fit, `drop_oldest` drops the oldest
 * queued events to make room; both count the drops and never wait.
 *
 * @example
 * ```ts
 * import { Queue } from "./queue.ts";
 * const queue = new Queue("demo", { capacity: 10 });
 * const writer = queue.writable.getWriter();
 * await writer.write([{ header: {}, data: 1 }, { header: {}, data: 2 }]);
 * await writer.close();
 * for await (const batch of queue.readable) console.log(batch.length); // 2
 * ```
 */
export class Queue {
  /** The name used in logs and figures, e.g. `"b.inbox"`. */
  readonly name: string;
  /** Most events held at once. */
  readonly capacity: number;
  /** The full-queue policy. */
  readonly whenFull: WhenFull;
  /** Where producers write arrays of events. */
  readonly writable: WritableStream<Event[] | Event>;
  /** Where the consumer reads arrays of events. */
  readonly readable: ReadableStream<Event[]>;
  /**
   * The outbound queue that writes here (e.g. `"a.outbox"`), set when one
   * connects; named in the log line of a discarded value.
   */
  source: string | undefined;

  #queued = new Chunks();
  /** Events of the last batch read that the consumer has not finished. */
  #held = 0;
  /** The events of a write waiting for room, and the first not admitted. */
  #blocked: readonly Event[] | null = null;
  #blockedAt = 0;
  #closed = false;
  #cancelled = false;
  #inTotal = 0;
  #outTotal = 0;
  #droppedTotal = 0;
  #discardedTotal = 0;
  #failedTotal = 0;
  #wakeReader: (() => void) | null = null;
  #wakeWriter: (() => void) | null = null;
  #onDiscard: QueueOptions["onDiscard"];
  #observers: Set<(events: readonly Event[]) => void> | undefined;

  /** Makes an empty, open queue. */
  constructor(name: string, options: QueueOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    const whenFull = options.whenFull ?? "block";
    const [problem] = queueOptionProblems({ capacity, whenFull });
    if (problem !== undefined) {
      throw new RangeError(`Queue "${name}": ${problem}`);
    }
    this.name = name;
    this.capacity = capacity;
    this.whenFull = whenFull;
    this.#onDiscard = options.onDiscard;
    this.writable = new WritableStream<Event[] | Event>({
      write: (chunk) => this.#write(Array.isArray(chunk) ? chunk : [chunk]),
      close: () => this.close(),
      abort: () => this.close(),
    });
    this.readable = new ReadableStream<Event[]>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: () => this.#cancel(),
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * Events held now: queued, plus those handed to the consumer and not yet
   * finished. Never more than `capacity`.
   */
  get depth(): number {
    return this.#queued.size + this.#held;
  }

  /** Events of a blocked write still waiting for room (not in `depth`). */
  get waiting(): number {
    return this.#blocked === null ? 0 : this.#blocked.length - this.#blockedAt;
  }

  /** Whether the writable end is closed (no more events will arrive). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Counts one event of this queue whose `consume` failed. */
  countFailed(): void {
    this.#failedTotal++;
  }

  /** The queue's counters. */
  figures(): QueueFigures {
    return {
      in_total: this.#inTotal,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      discarded_total: this.#discardedTotal,
      failed_total: this.#failedTotal,
      depth: this.depth,
      capacity: this.capacity,
    };
  }

  /**
   * Adds events at once without waiting, whatever the policy: what does not
   * fit is dropped (`drop_oldest` drops the oldest instead). Returns how many
   * events were dropped. Used for side streams (logs, metrics) that must
   * never block the code that produces them.
   */
  offer(events: readonly unknown[]): number {
    const before = this.#droppedTotal;
    const accepted = this.#accept(events);
    if (this.#closed) {
      this.#dropClosed(accepted);
    } else {
      this.#admit(
        accepted,
        0,
        this.whenFull === "drop_oldest" ? "drop_oldest" : "drop_newest",
      );
    }
    return this.#droppedTotal - before;
  }

  /**
   * Calls `observer` with every batch handed to the consumer, until the
   * returned function is called. Costs nothing while no one observes; the
   * observer must not change the events and must return quickly (copy or
   * sample what it keeps). Used by the admin server's tap.
   */
  observe(observer: (events: readonly Event[]) => void): () => void {
    (this.#observers ??= new Set()).add(observer);
    return () => {
      this.#observers?.delete(observer);
      if (this.#observers?.size === 0) this.#observers = undefined;
    };
  }

  /**
   * The consumer finished `count` more events of the batch it holds: they no
   * longer count in `depth`. Reading the next batch settles the rest.
   */
  settle(count: number): void {
    const settled = Math.min(count, this.#held);
    if (settled <= 0) return;
    this.#held -= settled;
    this.#outTotal += settled;
    if (this.#held === 0) this.#wakeWriterNow();
  }

  /**
   * Closes the writable end: the reader gets what is queued, then the end.
   * What a blocked write could not add yet is dropped and counted.
   */
  close(): void {
    this.#closed = true;
    if (this.#blocked !== null) {
      this.#droppedTotal += this.waiting;
      failTrackers(
        this.#blocked,
        `Queue "${this.name}" closed before there was room`,
        this.#blockedAt,
      );
      this.#blocked = null;
    }
    this.#wakeReaderNow();
    this.#wakeWriterNow();
  }

  /**
   * Closes the queue and throws away what it holds (queued, held by the
   * consumer, or waiting in a blocked write), counting it as dropped; returns
   * how many events were thrown away. Used when a stop times out.
   */
  clear(): number {
    const lost = this.depth + this.waiting;
    this.#droppedTotal += this.depth;
    this.#queued.drop(this.#queued.size, `Queue "${this.name}" was cleared`);
    this.#held = 0;
    this.close();
    return lost;
  }

  #accept(chunk: readonly unknown[]): Event[] {
    for (let i = 0; i < chunk.length; i++) {
      if (!isEvent(chunk[i])) return this.#withoutMalformed(chunk, i);
    }
    return chunk as Event[];
  }

  /** The events of `chunk`, whose first value that is not one is `firstBad`. */
  #withoutMalformed(chunk: readonly unknown[], firstBad: number): Event[] {
    const events = chunk.slice(0, firstBad) as Event[];
    for (let i = firstBad; i < chunk.length; i++) {
      const value = chunk[i];
      const reason = whyNotEvent(value);
      if (reason === undefined) {
        events.push(value as Event);
      } else {
        this.#discardedTotal++;
        this.#onDiscard?.(value, reason, this.name, this.source);
      }
    }
    return events;
  }

  /**
   * Adds events from index `start` on as far as there is room. With a drop
   * policy the rest is dropped and counted; with `block` the index of the
   * first event that did not fit is returned (`events.length` when all did).
   */
  #admit(events: readonly Event[], start: number, policy: WhenFull): number {
    let i = start;
    const fit = Math.max(
      0,
      Math.min(this.capacity - this.depth, events.length - i),
    );
    this.#queued.add(events, i, i + fit);
    i += fit;
    this.#inTotal += fit;
    if (i < events.length && policy !== "block") {
      const rest = events.length - i;
      const reason = `Queue "${this.name}" was full (${policy})`;
      if (policy === "drop_oldest") {
        // Keep the newest that fit beside the batch the consumer holds.
        this.#queued.add(events, i, events.length);
        this.#queued.drop(rest, reason);
        this.#inTotal += rest;
      } else {
        failTrackers(events, reason, i);
      }
      this.#droppedTotal += rest;
      i = events.length;
    }
    if (fit > 0) this.#wakeReaderNow();
    return i;
  }

  async #write(chunk: readonly unknown[]): Promise<void> {
    const events = this.#accept(chunk);
    if (this.#closed) {
      this.#dropClosed(events);
      return;
    }
    // A drop policy admits or drops everything: only "block" can wait.
    let next = this.#admit(events, 0, this.whenFull);
    if (next === events.length) return;
    this.#blocked = events;
    this.#blockedAt = next;
    for (;;) {
      await new Promise<void>((resolve) => this.#wakeWriter = resolve);
      // close() counted what was still waiting as dropped.
      if (this.#blocked !== events) return;
      next = this.#admit(events, next, "block");
      this.#blockedAt = next;
      if (next === events.length) {
        this.#blocked = null;
        return;
      }
    }
  }

  #pull(
    controller: ReadableStreamDefaultController<Event[]>,
  ): Promise<void> | void {
    if (this.#cancelled) return;
    // The consumer asks for more: the batch it held is finished.
    this.settle(this.#held);
    if (this.#queued.size > 0) {
      const batch = this.#queued.take(MAX_BATCH);
      this.#held = batch.length;
      if (this.#observers !== undefined) {
        for (const observer of this.#observers) observer(batch);
      }
      controller.enqueue(batch);
      return;
    }
    if (this.#closed) {
      controller.close();
      return;
    }
    return new Promise<void>((resolve) => this.#wakeReader = resolve).then(
      () => this.#pull(controller),
    );
  }

  /** Drops events written after the queue closed. */
  #dropClosed(events: readonly Event[]): void {
    this.#droppedTotal += events.length;
    failTrackers(events, `Queue "${this.name}" is closed`);
  }

  #cancel(): void {
    this.#cancelled = true;
    this.clear();
  }

  #wakeReaderNow(): void {
    const wake = this.#wakeReader;
    if (wake !== null) {
      this.#wakeReader = null;
      wake();
    }
  }

  #wakeWriterNow(): void {
    const wake = this.#wakeWriter;
    if (wake !== null) {
      this.#wakeWriter = null;
      wake();
    }
  }
}

/** Below this many events, a chunk is merged with the next ones on reading. */
const MERGE_BELOW = 64;

/**
 * The events of a queue kept as the arrays they were written in, so that an
 * event moving from one actor to the next is not copied: a chunk written whole
 * is handed to the reader whole. The queue owns the arrays written to it.
 */
class Chunks {
  /** Events held. */
  size = 0;
  #chunks: (readonly Event[] | undefined)[] = [];
  #first = 0;
  /** Events of the first chunk already taken or dropped. */
  #offset = 0;

  /** Adds `events[start..end)`. */
  add(events: readonly Event[], start: number, end: number): void {
    if (end <= start) return;
    this.#chunks.push(
      start === 0 && end === events.length ? events : events.slice(start, end),
    );
    this.size += end - start;
  }

  /** Removes and returns up to `max` events from the front; size > 0. */
  take(max: number): Event[] {
    const chunk = this.#chunks[this.#first]!;
    const available = chunk.length - this.#offset;
    const alone = this.#chunks.length - this.#first === 1;
    if (
      this.#offset === 0 && available <= max &&
      (available >= MERGE_BELOW || alone)
    ) {
      this.size -= available;
      this.#shift();
      return chunk as Event[];
    }
    const batch: Event[] = [];
    this.#remove(max, (from, start, end) => {
      for (let i = start; i < end; i++) batch.push(from[i]!);
    });
    return batch;
  }

  /** Removes `count` events from the front, failing their trackers. */
  drop(count: number, reason: string): void {
    this.#remove(
      count,
      (from, start, end) => failTrackers(from, reason, start, end),
    );
  }

  #remove(
    count: number,
    each: (chunk: readonly Event[], start: number, end: number) => void,
  ): void {
    let left = Math.min(count, this.size);
    while (left > 0) {
      const chunk = this.#chunks[this.#first]!;
      const end = Math.min(chunk.length, this.#offset + left);
      each(chunk, this.#offset, end);
      left -= end - this.#offset;
      this.size -= end - this.#offset;
      this.#offset = end;
      if (end === chunk.length) this.#shift();
    }
  }

  #shift(): void {
    this.#chunks[this.#first++] = undefined;
    this.#offset = 0;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first > 64 && this.#first * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }
}

/**
 * The sending end of an actor's outbound queue. Events sent are gathered into
 * batches and written to the {@link Queue} it is connected to; while it is not
 * connected, or once it is closed, they are dropped and counted.
 *
 * `push` returns a promise only when the caller must wait (the batch is full:
 * it resolves once the batch, and any write before it, is in the connected
 * queue, which takes it only when it has room): awaiting it is how
 * back-pressure reaches a producer. What is pushed in one synchronous run is
 * written as one chunk at the end of that run.
 *
 * @example
 * ```ts
 * import { OutboundQueue, Queue } from "./queue.ts";
 * const target = new Queue("b.inbox");
 * const outbox = new OutboundQueue("a.outbox");
 * outbox.connect(target);
 * await outbox.push({ header: {}, data: 1 });
 * await outbox.close();
 * target.depth; // 1
 * ```
 */
export class OutboundQueue {
  /** The name used in logs and figures, e.g. `"a.outbox"`. */
  readonly name: string;
  #target: Queue | null = null;
  #writer: WritableStreamDefaultWriter<Event[] | Event> | null = null;
  /**
   * Gathered events: `#buffer[0..#held)`. The buffer is allocated a batch at
   * a time, so that gathering a batch never grows (and copies) an array.
   */
  #buffer: Event[] = new Array(MAX_BATCH);
  #held = 0;
  #inflight: Promise<void> | null = null;
  #closed = false;
  #outTotal = 0;
  #droppedTotal = 0;
  #onDrop: ((count: number, reason: string) => void) | undefined;

  /**
   * Makes the outbound queue `name` (`"actor.queue"`), not connected yet.
   *
   * @param onDrop called when events are dropped: `"not connected"`,
   * `"closed"` (sent after `close()`), or the error of the connected queue.
   */
  constructor(
    name: string,
    onDrop?: (count: number, reason: string) => void,
  ) {
    this.name = name;
    this.#onDrop = onDrop;
  }

  /** The queue this one writes to, or `null` when not connected. */
  get target(): Queue | null {
    return this.#target;
  }

  /** Whether `close()` was called: what is sent now is dropped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Connects to `target`; a queue can be connected once. */
  connect(target: Queue): void {
    if (this.#target !== null) {
      throw new TypeError(
        `Cannot connect "${this.name}": it is already connected to "${this.#target.name}"`,
      );
    }
    if (this.#closed) {
      throw new TypeError(`Cannot connect "${this.name}": it is closed`);
    }
    this.#target = target;
    this.#writer = target.writable.getWriter();
    target.source = this.name;
  }

  /** Sends one event; returns a promise when the caller must wait. */
  push(event: Event): Promise<void> | undefined {
    if (this.#writer === null) {
      this.#drop([event], this.#target === null ? "not connected" : "closed");
      return undefined;
    }
    const held = ++this.#held;
    if (held <= MAX_BATCH) this.#buffer[held - 1] = event;
    else this.#buffer.push(event);
    if (this.#inflight !== null) {
      return held >= MAX_BATCH ? this.#inflight : undefined;
    }
    if (held >= MAX_BATCH) return this.#write();
    if (held === 1) queueMicrotask(this.#flushSoon);
    return undefined;
  }

  /**
   * Writes what is gathered; resolves once it is all in the target queue
   * (or dropped), or returns `undefined` when there is nothing to write.
   */
  flush(): Promise<void> | undefined {
    if (this.#inflight !== null) return this.#inflight;
    if (this.#held > 0) return this.#write();
    return undefined;
  }

  /**
   * Flushes, then closes the target queue's writable end. What is sent
   * afterwards is dropped and counted.
   */
  async close(): Promise<void> {
    for (let flushing = this.flush(); flushing; flushing = this.flush()) {
      await flushing;
    }
    this.#closed = true;
    const writer = this.#writer;
    if (writer !== null) {
      this.#writer = null;
      await writer.close().catch(() => {});
    }
  }

  /** The queue's counters. */
  figures(): QueueFigures {
    return {
      in_total: this.#outTotal + this.#droppedTotal + this.#held,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      discarded_total: 0,
      failed_total: 0,
      depth: this.#held,
      capacity: this.#target?.capacity ?? 0,
    };
  }

  #flushSoon = (): void => {
    if (this.#inflight === null && this.#held > 0) void this.#write();
  };

  /** Starts writing the buffer; only called with a writer and no write. */
  #write(): Promise<void> {
    const written = this.#drain();
    this.#inflight = written;
    return written;
  }

  /** Writes batches until the buffer stays empty. */
  async #drain(): Promise<void> {
    const writer = this.#writer!;
    while (this.#held > 0) {
      const batch = this.#buffer;
      if (this.#held < batch.length) batch.length = this.#held;
      this.#buffer = new Array(MAX_BATCH);
      this.#held = 0;
      this.#outTotal += batch.length;
      try {
        await writer.write(batch);
      } catch (error) {
        this.#outTotal -= batch.length;
        this.#drop(batch, String(error));
      }
    }
    this.#inflight = null;
  }

  #drop(events: readonly Event[], reason: string): void {
    this.#droppedTotal += events.length;
    failTrackers(events, `Queue "${this.name}": ${reason}`);
    this.#onDrop?.(events.length, reason);
  }
}

/**
 * The queues an actor declares.
 *
 * @example
 * ```ts
 * import { Actor } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * import type { QueueNames } from "./queue.ts";
 *
 * const queues: Partial<QueueNames> = { inbound: ["left", "right"], outbound: ["error"] };
 * class Join extends Actor {
 *   readonly kind = "output";
 *   constructor(name: string) {
 *     super(name, {}, queues);
 *   }
 *   override consume(_event: Event): void {}
 * }
 * [...new Join("join").pool.inbound.keys()]; // ["left", "right"]
 * ```
 */
export interface QueueNames {
  /** Queues the actor consumes from (default `["inbox"]`). */
  inbound: readonly string[];
  /** Queues the actor sends to (default `["outbox", "error"]`). */
  outbound: readonly string[];
  /** Whether connecting creates inbound queues of any name (e.g. funnel). */
  anyInbound: boolean;
  /** Whether connecting creates outbound queues of any name (e.g. roundrobin). */
  anyOutbound: boolean;
  /**
   * Outbound queues that may stay unconnected without a warning at start
   * (`error` always may), e.g. a forwarding `outbox`.
   */
  optional?: readonly string[];
}

/**
 * The container of an actor's named queues and their counters.
 *
 * @example
 * ```ts
 * import { QueuePool } from "./queue.ts";
 * const pool = new QueuePool("a", {
 *   inbound: ["inbox"],
 *   outbound: ["outbox", "error"],
 *   anyInbound: false,
 *   anyOutbound: false,
 * });
 * pool.inbound.get("inbox")?.capacity; // 1000
 * ```
 */
export class QueuePool {
  /** The owning actor's name. */
  readonly owner: string;
  /** The queues declared by the actor. */
  readonly names: QueueNames;
  /** Inbound queues by name. */
  readonly inbound: Map<string, Queue> = new Map();
  /** Outbound queues by name. */
  readonly outbound: Map<string, OutboundQueue> = new Map();
  #defaults: QueueOptions;
  #onDrop: ((queue: string, count: number, reason: string) => void) | undefined;

  /** Makes the declared queues with `defaults` for inbound ones. */
  constructor(
    owner: string,
    names: QueueNames,
    defaults: QueueOptions = {},
    onDrop?: (queue: string, count: number, reason: string) => void,
  ) {
    this.owner = owner;
    this.names = names;
    this.#defaults = defaults;
    this.#onDrop = onDrop;
    for (const name of names.inbound) this.addInbound(name);
    for (const name of names.outbound) this.addOutbound(name);
  }

  /** Whether an inbound queue of that name exists or may be made. */
  acceptsInbound(name: string): boolean {
    return this.inbound.has(name) || this.names.anyInbound;
  }

  /** Whether an outbound queue of that name exists or may be made. */
  acceptsOutbound(name: string): boolean {
    return this.outbound.has(name) || this.names.anyOutbound;
  }

  /**
   * Whether outbound queue `name` exists and is connected.
   *
   * @example
   * ```ts
   * import { Queue, QueuePool } from "./queue.ts";
   * const pool = new QueuePool("a", {
   *   inbound: ["inbox"],
   *   outbound: ["outbox", "error"],
   *   anyInbound: false,
   *   anyOutbound: false,
   * });
   * pool.outbound.get("outbox")!.connect(new Queue("b.inbox"));
   * pool.isConnected("outbox"); // true
   * pool.isConnected("error"); // false
   * ```
   */
  isConnected(name: string): boolean {
    return this.outbound.get(name)?.target != null;
  }

  /** Makes (or remakes, before any use) inbound queue `name`. */
  addInbound(name: string, options: QueueOptions = {}): Queue {
    const queue = new Queue(`${this.owner}.${name}`, {
      ...this.#defaults,
      ...options,
    });
    this.inbound.set(name, queue);
    return queue;
  }

  /** Returns outbound queue `name`, making it first if needed. */
  addOutbound(name: string): OutboundQueue {
    let queue = this.outbound.get(name);
    if (queue === undefined) {
      const onDrop = this.#onDrop;
      queue = new OutboundQueue(
        `${this.owner}.${name}`,
        onDrop && ((count, reason) => onDrop(name, count, reason)),
      );
      this.outbound.set(name, queue);
    }
    return queue;
  }

  /**
   * Names of the connected outbound queues but `error`, in the order they
   * were connected: the branches of a flow actor.
   */
  branches(): string[] {
    const names: string[] = [];
    for (const [name, queue] of this.outbound) {
      if (name !== "error" && queue.target !== null) names.push(name);
    }
    return names;
  }

  /** Counters of every queue, keyed by queue name. */
  figures(): Record<string, QueueFigures> {
    const figures: Record<string, QueueFigures> = {};
    for (const [name, queue] of this.inbound) figures[name] = queue.figures();
    for (const [name, queue] of this.outbound) {
      if (!this.inbound.has(name)) figures[name] = queue.figures();
    }
    return figures;
  }
}
