/**
 * `log_file`: writes log events to a file that is rotated when it grows past
 * a size.
 *
 * @module
 */

import { dirname } from "node:path";
import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { ByteBuilder, writeAllSync } from "../payload.ts";
import { humanLine } from "./log_human.ts";
import { toJsonLine } from "./log_json.ts";

/** Options of the `log_file` actor. */
export const LogFileOptions = z.strictObject({
  path: z.string().min(1).describe(
    "The file to write to; it is created (with its folder) when missing and appended to when it exists.",
  ),
  format: z.enum(["human", "json"]).default("human").describe(
    'How each log event is written: "human" as a readable line (TIME LEVEL [actor] message), "json" as one JSON object per line (ndjson).',
  ),
  max_bytes: z.number().int().min(1).default(10_485_760).describe(
    "Rotate the file before a line would take it past this many bytes (a single longer line is still written whole).",
  ),
  max_files: z.number().int().min(0).default(5).describe(
    'Rotated files kept besides the current one, as "PATH.1" (newest) to "PATH.N"; 0 empties the file instead of keeping any.',
  ),
});

/** Parsed options of the `log_file` actor. */
export type LogFileOptions = z.infer<typeof LogFileOptions>;

/**
 * Appends one line per log event to `path`, readable or JSON as `format`
 * says (other events are written as `log_human` or `log_json` would). Before
 * a line would take the file past `max_bytes`, the file is rotated: `PATH.1`
 * becomes `PATH.2` and so on up to `max_files`, the oldest is removed, the
 * file becomes `PATH.1` and a new one is started. The lines of one batch are
 * written with one write per file, synchronously, so that they keep their
 * order. A write that fails sends the batch's events to `error`.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { createActor } from "../../core/registry.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { logFile } from "./log_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const router = new Router();
 * router.registerLogActor(
 *   createActor(logFile, "log", { path: `${dir}/pipeline.log`, format: "json" }),
 * );
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop(); // the router's log records are in pipeline.log
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const logFile: ActorSpec<LogFileOptions> = {
  type: "log_file",
  kind: "log",
  summary: "Writes log events to a file rotated by size, as lines or ndjson.",
  options: LogFileOptions,
  example: {
    path: "logs/pipeline.log",
    format: "json",
    max_bytes: 10_485_760,
    max_files: 5,
  },
  create: (name, options, settings) => new LogFile(name, options, settings),
};

/** The figures of a `log_file` actor. */
export interface LogFileFigures extends ActorFigures {
  /** Times the file was rotated. */
  rotations_total: number;
}

const NEWLINE = 10;

/**
 * The `log_file` log actor.
 *
 * A batch is encoded into one reused buffer (no copy per line); a rotation
 * splits it between two lines.
 */
export class LogFile extends Actor {
  readonly kind = "log";
  #path: string;
  #line: (event: Event) => string;
  #maxBytes: number;
  #maxFiles: number;
  #file: Deno.FsFile | undefined;
  #size = 0;
  #rotations = 0;
  #bytes = new ByteBuilder();

  /** Makes a rotating log file writer; see {@link LogFileOptions}. */
  constructor(
    name: string,
    options: Partial<LogFileOptions> & Pick<LogFileOptions, "path">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = LogFileOptions.parse(options);
    this.#path = parsed.path;
    this.#line = parsed.format === "json" ? toJsonLine : humanLine;
    this.#maxBytes = parsed.max_bytes;
    this.#maxFiles = parsed.max_files;
  }

  override figures(): LogFileFigures {
    return { ...super.figures(), rotations_total: this.#rotations };
  }

  override setup(): void {
    Deno.mkdirSync(dirname(this.#path), { recursive: true });
    this.#open(false);
  }

  override consumeBatch(events: Event[]): void {
    const bytes = this.#bytes;
    bytes.clear();
    // Bytes `start` to `lineStart` are the lines not written yet.
    let start = 0;
    for (const event of events) {
      const lineStart = bytes.length;
      bytes.addText(this.#line(event));
      bytes.addByte(NEWLINE);
      const pending = this.#size + lineStart - start;
      if (pending > 0 && pending + bytes.length - lineStart > this.#maxBytes) {
        this.#write(start, lineStart);
        start = lineStart;
        this.#rotate();
      }
    }
    this.#write(start, bytes.length);
  }

  override teardown(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Writes bytes `start` to `end` of the buffer, all of them. */
  #write(start: number, end: number): void {
    if (end === start) return;
    const file = this.#file;
    if (file === undefined) {
      throw new Error(`The log file "${this.#path}" is not open`);
    }
    writeAllSync(file, this.#bytes.bytes(start, end));
    this.#size += end - start;
  }

  #open(truncate: boolean): void {
    this.#file = Deno.openSync(this.#path, {
      create: true,
      ...(truncate ? { write: true, truncate: true } : { append: true }),
    });
    this.#size = truncate ? 0 : this.#file.statSync().size;
  }

  /** Shifts the rotated files by one and starts a new file. */
  #rotate(): void {
    this.#file?.close();
    this.#file = undefined;
    try {
      if (this.#maxFiles === 0) {
        this.#open(true);
      } else {
        removeIfExists(`${this.#path}.${this.#maxFiles}`);
        for (let i = this.#maxFiles - 1; i >= 1; i--) {
          renameIfExists(`${this.#path}.${i}`, `${this.#path}.${i + 1}`);
        }
        Deno.renameSync(this.#path, `${this.#path}.1`);
        this.#open(false);
      }
      this.#rotations++;
    } finally {
      // A rotation that failed part way goes on writing to the file.
      if (this.#file === undefined) this.#open(false);
    }
  }
}

function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function renameIfExists(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
