/**
 * `log_file`: writes log events to a file that is rotated when it grows past
 * a size.
 *
 * @module
 */

import { z } from "zod";
import type { ActorSettings, Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { ByteBuilder } from "../payload.ts";
import { checkIntervalOption, RotatingFileActor } from "../rotating_file.ts";
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
  check_interval: checkIntervalOption,
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
 * order.
 *
 * Like `file_out`, it survives a bad disk day: a rotation that fails is tried
 * again a second later (lines go on to the current file meanwhile); a file
 * moved, removed or truncated under it (logrotate) is noticed within
 * `check_interval` seconds and followed; {@link LogFile.reopen} (SIGHUP under
 * `compysition run`) opens the path again; and a write that fails sends the
 * events not written to `error` (or counts them as failed), then the file
 * (and its folder) is made again at the next batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { createActor } from "../../core/registry.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { logFile } from "./log_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const router = new Router({ logLevel: "debug" });
 * router.registerLogActor(
 *   createActor(logFile, "log", { path: `${dir}/pipeline.log`, format: "json" }),
 * );
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * const records = (await Deno.readTextFile(`${dir}/pipeline.log`)).trim().split("\n");
 * assert.equal(JSON.parse(records[0]!).message, "Started 3 actors");
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

const NEWLINE = 10;

/**
 * The `log_file` log actor.
 *
 * A batch is encoded into one reused buffer (no copy per line); a rotation
 * splits it between two lines.
 */
export class LogFile extends RotatingFileActor {
  readonly kind = "log";
  #line: (event: Event) => string;
  #bytes = new ByteBuilder();

  /** Makes a rotating log file writer; see {@link LogFileOptions}. */
  constructor(
    name: string,
    options: Partial<LogFileOptions> & Pick<LogFileOptions, "path">,
    settings: ActorSettings = {},
  ) {
    const parsed = LogFileOptions.parse(options);
    super(name, settings, {
      path: parsed.path,
      maxBytes: parsed.max_bytes,
      maxFiles: parsed.max_files,
      checkMs: parsed.check_interval * 1000,
      makeDirectory: true,
    });
    this.#line = parsed.format === "json" ? toJsonLine : humanLine;
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const file = this.file;
    const bytes = this.#bytes;
    bytes.clear();
    // Bytes `start` to `lineStart` are the lines not written yet; the events
    // before `written` are in the file.
    let start = 0;
    let written = 0;
    try {
      await file.open();
      for (let i = 0; i < events.length; i++) {
        const lineStart = bytes.length;
        bytes.addText(this.#line(events[i]!));
        bytes.addByte(NEWLINE);
        if (file.due(lineStart - start, bytes.length - lineStart)) {
          if (lineStart > start) file.writeSync(bytes.bytes(start, lineStart));
          written = i;
          start = lineStart;
          file.rotate();
        }
      }
      file.writeSync(bytes.bytes(start));
    } catch (error) {
      for (let i = written; i < events.length; i++) {
        context.fail(events[i]!, error);
      }
    }
  }
}
