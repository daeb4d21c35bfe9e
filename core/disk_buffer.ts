/**
 * The disk buffer of a connection: its queue writes every event it takes to
 * an append-only {@link SegmentLog} first, and reads them back in order as
 * its consumer makes room in memory (`capacity`). So memory stays bounded
 * however long the consumer is stuck (an output that is down), and what the
 * queue took survives the process being killed: the next run replays what
 * was not written out (at-least-once).
 *
 * Delivery tracking holds across the disk. The tracker of an event written
 * to disk (an input's acknowledgement waiting, NATS say) stays in memory,
 * only for tracked events, as a number and the tracker itself, and goes
 * back on the event when it is read. An event read back carries a record
 * acknowledgement too: the record leaves the disk (its segment is deleted,
 * the checkpoint moves on) only once every event derived from it has been
 * handled downstream — written out by the final outputs, filtered, or
 * failed — so a process that is killed replays what was not
 * (at-least-once).
 *
 * @module
 */

import { join } from "node:path";
import { ByteBuilder } from "../actors/payload.ts";
import { type ActorLog, describe, errorMessage } from "./actor.ts";
import type { Event } from "./event.ts";
import { decodeEvent, encodeEvent } from "./event_codec.ts";
import { scopedLogger } from "./log.ts";
import {
  finishRecord,
  type FsyncPolicy,
  MAX_RECORD_BYTES,
  RECORD_HEADER_BYTES,
  SegmentLog,
  startRecord,
} from "./segment_log.ts";
import { type Tracked, type TrackedEvent, TRACKER } from "./tracking.ts";

export type { FsyncPolicy } from "./segment_log.ts";

/**
 * What a connection with a disk buffer does when the disk buffer is full
 * (`max_bytes`) or cannot be written: `"block"` the sender until there is
 * room again, or `"drop_newest"`: drop what does not fit.
 *
 * @example
 * ```ts
 * import type { DiskWhenFull } from "./disk_buffer.ts";
 * const whenFull: DiskWhenFull = "block";
 * ```
 */
export type DiskWhenFull = "block" | "drop_newest";

/**
 * The policies a disk buffer may follow when full.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DISK_WHEN_FULL } from "./disk_buffer.ts";
 * assert.deepEqual(DISK_WHEN_FULL, ["block", "drop_newest"]);
 * ```
 */
export const DISK_WHEN_FULL: readonly DiskWhenFull[] = ["block", "drop_newest"];

/**
 * The default most bytes a disk buffer's files take: 1 GiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_BUFFER_MAX_BYTES } from "./disk_buffer.ts";
 * assert.equal(DEFAULT_BUFFER_MAX_BYTES, 1073741824);
 * ```
 */
export const DEFAULT_BUFFER_MAX_BYTES = 1024 ** 3;

/**
 * The fewest bytes a disk buffer may be given: 64 KiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MIN_BUFFER_MAX_BYTES } from "./disk_buffer.ts";
 * assert.equal(MIN_BUFFER_MAX_BYTES, 65536);
 * ```
 */
export const MIN_BUFFER_MAX_BYTES = 64 * 1024;

/**
 * The default fsync policy: every second.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_BUFFER_FSYNC } from "./disk_buffer.ts";
 * assert.equal(DEFAULT_BUFFER_FSYNC, 1000);
 * ```
 */
export const DEFAULT_BUFFER_FSYNC: FsyncPolicy = 1000;

/**
 * Settings of a connection's disk buffer (`buffer:` of a connection in a
 * bootstrap file, `buffer` of `Router.connect`'s options).
 *
 * @example
 * ```ts
 * import type { DiskBufferOptions } from "./disk_buffer.ts";
 * const buffer: DiskBufferOptions = {
 *   type: "disk",
 *   path: "/var/lib/pipeline/sink.inbox",
 *   maxBytes: 2 * 1024 ** 3,
 *   whenFull: "block",
 *   fsync: "batch",
 * };
 * ```
 */
export interface DiskBufferOptions {
  /** The only kind of buffer there is. */
  type: "disk";
  /**
   * The directory of its files, relative to the working directory (default
   * `buffers/<actor.queue>` of the receiving queue). One buffer per
   * directory.
   */
  path?: string;
  /** Most bytes its files take (default {@link DEFAULT_BUFFER_MAX_BYTES}). */
  maxBytes?: number;
  /** What happens when it is full or cannot be written (default `"block"`). */
  whenFull?: DiskWhenFull;
  /** When writes are forced to the disk (default {@link DEFAULT_BUFFER_FSYNC}). */
  fsync?: FsyncPolicy;
}

/**
 * The figures a queue with a disk buffer adds to its own. With them, the
 * queue's counters add up as
 * `in_total + disk_recovered_total = out_total + dropped_total + failed_total + depth + disk_events`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DiskBuffer, type DiskBufferFigures } from "./disk_buffer.ts";
 * const figures: DiskBufferFigures = new DiskBuffer("b.inbox", { type: "disk" }).figures();
 * assert.equal(figures.disk_events, 0);
 * ```
 */
export interface DiskBufferFigures {
  /** Events on disk not read back yet. */
  disk_events: number;
  /** Bytes of its files (events read back but not acknowledged included). */
  disk_bytes: number;
  /** Most bytes its files may take. */
  disk_max_bytes: number;
  /** Events written to disk. */
  disk_written_total: number;
  /** Events read back from disk (recovered ones included). */
  disk_read_total: number;
  /** Events a previous process left on disk, found at start. */
  disk_recovered_total: number;
  /** Corrupt records (spans of bad bytes) skipped. */
  disk_corrupt_total: number;
  /** Failed reads and writes of its files. */
  disk_errors_total: number;
}

/**
 * What is wrong with disk buffer settings, one sentence tail per problem;
 * empty when they are good.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { diskBufferProblems } from "./disk_buffer.ts";
 * assert.deepEqual(diskBufferProblems({ type: "disk" }), []);
 * assert.deepEqual(
 *   diskBufferProblems({ type: "disk", maxBytes: 10 }),
 *   ["buffer.maxBytes must be a whole number of at least 65536, got 10"],
 * );
 * ```
 */
export function diskBufferProblems(buffer: DiskBufferOptions): string[] {
  const problems: string[] = [];
  if (typeof buffer !== "object" || buffer === null) {
    return [`buffer must be an object like { type: "disk" }`];
  }
  if (buffer.type !== "disk") {
    problems.push(`buffer.type must be "disk", got "${buffer.type}"`);
  }
  if (
    buffer.path !== undefined &&
    (typeof buffer.path !== "string" || buffer.path === "")
  ) {
    problems.push(`buffer.path must be a non-empty string`);
  }
  const { maxBytes, whenFull, fsync } = buffer;
  if (
    maxBytes !== undefined &&
    (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_BUFFER_MAX_BYTES)
  ) {
    problems.push(
      `buffer.maxBytes must be a whole number of at least ${MIN_BUFFER_MAX_BYTES}, got ${maxBytes}`,
    );
  }
  if (whenFull !== undefined && !DISK_WHEN_FULL.includes(whenFull)) {
    problems.push(
      `buffer.whenFull must be "block" or "drop_newest", got "${whenFull}"`,
    );
  }
  if (
    fsync !== undefined && fsync !== "never" && fsync !== "batch" &&
    !(Number.isSafeInteger(fsync) && fsync >= 1)
  ) {
    problems.push(
      `buffer.fsync must be "never", "batch" or a whole number of milliseconds, got ${
        JSON.stringify(fsync)
      }`,
    );
  }
  return problems;
}

/**
 * The number of bytes `text` says: digits with an optional unit, `B`, `KB`,
 * `MB`, `GB`, `TB` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers
 * of 1024); `undefined` when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseByteSize } from "./disk_buffer.ts";
 * assert.equal(parseByteSize("1GiB"), 1073741824);
 * assert.equal(parseByteSize("500 MB"), 500000000);
 * assert.equal(parseByteSize("lots"), undefined);
 * ```
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/i.exec(text);
  if (match === null) return undefined;
  const unit = (match[2] ?? "B").toUpperCase();
  const power = "BKMGT".indexOf(unit[0]!);
  const base = unit.includes("I") ? 1024 : 1000;
  return Math.round(Number(match[1]) * base ** power);
}

/**
 * The directory of a disk buffer: its `path`, or `buffers/<queue>` (the
 * receiving queue's `actor.queue`) in the working directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufferPath } from "./disk_buffer.ts";
 * assert.equal(bufferPath("sink.inbox", { type: "disk" }), "buffers/sink.inbox");
 * ```
 */
export function bufferPath(queue: string, buffer: DiskBufferOptions): string {
  return buffer.path ?? join("buffers", queue);
}

/**
 * Why a disk buffer could not use directory `path`, or `undefined` when it
 * can: it must be a directory the process may write in, or one it may
 * make. Checked when a bootstrap file is loaded (it writes and removes a
 * probe file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufferPathProblem } from "./disk_buffer.ts";
 * assert.equal(bufferPathProblem(Deno.makeTempDirSync()), undefined);
 * ```
 */
export function bufferPathProblem(path: string): string | undefined {
  let dir = path;
  for (;;) {
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.statSync(dir);
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.NotADirectory)
      ) {
        return `cannot use "${path}": ${errorMessage(error)}`;
      }
    }
    if (info !== undefined) {
      if (!info.isDirectory) {
        return dir === path
          ? `"${path}" is not a directory`
          : `cannot make "${path}": "${dir}" is not a directory`;
      }
      try {
        Deno.removeSync(Deno.makeTempFileSync({ dir, prefix: ".probe-" }));
      } catch (error) {
        return dir === path
          ? `cannot write in "${path}": ${errorMessage(error)}`
          : `cannot make "${path}": cannot write in "${dir}": ${
            errorMessage(error)
          }`;
      }
      return undefined;
    }
    const parent = join(dir, "..");
    if (parent === dir) return `cannot make "${path}"`;
    dir = parent;
  }
}

/**
 * Why the disk took no more of an append: it is `full` (`max_bytes`), it
 * cannot be written (`error`, tried again after a second), or the next
 * event cannot be written at all (`unencodable`: it holds a function, or is
 * larger than the buffer).
 */
export type RefusedBy = "full" | "error" | "unencodable";

/**
 * What one {@link DiskBuffer.append} did: `written` events from the first
 * one on were written; the next one was `refused`, when one was, for
 * `reason`.
 */
export interface AppendOutcome {
  /** Events written, from the first one on. */
  written: number;
  /** Why the next one was not, when it was not. */
  refused?: RefusedBy;
  /** What went wrong, in words, with `refused`. */
  reason?: string;
}

/** How long a buffer that failed to write waits before trying again, in ms. */
export const DISK_RETRY_MS = 1000;

/**
 * The disk buffer of one queue: see the module documentation. The queue
 * decides what goes to disk and when to read it back; this keeps the
 * files, the trackers of the events on disk and the figures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DiskBuffer } from "./disk_buffer.ts";
 * const path = await Deno.makeTempDir();
 * const buffer = new DiskBuffer("sink.inbox", { type: "disk", path, fsync: "never" });
 * await buffer.open();
 * await buffer.append([{ header: {}, data: "a" }, { header: {}, data: "b" }], 0);
 * assert.equal(buffer.figures().disk_events, 2);
 * const { events } = await buffer.read(10);
 * assert.deepEqual(events.map((event) => event.data), ["a", "b"]);
 * await buffer.close();
 * await Deno.remove(path, { recursive: true });
 * ```
 */
export class DiskBuffer {
  /** The name of the queue it belongs to, e.g. `"sink.inbox"`. */
  readonly queue: string;
  /** The directory of its files. */
  readonly path: string;
  /** Most bytes its files may take. */
  maxBytes: number;
  /** What its queue does when it is full. */
  whenFull: DiskWhenFull;
  /** When writes are forced to the disk. */
  fsync: FsyncPolicy;
  /** Told when room was made on disk (a segment deleted). */
  onRoom: () => void = () => {};
  #log: SegmentLog | undefined;
  #logger: ActorLog | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #builder = new ByteBuilder();
  /** Trackers of tracked events on disk, with their numbers, oldest first. */
  #trackerNumbers: number[] = [];
  #trackers: Tracked[] = [];
  #trackersHead = 0;
  #nextTracker = 0;
  /** Acknowledgements of the events read back: settled flags, a ring. */
  #settled = new Uint8Array(1024);
  #settledHead = 0;
  /** Events read back, and how many of the first were acknowledged. */
  #readCount = 0;
  #ackedCount = 0;
  /** Events whose record acknowledgement failed, applied a moment later. */
  #failedAcks: number[] = [];
  #frozen = false;
  #reading: Promise<unknown> = Promise.resolve();
  #retryAt = 0;
  #failing = false;
  #full = false;
  /** Told once every record read back was acknowledged ({@link retire}). */
  #onSettled: (() => void) | undefined;
  #spilled = 0;
  #replayed = 0;
  #undecodable = 0;
  #errors = 0;

  /** Makes the disk buffer of queue `queue`; nothing is opened yet. */
  constructor(queue: string, options: DiskBufferOptions) {
    const [problem] = diskBufferProblems(options);
    if (problem !== undefined) {
      throw new RangeError(`Queue "${queue}": ${problem}`);
    }
    this.queue = queue;
    this.path = bufferPath(queue, options);
    this.maxBytes = options.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES;
    this.whenFull = options.whenFull ?? "block";
    this.fsync = options.fsync ?? DEFAULT_BUFFER_FSYNC;
  }

  /** Whether it was opened and its files can be used. */
  get usable(): boolean {
    return this.#log !== undefined && this.#closing === undefined;
  }

  /** Events on disk not read back yet. */
  get unread(): number {
    return this.#log?.unread ?? 0;
  }

  /**
   * Opens its files (once; later calls return the same promise), logging
   * with `log` (default: a logger named after the queue). What a previous
   * process left is read back first. Rejects naming the queue and the
   * directory when it cannot be used (another process uses it, say).
   */
  open(log?: ActorLog): Promise<void> {
    this.#opening ??= this.#open(log ?? scopedLogger("-", this.queue));
    return this.#opening;
  }

  async #open(logger: ActorLog): Promise<void> {
    this.#logger = logger;
    try {
      this.#log = await SegmentLog.open({
        dir: this.path,
        fsync: this.fsync,
        segmentBytes: segmentBytesFor(this.maxBytes),
        onRemoved: () => this.onRoom(),
      });
    } catch (error) {
      this.#errors++;
      throw new Error(
        `Cannot open the disk buffer of "${this.queue}" in "${this.path}": ${
          errorMessage(error)
        }`,
        { cause: error },
      );
    }
    const { recovered, corrupt } = this.#log;
    if (recovered > 0) {
      logger.info(
        'Replaying {count} events left in the disk buffer of "{queue}" ({path}) by a previous run',
        { count: recovered, queue: this.queue, path: this.path },
      );
    }
    if (corrupt > 0) {
      logger.warn(
        'Skipped {count} corrupt record(s) in the disk buffer of "{queue}" ({path})',
        { count: corrupt, queue: this.queue, path: this.path },
      );
    }
  }

  /**
   * Takes the settings of `options` but its path (which must be the same):
   * `maxBytes`, `whenFull` and `fsync` apply from the next write on, and
   * what is on disk stays. A reload that changes them does this.
   */
  configure(options: DiskBufferOptions): void {
    const [problem] = diskBufferProblems(options);
    if (problem !== undefined) {
      throw new RangeError(`Queue "${this.queue}": ${problem}`);
    }
    if (bufferPath(this.queue, options) !== this.path) {
      throw new RangeError(
        `Queue "${this.queue}": the disk buffer in "${this.path}" cannot move to "${
          bufferPath(this.queue, options)
        }"`,
      );
    }
    this.maxBytes = options.maxBytes ?? DEFAULT_BUFFER_MAX_BYTES;
    this.whenFull = options.whenFull ?? "block";
    this.fsync = options.fsync ?? DEFAULT_BUFFER_FSYNC;
    this.#full = false;
    this.#log?.configure(this.fsync, segmentBytesFor(this.maxBytes));
  }

  /**
   * Closes it once nothing is left to read and every event read back was
   * acknowledged, so that its files go (a reload removed the buffer and
   * its queue drained it). A stop meanwhile closes it as {@link close} does.
   */
  async retire(): Promise<void> {
    if (
      !this.#frozen && this.#closing === undefined &&
      (this.unread > 0 || this.#ackedCount < this.#readCount)
    ) {
      await new Promise<void>((resolve) => this.#onSettled = resolve);
    }
    await this.close();
  }

  /**
   * Writes `events` from index `start` on, in order, as far as there is
   * room and the disk takes them (see {@link AppendOutcome}).
   */
  async append(
    events: readonly Event[],
    start: number,
  ): Promise<AppendOutcome> {
    const log = this.#log;
    if (log === undefined || this.#closing !== undefined) {
      return { written: 0, refused: "error", reason: "it is not open" };
    }
    if (this.#failing && Date.now() < this.#retryAt) {
      return { written: 0, refused: "error", reason: "it failed to write" };
    }
    const builder = this.#builder;
    builder.clear();
    const room = this.maxBytes - log.bytes;
    const tracked: [number, Tracked][] = [];
    let refused: RefusedBy | undefined;
    let reason: string | undefined;
    let count = 0;
    for (let i = start; i < events.length; i++) {
      const event = events[i]!;
      const tracker = (event as TrackedEvent)[TRACKER];
      const number = tracker === undefined
        ? undefined
        : this.#nextTracker + tracked.length;
      const recordStart = startRecord(builder);
      try {
        encodeEvent(builder, event, number);
      } catch (error) {
        builder.length = recordStart;
        refused = "unencodable";
        reason = describe(error);
        break;
      }
      const length = finishRecord(builder, recordStart);
      if (builder.length > room) {
        builder.length = recordStart;
        if (
          length > MAX_RECORD_BYTES ||
          length + RECORD_HEADER_BYTES > this.maxBytes
        ) {
          refused = "unencodable";
          reason =
            `it takes ${length} bytes, more than the disk buffer's max_bytes (${this.maxBytes})`;
        } else refused = "full";
        break;
      }
      if (tracker !== undefined) tracked.push([number!, tracker]);
      count++;
    }
    if (count > 0) {
      try {
        await log.append(builder.bytes(), count);
      } catch (error) {
        this.#failed(error);
        return { written: 0, refused: "error", reason: describe(error) };
      }
      if (this.#failing) {
        this.#failing = false;
        this.#logger?.info('The disk buffer of "{queue}" writes again', {
          queue: this.queue,
        });
      }
      this.#nextTracker += tracked.length;
      for (const [number, tracker] of tracked) {
        this.#trackerNumbers.push(number);
        this.#trackers.push(tracker);
      }
      this.#spilled += count;
    }
    if (refused === "full" && !this.#full) {
      this.#full = true;
      this.#logger?.warn(
        'The disk buffer of "{queue}" is full ({bytes} bytes): {action}',
        {
          queue: this.queue,
          bytes: log.bytes,
          action: this.whenFull === "block"
            ? "senders wait for room"
            : "new events are dropped",
        },
      );
    } else if (refused === undefined) this.#full = false;
    if (refused === "unencodable") {
      this.#logger?.error(
        'Dropped an event that cannot be written to the disk buffer of "{queue}": {reason}',
        { queue: this.queue, reason },
      );
    }
    const outcome: AppendOutcome = { written: count };
    if (refused !== undefined) outcome.refused = refused;
    if (reason !== undefined) outcome.reason = reason;
    return outcome;
  }

  /**
   * Reads back up to `max` events, in order. `lost` counts the events of
   * corrupt records found (they are not among `events`).
   */
  read(max: number): Promise<{ events: Event[]; lost: number }> {
    const reading = this.#read(max);
    this.#reading = reading.catch(() => {});
    return reading;
  }

  async #read(max: number): Promise<{ events: Event[]; lost: number }> {
    const log = this.#log;
    const events: Event[] = [];
    if (log === undefined || this.#closing !== undefined) {
      return { events, lost: 0 };
    }
    let undecodable = 0;
    let outcome;
    try {
      outcome = await log.read(max, (bytes, start, end, fresh) => {
        const number = this.#readCount++;
        this.#grow();
        let decoded: ReturnType<typeof decodeEvent>;
        try {
          decoded = decodeEvent(bytes, start, end);
        } catch (error) {
          undecodable++;
          this.#logger?.error(
            'Skipped a record of the disk buffer of "{queue}" that does not decode: {error}',
            { queue: this.queue, error: describe(error) },
          );
          this.#settle(number);
          return;
        }
        const inner = fresh && decoded.tracker !== undefined
          ? this.#takeTracker(decoded.tracker)
          : undefined;
        (decoded.event as TrackedEvent)[TRACKER] = new RecordAck(
          this,
          number,
          inner,
        );
        events.push(decoded.event);
      });
    } catch (error) {
      this.#failed(error);
      return { events, lost: undecodable };
    }
    this.#undecodable += undecodable;
    this.#replayed += events.length;
    if (outcome.lost > 0) {
      this.#logger?.error(
        'Lost {count} event(s) to corrupt records in the disk buffer of "{queue}" ({path})',
        { count: outcome.lost, queue: this.queue, path: this.path },
      );
    }
    return { events, lost: outcome.lost + undecodable };
  }

  /**
   * Acknowledges nothing more: the events read back and not acknowledged
   * yet stay on disk for the next run. Called when a stop gives up on the
   * events in memory.
   */
  freeze(): void {
    this.#frozen = true;
    this.#onSettled?.();
    this.#onSettled = undefined;
    this.#failedAcks = [];
    this.#log?.freeze();
  }

  /**
   * Closes its files (once), after the read in progress. The trackers of
   * the events left on disk fail: their events are kept for the next run,
   * not delivered by this one.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#onSettled?.();
    this.#onSettled = undefined;
    await this.#opening?.catch(() => {});
    await this.#reading;
    const reason =
      `Kept in the disk buffer of "${this.queue}" for the next run`;
    for (let i = this.#trackersHead; i < this.#trackers.length; i++) {
      this.#trackers[i]!.fail(reason);
    }
    this.#trackers = [];
    this.#trackerNumbers = [];
    this.#trackersHead = 0;
    await this.#log?.close();
  }

  /** The buffer's figures (see {@link DiskBufferFigures}). */
  figures(): DiskBufferFigures {
    const log = this.#log;
    return {
      disk_events: log?.unread ?? 0,
      disk_bytes: log?.bytes ?? 0,
      disk_max_bytes: this.maxBytes,
      disk_written_total: this.#spilled,
      disk_read_total: this.#replayed,
      disk_recovered_total: log?.recovered ?? 0,
      disk_corrupt_total: (log?.corrupt ?? 0) + this.#undecodable,
      disk_errors_total: this.#errors,
    };
  }

  /** @internal The record of event `number` read back was handled. */
  settle(number: number): void {
    this.#settle(number);
  }

  /**
   * @internal An event derived from record `number` was lost. It counts as
   * handled (it was counted as lost) a moment later, unless a stop gave up
   * on the events in memory meanwhile ({@link DiskBuffer.freeze}).
   */
  settleFailed(number: number): void {
    if (this.#frozen) return;
    if (this.#failedAcks.length === 0) {
      queueMicrotask(() => {
        const failed = this.#failedAcks;
        this.#failedAcks = [];
        for (const number of failed) this.#settle(number);
      });
    }
    this.#failedAcks.push(number);
  }

  #settle(number: number): void {
    if (this.#frozen) return;
    const offset = number - this.#ackedCount;
    if (offset < 0) return;
    const ring = this.#settled;
    ring[(this.#settledHead + offset) % ring.length] = 1;
    if (offset !== 0) return;
    let advanced = 0;
    let head = this.#settledHead;
    while (
      this.#ackedCount + advanced < this.#readCount && ring[head] === 1
    ) {
      ring[head] = 0;
      head = (head + 1) % ring.length;
      advanced++;
    }
    this.#settledHead = head;
    this.#ackedCount += advanced;
    this.#log?.acknowledge(advanced);
    if (
      this.#onSettled !== undefined && this.unread === 0 &&
      this.#ackedCount === this.#readCount
    ) {
      this.#onSettled();
      this.#onSettled = undefined;
    }
  }

  /** Makes room in the ring for one more event read back. */
  #grow(): void {
    const ring = this.#settled;
    const used = this.#readCount - this.#ackedCount;
    if (used <= ring.length) return;
    const bigger = new Uint8Array(ring.length * 2);
    for (let i = 0; i < used - 1; i++) {
      bigger[i] = ring[(this.#settledHead + i) % ring.length]!;
    }
    this.#settled = bigger;
    this.#settledHead = 0;
  }

  /**
   * The tracker of tracked event `number` written by this run; those of
   * tracked events before it that were not found (lost to corruption) fail.
   */
  #takeTracker(number: number): Tracked | undefined {
    const numbers = this.#trackerNumbers;
    const trackers = this.#trackers;
    let found: Tracked | undefined;
    while (this.#trackersHead < numbers.length) {
      const head = numbers[this.#trackersHead]!;
      if (head > number) break;
      const tracker = trackers[this.#trackersHead]!;
      trackers[this.#trackersHead] = undefined as unknown as Tracked;
      this.#trackersHead++;
      if (head === number) {
        found = tracker;
        break;
      }
      tracker.fail(
        `Lost to a corrupt record of the disk buffer of "${this.queue}"`,
      );
    }
    if (this.#trackersHead > 1024 && this.#trackersHead * 2 > numbers.length) {
      this.#trackerNumbers = numbers.slice(this.#trackersHead);
      this.#trackers = trackers.slice(this.#trackersHead);
      this.#trackersHead = 0;
    }
    return found;
  }

  #failed(error: unknown): void {
    this.#errors++;
    this.#retryAt = Date.now() + DISK_RETRY_MS;
    if (this.#failing) return;
    this.#failing = true;
    this.#logger?.error(
      'The disk buffer of "{queue}" ({path}) failed: {error}; trying again every {seconds} s, following when_full "{policy}" meanwhile',
      {
        queue: this.queue,
        path: this.path,
        error: describe(error),
        seconds: DISK_RETRY_MS / 1000,
        policy: this.whenFull,
      },
    );
  }
}

/** The size after which a disk buffer of `maxBytes` starts a new segment. */
function segmentBytesFor(maxBytes: number): number {
  return Math.min(
    32 * 1024 * 1024,
    Math.max(16 * 1024, Math.floor(maxBytes / 8)),
  );
}

/**
 * The tracker an event read back from disk carries: it counts the event
 * and those derived from it like any tracker, passes every call on to the
 * event's own tracker (an input's), and settles the record's
 * acknowledgement once they were all handled or one was lost.
 */
class RecordAck implements Tracked {
  #buffer: DiskBuffer;
  #number: number;
  #inner: Tracked | undefined;
  /** The event's stay in its queue counts as one. */
  #pending = 1;
  #settled = false;

  constructor(buffer: DiskBuffer, number: number, inner: Tracked | undefined) {
    this.#buffer = buffer;
    this.#number = number;
    this.#inner = inner;
  }

  retain(): void {
    this.#pending++;
    this.#inner?.retain();
  }

  release(): void {
    this.#inner?.release();
    if (--this.#pending === 0 && !this.#settled) {
      this.#settled = true;
      this.#buffer.settle(this.#number);
    }
  }

  fail(reason: string): void {
    this.#inner?.fail(reason);
    if (this.#settled) return;
    this.#settled = true;
    this.#buffer.settleFailed(this.#number);
  }
}
