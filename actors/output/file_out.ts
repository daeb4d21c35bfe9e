/**
 * `file_out`: an output that appends one line per event to a file, rotating it
 * by size and keeping a fixed number of old files.
 *
 * @module
 */

import { z } from "zod";
import type { ActorSettings, Context, RetryOptions } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { ByteBuilder, toJson } from "../payload.ts";
import { checkIntervalOption, RotatingFileActor } from "../rotating_file.ts";

/** Options of the `file_out` actor. */
export const FileOutOptions = z.strictObject({
  path: z.string().min(1).describe(
    "The file to append to; made when missing (its directory must exist).",
  ),
  format: z.enum(["lines", "ndjson"]).default("lines").describe(
    'How each event becomes a line: "lines" writes string data as it is (a string holding "\\n" makes several lines), bytes as they are and other data as JSON; "ndjson" writes the data as JSON, strings included, so that each event is exactly one line.',
  ),
  max_bytes: z.number().int().min(1).optional().describe(
    "Rotate the file before a line would make it larger than this many bytes (a longer line gets a file of its own); without it, the file is never rotated.",
  ),
  max_files: z.number().int().min(0).default(5).describe(
    'Rotated files to keep: "<path>.1" (the newest) to "<path>.<max_files>"; older ones are deleted. 0 keeps none: the file is emptied instead.',
  ),
  check_interval: checkIntervalOption,
  fsync: z.boolean().default(false).describe(
    "Flush each batch to the disk (fdatasync) before it counts as written.",
  ),
});

/** Parsed options of the `file_out` actor. */
export type FileOutOptions = z.infer<typeof FileOutOptions>;

/**
 * Appends one line per event to `path`. Each batch of the inbox is written
 * with one write (two when it is split by a rotation), and the batch counts as
 * consumed only once that write resolved (and, with `fsync`, reached the
 * disk): an event is never confirmed before it is in the file.
 *
 * With `max_bytes`, the file is rotated before a line would make it larger
 * than `max_bytes`: `<path>.<max_files - 1>` becomes `<path>.<max_files>`
 * (replacing it), …, `<path>.1` becomes `<path>.2`, `<path>` becomes
 * `<path>.1`, and a new, empty `<path>` is opened. Files hold whole lines
 * only, whatever the batches were. A rotation that fails (a read-only
 * directory) is logged and tried again a second later; meanwhile lines go on
 * to the current file, past `max_bytes`, rather than being refused.
 *
 * Rotated by another program: every `check_interval` seconds, at a write,
 * the actor checks that `path` still names the file it has open. A file
 * moved or removed under it (logrotate's default `create` mode, or a plain
 * `rm`) is followed by a new file at `path`; a file truncated under it
 * (logrotate's `copytruncate`) is written at its new end. Lines written
 * between the move and the check go to the moved (or removed) file. After
 * logrotate, `kill -HUP` the `compysition run` process (or call
 * {@link FileOut.reopen}) to open `path` again at once.
 *
 * A write that fails (a full disk, a removed directory, an I/O error) fails
 * the events not yet in the file, never counting them as delivered; the file
 * is closed, cut back to the last whole line written, and opened again at the
 * next attempt. The failed events are retried as the actor's `retry` setting
 * says, by default as {@link FILE_OUT_RETRY} says (5 retries within 6.2 s);
 * after the last one they go to the `error` queue. Meanwhile `health()` says
 * the actor is not ready, and why (the admin server's `/ready`). Events that
 * reached the file before a failed `fsync` may be written twice.
 *
 * A regular file is written synchronously, which costs far less than a write
 * handed to a background thread, and a page-cache write takes microseconds.
 * When one such write takes longer than 10 ms (a disk that cannot keep up),
 * the actor writes in the background for 30 s, so that a slow disk holds up
 * this actor only, not the other actors of the process. Anything else (a named pipe, a
 * terminal) is always written in the background, since a write to it may wait
 * for its reader.
 *
 * Data that cannot be written as JSON (a BigInt, a cycle) sends its event to
 * the `error` queue at once, without retries; the rest of its batch is still
 * written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { fileOut } from "./file_out.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3, data: "line {{seq}}" });
 * router.register(fileOut, "file", { path: `${dir}/events.log` });
 * router.connect("input.outbox", "file.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * assert.equal(await Deno.readTextFile(`${dir}/events.log`), "line 1\nline 2\nline 3\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const fileOut: ActorSpec<FileOutOptions> = {
  type: "file_out",
  kind: "output",
  summary:
    "Appends one line per event to a file, rotating it by size and following logrotate.",
  options: FileOutOptions,
  example: {
    path: "events.ndjson",
    format: "ndjson",
    max_bytes: 10_485_760,
    max_files: 5,
  },
  create: (name, options, settings) => new FileOut(name, options, settings),
};

const NEWLINE = 10;

/**
 * The most characters of a batch's lines gathered in one string before
 * they are encoded: a batch of 512 lines of 1 MiB would go past V8's
 * longest string (about 512 Mi characters).
 */
const MAX_PENDING_CHARS = 1 << 20;

/**
 * A synchronous write that takes longer than this many milliseconds moves
 * `file_out` to background writes (see {@link FileOut}).
 */
const SLOW_WRITE_MS = 10;

/** How long `file_out` writes in the background after a slow write, in ms. */
const BACKGROUND_AFTER_SLOW_MS = 30_000;

/**
 * The retries of a `file_out` with no `retry` setting: 5, after 0.2, 0.4,
 * 0.8, 1.6 and 3.2 s (6.2 s in all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FILE_OUT_RETRY } from "./file_out.ts";
 * assert.equal(FILE_OUT_RETRY.max, 5);
 * ```
 */
export const FILE_OUT_RETRY: Readonly<RetryOptions> = Object.freeze({
  max: 5,
  backoffMs: 200,
});

/**
 * The `file_out` output actor.
 *
 * A batch is encoded into one reused buffer (no copy per line), remembering
 * where each line ends, so that a rotation can split the batch between two
 * lines.
 */
export class FileOut extends RotatingFileActor {
  readonly kind = "output";
  #raw: boolean;
  #rotating: boolean;
  #fsync: boolean;
  /** `performance.now()` from which writes may be synchronous again. */
  #syncFrom = 0;
  #bytes = new ByteBuilder();
  #ends: number[] = [];

  /**
   * Makes a file output; see {@link FileOutOptions}. Without a `retry`
   * setting, it retries as {@link FILE_OUT_RETRY} says.
   */
  constructor(
    name: string,
    options: Partial<FileOutOptions> & Pick<FileOutOptions, "path">,
    settings: ActorSettings = {},
  ) {
    const parsed = FileOutOptions.parse(options);
    super(
      name,
      settings.retry === undefined
        ? { ...settings, retry: FILE_OUT_RETRY }
        : settings,
      {
        path: parsed.path,
        maxBytes: parsed.max_bytes ?? Infinity,
        maxFiles: parsed.max_files,
        checkMs: parsed.check_interval * 1000,
      },
    );
    this.#raw = parsed.format === "lines";
    this.#rotating = parsed.max_bytes !== undefined;
    this.#fsync = parsed.fsync;
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const unencodable = this.#encode(events);
    if (unencodable !== undefined) {
      for (const [event, error] of unencodable) {
        // For good, without retries: it would fail the same way again.
        const waiting = context.hold(event).fail(error);
        if (waiting !== undefined) await waiting;
      }
    }
    const file = this.file;
    const ends = this.#ends;
    // The events before `written` are in the file (per line when rotating,
    // else the batch is one write).
    let written = 0;
    try {
      await file.open();
      let start = 0;
      let previous = 0;
      for (let i = 0; i < ends.length; i++) {
        const end = ends[i]!;
        if (end > previous && file.due(previous - start, end - previous)) {
          if (previous > start) await this.#write(start, previous);
          if (this.#fsync) await file.syncData();
          written = i;
          file.rotate();
          start = previous;
        }
        previous = end;
      }
      if (previous > start) await this.#write(start, previous);
      if (this.#fsync) await file.syncData();
    } catch (error) {
      for (let i = written; i < events.length; i++) {
        const event = events[i]!;
        if (unencodable?.has(event) !== true) context.fail(event, error);
      }
    }
  }

  /**
   * Encodes `events` into the byte builder, one line each, and records in
   * `#ends` where lines end: each line (an event that failed ends where it
   * starts) when rotating, else only the end of the batch, whose text is then
   * encoded in one go. Returns the events that failed with their errors.
   */
  #encode(events: Event[]): Map<Event, unknown> | undefined {
    const bytes = this.#bytes;
    const ends = this.#ends;
    const rotating = this.#rotating;
    bytes.clear();
    ends.length = 0;
    let failed: Map<Event, unknown> | undefined;
    let pending = "";
    for (let i = 0; i < events.length; i++) {
      const data = events[i]!.data;
      if (this.#raw && data instanceof Uint8Array) {
        if (pending !== "") bytes.addText(pending);
        pending = "";
        bytes.addBytes(data);
        bytes.addByte(NEWLINE);
        if (rotating) ends.push(bytes.length);
        continue;
      }
      let text: string;
      try {
        text = this.#raw && typeof data === "string" ? data : toJson(data);
      } catch (error) {
        (failed ??= new Map()).set(events[i]!, error);
        if (rotating) ends.push(bytes.length);
        continue;
      }
      if (rotating) {
        bytes.addText(text);
        bytes.addByte(NEWLINE);
        ends.push(bytes.length);
      } else {
        pending += text + "\n";
        if (pending.length > MAX_PENDING_CHARS) {
          bytes.addText(pending);
          pending = "";
        }
      }
    }
    if (pending !== "") bytes.addText(pending);
    if (!rotating) ends.push(bytes.length);
    return failed;
  }

  /** Writes bytes `start` to `end` of the buffer, all of them. */
  async #write(start: number, end: number): Promise<void> {
    const file = this.file;
    const chunk = this.#bytes.bytes(start, end);
    if (!file.regular || performance.now() < this.#syncFrom) {
      await file.write(chunk);
      return;
    }
    const began = performance.now();
    file.writeSync(chunk);
    const took = performance.now() - began;
    if (took > SLOW_WRITE_MS) {
      this.#syncFrom = began + took + BACKGROUND_AFTER_SLOW_MS;
      this.log.info(
        "A write to {path} took {ms} ms: writing in the background for {seconds} s",
        {
          path: file.path,
          ms: Math.round(took),
          seconds: BACKGROUND_AFTER_SLOW_MS / 1000,
        },
      );
    }
  }
}
