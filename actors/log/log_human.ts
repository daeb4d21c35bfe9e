/**
 * `log_human`: writes each log event as one readable line on stderr.
 *
 * @module
 */

import { z } from "zod";
import { type ActorSettings, preview } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { formatLogLine } from "../../core/log.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { isLogEvent, LineLogActor, type SyncWriter } from "./log_lines.ts";

/** Options of the `log_human` actor: none. */
export const LogHumanOptions = z.strictObject({});

/** Parsed options of the `log_human` actor. */
export type LogHumanOptions = z.infer<typeof LogHumanOptions>;

/**
 * Writes one line per log event on stderr, `TIME LEVEL [actor] message`,
 * followed by the record's extra values as JSON (in a printable form when
 * JSON cannot hold them). Other events are written in a short printable form.
 * The lines of one batch are written at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { LogHuman } from "./log_human.ts";
 *
 * let written = "";
 * const stderr = {
 *   writeSync: (bytes: Uint8Array) => (written += new TextDecoder().decode(bytes), bytes.length),
 * };
 * const router = new Router({ logLevel: "debug" });
 * router.registerLogActor(new LogHuman("log", {}, stderr)); // createActor(logHuman, "log") writes to Deno.stderr
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * assert.match(written, /DEBUG \[router\] Started 3 actors\n/);
 * ```
 */
export const logHuman: ActorSpec<LogHumanOptions> = {
  type: "log_human",
  kind: "log",
  summary: "Writes each log event as one readable line on stderr.",
  options: LogHumanOptions,
  example: {},
  create: (name, _options, settings) => new LogHuman(name, settings),
};

/** The `log_human` log actor. */
export class LogHuman extends LineLogActor {
  /**
   * Makes a log actor writing readable lines to `target` (default
   * `Deno.stderr`). Lines are written synchronously so that they keep their
   * order with the lines the router writes itself.
   */
  constructor(
    name: string,
    settings: ActorSettings = {},
    target: SyncWriter = Deno.stderr,
  ) {
    super(name, settings, target, humanLine);
  }
}

/**
 * A readable line for a log event (see `formatLogLine`); any other event in
 * a printable form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { humanLine } from "./log_human.ts";
 * assert.equal(humanLine({ header: {}, data: 1 }), "{ header: {}, data: 1 }");
 * ```
 */
export function humanLine(event: Event): string {
  if (!isLogEvent(event)) return preview(event);
  try {
    return formatLogLine(event);
  } catch {
    const { properties, ...log } = event.header.log;
    return `${formatLogLine({ header: { log }, data: String(event.data) })} ${
      preview(properties)
    }`;
  }
}
