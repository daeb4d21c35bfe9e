/**
 * Logging: actors log through `@logtape/logtape` under the category
 * `["compysition", <router id>, <actor name>]`; one sink turns each record into
 * a log event and hands it to the router that owns the category.
 *
 * Repeated records are rate-limited on the way (see {@link LogLimiter}): per
 * actor and message template, a burst of 5 passes, then at most one a second,
 * and what was held back is summed up in one record, `N similar messages
 * suppressed`. A flood of clients cannot flood the logs.
 *
 * @module
 */

import {
  compareLogLevel,
  configureSync,
  getConfig,
  getLogger,
  type Logger,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { Event } from "./event.ts";

export type { Logger };

/**
 * A log level, from most to least verbose. The same levels as logtape's
 * `LogLevel`, so values pass between the two either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { atLeast, type LogLevel } from "./log.ts";
 * const threshold: LogLevel = "warning";
 * assert.equal(atLeast("error", threshold), true);
 * ```
 */
export type LogLevel =
  | "trace"
  | "debug"
  | "info"
  | "warning"
  | "error"
  | "fatal";

/**
 * The log levels from most to least verbose.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOG_LEVELS } from "./log.ts";
 * assert.ok(LOG_LEVELS.indexOf("warning") > LOG_LEVELS.indexOf("info"));
 * ```
 */
export const LOG_LEVELS: readonly LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];

/** The first element of every Compysition log category. */
export const LOG_ROOT = "compysition";

/**
 * The header of a log event, under `header.log`.
 *
 * @example
 * ```ts
 * import type { LogHeader } from "./log.ts";
 * const header: LogHeader = {
 *   time: new Date().toISOString(),
 *   level: "warning",
 *   actor: "input",
 *   properties: { queue: "outbox" },
 * };
 * ```
 */
export interface LogHeader {
  /** When the record was made, ISO 8601. */
  time: string;
  /** The record's level. */
  level: LogLevel;
  /** The actor that logged it, or `"router"`. */
  actor: string;
  /** Structured values given with the record, when any. */
  properties?: Record<string, unknown>;
}

/**
 * A log event: `header.log` describes the record, `data` is its message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLogLine, type LogEvent } from "./log.ts";
 * const event: LogEvent = {
 *   header: {
 *     log: { time: "2024-01-01T00:00:00.000Z", level: "info", actor: "router" },
 *   },
 *   data: "Started",
 * };
 * assert.equal(formatLogLine(event).includes("Started"), true);
 * ```
 */
export interface LogEvent extends Event {
  /** `log` describes the record. */
  header: { log: LogHeader };
  /** The record's message, its values filled in. */
  data: string;
}

/** Receives the log events of one router. */
export type LogHandler = (event: LogEvent) => void;

/**
 * How many records of one actor and message template pass: `burst` at once,
 * then one every `intervalMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_LOG_RATE_LIMIT } from "./log.ts";
 * assert.deepEqual(DEFAULT_LOG_RATE_LIMIT, { burst: 5, intervalMs: 1000 });
 * ```
 */
export interface LogRateLimit {
  /** Records that pass at once before the limit applies (at least 1). */
  burst: number;
  /** Then one record passes per this many ms (more than 0). */
  intervalMs: number;
}

/**
 * The limit of every log scope: 5 records at once, then one a second, per
 * actor and message template.
 */
export const DEFAULT_LOG_RATE_LIMIT: Readonly<LogRateLimit> = Object.freeze({
  burst: 5,
  intervalMs: 1000,
});

/** Most actor and template pairs a {@link LogLimiter} keeps track of. */
const MAX_TRACKED = 1000;

/** What a {@link LogLimiter} knows of one actor and message template. */
interface Tracked {
  /** The actor, for the summary. */
  actor: string;
  /** The message template, for the summary. */
  template: string;
  /** Records that may pass now (a token bucket, refilled as time passes). */
  tokens: number;
  /** When `tokens` was last refilled, from `now()`. */
  at: number;
  /** Records held back since the last summary. */
  suppressed: number;
  /** The highest level among them. */
  level: LogLevel;
}

/**
 * Rate-limits log events per key (an actor and a message template): the
 * first `burst` pass, then one per `intervalMs` (a token bucket). The others
 * are counted, and one summary event, `N similar messages suppressed` (at the
 * highest level held back, with `properties: { suppressed, template }`), is
 * passed on when the interval ends (one timer per limiter, only while
 * something is held back, and unref'd), just before the next record of that
 * key passes, or at {@link LogLimiter.flush}. The first occurrence always
 * passes. Memory is bounded: at most 1000 keys, the idle ones forgotten
 * first.
 *
 * Routers get one per log scope from {@link routeLogs}; records no router
 * owns share one in front of stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogLimiter, type LogEvent } from "./log.ts";
 * const seen: string[] = [];
 * const limiter = new LogLimiter((event) => seen.push(event.data), {
 *   burst: 2,
 *   intervalMs: 1000,
 * });
 * const event = (data: string): LogEvent => ({
 *   header: { log: { time: new Date().toISOString(), level: "warning", actor: "tcp" } },
 *   data,
 * });
 * for (let i = 1; i <= 5; i++) limiter.offer("tcp Refused {peer}", "Refused {peer}", event(`Refused ${i}`));
 * limiter.flush();
 * assert.deepEqual(seen, ["Refused 1", "Refused 2", "3 similar messages suppressed"]);
 * ```
 */
export class LogLimiter {
  #emit: (event: LogEvent) => void;
  #burst: number;
  #intervalMs: number;
  #now: () => number;
  #tracked = new Map<string, Tracked>();
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Passes events on to `emit`, at most as `limit` allows; `now` tells the
   * time in ms (default `performance.now`).
   */
  constructor(
    emit: (event: LogEvent) => void,
    limit: LogRateLimit = DEFAULT_LOG_RATE_LIMIT,
    now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(limit.burst) || limit.burst < 1) {
      throw new RangeError(
        `LogLimiter: burst must be a whole number of at least 1, got ${limit.burst}`,
      );
    }
    if (!Number.isFinite(limit.intervalMs) || limit.intervalMs <= 0) {
      throw new RangeError(
        `LogLimiter: intervalMs must be a number above 0, got ${limit.intervalMs}`,
      );
    }
    this.#emit = emit;
    this.#burst = limit.burst;
    this.#intervalMs = limit.intervalMs;
    this.#now = now;
  }

  /**
   * Passes `event` on, or holds it back and counts it, by the records of
   * `key` so far; `template` names them in the summary.
   */
  offer(key: string, template: string, event: LogEvent): void {
    const now = this.#now();
    let tracked = this.#tracked.get(key);
    if (tracked === undefined) {
      if (this.#tracked.size >= MAX_TRACKED) this.#forget(now);
      tracked = {
        actor: event.header.log.actor,
        template,
        tokens: this.#burst,
        at: now,
        suppressed: 0,
        level: event.header.log.level,
      };
      this.#tracked.set(key, tracked);
    } else {
      this.#refill(tracked, now);
    }
    if (tracked.tokens >= 1) {
      tracked.tokens--;
      if (tracked.suppressed > 0) this.#summarize(tracked);
      this.#emit(event);
      return;
    }
    if (tracked.suppressed === 0) {
      tracked.level = event.header.log.level;
      this.#pending++;
    } else if (!atLeast(tracked.level, event.header.log.level)) {
      tracked.level = event.header.log.level;
    }
    tracked.suppressed++;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#intervalMs);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Passes on the summary of every key with records held back, now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === 0) return;
    for (const tracked of this.#tracked.values()) {
      if (tracked.suppressed > 0) this.#summarize(tracked);
    }
  }

  #refill(tracked: Tracked, now: number): void {
    tracked.tokens = Math.min(
      this.#burst,
      tracked.tokens + (now - tracked.at) / this.#intervalMs,
    );
    tracked.at = now;
  }

  #summarize(tracked: Tracked): void {
    const suppressed = tracked.suppressed;
    tracked.suppressed = 0;
    this.#pending--;
    this.#emit({
      header: {
        log: {
          time: new Date().toISOString(),
          level: tracked.level,
          actor: tracked.actor,
          properties: { suppressed, template: tracked.template },
        },
      },
      data: `${suppressed} similar message${
        suppressed === 1 ? "" : "s"
      } suppressed`,
    });
  }

  /**
   * Makes room for a key: forgets every key whose bucket is full again and
   * holds nothing back, or else the oldest, after its summary.
   */
  #forget(now: number): void {
    for (const [key, tracked] of this.#tracked) {
      this.#refill(tracked, now);
      if (tracked.suppressed === 0 && tracked.tokens >= this.#burst) {
        this.#tracked.delete(key);
      }
    }
    if (this.#tracked.size < MAX_TRACKED) return;
    const [key, oldest] = this.#tracked.entries().next().value!;
    if (oldest.suppressed > 0) this.#summarize(oldest);
    this.#tracked.delete(key);
  }
}

/** Where the records of one scope go, and the lowest level that goes. */
interface LogRoute {
  handler: LogHandler;
  lowest: LogLevel;
  /** In front of `handler`; `undefined` passes every record. */
  limiter: LogLimiter | undefined;
}

const routes = new Map<string, LogRoute>();
let routerCount = 0;

/** In front of stderr, for the records no router owns. */
const unrouted = new LogLimiter((event) => writeToStderr(event));

/**
 * The logtape sink that hands Compysition's records to the routers that own
 * them (dropping those below a router's level before they are made into log
 * events); the records of a scope no router owns go to stderr, every level.
 * Compysition adds it by itself; an application that configures logtape
 * with disposable sinks (which Compysition will not reset) adds it under the
 * category `["compysition"]` with `parentSinks: "override"`.
 *
 * @example
 * ```ts
 * import { LOG_ROOT, LOG_SINK } from "./log.ts";
 * // Part of the application's own configureSync({ sinks, loggers }):
 * const sinks = { compysition: LOG_SINK };
 * const loggers = [{
 *   category: [LOG_ROOT],
 *   sinks: ["compysition"],
 *   parentSinks: "override" as const,
 * }];
 * ```
 */
export const LOG_SINK: Sink = (record: LogRecord): void => {
  const owner = record.category[1];
  const route = owner === undefined ? undefined : routes.get(owner);
  if (route !== undefined && !atLeast(record.level, route.lowest)) return;
  const limiter = route === undefined ? unrouted : route.limiter;
  if (limiter === undefined) {
    route!.handler(toLogEvent(record));
    return;
  }
  const template = typeof record.rawMessage === "string"
    ? record.rawMessage
    : record.rawMessage.join("{}");
  limiter.offer(
    `${record.category.join("\0")}\0${template}`,
    template,
    toLogEvent(record),
  );
};

/**
 * Makes a new log scope for a router and routes its records of level
 * `lowest` and above to `handler` (the others are dropped), rate-limited by
 * `limit` per actor and message template (see {@link LogLimiter}; `null`
 * passes every record). Returns the scope id used as the second category
 * element.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { routeLogs, scopedLogger, unrouteLogs } from "./log.ts";
 * const seen: string[] = [];
 * const scope = routeLogs((event) => seen.push(event.data), "info");
 * scopedLogger(scope, "a").debug("dropped");
 * scopedLogger(scope, "a").info("hello");
 * unrouteLogs(scope);
 * assert.deepEqual(seen, ["hello"]);
 * ```
 */
export function routeLogs(
  handler: LogHandler,
  lowest: LogLevel = "trace",
  limit: LogRateLimit | null = DEFAULT_LOG_RATE_LIMIT,
): string {
  ensureLogging();
  const limiter = limit === null ? undefined : new LogLimiter(handler, limit);
  const scope = `router${++routerCount}`;
  routes.set(scope, { handler, lowest, limiter });
  return scope;
}

/**
 * Hands the handler of `scope` the summaries of the records its limiter
 * holds back now (see {@link LogLimiter.flush}): a router calls it before its
 * log actor stops, so that none ends up on stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flushLogs, routeLogs, scopedLogger, unrouteLogs } from "./log.ts";
 * const seen: string[] = [];
 * const scope = routeLogs((event) => seen.push(event.data));
 * for (let i = 0; i < 8; i++) scopedLogger(scope, "a").warn("Again");
 * flushLogs(scope);
 * unrouteLogs(scope);
 * assert.equal(seen.at(-1), "3 similar messages suppressed");
 * ```
 */
export function flushLogs(scope: string): void {
  routes.get(scope)?.limiter?.flush();
}

/**
 * Stops routing the records of `scope`, after handing its handler the
 * summaries of what its limiter held back; they go to stderr afterwards.
 */
export function unrouteLogs(scope: string): void {
  flushLogs(scope);
  routes.delete(scope);
}

/**
 * The logger of actor `name` in a router's log scope.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scopedLogger } from "./log.ts";
 * // No router owns this scope: the line goes to stderr, whatever its level.
 * scopedLogger("unrouted", "a").debug("written to stderr");
 * // Any name is a name, even one that plain objects have already.
 * assert.deepEqual(scopedLogger("unrouted", "constructor").category.at(-1), "constructor");
 * ```
 */
export function scopedLogger(scope: string, name: string): Logger {
  ensureLogging();
  const parent = getLogger([LOG_ROOT, scope]);
  // LogTape keeps a logger's children in a plain object, where a name such
  // as "constructor" or "toString" finds Object.prototype's and getChild
  // throws: give it no prototype (LogTape only reads its own keys).
  const children = (parent as { children?: object }).children;
  if (children !== undefined && Object.getPrototypeOf(children) !== null) {
    Object.setPrototypeOf(children, null);
  }
  return parent.getChild(name);
}

/**
 * Whether `level` is at least `threshold`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { atLeast } from "./log.ts";
 * assert.equal(atLeast("error", "warning"), true);
 * ```
 */
export function atLeast(level: LogLevel, threshold: LogLevel): boolean {
  return compareLogLevel(level, threshold) >= 0;
}

/**
 * One readable line for a log event, without a trailing newline:
 * `TIME LEVEL [actor] message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLogLine } from "./log.ts";
 * const line = formatLogLine({
 *   header: { log: { time: "2026-01-01T00:00:00.000Z", level: "info", actor: "a" } },
 *   data: "started",
 * });
 * assert.equal(line, "2026-01-01T00:00:00.000Z INFO  [a] started");
 * ```
 */
export function formatLogLine(event: LogEvent): string {
  const { time, level, actor, properties } = event.header.log;
  const label = level === "warning" ? "WARN" : level.toUpperCase();
  const extra = properties === undefined
    ? ""
    : ` ${JSON.stringify(properties)}`;
  return `${time} ${label.padEnd(5)} [${actor}] ${event.data}${extra}`;
}

const encoder = new TextEncoder();

/**
 * Writes a log event as one readable line on stderr; the default when no log
 * actor is registered.
 *
 * @example
 * ```ts
 * import { writeToStderr } from "./log.ts";
 * writeToStderr({
 *   header: { log: { time: new Date().toISOString(), level: "info", actor: "demo" } },
 *   data: "hello",
 * });
 * ```
 */
export function writeToStderr(event: LogEvent): void {
  Deno.stderr.writeSync(encoder.encode(formatLogLine(event) + "\n"));
}

function toLogEvent(record: LogRecord): LogEvent {
  const log: LogHeader = {
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    actor: record.category[2] ?? record.category.join("."),
  };
  const properties = visibleProperties(record);
  if (properties !== undefined) log.properties = properties;
  return { header: { log }, data: renderMessage(record.message) };
}

function renderMessage(parts: readonly unknown[]): string {
  let text = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    text += i % 2 === 0
      ? String(part)
      : typeof part === "string"
      ? part
      : Deno.inspect(part, {
        colors: false,
        compact: true,
        breakLength: Infinity,
      });
  }
  return text;
}

/** Properties not already substituted into the message. */
function visibleProperties(
  record: LogRecord,
): Record<string, unknown> | undefined {
  const raw = typeof record.rawMessage === "string" ? record.rawMessage : "";
  let properties: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(record.properties)) {
    if (raw.includes(`{${key}}`)) continue;
    (properties ??= {})[key] = value;
  }
  return properties;
}

let warnedNotConfigured = false;

/**
 * Adds Compysition's sink to logtape's configuration, keeping whatever the
 * application configured for its own categories. Checked each time a logger
 * is made, so an application that configured logtape since gets it back;
 * never resets a configuration holding disposable sinks or filters, since a
 * reset would dispose of them.
 */
function ensureLogging(): void {
  const existing = getConfig();
  if (existing !== null && Object.values(existing.sinks).includes(LOG_SINK)) {
    return;
  }
  if (existing !== null && hasDisposables(existing)) {
    if (!warnedNotConfigured) {
      warnedNotConfigured = true;
      Deno.stderr.writeSync(encoder.encode(
        'Compysition: logtape is configured with disposable sinks; add LOG_SINK from core/log.ts under the category ["compysition"] to see Compysition\'s logs\n',
      ));
    }
    return;
  }
  const ours = {
    category: [LOG_ROOT],
    sinks: ["compysition"],
    lowestLevel: "trace" as const,
    parentSinks: "override" as const,
  };
  configureSync({
    reset: true,
    sinks: { ...existing?.sinks, compysition: LOG_SINK },
    ...(existing?.filters === undefined ? {} : { filters: existing.filters }),
    ...(existing?.contextLocalStorage === undefined
      ? {}
      : { contextLocalStorage: existing.contextLocalStorage }),
    loggers: [
      ...(existing?.loggers ?? []).filter((logger) =>
        [logger.category].flat()[0] !== LOG_ROOT
      ),
      ...(existing?.loggers.some((logger) =>
          [logger.category].flat()[0] === "logtape"
        )
        ? []
        : [{
          category: ["logtape", "meta"],
          lowestLevel: "warning" as const,
          sinks: [],
        }]),
      ours,
    ],
  });
}

function hasDisposables(config: { sinks: object; filters?: object }): boolean {
  const values = [
    ...Object.values(config.sinks),
    ...Object.values(config.filters ?? {}),
  ];
  return values.some((value) =>
    (typeof value === "object" || typeof value === "function") &&
    value !== null && (Symbol.dispose in value || Symbol.asyncDispose in value)
  );
}
