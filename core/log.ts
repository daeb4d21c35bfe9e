/**
 * Logging: actors log through `@logtape/logtape` under the category
 * `["compysition", <router id>, <actor name>]`; one sink turns each record into
 * a log event and hands it to the router that owns the category.
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
 * import { atLeast, type LogLevel } from "./log.ts";
 * const threshold: LogLevel = "warning";
 * atLeast("error", threshold); // true
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
 * import { LOG_LEVELS } from "./log.ts";
 * LOG_LEVELS.indexOf("warning") > LOG_LEVELS.indexOf("info"); // true
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
 * import { formatLogLine, type LogEvent } from "./log.ts";
 * const event: LogEvent = {
 *   header: {
 *     log: { time: "2024-01-01T00:00:00.000Z", level: "info", actor: "router" },
 *   },
 *   data: "Started",
 * };
 * formatLogLine(event).includes("Started"); // true
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

/** Where the records of one scope go, and the lowest level that goes. */
interface LogRoute {
  handler: LogHandler;
  lowest: LogLevel;
}

const routes = new Map<string, LogRoute>();
let routerCount = 0;

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
  if (route === undefined) {
    writeToStderr(toLogEvent(record));
  } else if (atLeast(record.level, route.lowest)) {
    route.handler(toLogEvent(record));
  }
};

/**
 * Makes a new log scope for a router and routes its records of level
 * `lowest` and above to `handler` (the others are dropped). Returns the
 * scope id used as the second category element.
 *
 * @example
 * ```ts
 * import { routeLogs, scopedLogger, unrouteLogs } from "./log.ts";
 * const seen: string[] = [];
 * const scope = routeLogs((event) => seen.push(event.data), "info");
 * scopedLogger(scope, "a").debug("dropped");
 * scopedLogger(scope, "a").info("hello");
 * unrouteLogs(scope);
 * seen; // ["hello"]
 * ```
 */
export function routeLogs(
  handler: LogHandler,
  lowest: LogLevel = "trace",
): string {
  ensureLogging();
  const scope = `router${++routerCount}`;
  routes.set(scope, { handler, lowest });
  return scope;
}

/** Stops routing the records of `scope`; they go to stderr afterwards. */
export function unrouteLogs(scope: string): void {
  routes.delete(scope);
}

/**
 * The logger of actor `name` in a router's log scope.
 *
 * @example
 * ```ts
 * import { scopedLogger } from "./log.ts";
 * // No router owns this scope: the line goes to stderr, whatever its level.
 * scopedLogger("unrouted", "a").debug("written to stderr");
 * ```
 */
export function scopedLogger(scope: string, name: string): Logger {
  ensureLogging();
  return getLogger([LOG_ROOT, scope, name]);
}

/**
 * Whether `level` is at least `threshold`.
 *
 * @example
 * ```ts
 * import { atLeast } from "./log.ts";
 * atLeast("error", "warning"); // true
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
 * import { formatLogLine } from "./log.ts";
 * formatLogLine({
 *   header: { log: { time: "2026-01-01T00:00:00.000Z", level: "info", actor: "a" } },
 *   data: "started",
 * }); // "2026-01-01T00:00:00.000Z INFO  [a] started"
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
