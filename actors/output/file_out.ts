/**
 * `file_out`: an output that appends one line per event to a file, rotating it
 * by size and keeping a fixed number of old files.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  errorMessage,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { ByteBuilder, toJson, writeAll, writeAllSync } from "../payload.ts";

/** Options of the `file_out` actor. */
export const FileOutOptions = z.strictObject({
  path: z.string().min(1).describe(
    "The file to append to; made when missing (its directory must exist).",
  ),
  format: z.enum(["lines", "ndjson"]).default("lines").describe(
    'How each event becomes a line: "lines" writes string data as it is, bytes as they are and other data as JSON; "ndjson" writes the data as JSON, strings included.',
  ),
  max_bytes: z.number().int().min(1).optional().describe(
    "Rotate the file before a line would make it larger than this many bytes (a longer line gets a file of its own); without it, the file is never rotated.",
  ),
  max_files: z.number().int().min(0).default(5).describe(
    'Rotated files to keep: "<path>.1" (the newest) to "<path>.<max_files>"; older ones are deleted. 0 keeps none.',
  ),
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
 * only, whatever the batches were.
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
 * the `error` queue; the rest of its batch is still written. A failed write
 * (a full disk) fails the whole batch, some of which may already be in the
 * file: a retry of those events may write them twice.
 *
 * @example
 * ```ts
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
 * await Deno.readTextFile(`${dir}/events.log`); // "line 1\nline 2\nline 3\n"
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const fileOut: ActorSpec<FileOutOptions> = {
  type: "file_out",
  kind: "output",
  summary: "Appends one line per event to a file, rotating it by size.",
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
 * A synchronous write that takes longer than this many milliseconds moves
 * `file_out` to background writes (see {@link FileOut}).
 */
const SLOW_WRITE_MS = 10;

/** How long `file_out` writes in the background after a slow write, in ms. */
const BACKGROUND_AFTER_SLOW_MS = 30_000;

/**
 * The `file_out` output actor.
 *
 * A batch is encoded into one reused buffer (no copy per line), remembering
 * where each line ends, so that a rotation can split the batch between two
 * lines.
 */
export class FileOut extends Actor {
  readonly kind = "output";
  #path: string;
  #raw: boolean;
  #maxBytes: number;
  #maxFiles: number;
  #fsync: boolean;
  #file: Deno.FsFile | undefined;
  /** Whether `#file` is a regular file, which may be written synchronously. */
  #regular = false;
  /** `performance.now()` from which writes may be synchronous again. */
  #syncFrom = 0;
  #size = 0;
  #bytes = new ByteBuilder();
  #ends: number[] = [];

  /** Makes a file output; see {@link FileOutOptions}. */
  constructor(
    name: string,
    options: Partial<FileOutOptions> & Pick<FileOutOptions, "path">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = FileOutOptions.parse(options);
    this.#path = parsed.path;
    this.#raw = parsed.format === "lines";
    this.#maxBytes = parsed.max_bytes ?? Infinity;
    this.#maxFiles = parsed.max_files;
    this.#fsync = parsed.fsync;
  }

  override async setup(): Promise<void> {
    await this.#open();
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const failed = this.#encode(events);
    const ends = this.#ends;
    let start = 0;
    let previous = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      const filled = this.#size + previous - start;
      if (filled > 0 && filled + end - previous > this.#maxBytes) {
        if (previous > start) await this.#write(start, previous);
        await this.#rotate();
        start = previous;
      }
      previous = end;
    }
    if (previous > start) await this.#write(start, previous);
    if (this.#fsync) await this.#file!.syncData();
    for (const [event, error] of failed ?? []) context.fail(event, error);
  }

  override teardown(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /**
   * Encodes `events` into the byte builder, one line each, and records in
   * `#ends` where lines end: each line (an event that failed ends where it
   * starts) when rotating, else only the end of the batch, whose text is then
   * encoded in one go. Returns the events that failed with their errors.
   */
  #encode(events: Event[]): [Event, unknown][] | undefined {
    const bytes = this.#bytes;
    const ends = this.#ends;
    const rotating = this.#maxBytes !== Infinity;
    bytes.clear();
    ends.length = 0;
    let failed: [Event, unknown][] | undefined;
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
        (failed ??= []).push([events[i]!, error]);
        if (rotating) ends.push(bytes.length);
        continue;
      }
      if (rotating) {
        bytes.addText(text);
        bytes.addByte(NEWLINE);
        ends.push(bytes.length);
      } else {
        pending += text + "\n";
      }
    }
    if (pending !== "") bytes.addText(pending);
    if (!rotating) ends.push(bytes.length);
    return failed;
  }

  /** Writes bytes `start` to `end` of the buffer, all of them. */
  async #write(start: number, end: number): Promise<void> {
    const file = this.#file;
    if (file === undefined) {
      throw new TypeError(
        `Actor "${this.name}" has no open file "${this.#path}"`,
      );
    }
    const chunk = this.#bytes.bytes(start, end);
    if (this.#regular && performance.now() >= this.#syncFrom) {
      const began = performance.now();
      writeAllSync(file, chunk);
      const took = performance.now() - began;
      if (took > SLOW_WRITE_MS) {
        this.#syncFrom = began + took + BACKGROUND_AFTER_SLOW_MS;
        this.log.info(
          "A write to {path} took {ms} ms: writing in the background for {seconds} s",
          {
            path: this.#path,
            ms: Math.round(took),
            seconds: BACKGROUND_AFTER_SLOW_MS / 1000,
          },
        );
      }
    } else {
      await writeAll(file, chunk);
    }
    this.#size += end - start;
  }

  async #open(): Promise<void> {
    try {
      this.#file = await Deno.open(this.#path, { append: true, create: true });
      const stat = await this.#file.stat();
      this.#size = stat.size;
      this.#regular = stat.isFile;
    } catch (error) {
      this.#file?.close();
      this.#file = undefined;
      throw new Error(
        `Cannot open "${this.#path}" for appending: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  /** Closes the file, shifts the old files by one and opens a new file. */
  async #rotate(): Promise<void> {
    const file = this.#file!;
    if (this.#fsync) await file.syncData();
    file.close();
    this.#file = undefined;
    const path = this.#path;
    if (this.#maxFiles === 0) {
      await removeIfPresent(path);
    } else {
      for (let i = this.#maxFiles - 1; i >= 1; i--) {
        await renameIfPresent(`${path}.${i}`, `${path}.${i + 1}`);
      }
      await renameIfPresent(path, `${path}.1`);
    }
    this.log.debug("Rotated {path}", { path });
    await this.#open();
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
