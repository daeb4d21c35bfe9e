/**
 * `log_json`: writes each log event as one JSON object per line (ndjson) on
 * stderr.
 *
 * @module
 */

import { z } from "zod";
import { type ActorSettings, preview } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { isLogEvent, LineLogActor, type SyncWriter } from "./log_lines.ts";

/** Options of the `log_json` actor: none. */
export const LogJsonOptions = z.strictObject({});

/** Parsed options of the `log_json` actor. */
export type LogJsonOptions = z.infer<typeof LogJsonOptions>;

/**
 * Writes one JSON object per line on stderr for each log event:
 * `{"time", "level", "actor", "message", "properties"?}`. Other events are
 * written whole (`{"header", "data"}`). Values JSON cannot hold are written
 * as text: a BigInt as its digits, an Error as its name and message, a value
 * with a cycle in its printable form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { LogJson } from "./log_json.ts";
 *
 * let written = "";
 * const stderr = {
 *   writeSync: (bytes: Uint8Array) => (written += new TextDecoder().decode(bytes), bytes.length),
 * };
 * const router = new Router({ logLevel: "debug" });
 * router.registerLogActor(new LogJson("log", {}, stderr)); // createActor(logJson, "log") writes to Deno.stderr
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * assert.match(written, /"level":"debug","actor":"router","message":"Started 3 actors"/);
 * ```
 */
export const logJson: ActorSpec<LogJsonOptions> = {
  type: "log_json",
  kind: "log",
  summary: "Writes each log event as one line of JSON (ndjson) on stderr.",
  options: LogJsonOptions,
  example: {},
  create: (name, _options, settings) => new LogJson(name, settings),
};

/** The `log_json` log actor. */
export class LogJson extends LineLogActor {
  /**
   * Makes a log actor writing ndjson to `target` (default `Deno.stderr`),
   * synchronously, in order with the lines the router writes itself.
   */
  constructor(
    name: string,
    settings: ActorSettings = {},
    target: SyncWriter = Deno.stderr,
  ) {
    super(name, settings, target, toJsonLine);
  }
}

/**
 * One log event (or any event) as one line of JSON, without the newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toJsonLine } from "./log_json.ts";
 * const line = toJsonLine({
 *   header: { log: { time: "2026-01-01T00:00:00.000Z", level: "info", actor: "a" } },
 *   data: "started",
 * });
 * assert.equal(line, '{"time":"2026-01-01T00:00:00.000Z","level":"info","actor":"a","message":"started"}');
 * ```
 */
export function toJsonLine(event: Event): string {
  let record: Record<string, unknown>;
  if (isLogEvent(event)) {
    const { time, level, actor, properties } = event.header.log;
    record = { time, level, actor, message: event.data };
    if (properties !== undefined) record.properties = properties;
  } else {
    record = { header: event.header, data: event.data };
  }
  try {
    return JSON.stringify(record, replacer);
  } catch {
    return JSON.stringify(
      isLogEvent(event)
        ? {
          ...record,
          message: typeof event.data === "string"
            ? event.data
            : preview(event.data),
          properties: preview(record.properties),
        }
        : { event: preview(event) },
    );
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  return value;
}
