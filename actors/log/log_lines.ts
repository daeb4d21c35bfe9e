/**
 * What the log actors share: telling a log event from other events, the
 * synchronous writer they write to, and {@link LineLogActor}, the base of
 * `log_human` and `log_json`, which writes one line per event to such a
 * writer. Not an actor spec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineLogActor } from "./log_lines.ts";
 *
 * const chunks: string[] = [];
 * const target = {
 *   writeSync(bytes: Uint8Array): number {
 *     chunks.push(new TextDecoder().decode(bytes));
 *     return bytes.length;
 *   },
 * };
 * new LineLogActor("log", {}, target, (event) => String(event.data))
 *   .consumeBatch([{ header: {}, data: "a" }, { header: {}, data: "b" }]);
 * assert.deepEqual(chunks, ["a\nb\n"]);
 * ```
 *
 * @module
 */

import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { LogEvent, LogHeader } from "../../core/log.ts";
import { writeAllSync } from "../payload.ts";

/** Where a log actor writes: anything with a synchronous `writeSync`. */
export interface SyncWriter {
  /** Writes some of `bytes`; returns how many were written. */
  writeSync(bytes: Uint8Array): number;
}

/**
 * Whether `event` is a log event: `header.log` has a time, a level and an
 * actor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLogEvent } from "./log_lines.ts";
 * assert.equal(isLogEvent({ header: {}, data: "x" }), false);
 * ```
 */
export function isLogEvent(event: Event): event is LogEvent {
  const log = event.header.log as Partial<LogHeader> | undefined;
  return typeof log === "object" && log !== null &&
    typeof log.time === "string" && typeof log.level === "string" &&
    typeof log.actor === "string";
}

const encoder = new TextEncoder();

/**
 * A log actor that writes one line per event, made by a line function, to a
 * {@link SyncWriter}. The lines of one batch are written at once, and
 * synchronously, so that they keep their order with the lines the router
 * writes itself.
 */
export class LineLogActor extends Actor {
  readonly kind = "log";
  #target: SyncWriter;
  #line: (event: Event) => string;

  /** Makes a log actor writing `line(event)` and a newline to `target`. */
  constructor(
    name: string,
    settings: ActorSettings,
    target: SyncWriter,
    line: (event: Event) => string,
  ) {
    super(name, settings, { outbound: ["error"] });
    this.#target = target;
    this.#line = line;
  }

  override consumeBatch(events: Event[]): void {
    let text = "";
    for (const event of events) text += this.#line(event) + "\n";
    writeAllSync(this.#target, encoder.encode(text));
  }
}
