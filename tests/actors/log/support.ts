/**
 * Helpers for the log actor tests: a synchronous write target, log events,
 * and a run of a log actor through a router.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Actor } from "../../../core/actor.ts";
import type { LogEvent, LogLevel } from "../../../core/log.ts";
import { Router } from "../../../core/router.ts";
import { ListInput } from "../../helpers.ts";

/** A target that keeps what is written and counts the writes. */
export class TextTarget {
  text = "";
  writes = 0;
  #decoder = new TextDecoder();

  writeSync(bytes: Uint8Array): number {
    this.writes++;
    this.text += this.#decoder.decode(bytes);
    return bytes.length;
  }

  lines(): string[] {
    return this.text.split("\n").slice(0, -1);
  }
}

/**
 * A log event of actor "a" at 2026-01-01T00:00:00.000Z, at `level`, with
 * `properties` when given.
 */
export function logEvent(
  message: string,
  level: LogLevel,
  properties?: Record<string, unknown>,
): LogEvent {
  const event: LogEvent = {
    header: {
      log: { time: "2026-01-01T00:00:00.000Z", level, actor: "a" },
    },
    data: message,
  };
  if (properties !== undefined) event.header.log.properties = properties;
  return event;
}

/**
 * Feeds `values` to the log actor `actor` (its `inbox`) through a router, to
 * the end, and checks that none failed.
 */
export async function feed(actor: Actor, values: unknown[]): Promise<void> {
  const router = new Router();
  router.register(new ListInput("input", values));
  router.register(actor);
  router.connect("input.outbox", `${actor.name}.inbox`);
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.failed, 0);
}
