/**
 * What `file_out` and `log_file` share: {@link RotatingFile}, a file appended
 * to that is rotated by size, opened again when it was moved, removed or
 * truncated under it (logrotate) or when asked (SIGHUP), and after a failed
 * write; {@link RotatingFileActor}, their base class; and the
 * `check_interval` option that says how often the path is looked at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RotatingFile } from "./rotating_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const file = new RotatingFile({
 *   path: `${dir}/out.log`,
 *   maxBytes: 6,
 *   maxFiles: 1,
 *   checkMs: 1000,
 * }, () => ({ debug() {}, info() {}, warn() {} }));
 * await file.open();
 * file.writeSync(new TextEncoder().encode("one\n"));
 * assert.equal(file.due(0, 4), true); // 4 more bytes would pass max_bytes
 * assert.equal(file.rotate(), true);
 * file.writeSync(new TextEncoder().encode("two\n"));
 * file.close();
 * assert.equal(await Deno.readTextFile(`${dir}/out.log.1`), "one\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { dirname } from "node:path";
import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorLog,
  type ActorSettings,
  errorMessage,
} from "../core/actor.ts";
import { writeAll, writeAllSync } from "./payload.ts";

/**
 * The `check_interval` option of the actors that write a
 * {@link RotatingFile}: seconds between two looks at the path (default 1; 0
 * looks before every batch).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkIntervalOption } from "./rotating_file.ts";
 * assert.equal(checkIntervalOption.parse(undefined), 1);
 * ```
 */
export const checkIntervalOption: z.ZodDefault<z.ZodNumber> = z.number().min(0)
  .default(1).describe(
    "Seconds between two checks, made at a write, that the path still names the open file: a file moved or removed under the actor (logrotate) is followed by a new one, a truncated one (logrotate's copytruncate) is counted from its new size. 0 checks before every batch.",
  );

/** A line's end. */
const NEWLINE_BYTES = new Uint8Array([10]);

/**
 * Whether the file at `path`, of `size` bytes (above 0), ends with a
 * newline; `true` when it cannot be read (nothing to mend then).
 */
function endsWithNewline(path: string, size: number): boolean {
  try {
    using file = Deno.openSync(path, { read: true });
    file.seekSync(size - 1, Deno.SeekMode.Start);
    const last = new Uint8Array(1);
    return file.readSync(last) !== 1 || last[0] === NEWLINE_BYTES[0];
  } catch {
    return true;
  }
}

/** After a failed rotation, the next attempt waits this long, in ms. */
const ROTATE_AGAIN_MS = 1000;

/** What a {@link RotatingFile} logs through: an actor's `log`, or less. */
export type RotatingFileLog = Pick<ActorLog, "debug" | "info" | "warn">;

/** Where and how a {@link RotatingFile} writes. */
export interface RotatingFileOptions {
  /** The file to append to. */
  path: string;
  /** Rotate before a write would make the file larger (`Infinity`: never). */
  maxBytes: number;
  /** Rotated files kept, `<path>.1` (newest) to `<path>.<maxFiles>`; 0 empties the file instead. */
  maxFiles: number;
  /** Milliseconds between two checks that the path names the open file (0: every {@link RotatingFile.open}). */
  checkMs: number;
  /** Make the file's directory when it is missing (default: it must exist). */
  makeDirectory?: boolean;
}

/** The counters of a {@link RotatingFile}, for an actor's figures. */
export interface RotatingFileFigures {
  /** Times the file was rotated. */
  rotations_total: number;
  /** Times it was opened again: moved or removed under the actor, asked, or after a failure. */
  reopens_total: number;
  /** Writes, opens and rotations that failed. */
  write_errors_total: number;
}

/**
 * A file appended to by one actor, with what a long-running writer needs on
 * a bad disk day:
 *
 * - {@link due} and {@link rotate} rotate it by size: `<path>.<n - 1>`
 *   becomes `<path>.<n>` (replacing it), …, `<path>` becomes `<path>.1`, and
 *   a new `<path>` is made (with `maxFiles` 0 the file is emptied instead). A
 *   rotation that fails (a read-only directory) is logged, writing goes on in
 *   the current file past `maxBytes`, and it is tried again a second later.
 * - {@link open} opens the file when it is closed, and every `checkMs`
 *   compares the file the path names (device and inode) with the open one: a
 *   file moved or removed under it (logrotate's `create` mode, or none) is
 *   followed by a new file at the path, and a file that got shorter
 *   (logrotate's `copytruncate`) is counted from its new size. Writes append
 *   (`O_APPEND`), so they land at the end of a truncated file.
 * - A write that fails (a full disk) throws an error naming the path, cuts
 *   the file back to where that write started when only this write can have
 *   added the bytes past it (so that no torn line is left before the retry),
 *   and closes the file: the next {@link open} opens it again.
 * - {@link reopen} (SIGHUP) closes and opens the file at the next
 *   {@link open}.
 *
 * The first failure of a run of failed writes (or rotations) is logged as a
 * warning, the next ones at debug level, and the first success after them
 * as info.
 */
export class RotatingFile {
  /** The file's path. */
  readonly path: string;
  #maxBytes: number;
  #maxFiles: number;
  #checkMs: number;
  #makeDirectory: boolean;
  #log: () => RotatingFileLog;
  #file: Deno.FsFile | undefined;
  #ino: number | null = null;
  #dev = 0;
  #size = 0;
  #regular = false;
  /** `performance.now()` of the next check of the path. */
  #checkAt = 0;
  /** No rotation is tried before this `performance.now()`. */
  #rotateAt = 0;
  #reopen = false;
  /** Why the last write failed, while writes fail. */
  #failure: string | undefined;
  #failures = 0;
  #rotateFailures = 0;
  #figures: RotatingFileFigures = {
    rotations_total: 0,
    reopens_total: 0,
    write_errors_total: 0,
  };

  /**
   * Makes a file, not opened yet; `log` returns the actor's logger (a
   * function, as an actor's logger changes when a router adopts it).
   */
  constructor(options: RotatingFileOptions, log: () => RotatingFileLog) {
    this.path = options.path;
    this.#maxBytes = options.maxBytes;
    this.#maxFiles = options.maxFiles;
    this.#checkMs = options.checkMs;
    this.#makeDirectory = options.makeDirectory ?? false;
    this.#log = log;
  }

  /** The size of the file as written through this object, in bytes. */
  get size(): number {
    return this.#size;
  }

  /** Whether the open file is a regular file (not a pipe or a device). */
  get regular(): boolean {
    return this.#regular;
  }

  /** Why writing fails, while it does (`undefined` once a write succeeded). */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** The counters so far. */
  figures(): RotatingFileFigures {
    return { ...this.#figures };
  }

  /**
   * Makes sure the file is open before a write: opens it when closed or when
   * {@link reopen} asked, and, when a check is due, follows a file moved,
   * removed or truncated under it. Throws an error naming the path when it
   * cannot be opened.
   */
  async open(): Promise<void> {
    if (this.#file !== undefined) {
      const reason = this.#reopen ? "as asked" : this.#moved();
      if (reason === undefined) return;
      this.#closeFile();
      await this.#openFile();
      this.#figures.reopens_total++;
      this.#log().info("Reopened {path}: {reason}", {
        path: this.path,
        reason,
      });
      return;
    }
    const failed = this.#failure !== undefined;
    await this.#openFile();
    if (failed) this.#figures.reopens_total++;
  }

  /**
   * Whether the file must be rotated before `bytes` more are written after
   * `pending` bytes not written yet: the file would pass `maxBytes` (a file
   * with nothing in it never is), and no failed rotation is waiting for its
   * next attempt.
   */
  due(pending: number, bytes: number): boolean {
    const filled = this.#size + pending;
    return filled > 0 && filled + bytes > this.#maxBytes &&
      performance.now() >= this.#rotateAt;
  }

  /**
   * Rotates the file (see the class documentation). Returns `false` when it
   * failed: the file stays open as it was and writing goes on in it, and
   * {@link due} says so again a second later.
   */
  rotate(): boolean {
    const file = this.#file;
    if (file === undefined) return false;
    const path = this.path;
    try {
      if (this.#maxFiles === 0) {
        file.truncateSync(0);
        this.#size = 0;
      } else {
        for (let i = this.#maxFiles - 1; i >= 1; i--) {
          renameIfPresent(`${path}.${i}`, `${path}.${i + 1}`);
        }
        Deno.renameSync(path, `${path}.1`);
        let next: Deno.FsFile;
        try {
          next = Deno.openSync(path, { append: true, create: true });
        } catch (error) {
          // Put the file back, so that what is written next is not lost in
          // "<path>.1" while "<path>" is missing.
          renameIfPresent(`${path}.1`, path);
          throw error;
        }
        this.#closeFile();
        this.#adopt(next);
      }
    } catch (error) {
      this.#figures.write_errors_total++;
      this.#rotateAt = performance.now() + ROTATE_AGAIN_MS;
      const text =
        "Cannot rotate {path}: {error}; writing on to it past its size limit, trying again in {seconds} s";
      const values = {
        path,
        error: errorMessage(error),
        seconds: ROTATE_AGAIN_MS / 1000,
      };
      if (this.#rotateFailures++ === 0) this.#log().warn(text, values);
      else this.#log().debug(text, values);
      return false;
    }
    this.#figures.rotations_total++;
    if (this.#rotateFailures > 0) {
      this.#log().info("Rotated {path} after {count} failed attempt(s)", {
        path,
        count: this.#rotateFailures,
      });
      this.#rotateFailures = 0;
    } else {
      this.#log().debug("Rotated {path}", { path });
    }
    return true;
  }

  /**
   * Writes all of `bytes` synchronously (see the class documentation for a
   * failure). The file must be open ({@link open}).
   */
  writeSync(bytes: Uint8Array): void {
    const file = this.#openFileOrThrow();
    try {
      writeAllSync(file, bytes);
    } catch (error) {
      throw this.#failed(file, "write to", error, bytes.length);
    }
    this.#written(bytes.length);
  }

  /** Like {@link writeSync}, with writes awaited in the background. */
  async write(bytes: Uint8Array): Promise<void> {
    const file = this.#openFileOrThrow();
    try {
      await writeAll(file, bytes);
    } catch (error) {
      throw this.#failed(file, "write to", error, bytes.length);
    }
    this.#written(bytes.length);
  }

  /** Flushes what was written to the disk (fdatasync). */
  async syncData(): Promise<void> {
    const file = this.#openFileOrThrow();
    try {
      await file.syncData();
    } catch (error) {
      throw this.#failed(file, "flush", error, 0);
    }
  }

  /**
   * Asks for the file to be closed and opened again at the next
   * {@link open} (for SIGHUP after an outside rotation).
   */
  reopen(): void {
    this.#reopen = true;
  }

  /** Closes the file. */
  close(): void {
    this.#closeFile();
  }

  /**
   * Opens the file for the first time (at the actor's setup); throws an
   * error naming the path when it cannot, without logging it.
   */
  async start(): Promise<void> {
    try {
      await this.#openPath();
    } catch (error) {
      throw openError(this.path, error);
    }
  }

  async #openFile(): Promise<void> {
    try {
      await this.#openPath();
    } catch (error) {
      throw this.#failed(undefined, "open", error, 0);
    }
  }

  async #openPath(): Promise<void> {
    if (this.#makeDirectory) {
      await Deno.mkdir(dirname(this.path), { recursive: true });
    }
    // Asynchronous: opening a named pipe waits for its reader.
    const file = await Deno.open(this.path, { append: true, create: true });
    try {
      this.#adopt(file);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * Makes `file` (just opened at the path) the open file. A regular file
   * whose last line is unfinished (another writer, or a crash in the middle
   * of a write) gets its newline first, so that the next line starts a line
   * of its own.
   */
  #adopt(file: Deno.FsFile): void {
    const info = file.statSync();
    let size = info.size;
    if (info.isFile && size > 0 && !endsWithNewline(this.path, size)) {
      writeAllSync(file, NEWLINE_BYTES);
      size++;
    }
    this.#file = file;
    this.#ino = info.ino;
    this.#dev = info.dev;
    this.#size = size;
    this.#regular = info.isFile;
    this.#reopen = false;
    this.#checkAt = performance.now() + this.#checkMs;
  }

  #closeFile(): void {
    const file = this.#file;
    this.#file = undefined;
    try {
      file?.close();
    } catch {
      // Already closed.
    }
  }

  #openFileOrThrow(): Deno.FsFile {
    if (this.#file === undefined) {
      throw new Error(`The file "${this.path}" is not open`);
    }
    return this.#file;
  }

  /**
   * When a check is due: why the path no longer names the open file (moved
   * or removed), or `undefined`. Also counts a file truncated under the
   * writer from its new size.
   */
  #moved(): string | undefined {
    const now = performance.now();
    if (now < this.#checkAt) return undefined;
    this.#checkAt = now + this.#checkMs;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return "it was moved or removed";
      }
      // Cannot tell (a directory made unreadable): keep writing.
      return undefined;
    }
    if (
      this.#ino !== null && info.ino !== null &&
      (info.ino !== this.#ino || info.dev !== this.#dev)
    ) {
      return "it was replaced by another file";
    }
    if (this.#regular && info.size < this.#size) {
      this.#log().info(
        "{path} was truncated under the writer: counting its size from {size} bytes",
        { path: this.path, size: info.size },
      );
      this.#size = info.size;
    }
    return undefined;
  }

  #written(bytes: number): void {
    this.#size += bytes;
    if (this.#failure === undefined) return;
    this.#log().info(
      "Writing to {path} again after {count} failed attempt(s)",
      {
        path: this.path,
        count: this.#failures,
      },
    );
    this.#failure = undefined;
    this.#failures = 0;
  }

  /**
   * Records a failure to `what` the file, undoes what a failed write of
   * `attempted` bytes left, closes the file, logs, and returns the error to
   * throw.
   */
  #failed(
    file: Deno.FsFile | undefined,
    what: string,
    error: unknown,
    attempted: number,
  ): Error {
    if (file !== undefined) {
      if (attempted > 0) this.#cutBack(file, attempted);
      this.#closeFile();
    }
    this.#figures.write_errors_total++;
    const reason = errorMessage(error);
    this.#failure = `Cannot ${what} "${this.path}": ${reason}`;
    const text =
      "Cannot {what} {path}: {error}; opening it again at the next attempt";
    const values = { what, path: this.path, error: reason };
    if (this.#failures++ === 0) this.#log().warn(text, values);
    else this.#log().debug(text, values);
    return what === "open"
      ? openError(this.path, error)
      : new Error(this.#failure, { cause: error });
  }

  /**
   * Truncates the file back to its size before a failed write of
   * `attempted` bytes, when the bytes past it can only be from that write.
   */
  #cutBack(file: Deno.FsFile, attempted: number): void {
    if (!this.#regular) return;
    try {
      const extra = file.statSync().size - this.#size;
      if (extra > 0 && extra <= attempted) file.truncateSync(this.#size);
    } catch {
      // The torn line stays; the retry writes the whole line after it.
    }
  }
}

/**
 * The base of the actors that write a {@link RotatingFile} (`file_out`,
 * `log_file`): it opens the file at setup (failing the start, naming the
 * file, when it cannot), closes it at teardown, adds its counters to the
 * actor's figures, says the actor is not ready while writes fail, and
 * {@link reopen}s it on request (SIGHUP under `compysition run`, see
 * `reopenFiles`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Event } from "../core/event.ts";
 * import { RotatingFileActor } from "./rotating_file.ts";
 *
 * class Lines extends RotatingFileActor {
 *   readonly kind = "output";
 *   override async consume(event: Event): Promise<void> {
 *     await this.file.open();
 *     this.file.writeSync(new TextEncoder().encode(`${event.data}\n`));
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * const lines = new Lines("lines", {}, {
 *   path: `${dir}/out.log`,
 *   maxBytes: Infinity,
 *   maxFiles: 0,
 *   checkMs: 1000,
 * });
 * await lines.setup();
 * await lines.consume({ header: {}, data: "one" });
 * lines.teardown();
 * assert.equal(await Deno.readTextFile(`${dir}/out.log`), "one\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export abstract class RotatingFileActor extends Actor {
  /** The file the actor writes. */
  protected readonly file: RotatingFile;

  /** Makes the actor (with an `error` queue) and its file, not opened yet. */
  constructor(
    name: string,
    settings: ActorSettings,
    options: RotatingFileOptions,
  ) {
    super(name, settings, { outbound: ["error"] });
    this.file = new RotatingFile(options, () => this.log);
  }

  override figures(): ActorFigures & RotatingFileFigures {
    return { ...super.figures(), ...this.file.figures() };
  }

  /** Not ready while writes to the file fail, saying why. */
  override health(): { ready: boolean; reason?: string } {
    const failure = this.file.failure;
    return failure === undefined
      ? { ready: true }
      : { ready: false, reason: failure };
  }

  override async setup(): Promise<void> {
    await this.file.start();
  }

  /**
   * Closes the file and opens the path again before the next write: after
   * an outside rotation (logrotate's `postrotate`), on SIGHUP under
   * `compysition run` (see `reopenFiles`).
   */
  reopen(): void {
    this.file.reopen();
  }

  override teardown(): void {
    this.file.close();
  }
}

function openError(path: string, error: unknown): Error {
  return new Error(
    `Cannot open "${path}" for appending: ${errorMessage(error)}`,
    { cause: error },
  );
}

function renameIfPresent(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
