/**
 * `log_level_filter`: passes on the log events at or above a level.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import { quoteList } from "../../core/errors.ts";
import type { Event } from "../../core/event.ts";
import { atLeast, LOG_LEVELS, type LogLevel } from "../../core/log.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { isLogEvent } from "./log_lines.ts";

/** Options of the `log_level_filter` actor. */
export const LogLevelFilterOptions = z.strictObject({
  level: z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]).default("warning")
    .describe(
      `The lowest level passed on: one of ${quoteList(LOG_LEVELS)}.`,
    ),
});

/** Parsed options of the `log_level_filter` actor. */
export type LogLevelFilterOptions = z.infer<typeof LogLevelFilterOptions>;

/**
 * Passes the log events whose level is `level` or above to `outbox` and
 * leaves out the others. Events that are not log events (no `header.log`
 * with a level) are passed on as they are: there is no level to judge them
 * by. Put it between the router and a log actor to keep a file or a remote
 * log to warnings and errors while the router logs more elsewhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { createActor } from "../../core/registry.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { LogHuman } from "./log_human.ts";
 * import { logLevelFilter } from "./log_level_filter.ts";
 *
 * let written = "";
 * const stderr = {
 *   writeSync: (bytes: Uint8Array) => (written += new TextDecoder().decode(bytes), bytes.length),
 * };
 * const router = new Router({ logLevel: "debug" });
 * router.registerLogActor(createActor(logLevelFilter, "errors_only", { level: "error" }));
 * router.register(new LogHuman("log", {}, stderr));
 * router.connect("errors_only.outbox", "log.inbox");
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * assert.equal(written, ""); // "Started 3 actors" is a debug record: only errors pass
 * ```
 */
export const logLevelFilter: ActorSpec<LogLevelFilterOptions> = {
  type: "log_level_filter",
  kind: "log",
  summary: "Passes on the log events at or above a level.",
  options: LogLevelFilterOptions,
  example: { level: "warning" },
  create: (name, options, settings) =>
    new LogLevelFilter(name, options, settings),
};

/** The `log_level_filter` log actor. */
export class LogLevelFilter extends Actor {
  readonly kind = "log";
  #level: LogLevel;
  /** The levels below `#level`: their log events are left out. */
  #below: ReadonlySet<string>;

  /** Makes a level filter; see {@link LogLevelFilterOptions}. */
  constructor(
    name: string,
    options: Partial<LogLevelFilterOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const level = LogLevelFilterOptions.parse(options).level;
    this.#level = level;
    this.#below = new Set(LOG_LEVELS.filter((each) => !atLeast(each, level)));
  }

  /** The lowest level passed on. */
  get level(): LogLevel {
    return this.#level;
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    if (isLogEvent(event) && this.#below.has(event.header.log.level)) {
      return undefined;
    }
    return context.send(event);
  }
}
