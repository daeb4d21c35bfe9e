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

import type { ActorLog } from "./actor.ts";
import {
  bufferPath,
  DEFAULT_BUFFER_FSYNC,
  DEFAULT_BUFFER_MAX_BYTES,
  DISK_RETRY_MS,
  DiskBuffer,
  type DiskBufferFigures,
  type DiskBufferOptions,
  diskBufferProblems,
} from "./disk_buffer.ts";
import { quoteList } from "./errors.ts";
import { type Event, isEvent, whyNotEvent } from "./event.ts";
import { failTrackers } from "./tracking.ts";

/**
 * What a queue does with an event that arrives while it is full.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue, type WhenFull } from "./queue.ts";
 * const whenFull: WhenFull = "drop_oldest";
 * assert.equal(new Queue("a.inbox", { capacity: 10, whenFull }).capacity, 10);
 * ```
 */
export type WhenFull = "block" | "drop_newest" | "drop_oldest";

/**
 * The policies a queue may follow when full.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WHEN_FULL } from "./queue.ts";
 * assert.equal(WHEN_FULL.includes("block"), true);
 * ```
 */
export const WHEN_FULL: readonly WhenFull[] = [
  "block",
  "drop_newest",
  "drop_oldest",
];

/**
 * The default capacity of a queue, in events: two whole batches of
 * {@link MAX_BATCH}, so that the arrays actors send one another are queued
 * whole (a write that only partly fits is split, and its pieces copied
 * together again on reading).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CAPACITY, Queue } from "./queue.ts";
 * assert.ok(new Queue("a.inbox").capacity === DEFAULT_CAPACITY);
 * ```
 */
export const DEFAULT_CAPACITY = 1024;

/**
 * The most events one chunk carries between two actors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_BATCH } from "./queue.ts";
 * assert.equal(MAX_BATCH, 512);
 * ```
 */
export const MAX_BATCH = 512;

/**
 * The most events an outbound queue gathers while a write is in flight:
 * room for every sender of a busy actor (several `consume` calls of its
 * inbound queues, say) to send once more before it waits.
 */
const GATHER_LIMIT = 2 * MAX_BATCH;

/**
 * What is wrong with queue settings, one sentence tail per problem (e.g.
 * `capacity must be a whole number of at least 1, got 0`); empty when they
 * are good.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueOptionProblems } from "./queue.ts";
 * assert.deepEqual(queueOptionProblems({ capacity: 10, whenFull: "block" }), []);
 * assert.equal(queueOptionProblems({ capacity: 0 }).length, 1);
 * ```
 */
export function queueOptionProblems(
  options: Pick<QueueOptions, "capacity" | "whenFull" | "buffer">,
): string[] {
  const { capacity, whenFull, buffer } = options;
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
  if (buffer !== undefined) {
    problems.push(...diskBufferProblems(buffer));
    if (whenFull !== undefined) {
      problems.push(
        "whenFull does not apply to a queue with a disk buffer: events wait on disk; set buffer.whenFull for when the disk is full",
      );
    }
  }
  return problems;
}

/**
 * The queue settings (`capacity`, `whenFull`, `buffer`) that `from` sets,
 * leaving out those it leaves undefined, so that spreading them over
 * defaults keeps the defaults.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueSettings } from "./queue.ts";
 * assert.deepEqual(queueSettings({ capacity: 10, whenFull: undefined }), { capacity: 10 });
 * ```
 */
export function queueSettings(
  from: {
    capacity?: number | undefined;
    whenFull?: WhenFull | undefined;
    buffer?: DiskBufferOptions | undefined;
  },
): Pick<QueueOptions, "capacity" | "whenFull" | "buffer"> {
  const settings: Pick<QueueOptions, "capacity" | "whenFull" | "buffer"> = {};
  if (from.capacity !== undefined) settings.capacity = from.capacity;
  if (from.whenFull !== undefined) settings.whenFull = from.whenFull;
  if (from.buffer !== undefined) settings.buffer = from.buffer;
  return settings;
}

/**
 * Counters of one queue. They always add up:
 * `in_total = out_total + dropped_total + failed_total + depth`.
 *
 * For an inbound queue, `in_total` counts events that reached it (those a
 * full-queue policy dropped included), `out_total` events the consumer took
 * and finished with, `dropped_total` events lost to the full-queue policy or
 * thrown away by a stop that timed out (`abandoned_total` of them),
 * `failed_total` events whose `consume` failed after all retries (sent to the
 * actor's `error` queue or lost), and `depth` the events held: queued plus
 * handed to the consumer and not finished yet (never more than `capacity`).
 * `discarded_total` counts values written that were not events; they never
 * count as `in`. A queue with a disk buffer adds the buffer's figures
 * ({@link DiskBufferFigures}); events on disk are not in `depth`, and its
 * counters add up as
 * `in_total + disk_recovered_total = out_total + dropped_total + failed_total + depth + disk_events`.
 *
 * For an outbound queue, `in_total` counts events sent, `out_total` events
 * the connected queue took, `dropped_total` events sent while it was not
 * connected, after it closed, refused by a closed queue, dropped by the
 * connection's full-queue policy when the sender did not wait, or thrown
 * away by a stop that timed out (`abandoned_total` of them), and `depth`
 * events gathered or being written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue, type QueueFigures } from "./queue.ts";
 * const figures: QueueFigures = new Queue("a.inbox", { capacity: 5 }).figures();
 * assert.equal(figures.capacity, 5);
 * assert.equal(figures.in_total, 0);
 * ```
 */
export interface QueueFigures extends Partial<DiskBufferFigures> {
  /** Events that reached the queue (inbound) or were sent (outbound). */
  in_total: number;
  /** Events finished by the consumer (inbound) or taken by the connected queue (outbound). */
  out_total: number;
  /** Events lost: to a full-queue policy, closing, no connection, or a timed-out stop. */
  dropped_total: number;
  /** The part of `dropped_total` thrown away when a stop timed out. */
  abandoned_total: number;
  /** Values written that were not events (not counted in `in_total`). */
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
 * import assert from "node:assert/strict";
 * import { Queue, type QueueOptions } from "./queue.ts";
 * const options: QueueOptions = { capacity: 100, whenFull: "drop_newest" };
 * assert.equal(new Queue("a.inbox", options).capacity, 100);
 * ```
 */
export interface QueueOptions {
  /** Most events held at once (default {@link DEFAULT_CAPACITY}). */
  capacity?: number;
  /** What to do when full (default `"block"`). */
  whenFull?: WhenFull;
  /**
   * A disk buffer: every event is written to disk and read
   * back in order (see `disk_buffer.ts`); `whenFull` then does not apply,
   * `buffer.whenFull` does when the disk is full.
   */
  buffer?: DiskBufferOptions;
  /**
   * Called for each value written that is not an event, with the reason and
   * the queue's name. (What an outbound queue writes is checked when it is
   * sent: see {@link OutboundQueueOptions.onDiscard}.)
   */
  onDiscard?: (value: unknown, reason: string, queue: string) => void;
}

/**
 * Why events written to a queue were not taken: it closed while they waited
 * for room (`"closed"`), or a stop that timed out threw them away
 * (`"abandoned"`).
 *
 * @example
 * ```ts
 * import type { RefusedReason } from "./queue.ts";
 * const reason: RefusedReason = "closed";
 * ```
 */
export type RefusedReason = "closed" | "abandoned";

/**
 * The writer a {@link Queue} tells about events it did not take from a
 * write: the {@link OutboundQueue} connected to it.
 *
 * @example
 * ```ts
 * import type { QueueSource } from "./queue.ts";
 * const source: QueueSource = {
 *   name: "a.outbox",
 *   taken: () => {},
 *   refused: () => {},
 * };
 * ```
 */
export interface QueueSource {
  /** The writer's name, e.g. `"a.outbox"`. */
  readonly name: string;
  /**
   * `count` more events of the write in progress reached the queue (taken,
   * or dropped by its full-queue policy).
   */
  taken(count: number): void;
  /** `events[start..]` of the write in progress were not taken. */
  refused(
    events: readonly Event[],
    start: number,
    reason: RefusedReason,
  ): void;
}

/**
 * A bounded channel of events with a `WritableStream` end and a
 * `ReadableStream` end. Writers write arrays of events (a single event is also
 * accepted); readers read arrays of at most {@link MAX_BATCH} events.
 *
 * The capacity counts the events queued and the events handed to the
 * consumer that it has not finished, so a slow consumer holds at most
 * `capacity` events in all. A plain reader finishes a batch by reading the
 * next one; an actor's supervisor calls {@link Queue.consumeManually} and
 * finishes events one by one ({@link Queue.finish}), since an actor may keep
 * some past the end of `consume`.
 *
 * With `whenFull: "block"` a write resolves only once every event in it fits,
 * so back-pressure reaches the producer and `depth` never exceeds `capacity`.
 * `drop_newest` drops what does not fit, `drop_oldest` drops the oldest
 * queued events to make room; both count the drops and never wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue } from "./queue.ts";
 * const queue = new Queue("demo", { capacity: 10 });
 * const writer = queue.writable.getWriter();
 * await writer.write([{ header: {}, data: 1 }, { header: {}, data: 2 }]);
 * await writer.close();
 * const sizes = (await Array.fromAsync(queue.readable)).map((batch) => batch.length);
 * assert.deepEqual(sizes, [2]);
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

  #queued = new Chunks();
  /** Events handed to the consumer that it has not finished. */
  #held = 0;
  /** Whether reading a batch finishes the one read before (a plain reader). */
  #settleOnRead = true;
  /** The events of a write waiting for room, and the first not admitted. */
  #blocked: readonly Event[] | null = null;
  #blockedAt = 0;
  #closed = false;
  #cancelled = false;
  #inTotal = 0;
  #outTotal = 0;
  #droppedTotal = 0;
  #abandonedTotal = 0;
  #discardedTotal = 0;
  #failedTotal = 0;
  #wakeReader: (() => void) | null = null;
  /** Called once, at once, when events are queued or the queue closes. */
  #onQueued: (() => void) | null = null;
  /** A read waiting for events was given up: its pull ends without any. */
  #skipPull = false;
  #wakeWriter: (() => void) | null = null;
  /** Resolves the wait of {@link Queue.whenQueuedBelow}, when one waits. */
  #wakeTaken: (() => void) | null = null;
  /** What {@link Queue.whenQueuedBelow} waits for: fewer queued than this. */
  #takenBelow = 0;
  #onDiscard: QueueOptions["onDiscard"];
  #source: QueueSource | undefined;
  #observers: Set<(events: readonly Event[]) => void> | undefined;
  /** The disk buffer, when the queue has one, and where it stands. */
  #disk: DiskBuffer | undefined;
  /** The settings of the disk buffer the queue was made with. */
  #buffer: DiskBufferOptions | undefined;
  /**
   * A reload removed or moved the disk buffer: writes go on to `#disk`
   * until nothing is left on it to read, then to `#nextDisk` (or memory),
   * and `#disk` closes once what was read back was acknowledged.
   */
  #retiring = false;
  #nextDisk: DiskBuffer | undefined;
  /** The read back in progress. */
  #refillRun: Promise<void> = Promise.resolve();
  /** Events of a write are being appended to the disk. */
  #spilling = false;
  /** Events are being read back from the disk. */
  #refilling = false;
  /** Whether events on disk are read back (not once the pipeline stops). */
  #replay = true;
  /** Whether a stop threw away what the queue held ({@link Queue.clear}). */
  #cleared = false;
  /** Room below which reading back waits for more (while some are queued). */
  #refillAt = 1;
  /** Wakes a write waiting for the disk, and a read back that failed. */
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #rereadTimer: ReturnType<typeof setTimeout> | undefined;

  /** Makes an empty, open queue. */
  constructor(name: string, options: QueueOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_CAPACITY;
    const buffer = options.buffer;
    const whenFull = buffer === undefined
      ? options.whenFull ?? "block"
      : buffer.whenFull ?? "block";
    // With a disk buffer, an actor's default whenFull does not apply.
    const [problem] = queueOptionProblems(
      buffer === undefined
        ? { ...queueSettings(options), capacity }
        : { capacity, buffer },
    );
    if (problem !== undefined) {
      throw new RangeError(`Queue "${name}": ${problem}`);
    }
    this.name = name;
    this.capacity = capacity;
    this.whenFull = whenFull;
    this.#onDiscard = options.onDiscard;
    if (buffer !== undefined) {
      this.#buffer = buffer;
      this.#useDisk(new DiskBuffer(name, buffer));
    }
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

  /** The name of the outbound queue that writes here, when one is connected. */
  get source(): string | undefined {
    return this.#source?.name;
  }

  /**
   * Makes `source` the writer told about events it wrote that this queue
   * did not take (`undefined` to forget it). Set by
   * {@link OutboundQueue.connect}.
   */
  attachSource(source: QueueSource | undefined): void {
    this.#source = source;
  }

  /** The queue's counters (with its disk buffer's, when it has one). */
  figures(): QueueFigures {
    const figures: QueueFigures = {
      in_total: this.#inTotal,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      abandoned_total: this.#abandonedTotal,
      discarded_total: this.#discardedTotal,
      failed_total: this.#failedTotal,
      depth: this.depth,
      capacity: this.capacity,
    };
    return this.#disk === undefined
      ? figures
      : { ...figures, ...this.#disk.figures() };
  }

  /** Whether the queue has a disk buffer (one a reload removed and that still drains included). */
  get buffered(): boolean {
    return this.#disk !== undefined || this.#nextDisk !== undefined;
  }

  /**
   * The settings of the disk buffer the queue was made with, defaults
   * filled in; `undefined` without one.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const queue = new Queue("sink.inbox", { buffer: { type: "disk", maxBytes: 65536 } });
   * assert.deepEqual(queue.bufferSettings, {
   *   type: "disk",
   *   path: "buffers/sink.inbox",
   *   maxBytes: 65536,
   *   whenFull: "block",
   *   fsync: 1000,
   * });
   * assert.equal(new Queue("a.inbox").bufferSettings, undefined);
   * ```
   */
  get bufferSettings(): Required<DiskBufferOptions> | undefined {
    const buffer = this.#buffer;
    if (buffer === undefined) return undefined;
    return {
      type: "disk",
      path: bufferPath(this.name, buffer),
      maxBytes: buffer.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES,
      whenFull: buffer.whenFull ?? "block",
      fsync: buffer.fsync ?? DEFAULT_BUFFER_FSYNC,
    };
  }

  /** The directories of the disk buffers the queue uses now. */
  get bufferPaths(): string[] {
    return [this.#disk, this.#nextDisk].flatMap((disk) =>
      disk === undefined ? [] : [disk.path]
    );
  }

  /**
   * @internal For a reload that replaces this queue by `next`: nothing more
   * is read back from the disk buffer but by {@link Queue.readBackFor};
   * resolves once the read back in progress is in. Then
   * {@link Queue.adoptBuffer} hands the buffer over.
   */
  async stopReplay(): Promise<void> {
    this.#replay = false;
    await this.#refillRun;
  }

  /**
   * @internal While a reload moves the events of this queue into `next`
   * and this queue's writer still flushes (it may wait for room on a full
   * disk): reads back from the disk buffer as much as `next` has room for,
   * so that the disk makes room as `next`'s consumer handles them.
   */
  readBackFor(next: Queue): void {
    const disk = this.#disk;
    const room = next.capacity - next.depth - this.#queued.size;
    if (
      disk === undefined || this.#refilling || disk.unread === 0 || room <= 0
    ) return;
    this.#refilling = true;
    this.#refillRun = this.#refill(disk, Math.min(room, MAX_BATCH));
  }

  /**
   * @internal For a reload that replaces queue `old` by this one (after
   * {@link Queue.takeOver} and {@link Queue.stopReplay}): takes its disk
   * buffer and what is on it. With the same directory, the buffer takes
   * this queue's settings and goes on. Otherwise what is on it is read
   * back first, new events going on to it meanwhile; once it has nothing
   * left to read, new events go to this queue's own buffer (or to memory
   * when it has none), and it closes once every event read back from it
   * was handled. Returns the directory that drains that way, if one does.
   */
  adoptBuffer(old: Queue): string | undefined {
    const disk = old.#disk;
    const next = old.#nextDisk;
    old.#disk = old.#nextDisk = undefined;
    old.#retiring = false;
    if (disk === undefined) return undefined;
    const own = this.#disk;
    const settings = this.#buffer;
    if (own !== undefined && own.path === disk.path) {
      // Never opened: the directory was the old queue's.
      disk.configure(settings!);
      if (next !== undefined) void next.close();
      this.#useDisk(disk);
      return undefined;
    }
    let after = own;
    if (next !== undefined) {
      if (own !== undefined && own.path === next.path) {
        next.configure(settings!);
        after = next;
      } else void next.close();
    }
    this.#retiring = true;
    this.#nextDisk = after;
    this.#useDisk(disk);
    this.#retireDrained();
    return this.#retiring ? disk.path : undefined;
  }

  /** Reads back from `disk` and writes to it from now on. */
  #useDisk(disk: DiskBuffer): void {
    this.#disk = disk;
    disk.onRoom = () => this.#wakeWriterNow();
    this.#refillAt = Math.min(MAX_BATCH, Math.ceil(this.capacity / 2));
  }

  /**
   * A disk buffer a reload removed or moved is left once nothing on it is
   * left to read: new events go to the next one, or to memory.
   */
  #retireDrained(): void {
    const disk = this.#disk;
    if (
      !this.#retiring || disk === undefined || disk.unread > 0 ||
      this.#spilling || this.#refilling
    ) return;
    this.#retiring = false;
    this.#disk = undefined;
    const next = this.#nextDisk;
    this.#nextDisk = undefined;
    if (next !== undefined) this.#useDisk(next);
    void disk.retire();
    this.#refillSoon();
    this.#wakeWriterNow();
  }

  /**
   * Opens the disk buffer, when the queue has one (the router does before
   * the pipeline starts; a write or read opens it otherwise): what a
   * previous run left on disk is read back before anything new. Rejects
   * when it cannot be opened (see {@link DiskBuffer.open}).
   */
  async openBuffer(log?: ActorLog): Promise<void> {
    const disk = this.#disk;
    if (disk === undefined) return;
    await disk.open(log);
    this.#refillSoon();
    this.#wakeReaderNow();
  }

  /**
   * The pipeline stops: nothing more is read back from the disk buffer.
   * The consumer gets what is in memory, then the end; what is on disk
   * (and what is written there meanwhile) stays for the next run.
   */
  keepOnDisk(): void {
    if (this.#disk === undefined) return;
    this.#replay = false;
    this.#wakeReaderNow();
  }

  /**
   * Closes the disk buffer, when the queue has one, once the queue ended
   * (its reader got the end, or a stop threw away what it held).
   */
  async closeBuffer(): Promise<void> {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#rereadTimer);
    await Promise.all([this.#disk?.close(), this.#nextDisk?.close()]);
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
      failTrackers(accepted, `Queue "${this.name}" is closed`);
      return accepted.length;
    }
    this.#admit(
      accepted,
      0,
      this.whenFull === "drop_oldest" ? "drop_oldest" : "drop_newest",
    );
    return this.#droppedTotal - before;
  }

  /**
   * Calls `observer` with every batch handed to the consumer, until the
   * returned function is called. Costs nothing while no one observes; the
   * observer must not change the events and must return quickly (copy or
   * sample what it keeps). An observer that throws is removed: it never
   * disturbs the consumer.
   */
  observe(observer: (events: readonly Event[]) => void): () => void {
    (this.#observers ??= new Set()).add(observer);
    return () => {
      this.#observers?.delete(observer);
      if (this.#observers?.size === 0) this.#observers = undefined;
    };
  }

  /**
   * @internal Whether observers are told of each batch handed out (see
   * {@link Queue.observe}): the supervisor then does not count the time
   * between two batches, which includes theirs, as consume time.
   */
  get observed(): boolean {
    return this.#observers !== undefined;
  }

  /**
   * From now on the consumer finishes the events it reads itself, with
   * {@link Queue.finish} and {@link Queue.finishFailed}, instead of by
   * reading the next batch. An actor's supervisor calls this.
   */
  consumeManually(): void {
    this.#settleOnRead = false;
  }

  /**
   * The consumer finished `count` more of the events it holds: they count in
   * `out_total` and no longer in `depth`.
   */
  finish(count: number): void {
    const finished = Math.min(count, this.#held);
    if (finished <= 0) return;
    this.#held -= finished;
    this.#outTotal += finished;
    this.#wakeWriterNow();
    if (this.#disk !== undefined) this.#refillSoon();
  }

  /**
   * `count` more of the events the consumer holds failed after all retries:
   * they count in `failed_total` and no longer in `depth`.
   */
  finishFailed(count: number): void {
    const failed = Math.min(count, this.#held);
    if (failed <= 0) return;
    this.#held -= failed;
    this.#failedTotal += failed;
    this.#wakeWriterNow();
    if (this.#disk !== undefined) this.#refillSoon();
  }

  /**
   * The consumer let go of its reader while a read waited for events (a
   * reload hands the queue to another consumer): that read ends without
   * taking any, so that what arrives stays queued for the next reader.
   * Release the reader's lock first.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const queue = new Queue("a.inbox");
   * const reader = queue.readable.getReader();
   * const read = reader.read().catch(() => "released");
   * reader.releaseLock();
   * queue.detachReader();
   * assert.equal(await read, "released");
   * await queue.writable.getWriter().write({ header: {}, data: 1 });
   * assert.equal(queue.depth, 1);
   * ```
   */
  detachReader(): void {
    if (this.#wakeReader === null) return;
    this.#skipPull = true;
    this.#wakeReaderNow();
  }

  /**
   * Makes this queue the continuation of `old` (a reload changed the
   * queue's settings): the events `old` has queued move here in order, and
   * so do its counters, so that the figures of the queue go on from where
   * they were. Events `old` handed to its consumer and that are not
   * finished stay counted there. Its consumer must have stopped reading;
   * what a writer still adds to `old` moves by calling this again. This
   * queue may hold more than its capacity until it drains: writers wait
   * meanwhile.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const old = new Queue("a.inbox", { capacity: 10 });
   * await old.writable.getWriter().write([{ header: {}, data: 1 }]);
   * const bigger = new Queue("a.inbox", { capacity: 100 });
   * bigger.takeOver(old);
   * assert.equal(bigger.depth, 1);
   * assert.equal(bigger.figures().in_total, 1);
   * assert.equal(old.figures().in_total, 0);
   * ```
   */
  takeOver(old: Queue): void {
    const held = old.#held;
    this.#inTotal += old.#inTotal - held;
    this.#outTotal += old.#outTotal;
    this.#droppedTotal += old.#droppedTotal;
    this.#abandonedTotal += old.#abandonedTotal;
    this.#discardedTotal += old.#discardedTotal;
    this.#failedTotal += old.#failedTotal;
    old.#inTotal = held;
    old.#outTotal = old.#droppedTotal = old.#abandonedTotal = 0;
    old.#discardedTotal = old.#failedTotal = 0;
    this.#queued.append(old.#queued);
    old.#wakeWriterNow();
    old.#wakeTakenNow();
    this.#wakeReaderNow();
  }

  /**
   * Moves the events `from` has queued to the end of this queue, in order,
   * counting them out of `from` and into this one: a reload hands the
   * events of an actor it removes to the connection that replaces its
   * inbound one. Returns how many moved. Like {@link Queue.takeOver}, this
   * queue may hold more than its capacity until it drains.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const removed = new Queue("old.inbox");
   * await removed.writable.getWriter().write([{ header: {}, data: 1 }]);
   * const next = new Queue("new.inbox");
   * assert.equal(next.takeEvents(removed), 1);
   * assert.equal(removed.figures().out_total, 1);
   * assert.equal(next.figures().in_total, 1);
   * ```
   */
  takeEvents(from: Queue): number {
    const moved = from.#queued.size;
    if (moved === 0) return 0;
    from.#outTotal += moved;
    this.#inTotal += moved;
    this.#queued.append(from.#queued);
    from.#wakeWriterNow();
    from.#wakeTakenNow();
    this.#wakeReaderNow();
    return moved;
  }

  /**
   * Closes the writable end: the reader gets what is queued, then the end.
   * What a blocked write could not add yet is refused: its writer counts it.
   */
  close(): void {
    this.#closed = true;
    this.#refuseBlocked("closed");
    this.#wakeReaderNow();
    this.#wakeWriterNow();
    this.#wakeTakenNow();
  }

  /**
   * Closes the queue and throws away what it holds (queued, or handed to the
   * consumer and not finished), counting it as dropped and abandoned, and
   * failing its delivery trackers except those of events handed to the
   * consumer (the consumer's supervisor fails those, as it knows them). What
   * a blocked write still waits to add is refused as abandoned. Returns how
   * many events were thrown away, refused ones included. Used when a stop
   * times out. What is on disk stays there for the next run, and so do the
   * events read back from it and thrown away here (their records are not
   * acknowledged).
   */
  clear(): number {
    if (this.#disk !== undefined) {
      this.#disk.freeze();
      this.#replay = false;
      this.#cleared = true;
    }
    const thrown = this.depth;
    const lost = thrown + this.waiting;
    this.#queued.drop(
      this.#queued.size,
      `Queue "${this.name}" was abandoned by a stop that timed out`,
    );
    this.#held = 0;
    this.#droppedTotal += thrown;
    this.#abandonedTotal += thrown;
    this.#refuseBlocked("abandoned");
    this.close();
    return lost;
  }

  #refuseBlocked(reason: RefusedReason): void {
    const blocked = this.#blocked;
    if (blocked === null) return;
    const start = this.#blockedAt;
    this.#blocked = null;
    this.#refuse(blocked, start, reason);
  }

  /** Tells the writer (or fails the trackers of) events not taken. */
  #refuse(events: readonly Event[], start: number, reason: RefusedReason) {
    if (start >= events.length) return;
    if (this.#source !== undefined) {
      this.#source.refused(events, start, reason);
    } else {
      failTrackers(
        events,
        `Queue "${this.name}" ${
          reason === "closed" ? "is closed" : "was abandoned"
        }`,
        start,
      );
    }
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
        this.#onDiscard?.(value, reason, this.name);
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
        // Keep the newest beside the events the consumer holds.
        this.#queued.add(events, i, events.length);
        this.#queued.drop(rest, reason);
      } else {
        failTrackers(events, reason, i);
      }
      this.#inTotal += rest;
      this.#droppedTotal += rest;
      i = events.length;
    }
    if (i > start) this.#source?.taken(i - start);
    if (fit > 0) this.#wakeReaderNow();
    return i;
  }

  async #write(chunk: readonly unknown[]): Promise<void> {
    // An outbound queue only sends events: check what others write.
    const events = this.#source === undefined
      ? this.#accept(chunk)
      : chunk as Event[];
    if (this.#closed && this.#source === undefined) {
      failTrackers(events, `Queue "${this.name}" is closed`);
      throw new TypeError(
        `Queue "${this.name}" is closed: ${events.length} event(s) were not taken`,
      );
    }
    await this.writeFromSource(events);
  }

  /**
   * @internal What the connected outbound queue writes, past the writable
   * stream (whose writer it holds, so that no other write can come between):
   * taken as a write of the stream would take it, without its promise and
   * queue when there is room. Returns `undefined` when everything was taken
   * (or refused) at once, else a promise of when it is.
   */
  writeFromSource(events: Event[]): Promise<void> | undefined {
    if (this.#closed) {
      this.#refuse(events, 0, "closed");
      return undefined;
    }
    if (this.#retiring) this.#retireDrained();
    if (this.#disk !== undefined) return this.#writeBuffered(events);
    // A drop policy admits or drops everything: only "block" can wait.
    const next = this.#admit(events, 0, this.whenFull);
    if (next === events.length) return undefined;
    return this.#block(events, next);
  }

  /** Waits for room for the events of `events` from `next` on. */
  async #block(events: Event[], next: number): Promise<void> {
    this.#blocked = events;
    this.#blockedAt = next;
    for (;;) {
      await new Promise<void>((resolve) => this.#wakeWriter = resolve);
      // close() or clear() refused what was still waiting.
      if (this.#blocked !== events) return;
      next = this.#admit(events, next, "block");
      this.#blockedAt = next;
      if (next === events.length) {
        this.#blocked = null;
        return;
      }
    }
  }

  /**
   * @internal The next batch when events are queued, handed over as a read
   * of the readable stream hands it, without its promise and result object;
   * `undefined` when none is (then read). Only for the consumer that holds
   * the stream's reader and finishes manually (see
   * {@link Queue.consumeManually}), between its reads.
   */
  takeQueued(): Event[] | undefined {
    if (this.#queued.size === 0 || this.#cancelled) return undefined;
    return this.#handOut();
  }

  /**
   * @internal Calls `wake` once, synchronously, as soon as events are
   * queued or the queue closes (a consumer that takes with
   * {@link Queue.takeQueued} waits so, without a read of the stream and
   * the promises it takes: what a producer writes reaches that consumer in
   * the same turn). One consumer waits at a time.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const queue = new Queue("a.readable");
   * queue.consumeManually();
   * let taken = 0;
   * queue.onQueued(() => void (taken = queue.takeQueued()?.length ?? 0));
   * await queue.writable.getWriter().write([{ header: {}, data: 1 }]);
   * assert.equal(taken, 1);
   * ```
   */
  onQueued(wake: () => void): void {
    this.#onQueued = wake;
  }

  /**
   * @internal Whether a consumer that found nothing queued may wait with
   * {@link Queue.onQueued} instead of a read of the stream: the queue is
   * open and keeps its events in memory only (a disk buffer is read back
   * as the stream's reads ask, and a closed queue ends with a read).
   */
  get waitsInMemory(): boolean {
    return !this.#closed && this.#disk === undefined &&
      this.#nextDisk === undefined;
  }

  /** Takes the next batch from what is queued, held by the consumer. */
  #handOut(): Event[] {
    const batch = this.#queued.take(MAX_BATCH);
    this.#held += batch.length;
    if (this.#observers !== undefined) this.#tellObservers(batch);
    if (this.#wakeTaken !== null) this.#wakeTakenNow();
    return batch;
  }

  /**
   * @internal Resolves once fewer than `below` events are queued, that is,
   * handed to the consumer (or moved or thrown away), or the queue is
   * closed; `undefined` when that is so already. One caller waits at a
   * time: a writer that hands the consumer its next batch only once it
   * took the one before, so that events wait in the writer's own queue
   * rather than in two (see `toTransformStream`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Queue } from "./queue.ts";
   * const queue = new Queue("a.inbox");
   * await queue.writable.getWriter().write([{ header: {}, data: 1 }]);
   * const taken = queue.whenQueuedBelow(1);
   * assert.ok(taken instanceof Promise);
   * const reader = queue.readable.getReader();
   * assert.equal((await reader.read()).value?.length, 1);
   * await taken;
   * assert.equal(queue.whenQueuedBelow(1), undefined);
   * reader.releaseLock();
   * ```
   */
  whenQueuedBelow(below: number): Promise<void> | undefined {
    if (this.#queued.size < below || this.#closed) return undefined;
    this.#takenBelow = below;
    return new Promise<void>((resolve) => this.#wakeTaken = resolve);
  }

  /** Resolves the wait of {@link Queue.whenQueuedBelow} when it is over. */
  #wakeTakenNow(): void {
    const wake = this.#wakeTaken;
    if (
      wake !== null && (this.#queued.size < this.#takenBelow || this.#closed)
    ) {
      this.#wakeTaken = null;
      wake();
    }
  }

  /**
   * A write to a queue with a disk buffer: every event goes to the disk
   * first, and comes back to memory in order as the consumer makes room,
   * so that what the queue took survives the process being killed; when
   * the disk takes no more, the buffer's `whenFull` applies.
   */
  async #writeBuffered(events: Event[]): Promise<void> {
    let next = 0;
    while (next < events.length) {
      const disk = this.#disk;
      if (disk === undefined) {
        // A reload removed the buffer, and it drained meanwhile.
        next = this.#admit(events, next, this.whenFull);
        if (next < events.length) await this.#block(events, next);
        return;
      }
      await disk.open();
      let refused = !disk.usable;
      if (!refused) {
        this.#spilling = true;
        let outcome;
        try {
          outcome = await disk.append(events, next);
        } finally {
          this.#spilling = false;
          this.#wakeReaderNow();
        }
        if (outcome.written > 0) {
          this.#inTotal += outcome.written;
          this.#source?.taken(outcome.written);
          next += outcome.written;
          this.#refillSoon();
        }
        if (outcome.refused === "unencodable") {
          this.#dropWritten(
            events,
            next,
            next + 1,
            `it cannot be written to the disk buffer: ${outcome.reason}`,
          );
          next++;
          continue;
        }
        refused = outcome.refused !== undefined;
      }
      if (!refused || next === events.length) continue;
      if (this.whenFull === "drop_newest") {
        this.#dropWritten(
          events,
          next,
          events.length,
          "its disk buffer is full or failing (drop_newest)",
        );
        return;
      }
      // "block": wait for room, or to try again.
      if (this.#closed) {
        this.#refuse(events, next, "closed");
        return;
      }
      this.#blocked = events;
      this.#blockedAt = next;
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
        this.#retryTimer = setTimeout(resolve, DISK_RETRY_MS);
      });
      clearTimeout(this.#retryTimer);
      this.#wakeWriter = null;
      // close() or clear() refused what was still waiting.
      if (this.#blocked !== events) return;
      this.#blocked = null;
    }
  }

  /** Drops `events[start..end)` of a write, counted as reaching the queue. */
  #dropWritten(
    events: readonly Event[],
    start: number,
    end: number,
    why: string,
  ): void {
    const count = end - start;
    this.#inTotal += count;
    this.#droppedTotal += count;
    failTrackers(events, `Queue "${this.name}" dropped: ${why}`, start, end);
    this.#source?.taken(count);
  }

  /**
   * Reads events back from the disk buffer into memory when there is room
   * for a good batch (or the consumer has nothing left), one read at a
   * time.
   */
  #refillSoon(): void {
    const disk = this.#disk;
    if (
      disk === undefined || this.#refilling || !this.#replay ||
      disk.unread === 0
    ) return;
    const room = this.capacity - this.depth;
    if (room <= 0 || (room < this.#refillAt && this.#queued.size > 0)) return;
    this.#refilling = true;
    this.#refillRun = this.#refill(disk, room);
  }

  async #refill(disk: DiskBuffer, room: number): Promise<void> {
    let read: { events: Event[]; lost: number };
    try {
      read = await disk.read(room);
    } finally {
      this.#refilling = false;
    }
    const { events, lost } = read;
    this.#droppedTotal += lost;
    if (this.#cleared) {
      // A stop threw away what the queue held meanwhile: these too.
      this.#droppedTotal += events.length;
      this.#abandonedTotal += events.length;
      failTrackers(events, `Queue "${this.name}" was abandoned`);
    } else if (events.length > 0) {
      this.#queued.add(events, 0, events.length);
    }
    this.#wakeReaderNow();
    this.#wakeWriterNow();
    if (events.length === 0 && lost === 0 && disk.unread > 0) {
      // The disk failed to read: try again a little later.
      if (disk.usable && this.#replay) {
        this.#rereadTimer = setTimeout(() => this.#refillSoon(), DISK_RETRY_MS);
      }
      return;
    }
    if (this.#retiring) this.#retireDrained();
    this.#refillSoon();
  }

  /** Whether nothing more can reach the reader once the queue is closed. */
  #drained(): boolean {
    const disk = this.#disk;
    return disk === undefined ||
      (!this.#spilling && !this.#refilling &&
        (!this.#replay || disk.unread === 0));
  }

  #pull(
    controller: ReadableStreamDefaultController<Event[]>,
  ): Promise<void> | void {
    if (this.#cancelled) return;
    if (this.#skipPull) {
      this.#skipPull = false;
      return;
    }
    // A plain reader asks for more: the batch it held is finished.
    if (this.#settleOnRead) this.finish(this.#held);
    if (this.#queued.size > 0) {
      controller.enqueue(this.#handOut());
      return;
    }
    if (this.#disk !== undefined) this.#refillSoon();
    if (this.#closed && this.#drained()) {
      controller.close();
      return;
    }
    return new Promise<void>((resolve) => this.#wakeReader = resolve).then(
      () => this.#pull(controller),
    );
  }

  #tellObservers(batch: readonly Event[]): void {
    for (const observer of this.#observers!) {
      try {
        observer(batch);
      } catch {
        this.#observers?.delete(observer);
      }
    }
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
    const onQueued = this.#onQueued;
    if (onQueued !== null) {
      this.#onQueued = null;
      onQueued();
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

  /** Moves every event of `other` to the end of this one, in order. */
  append(other: Chunks): void {
    while (other.size > 0) {
      const chunk = other.#chunks[other.#first]!;
      this.add(chunk, other.#offset, chunk.length);
      other.size -= chunk.length - other.#offset;
      other.#shift();
    }
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
    // Copied by slices (native copies), not event by event.
    let batch: Event[] | undefined;
    this.#remove(max, (from, start, end) => {
      const part = start === 0 && end === from.length
        ? from as Event[]
        : from.slice(start, end) as Event[];
      batch = batch === undefined ? part : batch.concat(part);
    });
    return batch!;
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
 * Whether the actor that owns some outbound queues is inside a batch of
 * work: while it is, what they gather is written when the batch ends (or
 * its linger passes), not at the end of the current microtask, so that the
 * results of an asynchronous stage travel as one batch. Shared by the
 * outbound queues of one {@link QueuePool}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BatchWindow } from "./queue.ts";
 * const window = new BatchWindow();
 * window.open();
 * assert.equal(window.isOpen, true);
 * window.close();
 * assert.equal(window.isOpen, false);
 * ```
 */
export class BatchWindow {
  #open = 0;
  #waiting = 0;
  /**
   * Called when an outbound queue starts gathering while the owner waits
   * inside a batch ({@link BatchWindow.wait}): its supervisor starts the
   * linger timer then.
   */
  onGather: (() => void) | undefined;

  /** Whether some batch of work is in progress. */
  get isOpen(): boolean {
    return this.#open > 0;
  }

  /** The owner waits (an asynchronous `consume`) inside a batch. */
  wait(): void {
    this.#waiting++;
  }

  /** The owner's wait inside a batch ended. */
  resume(): void {
    if (this.#waiting > 0) this.#waiting--;
  }

  /** An outbound queue of the owner started gathering while it is open. */
  gathered(): void {
    if (this.#waiting > 0) this.onGather?.();
  }

  /** A batch of work starts (batches of several inbound queues may overlap). */
  open(): void {
    this.#open++;
  }

  /** A batch of work ended. */
  close(): void {
    if (this.#open > 0) this.#open--;
  }
}

/**
 * Why an outbound queue dropped events: not connected, sent after it closed,
 * refused by the queue it writes to, dropped by the connection's full-queue
 * policy, or thrown away by a stop that timed out.
 *
 * @example
 * ```ts
 * import type { DropReason } from "./queue.ts";
 * const reason: DropReason = "not connected";
 * ```
 */
export type DropReason =
  | "not connected"
  | "closed"
  | "refused"
  | "full"
  | "abandoned";

/**
 * Settings of an {@link OutboundQueue}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutboundQueue, type OutboundQueueOptions } from "./queue.ts";
 * const options: OutboundQueueOptions = { onDrop: (count, reason) => console.log(count, reason) };
 * assert.equal(new OutboundQueue("a.outbox", options).name, "a.outbox");
 * ```
 */
export interface OutboundQueueOptions {
  /** Called when events are dropped, with why. */
  onDrop?: (count: number, reason: DropReason) => void;
  /** Called for each value sent that is not an event, with why and the queue's name. */
  onDiscard?: (value: unknown, reason: string, queue: string) => void;
  /** The owner's batch window (see {@link BatchWindow}). */
  window?: BatchWindow;
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
 * written as one chunk at the end of that run, or, while the owner's
 * {@link BatchWindow} is open, when the owner flushes.
 *
 * Memory stays bounded: while a write is in flight it gathers at most
 * `2 * MAX_BATCH` events more. A sender that goes on sending without waiting
 * for `push`'s promise meets the connection's full-queue policy there: with
 * `block` the push throws a `TypeError` naming the queue, with
 * `drop_newest` the event is dropped, with `drop_oldest` the oldest gathered
 * one is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OutboundQueue, Queue } from "./queue.ts";
 * const target = new Queue("b.inbox");
 * const outbox = new OutboundQueue("a.outbox");
 * outbox.connect(target);
 * await outbox.push({ header: {}, data: 1 });
 * await outbox.close();
 * assert.equal(target.depth, 1);
 * ```
 */
export class OutboundQueue implements QueueSource {
  /** The name used in logs and figures, e.g. `"a.outbox"`. */
  readonly name: string;
  #target: Queue | null = null;
  #writer: WritableStreamDefaultWriter<Event[] | Event> | null = null;
  /**
   * Gathered events, not being written yet: the first `#gathered` of
   * `#buffer`. After a whole batch, the next buffer is made with room for
   * one, so that gathering it does not grow (and copy) the array again and
   * again; it is cut to what it holds when written.
   */
  #buffer: Event[] = [];
  #gathered = 0;
  #inflight: Promise<void> | null = null;
  /** Events of the write in flight not refused so far. */
  #writing = 0;
  #closed = false;
  /**
   * While paused (see {@link OutboundQueue.pause}): resolves once what
   * gathered meanwhile is written after `resume`.
   */
  #paused: PromiseWithResolvers<void> | null = null;
  #window: BatchWindow | undefined;
  #inTotal = 0;
  #outTotal = 0;
  #droppedTotal = 0;
  #abandonedTotal = 0;
  #discardedTotal = 0;
  #onDrop: OutboundQueueOptions["onDrop"];
  #onDiscard: OutboundQueueOptions["onDiscard"];

  /** Makes the outbound queue `name` (`"actor.queue"`), not connected yet. */
  constructor(name: string, options: OutboundQueueOptions = {}) {
    this.name = name;
    this.rebind(options);
  }

  /**
   * Hooks this queue to its owner: the window and the drop and discard
   * reports of `options` replace those it had. A reload calls it when the
   * replacement of an actor takes the queue over.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BatchWindow, OutboundQueue } from "./queue.ts";
   * const outbox = new OutboundQueue("a.outbox");
   * outbox.rebind({ window: new BatchWindow() });
   * assert.equal(outbox.name, "a.outbox");
   * ```
   */
  rebind(options: OutboundQueueOptions): void {
    this.#onDrop = options.onDrop;
    this.#onDiscard = options.onDiscard;
    this.#window = options.window;
  }

  /** The queue this one writes to, or `null` when not connected. */
  get target(): Queue | null {
    return this.#target;
  }

  /** Whether `close()` was called: what is sent now is dropped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Events gathered and not written yet. */
  get gathered(): number {
    return this.#gathered;
  }

  /** Connects to `target`; a queue can be connected once at a time. */
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
    target.attachSource(this);
  }

  /**
   * Writes everything gathered, then lets go of the connected queue without
   * closing it, so that another outbound queue may connect to it. Used to
   * hand a connection over to a replacement actor.
   */
  async disconnect(): Promise<void> {
    await this.#flushAll();
    const target = this.#target;
    if (target === null) return;
    this.#writer?.releaseLock();
    this.#writer = null;
    this.#target = null;
    target.attachSource(undefined);
  }

  /**
   * Writes everything gathered, then lets go of the connected queue without
   * closing it, as {@link OutboundQueue.disconnect} does, but what is sent
   * afterwards is kept, not dropped: it gathers here and its senders wait
   * (as for a full queue) until {@link OutboundQueue.resume}. A reload
   * pauses a queue whose connection moves to another queue, or that a
   * replacement actor takes over.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutboundQueue, Queue } from "./queue.ts";
   * const before = new Queue("b.inbox");
   * const after = new Queue("c.inbox");
   * const outbox = new OutboundQueue("a.outbox");
   * outbox.connect(before);
   * await outbox.pause();
   * outbox.push({ header: {}, data: 1 });
   * outbox.resume(after);
   * await outbox.flush();
   * assert.deepEqual([before.depth, after.depth], [0, 1]);
   * ```
   */
  async pause(): Promise<void> {
    await this.#flushAll();
    this.#paused ??= Promise.withResolvers();
    const target = this.#target;
    if (target === null || this.#writer === null) return;
    this.#writer.releaseLock();
    this.#writer = null;
    target.attachSource(undefined);
  }

  /**
   * Names `target` as the queue this one will write to, without writing
   * to it yet (another queue may still): it counts as connected, and what
   * is sent gathers and waits until {@link OutboundQueue.resume}. A reload
   * reserves the connections of the actors it sets up before they run.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutboundQueue, Queue } from "./queue.ts";
   * const target = new Queue("b.inbox");
   * const outbox = new OutboundQueue("a.outbox");
   * outbox.reserve(target);
   * assert.ok(outbox.target === target);
   * outbox.resume();
   * await outbox.close();
   * ```
   */
  reserve(target: Queue): void {
    if (this.#target !== null && this.#writer !== null) {
      throw new TypeError(
        `Cannot reserve "${target.name}" for "${this.name}": it writes to "${this.#target.name}"`,
      );
    }
    this.#target = target;
    this.#paused ??= Promise.withResolvers();
  }

  /** Whether it is paused or reserved: sends gather until `resume`. */
  get paused(): boolean {
    return this.#paused !== null;
  }

  /**
   * Connects to `target` (default: the queue it was connected to or
   * reserved) and writes what gathered while it was paused; senders that
   * waited go on once that is written.
   */
  resume(target: Queue | null = this.#target): void {
    const paused = this.#paused;
    if (paused === null) return;
    this.#paused = null;
    if (target === null) {
      // Nowhere to go: what gathered is dropped, as for a queue never connected.
      this.#target = null;
      this.#drop(this.#takeGathered(), 0, "not connected");
      paused.resolve();
      return;
    }
    this.#target = target;
    this.#writer = target.writable.getWriter();
    target.attachSource(this);
    if (this.#closed) {
      // Closed while paused (its actor finished during a reload): the new
      // target ends as the old one did, or its reader would wait for ever.
      const writer = this.#writer;
      this.#writer = null;
      void writer.close().catch(() => {});
      paused.resolve();
      return;
    }
    const written = this.#gathered > 0 ? this.#write() : undefined;
    if (written === undefined) paused.resolve();
    else void written.then(() => paused.resolve());
  }

  /**
   * Sends one event; returns a promise when the caller must wait. A value
   * that is not an event is discarded: counted and reported, never sent.
   */
  push(event: Event): Promise<void> | undefined {
    if (!isEvent(event)) {
      this.#discardedTotal++;
      this.#onDiscard?.(event, whyNotEvent(event) ?? "not an event", this.name);
      return undefined;
    }
    return this.pushEvent(event);
  }

  /**
   * @internal `push` of a value its caller has just checked is an event
   * (with `isEvent`): the supervisor's sends, which check it before they
   * track it.
   */
  pushEvent(event: Event): Promise<void> | undefined {
    this.#inTotal++;
    const paused = this.#paused;
    if (this.#writer === null && paused === null) {
      this.#drop(
        [event],
        0,
        this.#target === null ? "not connected" : "closed",
      );
      return undefined;
    }
    const busy = this.#inflight ?? paused?.promise ?? null;
    if (this.#gathered >= GATHER_LIMIT && busy !== null) {
      this.#overflow(event);
      return busy;
    }
    const held = this.#gathered + 1;
    this.#buffer[this.#gathered] = event;
    this.#gathered = held;
    if (busy !== null) return held >= MAX_BATCH ? busy : undefined;
    if (held >= MAX_BATCH) return this.#write();
    if (held === 1) this.#gathering();
    return undefined;
  }

  /**
   * Sends every event of `events` in order, as `push` would one by one;
   * returns a promise when the caller must wait. A whole batch (at least
   * `MAX_BATCH` events) sent while nothing is gathered is written on as it
   * is, without a copy: do not change the array afterwards.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutboundQueue, Queue } from "./queue.ts";
   * const target = new Queue("b.inbox");
   * const outbox = new OutboundQueue("a.outbox");
   * outbox.connect(target);
   * await outbox.pushAll([{ header: {}, data: 1 }, { header: {}, data: 2 }]);
   * await outbox.close();
   * assert.equal(target.depth, 2);
   * ```
   */
  pushAll(events: Event[]): Promise<void> | undefined {
    let accepted = events;
    for (let i = 0; i < events.length; i++) {
      if (isEvent(events[i])) continue;
      accepted = events.filter((value) => {
        if (isEvent(value)) return true;
        this.#discardedTotal++;
        this.#onDiscard?.(
          value,
          whyNotEvent(value) ?? "not an event",
          this.name,
        );
        return false;
      });
      break;
    }
    return this.pushEvents(accepted);
  }

  /**
   * @internal `pushAll` of values its caller has just checked are events
   * (with `isEvent`).
   */
  pushEvents(accepted: Event[]): Promise<void> | undefined {
    if (accepted.length === 0) return undefined;
    if (
      this.#writer === null ||
      (this.#inflight !== null && this.#gathered >= GATHER_LIMIT)
    ) {
      // Dropped, paused, or a sender that did not wait: one by one, as
      // `push` does.
      for (const event of accepted) this.pushEvent(event);
      return this.#inflight ??
        (this.#gathered >= MAX_BATCH ? this.#paused?.promise : undefined);
    }
    this.#inTotal += accepted.length;
    if (
      this.#gathered === 0 && this.#inflight === null &&
      accepted.length >= MAX_BATCH
    ) {
      // Written at once as it is, past the buffer.
      return this.#write(accepted);
    }
    const buffer = this.#buffer;
    let gathered = this.#gathered;
    for (let i = 0; i < accepted.length; i++) buffer[gathered++] = accepted[i]!;
    this.#gathered = gathered;
    if (this.#inflight !== null) {
      return gathered >= MAX_BATCH ? this.#inflight : undefined;
    }
    if (gathered >= MAX_BATCH) return this.#write();
    if (gathered === accepted.length) this.#gathering();
    return undefined;
  }

  /**
   * Writes what is gathered; resolves once it is all in the target queue
   * (or dropped), or returns `undefined` when there is nothing to write.
   */
  flush(): Promise<void> | undefined {
    if (this.#inflight !== null) return this.#inflight;
    if (this.#gathered === 0) return undefined;
    if (this.#paused !== null) return this.#paused.promise;
    return this.#write();
  }

  /**
   * Flushes, then closes the target queue's writable end. What is sent
   * afterwards is dropped and counted.
   */
  async close(): Promise<void> {
    await this.#flushAll();
    this.#closed = true;
    this.#paused?.resolve();
    this.#paused = null;
    const writer = this.#writer;
    if (writer !== null) {
      this.#writer = null;
      await writer.close().catch(() => {});
    }
  }

  /**
   * Throws away what is gathered (a stop timed out), counting it as dropped
   * and abandoned and failing its trackers, and closes: what is sent later
   * is dropped. A write in flight ends when its target is cleared.
   */
  abandon(): void {
    this.#drop(this.#takeGathered(), 0, "abandoned");
    this.#closed = true;
    this.#paused?.resolve();
    this.#paused = null;
    const writer = this.#writer;
    if (writer !== null) {
      this.#writer = null;
      // As a stream closes after the write in flight: its target is cleared
      // first, and counts what it still waits to add as abandoned.
      const closing = () => writer.close().catch(() => {});
      if (this.#inflight === null) closing();
      else this.#inflight.then(closing, closing);
    }
  }

  /**
   * Counts `count` events its owner made and dropped without sending them
   * (see `Actor.dropCreated`): they count in `in_total` and
   * `dropped_total`, and are not reported to `onDrop`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutboundQueue } from "./queue.ts";
   * const outbox = new OutboundQueue("udp.outbox");
   * outbox.countDropped(3);
   * assert.equal(outbox.figures().dropped_total, 3);
   * ```
   */
  countDropped(count: number): void {
    this.#inTotal += count;
    this.#droppedTotal += count;
  }

  /** Part of the write in flight reached the connected queue. */
  taken(count: number): void {
    this.#writing -= count;
    this.#outTotal += count;
  }

  /** Part of the write in flight was not taken by the connected queue. */
  refused(
    events: readonly Event[],
    start: number,
    reason: RefusedReason,
  ): void {
    const count = events.length - start;
    this.#writing -= count;
    this.#drop(events, start, reason === "closed" ? "refused" : "abandoned");
  }

  /** The queue's counters. */
  figures(): QueueFigures {
    return {
      in_total: this.#inTotal,
      out_total: this.#outTotal,
      dropped_total: this.#droppedTotal,
      abandoned_total: this.#abandonedTotal,
      discarded_total: this.#discardedTotal,
      failed_total: 0,
      depth: this.#gathered + this.#writing,
      capacity: this.#target?.capacity ?? 0,
    };
  }

  /** Writes batches until the buffer stays empty and nothing is in flight. */
  async #flushAll(): Promise<void> {
    for (let flushing = this.flush(); flushing; flushing = this.flush()) {
      await flushing;
    }
  }

  /** One event more than two batches: the connection's policy decides. */
  #overflow(event: Event): void {
    const policy = this.#target?.whenFull ?? "block";
    if (policy === "drop_newest") {
      this.#drop([event], 0, "full");
      return;
    }
    if (policy === "drop_oldest") {
      const buffer = this.#buffer;
      const last = this.#gathered - 1;
      const oldest = buffer[0]!;
      buffer.copyWithin(0, 1, last + 1);
      buffer[last] = event;
      this.#drop([oldest], 0, "full");
      return;
    }
    this.#inTotal--;
    throw new TypeError(
      `Cannot send to "${this.name}": ${this.#gathered} events already wait for room there; wait for the promise that send() returns before sending more (or connect it with when_full "drop_newest" or "drop_oldest")`,
    );
  }

  /**
   * The buffer started gathering with no write in flight: written at the end
   * of this microtask, or by the owner when its batch window is open.
   */
  #gathering(): void {
    const window = this.#window;
    if (window?.isOpen === true) window.gathered();
    else queueMicrotask(this.#flushSoon);
  }

  #flushSoon = (): void => {
    if (
      this.#inflight === null && this.#gathered > 0 &&
      this.#writer !== null
    ) void this.#write();
  };

  /**
   * Writes `whole` (a batch sent whole, when given), then the buffer, to
   * the connected queue, past its writable stream (whose writer this
   * holds): at once while there is room, returning `undefined`; the
   * promise of the rest when a write must wait. Only called with a writer
   * and no write in flight.
   */
  #write(whole?: Event[]): Promise<void> | undefined {
    const target = this.#target!;
    let batch = whole;
    while (this.#writer !== null) {
      if (batch === undefined) {
        if (this.#gathered === 0) break;
        batch = this.#takeGathered();
      }
      this.#writing = batch.length;
      const waiting = target.writeFromSource(batch);
      if (waiting !== undefined) {
        const written = this.#drain(waiting);
        this.#inflight = written;
        return written;
      }
      // The queue told what it took and refused as it did.
      this.#writing = 0;
      batch = undefined;
    }
    return undefined;
  }

  /** Waits for the write in flight, then writes what gathered meanwhile. */
  async #drain(waiting: Promise<void>): Promise<void> {
    await waiting;
    this.#writing = 0;
    while (this.#gathered > 0 && this.#writer !== null) {
      const batch = this.#takeGathered();
      this.#writing = batch.length;
      await this.#target!.writeFromSource(batch);
      this.#writing = 0;
    }
    this.#inflight = null;
  }

  /**
   * The events gathered, as an array of their number, and a new buffer:
   * with room for a whole batch after a whole batch, else empty.
   */
  #takeGathered(): Event[] {
    const batch = this.#buffer;
    const count = this.#gathered;
    if (batch.length !== count) batch.length = count;
    this.#buffer = count >= MAX_BATCH ? new Array(MAX_BATCH) : [];
    this.#gathered = 0;
    return batch;
  }

  #drop(
    events: readonly Event[],
    start: number,
    reason: DropReason,
    error?: unknown,
  ): void {
    const count = events.length - start;
    if (count <= 0) return;
    this.#droppedTotal += count;
    if (reason === "abandoned") this.#abandonedTotal += count;
    const detail = error === undefined ? reason : `${reason}: ${error}`;
    failTrackers(events, `Queue "${this.name}": ${detail}`, start);
    this.#onDrop?.(count, reason);
  }
}

/**
 * The queues an actor declares.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.deepEqual([...new Join("join").pool.inbound.keys()], ["left", "right"]);
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
 * Settings of a {@link QueuePool}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueuePool, type QueuePoolOptions } from "./queue.ts";
 * const options: QueuePoolOptions = { inbound: { capacity: 10 } };
 * const pool = new QueuePool("a", {
 *   inbound: ["inbox"],
 *   outbound: ["outbox"],
 *   anyInbound: false,
 *   anyOutbound: false,
 * }, options);
 * assert.equal(pool.inbound.get("inbox")!.capacity, 10);
 * ```
 */
export interface QueuePoolOptions {
  /** Settings of the inbound queues (capacity, policy, discards). */
  inbound?: QueueOptions;
  /** Hears of events an outbound queue drops: its name, how many, why. */
  onDrop?: (queue: string, count: number, reason: DropReason) => void;
  /** Hears of values sent that are not events: the value, why, the queue. */
  onDiscardSent?: (value: unknown, reason: string, queue: string) => void;
}

/**
 * The container of an actor's named queues and their counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QueuePool } from "./queue.ts";
 * const pool = new QueuePool("a", {
 *   inbound: ["inbox"],
 *   outbound: ["outbox", "error"],
 *   anyInbound: false,
 *   anyOutbound: false,
 * });
 * assert.equal(pool.inbound.get("inbox")?.capacity, 1024);
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
  /** Whether the owner is inside a batch of work (see {@link BatchWindow}). */
  readonly window: BatchWindow = new BatchWindow();
  #defaults: QueueOptions;
  #onDrop: QueuePoolOptions["onDrop"];
  #onDiscardSent: QueuePoolOptions["onDiscardSent"];

  /** Makes the declared queues. */
  constructor(
    owner: string,
    names: QueueNames,
    options: QueuePoolOptions = {},
  ) {
    this.owner = owner;
    this.names = names;
    this.#defaults = options.inbound ?? {};
    this.#onDrop = options.onDrop;
    this.#onDiscardSent = options.onDiscardSent;
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
   * import assert from "node:assert/strict";
   * import { Queue, QueuePool } from "./queue.ts";
   * const pool = new QueuePool("a", {
   *   inbound: ["inbox"],
   *   outbound: ["outbox", "error"],
   *   anyInbound: false,
   *   anyOutbound: false,
   * });
   * pool.outbound.get("outbox")!.connect(new Queue("b.inbox"));
   * assert.equal(pool.isConnected("outbox"), true);
   * assert.equal(pool.isConnected("error"), false);
   * ```
   */
  isConnected(name: string): boolean {
    return this.outbound.get(name)?.target != null;
  }

  /** Makes (or remakes, before any use) inbound queue `name`. */
  addInbound(name: string, options: QueueOptions = {}): Queue {
    const queue = this.makeInbound(name, options);
    this.inbound.set(name, queue);
    return queue;
  }

  /**
   * Makes inbound queue `name` with the pool's settings and `options` over
   * them, without adding it to the pool.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { QueuePool } from "./queue.ts";
   * const pool = new QueuePool("a", {
   *   inbound: ["inbox"],
   *   outbound: [],
   *   anyInbound: false,
   *   anyOutbound: false,
   * }, { inbound: { capacity: 10 } });
   * assert.equal(pool.makeInbound("inbox", { whenFull: "drop_oldest" }).capacity, 10);
   * ```
   */
  makeInbound(name: string, options: QueueOptions = {}): Queue {
    return new Queue(`${this.owner}.${name}`, {
      ...this.#defaults,
      ...options,
    });
  }

  /** Returns outbound queue `name`, making it first if needed. */
  addOutbound(name: string): OutboundQueue {
    let queue = this.outbound.get(name);
    if (queue === undefined) {
      queue = new OutboundQueue(
        `${this.owner}.${name}`,
        this.#outboundOptions(name),
      );
      this.outbound.set(name, queue);
    }
    return queue;
  }

  /**
   * Takes over `queue`, a queue of the actor this pool's owner replaces
   * (same name): it becomes this pool's inbound or outbound queue `name`,
   * with its events, connection and counters; an outbound queue reports
   * its drops to this pool's owner from now on.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { OutboundQueue, QueuePool } from "./queue.ts";
   * const names = { inbound: [], outbound: ["outbox"], anyInbound: false, anyOutbound: false };
   * const before = new QueuePool("a", names);
   * const after = new QueuePool("a", names);
   * after.adopt("outbox", before.outbound.get("outbox")!);
   * assert.ok(after.outbound.get("outbox") === before.outbound.get("outbox"));
   * ```
   */
  adopt(name: string, queue: Queue | OutboundQueue): void {
    if (queue instanceof OutboundQueue) {
      queue.rebind(this.#outboundOptions(name));
      this.outbound.set(name, queue);
    } else {
      this.inbound.set(name, queue);
    }
  }

  #outboundOptions(name: string): OutboundQueueOptions {
    const onDrop = this.#onDrop;
    return {
      window: this.window,
      ...(onDrop === undefined
        ? {}
        : { onDrop: (count, reason) => onDrop(name, count, reason) }),
      ...(this.#onDiscardSent === undefined
        ? {}
        : { onDiscard: this.#onDiscardSent }),
    };
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
    for (const [name, queue] of this.queues()) figures[name] = queue.figures();
    return figures;
  }

  /**
   * Every queue with its name, inbound ones first (an outbound queue
   * named like an inbound one is left out, as in {@link QueuePool.figures}).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { QueuePool } from "./queue.ts";
   * const pool = new QueuePool("a", {
   *   inbound: ["inbox"],
   *   outbound: ["outbox"],
   *   anyInbound: false,
   *   anyOutbound: false,
   * });
   * assert.deepEqual([...pool.queues()].map(([name]) => name), ["inbox", "outbox"]);
   * ```
   */
  *queues(): Generator<[string, Queue | OutboundQueue]> {
    yield* this.inbound;
    for (const entry of this.outbound) {
      if (!this.inbound.has(entry[0])) yield entry;
    }
  }
}
