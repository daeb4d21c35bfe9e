/**
 * An append-only log of byte records kept in segment files in one
 * directory: what a disk buffer writes as its queue takes events and
 * reads back, in order, when the consumer catches up.
 *
 * Each record is framed as `magic (4 bytes) | length (4) | CRC-32 (4) |
 * payload`, big-endian; the CRC covers the length and the payload. A record
 * that does not check out (a write torn by a crash, a flipped byte) is
 * skipped and counted, and reading goes on at the next record found.
 *
 * Records are appended to the newest segment, `<id>.seg`, until it holds
 * `segmentBytes`; then a new one is started. They are read from the oldest.
 * A segment is deleted once every record in it has been read and
 * acknowledged, and a small `checkpoint` file says how many records of the
 * oldest segment left were acknowledged, so that a process that is killed
 * replays what was not acknowledged, and little more (at-least-once).
 *
 * @module
 */

import { join } from "node:path";
import type { ByteBuilder } from "../actors/payload.ts";
import { crc32 } from "./crc32.ts";

/**
 * When appended records are forced to the disk (`fsync`): `"never"` (the
 * operating system writes them when it likes: they survive the process
 * being killed, not a power cut), `"batch"` (before an append resolves) or
 * every that many milliseconds.
 *
 * @example
 * ```ts
 * import type { FsyncPolicy } from "./segment_log.ts";
 * const policy: FsyncPolicy = 1000;
 * ```
 */
export type FsyncPolicy = "never" | "batch" | number;

/**
 * Settings of a {@link SegmentLog}.
 *
 * @example
 * ```ts
 * import type { SegmentLogOptions } from "./segment_log.ts";
 * const options: SegmentLogOptions = { dir: "/var/lib/pipeline/sink.inbox" };
 * ```
 */
export interface SegmentLogOptions {
  /** The directory of the segment files (made when missing). */
  dir: string;
  /** Bytes after which a new segment is started (default 32 MiB). */
  segmentBytes?: number;
  /** When appends are forced to the disk (default 1000 ms). */
  fsync?: FsyncPolicy;
  /** Told when a segment was deleted: there is room again. */
  onRemoved?: () => void;
}

/**
 * What the reader of a {@link SegmentLog} is handed for each record: its
 * payload is `bytes[start..end)`, valid only during the call; `fresh` says
 * whether it was appended by this process (not found when the log opened).
 */
export type RecordVisitor = (
  bytes: Uint8Array,
  start: number,
  end: number,
  fresh: boolean,
) => void;

/** What one {@link SegmentLog.read} found besides the records it handed. */
export interface ReadOutcome {
  /** Records handed to the visitor. */
  records: number;
  /**
   * Records counted in {@link SegmentLog.unread} that turned out corrupt
   * when read (whole segments checked): they are lost.
   */
  lost: number;
}

/** "CBF1": the start of every record. */
const MAGIC = 0x43424631;

/** Bytes of a record's frame before its payload. */
export const RECORD_HEADER_BYTES = 12;

/** The largest payload a record may hold: 64 MiB. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const SEGMENT_SUFFIX = ".seg";
const CHECKPOINT = "checkpoint";
/** Locked while a process uses the directory. */
const LOCK = "lock";

/** How often, at most, the checkpoint is written while records are acknowledged. */
const CHECKPOINT_EVERY_MS = 200;

/**
 * Starts a record in `builder`: reserves its frame. Add the payload, then
 * call {@link finishRecord} with what this returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteBuilder } from "../actors/payload.ts";
 * import { finishRecord, startRecord } from "./segment_log.ts";
 * const builder = new ByteBuilder();
 * const start = startRecord(builder);
 * builder.addText("hello");
 * finishRecord(builder, start);
 * assert.equal(builder.length, 17);
 * ```
 */
export function startRecord(builder: ByteBuilder): number {
  const start = builder.length;
  builder.addUint32(MAGIC);
  builder.addUint32(0);
  builder.addUint32(0);
  return start;
}

/**
 * Fills in the frame of the record started at `start`, whose payload is
 * what `builder` holds after the frame. Returns the payload's length.
 */
export function finishRecord(builder: ByteBuilder, start: number): number {
  const length = builder.length - start - RECORD_HEADER_BYTES;
  builder.setUint32(start + 4, length);
  const bytes = builder.bytes();
  const crc = crc32(
    bytes,
    start + RECORD_HEADER_BYTES,
    builder.length,
    crc32(bytes, start + 4, start + 8),
  );
  builder.setUint32(start + 8, crc);
  return length;
}

/** One segment file and where reading and acknowledging it stand. */
interface Segment {
  id: number;
  path: string;
  /** Bytes written to it and complete (the reader stops there). */
  bytes: number;
  /** Valid records in it, those skipped at opening included. */
  records: number;
  /** Valid records at its start acknowledged by a previous process. */
  skip: number;
  /** Valid records read (the skipped ones included). */
  read: number;
  /** Valid records acknowledged (the skipped ones included). */
  done: number;
  /** Whether nothing more is appended to it. */
  sealed: boolean;
  /** Whether this process made it. */
  fresh: boolean;
  /** Offsets of the corrupt spans found when the log opened (not counted again). */
  known: Set<number>;
}

/** What a {@link SegmentReader} found next. */
type Found =
  | { type: "record"; start: number; end: number }
  | { type: "corrupt"; at: number }
  | { type: "end" }
  | { type: "caught up" };

/**
 * Reads the records of one segment file in order, up to `limit` bytes (the
 * complete ones), resynchronising after a corrupt span at the next record
 * that checks out.
 */
class SegmentReader {
  /** File offset of the next byte to parse. */
  at = 0;
  #file: Deno.FsFile;
  #buf = new Uint8Array(1 << 20);
  #view = new DataView(this.#buf.buffer);
  /** File offset of `#buf[0]`, and how many bytes from there are in `#buf`. */
  #start = 0;
  #length = 0;
  /** What follows a corrupt span, returned by the next call. */
  #pending: Found | undefined;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** Whether everything up to `limit` was handed out. */
  finished(limit: number): boolean {
    return this.#pending === undefined && this.at >= limit;
  }

  close(): void {
    this.#file.close();
  }

  /**
   * The next record, corrupt span (one for a run of bad bytes, however many
   * false starts it holds), or why there is none now.
   */
  next(limit: number, sealed: boolean): Found {
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      return pending;
    }
    let corrupt: number | undefined;
    for (;;) {
      const found = this.#step(limit, sealed);
      if (found.type !== "corrupt") {
        if (corrupt === undefined) return found;
        // The span first; what follows it next time (the buffer stays).
        this.#pending = found;
        return { type: "corrupt", at: corrupt };
      }
      // Bad bytes up to the next record that checks out: one span.
      corrupt ??= found.at;
    }
  }

  #step(limit: number, sealed: boolean): Found {
    const at = this.at;
    if (at >= limit) return sealed ? { type: "end" } : { type: "caught up" };
    if (limit - at < RECORD_HEADER_BYTES) return this.#corrupt(at, limit);
    this.#ensure(at, at + RECORD_HEADER_BYTES, limit);
    const base = at - this.#start;
    const view = this.#view;
    const length = view.getUint32(base + 4);
    if (
      view.getUint32(base) !== MAGIC || length > MAX_RECORD_BYTES ||
      at + RECORD_HEADER_BYTES + length > limit
    ) {
      return this.#resync(at, limit);
    }
    const end = at + RECORD_HEADER_BYTES + length;
    this.#ensure(at, end, limit);
    const from = at - this.#start;
    const bytes = this.#buf;
    const crc = crc32(
      bytes,
      from + RECORD_HEADER_BYTES,
      from + RECORD_HEADER_BYTES + length,
      crc32(bytes, from + 4, from + 8),
    );
    if (crc !== this.#view.getUint32(from + 8)) {
      return this.#resync(at, limit);
    }
    this.at = end;
    return {
      type: "record",
      start: from + RECORD_HEADER_BYTES,
      end: from + RECORD_HEADER_BYTES + length,
    };
  }

  #corrupt(at: number, limit: number): Found {
    this.at = limit;
    return { type: "corrupt", at };
  }

  /** Skips the corrupt span at `at`: reading goes on at the next magic. */
  #resync(at: number, limit: number): Found {
    let from = at + 1;
    while (from + 4 <= limit) {
      const to = Math.min(limit, from + this.#buf.length);
      this.#ensure(from, to, limit);
      const bytes = this.#buf;
      const last = to - this.#start - 4;
      for (let i = from - this.#start; i <= last; i++) {
        if (
          bytes[i] === 0x43 && bytes[i + 1] === 0x42 && bytes[i + 2] === 0x46 &&
          bytes[i + 3] === 0x31
        ) {
          this.at = this.#start + i;
          return { type: "corrupt", at };
        }
      }
      from = to - 3;
      if (to === limit) break;
    }
    return this.#corrupt(at, limit);
  }

  /** Makes file bytes `[from, to)` (`to <= limit`) be in the buffer. */
  #ensure(from: number, to: number, limit: number): void {
    if (from >= this.#start && to <= this.#start + this.#length) return;
    if (to - from > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < to - from) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.#buf.subarray(0, this.#length));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    const end = this.#start + this.#length;
    if (from < this.#start || from > end) {
      // Not what the buffer follows on from: read from `from` afresh.
      this.#file.seekSync(from, Deno.SeekMode.Start);
      this.#start = from;
      this.#length = 0;
    } else if (from > this.#start) {
      this.#buf.copyWithin(0, from - this.#start, this.#length);
      this.#length = end - from;
      this.#start = from;
    }
    while (this.#start + this.#length < to) {
      const room = Math.min(
        this.#buf.length - this.#length,
        limit - this.#start - this.#length,
      );
      const read = this.#file.readSync(
        this.#buf.subarray(this.#length, this.#length + room),
      );
      if (read === null) {
        throw new Error(
          `The segment ended at ${
            this.#start + this.#length
          } bytes, before ${to}`,
        );
      }
      this.#length += read;
    }
  }
}

/**
 * An append-only log of records in segment files (see the module
 * documentation). One process (and one log) at a time uses a directory: it
 * holds a lock on its `lock` file, and {@link SegmentLog.open} refuses a
 * directory locked by another.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteBuilder } from "../actors/payload.ts";
 * import { finishRecord, SegmentLog, startRecord } from "./segment_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await SegmentLog.open({ dir, fsync: "never" });
 * const builder = new ByteBuilder();
 * for (const text of ["a", "b"]) {
 *   const start = startRecord(builder);
 *   builder.addText(text);
 *   finishRecord(builder, start);
 * }
 * await log.append(builder.bytes(), 2);
 * const read: string[] = [];
 * await log.read(10, (bytes, start, end) =>
 *   read.push(new TextDecoder().decode(bytes.subarray(start, end)))
 * );
 * assert.deepEqual(read, ["a", "b"]);
 * log.acknowledge(2);
 * await log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SegmentLog {
  /** The directory of the segment files. */
  readonly dir: string;
  #segmentBytes: number;
  #fsync: FsyncPolicy;
  #onRemoved: () => void;
  /** Every segment file, oldest first. */
  #segments: Segment[] = [];
  #nextId: number;
  /** The segment appended to, and its file. */
  #writing: { segment: Segment; file: Deno.FsFile } | undefined;
  /** The segment read, and its reader. */
  #reading: { segment: Segment; reader: SegmentReader } | undefined;
  #unread = 0;
  #bytes = 0;
  #recovered = 0;
  #corrupt = 0;
  #dirty = false;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #checkpointTimer: ReturnType<typeof setTimeout> | undefined;
  #checkpointDirty = false;
  #checkpointing: Promise<void> = Promise.resolve();
  #appending: Promise<unknown> = Promise.resolve();
  #removing = new Set<Promise<void>>();
  #frozen = false;
  #closed = false;

  /** The lock file, held while the log is open. */
  #lock: Deno.FsFile;

  private constructor(
    dir: string,
    options: SegmentLogOptions,
    nextId: number,
    lock: Deno.FsFile,
  ) {
    this.dir = dir;
    this.#lock = lock;
    this.#segmentBytes = options.segmentBytes ?? 32 * 1024 * 1024;
    this.#fsync = options.fsync ?? 1000;
    this.#onRemoved = options.onRemoved ?? (() => {});
    this.#nextId = nextId;
  }

  /**
   * Opens the log in `options.dir` (making it when missing): checks every
   * record left there by a previous process, counting the valid ones not
   * acknowledged ({@link SegmentLog.recovered}) and the corrupt spans
   * ({@link SegmentLog.corrupt}), and deletes what was acknowledged.
   */
  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const dir = options.dir;
    await Deno.mkdir(dir, { recursive: true });
    const lock = await Deno.open(join(dir, LOCK), {
      write: true,
      create: true,
    });
    if (!lock.tryLockSync(true)) {
      lock.close();
      throw new Error(
        `The disk buffer in "${dir}" is in use by another process: give each pipeline its own buffer path`,
      );
    }
    try {
      return await SegmentLog.#load(options, lock);
    } catch (error) {
      lock.close();
      throw error;
    }
  }

  static async #load(
    options: SegmentLogOptions,
    lock: Deno.FsFile,
  ): Promise<SegmentLog> {
    const dir = options.dir;
    const checkpoint = await readCheckpoint(join(dir, CHECKPOINT));
    const ids: number[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const match = /^(\d{1,15})\.seg$/.exec(entry.name);
      if (entry.isFile && match !== null) ids.push(Number(match[1]));
    }
    ids.sort((a, b) => a - b);
    const log = new SegmentLog(dir, options, (ids.at(-1) ?? 0) + 1, lock);
    for (const id of ids) {
      const path = join(dir, segmentName(id));
      if (checkpoint !== undefined && id < checkpoint.segment) {
        await Deno.remove(path);
        continue;
      }
      const segment = await scanSegment(id, path);
      if (checkpoint?.segment === id) {
        segment.skip = Math.min(checkpoint.skip, segment.records);
        segment.done = segment.skip;
      }
      log.#corrupt += segment.known.size;
      const unread = segment.records - segment.skip;
      if (unread === 0 && segment.known.size === 0) {
        await Deno.remove(path);
        continue;
      }
      log.#segments.push(segment);
      log.#unread += unread;
      log.#bytes += segment.bytes;
    }
    log.#recovered = log.#unread;
    return log;
  }

  /** Valid records not read yet. */
  get unread(): number {
    return this.#unread;
  }

  /** Bytes of the segment files. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Changes when appends are forced to the disk and the size after which a
   * new segment is started, from the next append on (a reload that changes
   * a disk buffer's settings).
   */
  configure(fsync: FsyncPolicy, segmentBytes: number): void {
    this.#fsync = fsync;
    this.#segmentBytes = segmentBytes;
    if (typeof fsync !== "number") {
      clearTimeout(this.#syncTimer);
      this.#syncTimer = undefined;
    }
  }

  /** Records a previous process left unacknowledged, found at opening. */
  get recovered(): number {
    return this.#recovered;
  }

  /** Corrupt spans skipped so far (at opening and when reading). */
  get corrupt(): number {
    return this.#corrupt;
  }

  /**
   * Appends `bytes`, `count` whole records made with {@link startRecord}
   * and {@link finishRecord}; resolves once they are written (and forced
   * to the disk with fsync `"batch"`). When the write fails, nothing of it
   * counts: the file is cut back to what was complete, the next append
   * starts a new segment, and the error is thrown.
   */
  append(bytes: Uint8Array, count: number): Promise<void> {
    const appending = this.#appending.then(() => this.#append(bytes, count));
    this.#appending = appending.catch(() => {});
    return appending;
  }

  async #append(bytes: Uint8Array, count: number): Promise<void> {
    if (this.#closed) {
      throw new Error(`The disk buffer in ${this.dir} is closed`);
    }
    let writing = this.#writing;
    if (
      writing !== undefined && writing.segment.bytes > 0 &&
      writing.segment.bytes + bytes.length > this.#segmentBytes
    ) {
      await this.#seal(writing);
      writing = undefined;
    }
    writing ??= await this.#startSegment();
    const segment = writing.segment;
    try {
      writeAllSync(writing.file, bytes);
      if (this.#fsync === "batch") await writing.file.syncData();
    } catch (error) {
      await this.#cutBack(writing);
      throw error;
    }
    segment.bytes += bytes.length;
    segment.records += count;
    this.#bytes += bytes.length;
    this.#unread += count;
    if (typeof this.#fsync === "number") this.#syncSoon();
  }

  /**
   * Reads up to `max` records in order, handing each to `visit`. Resolves
   * with fewer (none) when fewer are complete now.
   */
  async read(max: number, visit: RecordVisitor): Promise<ReadOutcome> {
    const outcome: ReadOutcome = { records: 0, lost: 0 };
    while (outcome.records < max && this.#unread > 0) {
      const reading = this.#reading ?? await this.#nextReading();
      if (reading === undefined) break;
      const { segment, reader } = reading;
      const found = reader.next(segment.bytes, segment.sealed);
      if (found.type === "record") {
        // The first `skip` were acknowledged by a previous process.
        if (++segment.read > segment.skip) {
          this.#unread--;
          outcome.records++;
          visit(reader.buffer, found.start, found.end, segment.fresh);
        }
      } else if (found.type === "corrupt") {
        if (!segment.known.has(found.at)) this.#corrupt++;
      } else if (found.type === "caught up") break;
      if (segment.sealed && reader.finished(segment.bytes)) {
        outcome.lost += this.#endReading(segment, reader);
      }
    }
    return outcome;
  }

  /**
   * Done with a sealed segment read to its end; returns how many of the
   * records counted in it were not found (a corrupt span ate them).
   */
  #endReading(segment: Segment, reader: SegmentReader): number {
    reader.close();
    this.#reading = undefined;
    const missing = segment.records - segment.read;
    if (missing > 0) {
      this.#unread -= missing;
      segment.records = segment.read;
    }
    this.#removeDone();
    return Math.max(0, missing);
  }

  /**
   * The `count` records read after those acknowledged so far are handled:
   * segments wholly read and acknowledged are deleted, and the checkpoint
   * is written soon. Does nothing once {@link SegmentLog.freeze}d.
   */
  acknowledge(count: number): void {
    if (this.#frozen || this.#closed) return;
    let left = count;
    for (const segment of this.#segments) {
      if (left === 0) break;
      const acked = Math.max(0, Math.min(left, segment.read - segment.done));
      segment.done += acked;
      left -= acked;
    }
    this.#removeDone();
    this.#checkpointSoon();
  }

  /**
   * Acknowledges nothing more from now on: what was read and not
   * acknowledged is replayed by the next process (used when a stop gives
   * up on the events in memory).
   */
  freeze(): void {
    this.#frozen = true;
  }

  /**
   * Writes the checkpoint, forces what was appended to the disk (unless
   * fsync is `"never"`) and closes the files; deletes the directory's
   * files when nothing is left to replay.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    clearTimeout(this.#checkpointTimer);
    await this.#appending;
    const writing = this.#writing;
    this.#writing = undefined;
    if (writing !== undefined) {
      if (this.#fsync !== "never" && this.#dirty) {
        await writing.file.syncData().catch(() => {});
      }
      writing.file.close();
    }
    this.#reading?.reader.close();
    this.#reading = undefined;
    await Promise.all(this.#removing);
    await this.#checkpointing;
    const left = this.#segments.some((segment) =>
      segment.done < segment.records
    );
    if (!left) {
      for (const segment of this.#segments) await removeQuietly(segment.path);
      await removeQuietly(join(this.dir, CHECKPOINT));
      await removeQuietly(join(this.dir, LOCK));
      this.#segments = [];
      this.#bytes = 0;
    } else await this.#writeCheckpoint();
    this.#lock.close();
  }

  async #startSegment(): Promise<{ segment: Segment; file: Deno.FsFile }> {
    const id = this.#nextId++;
    const path = join(this.dir, segmentName(id));
    const file = await Deno.open(path, { write: true, createNew: true });
    const segment: Segment = {
      id,
      path,
      bytes: 0,
      records: 0,
      skip: 0,
      read: 0,
      done: 0,
      sealed: false,
      fresh: true,
      known: new Set(),
    };
    this.#segments.push(segment);
    this.#writing = { segment, file };
    return this.#writing;
  }

  /** Ends appends to a segment: forced to the disk (unless "never"), closed. */
  async #seal(writing: { segment: Segment; file: Deno.FsFile }): Promise<void> {
    this.#writing = undefined;
    writing.segment.sealed = true;
    try {
      if (this.#fsync !== "never") await writing.file.syncData();
    } finally {
      writing.file.close();
    }
    // A reader already at its end would wait for more that never comes.
    const reading = this.#reading;
    if (
      reading?.segment === writing.segment &&
      reading.reader.finished(writing.segment.bytes)
    ) this.#endReading(reading.segment, reading.reader);
    this.#removeDone();
  }

  /**
   * After a failed write: cuts the file back to its complete records and
   * seals it, so that it is deleted once they are read and acknowledged (on
   * a full disk, that is what makes room); the next append starts a new
   * segment.
   */
  async #cutBack(
    writing: { segment: Segment; file: Deno.FsFile },
  ): Promise<void> {
    const segment = writing.segment;
    if (segment.bytes === 0 && this.#reading?.segment !== segment) {
      // Nothing in it: deleted rather than left empty.
      this.#writing = undefined;
      writing.file.close();
      this.#segments.splice(this.#segments.indexOf(segment), 1);
      await removeQuietly(segment.path);
      return;
    }
    try {
      await writing.file.truncate(segment.bytes);
    } catch {
      // Reading stops at the complete records; a next run skips the rest.
    }
    await this.#seal(writing).catch(() => {});
  }

  async #nextReading(): Promise<
    { segment: Segment; reader: SegmentReader } | undefined
  > {
    const segment = this.#segments.find((segment) =>
      !segment.sealed || segment.read < segment.records
    );
    if (segment === undefined) return undefined;
    const reader = new SegmentReader(await Deno.open(segment.path));
    this.#reading = { segment, reader };
    return this.#reading;
  }

  /** Deletes the segments wholly read and acknowledged, oldest first. */
  #removeDone(): void {
    let removed = false;
    while (this.#segments.length > 0) {
      const segment = this.#segments[0]!;
      if (
        !segment.sealed || this.#reading?.segment === segment ||
        segment.done < segment.records
      ) break;
      this.#segments.shift();
      this.#bytes -= segment.bytes;
      const removing = removeQuietly(segment.path);
      this.#removing.add(removing);
      void removing.finally(() => this.#removing.delete(removing));
      removed = true;
    }
    if (removed) this.#onRemoved();
  }

  #syncSoon(): void {
    this.#dirty = true;
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      const file = this.#writing?.file;
      if (file === undefined || !this.#dirty) return;
      this.#dirty = false;
      this.#appending = this.#appending.then(() => file.syncData()).catch(
        () => {},
      );
    }, this.#fsync as number);
  }

  #checkpointSoon(): void {
    this.#checkpointDirty = true;
    if (this.#checkpointTimer !== undefined || this.#closed) return;
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      this.#checkpointing = this.#checkpointing.then(() =>
        this.#writeCheckpoint()
      );
    }, CHECKPOINT_EVERY_MS);
  }

  /** Writes where acknowledging stands, atomically (a rename). */
  async #writeCheckpoint(): Promise<void> {
    if (!this.#checkpointDirty) return;
    this.#checkpointDirty = false;
    const head = this.#segments.find((segment) =>
      segment.done < segment.records || !segment.sealed
    );
    const checkpoint = head === undefined
      ? { segment: this.#nextId, skip: 0 }
      : { segment: head.id, skip: head.done };
    const path = join(this.dir, CHECKPOINT);
    try {
      await Deno.writeTextFile(`${path}.new`, JSON.stringify(checkpoint));
      await Deno.rename(`${path}.new`, path);
    } catch {
      // The next checkpoint tries again; a crash meanwhile replays more.
      this.#checkpointDirty = true;
    }
  }
}

/**
 * Writes all of `bytes`. Appends and reads are synchronous on purpose: they
 * reach the page cache in microseconds per batch, while Deno's asynchronous
 * file calls run on a pool of threads whose allocator arenas grew the
 * process by about 100 MB under a steady stream of appends. Forcing to the
 * disk (fsync), which can take long, stays asynchronous.
 */
function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

function segmentName(id: number): string {
  return `${String(id).padStart(12, "0")}${SEGMENT_SUFFIX}`;
}

/** Deletes a file; one that cannot be deleted is left (and taken over by the next run). */
async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // Gone already, or not ours to delete any more.
  }
}

/** The checkpoint left by a previous process, when there is a valid one. */
async function readCheckpoint(
  path: string,
): Promise<{ segment: number; skip: number } | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const { segment, skip } = JSON.parse(text);
    if (Number.isSafeInteger(segment) && Number.isSafeInteger(skip)) {
      return { segment, skip };
    }
  } catch {
    // A checkpoint cut short: everything left is replayed.
  }
  return undefined;
}

/** Checks every record of a segment file left by a previous process. */
async function scanSegment(id: number, path: string): Promise<Segment> {
  const file = await Deno.open(path);
  const reader = new SegmentReader(file);
  const segment: Segment = {
    id,
    path,
    bytes: (await file.stat()).size,
    records: 0,
    skip: 0,
    read: 0,
    done: 0,
    sealed: true,
    fresh: false,
    known: new Set(),
  };
  try {
    for (;;) {
      const found = reader.next(segment.bytes, true);
      if (found.type === "record") segment.records++;
      else if (found.type === "corrupt") segment.known.add(found.at);
      else break;
    }
  } finally {
    reader.close();
  }
  return segment;
}
