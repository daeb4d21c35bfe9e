/**
 * `file_in`: reads a file once, or follows it like `tail -F` across rotation
 * and truncation, making one event per line, JSON value, document or chunk.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, sleep } from "../../core/actor.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  DEFAULT_MAX_LINE_BYTES,
  InputSink,
  READ_BUFFER_BYTES,
  StreamDecoder,
} from "./codec.ts";
import { RepeatedLog } from "./repeated_log.ts";

/** Options of the `file_in` actor. */
export const FileInOptions = z.strictObject({
  path: z.string().min(1).describe("The file to read."),
  follow: z.boolean().default(false).describe(
    "false: read the file once, then finish. true: keep reading what is appended, like `tail -F`: a file renamed and recreated is followed from the start of the new file, a truncated file from its start, a missing file is waited for.",
  ),
  start_at: z.enum(["beginning", "end"]).default("beginning").describe(
    'Where to start in the file found at start: "beginning" or "end" (only what is appended afterwards). Files that appear later are always read from their beginning.',
  ),
  poll_interval: z.number().positive().default(0.25).describe(
    "Seconds between two checks for new data, rotation and truncation when following.",
  ),
  codec: CodecSchema.default("lines").describe(
    'How to decode the file: "lines" (one string per line), "ndjson" (one JSON value per line), "syslog" (one syslog record per line), "json" (the whole file is one JSON document; not with follow) or "raw" (one Uint8Array per chunk read, up to 64 KiB).',
  ),
  max_line_bytes: z.number().int().min(1).default(DEFAULT_MAX_LINE_BYTES)
    .describe(
      'Longest line (or "json" document) in bytes; a longer one becomes an event on the "error" queue and reading goes on after it.',
    ),
}).refine((options) => !(options.follow && options.codec === "json"), {
  message:
    'codec "json" reads the whole file as one document and cannot be used with follow: true',
  path: ["codec"],
});

/** Parsed options of the `file_in` actor. */
export type FileInOptions = z.infer<typeof FileInOptions>;

/**
 * Reads `path` and makes `{ header: { <name>: { path, line } }, data }` per
 * line or value (`line` counts from where reading started in the current
 * file, for the `lines` and `ndjson` codecs only).
 *
 * Without `follow` the file must exist when the pipeline starts; it is read
 * to its end and the input finishes (the pipeline then drains). With
 * `follow`, the input polls every `poll_interval` seconds until the router
 * stops: appended data is read; when the path names another file (renamed
 * and recreated) the old file is read to its end, its unfinished last line
 * counts, and the new file is read from its start; when the file shrinks
 * (truncated) reading starts again from 0, forgetting an unfinished line.
 *
 * A line that is too long or not JSON becomes an event on the `error` queue
 * whose `data` is the line (or its beginning) and whose `header.error` says
 * why; reading goes on after it. Without an `error` queue it is logged
 * instead, at most once a second with a count.
 *
 * Back-pressure: decoding stops in the middle of a 64 KiB read as soon as an
 * event must wait for room downstream, and nothing more is read until it
 * goes on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { fileIn } from "./file_in.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/in.ndjson`, '{"n":1}\n{"n":2}\n');
 * const router = new Router();
 * router.register(fileIn, "input", { path: `${dir}/in.ndjson`, codec: "ndjson" });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const fileIn: ActorSpec<FileInOptions> = {
  type: "file_in",
  kind: "input",
  summary:
    "Reads a file once, or follows it like tail -F across rotation and truncation.",
  options: FileInOptions,
  example: { path: "/var/log/app.ndjson", follow: true, codec: "ndjson" },
  create: (name, options, settings) => new FileIn(name, options, settings),
};

/** The `file_in` input actor. */
export class FileIn extends Actor {
  readonly kind = "input";
  #options: FileInOptions;
  #sink: InputSink;
  #decoder: StreamDecoder;
  #skipped: RepeatedLog<string>;
  #buffer = new Uint8Array(READ_BUFFER_BYTES);
  #file: Deno.FsFile | undefined;
  #position = 0;

  /** Makes a file input; see {@link FileInOptions}. */
  constructor(
    name: string,
    options: z.input<typeof FileInOptions>,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    const parsed = FileInOptions.parse(options);
    this.#options = parsed;
    this.#skipped = new RepeatedLog((count, message) =>
      this.log.warn(
        "Skipped {count} unreadable message(s) in {path}, the last: {message}",
        { count, path: parsed.path, message },
      )
    );
    this.#sink = new InputSink(
      this,
      (line) => this.#source(line),
      (failure) => this.#skipped.note(failure.message),
    );
    this.#decoder = new StreamDecoder(
      parsed.codec,
      parsed.max_line_bytes,
      this.#sink,
    );
  }

  /** Opens the file; without `follow` a missing file fails the start. */
  override async setup(): Promise<void> {
    const { path, follow, start_at } = this.#options;
    try {
      this.#file = await Deno.open(path, { read: true });
    } catch (error) {
      if (!follow || !(error instanceof Deno.errors.NotFound)) throw error;
      this.log.info("File {path} does not exist yet; waiting for it", {
        path,
      });
      return;
    }
    if (start_at === "end") {
      this.#position = await this.#file.seek(0, Deno.SeekMode.End);
    }
  }

  override async produce(signal: AbortSignal): Promise<void> {
    if (!this.#options.follow) {
      if (this.#file !== undefined) await this.#readToEnd(signal);
      if (!signal.aborted) {
        this.#decoder.end();
        await this.#sink.takeWaiting();
      }
      this.#close();
      return;
    }
    const interval = this.#options.poll_interval * 1000;
    while (!signal.aborted) {
      if (this.#file !== undefined) await this.#readToEnd(signal);
      if (signal.aborted) break;
      if (await this.#checkFile(signal)) continue;
      if (!await sleep(interval, signal)) break;
    }
    this.#close();
  }

  override teardown(): void {
    this.#close();
  }

  /**
   * After reaching the end of the file: handles truncation, rotation and a
   * file that appeared. Returns `true` when there may be more to read now.
   */
  async #checkFile(signal: AbortSignal): Promise<boolean> {
    const path = this.#options.path;
    let current: Deno.FileInfo | undefined;
    try {
      current = await Deno.stat(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const file = this.#file;
    if (file === undefined) {
      if (current === undefined) return false;
      await this.#open();
      return true;
    }
    const own = await file.stat();
    if (own.size < this.#position) {
      this.log.info("File {path} was truncated; reading it from its start", {
        path,
      });
      this.#position = await file.seek(0, Deno.SeekMode.Start);
      this.#decoder.reset();
      return true;
    }
    const replaced = current === undefined ||
      (current.ino !== null && own.ino !== null &&
        (current.ino !== own.ino || current.dev !== own.dev));
    if (!replaced) return false;
    await this.#readToEnd(signal);
    if (signal.aborted) return false;
    this.#decoder.end();
    await this.#sink.takeWaiting();
    this.#decoder.reset();
    this.#close();
    if (current === undefined) {
      this.log.info("File {path} was removed; waiting for it to reappear", {
        path,
      });
      return false;
    }
    this.log.info("File {path} was replaced; reading the new file", { path });
    await this.#open();
    return true;
  }

  async #open(): Promise<void> {
    try {
      this.#file = await Deno.open(this.#options.path, { read: true });
      this.#position = 0;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #readToEnd(signal: AbortSignal): Promise<void> {
    const file = this.#file!;
    const buffer = this.#buffer;
    while (!signal.aborted) {
      const read = await file.read(buffer);
      if (read === null || read === 0) return;
      this.#position += read;
      await this.#sink.decode(this.#decoder, buffer.subarray(0, read));
    }
  }

  #close(): void {
    this.#file?.close();
    this.#file = undefined;
    this.#skipped.flush();
  }

  #source(line: number): Record<string, unknown> {
    return line > 0
      ? { path: this.#options.path, line }
      : { path: this.#options.path };
  }
}
