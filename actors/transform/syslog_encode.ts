/**
 * `syslog_encode`: writes each event as a syslog message (RFC 5424 or RFC
 * 3164), to forward it to a syslog server with `tcp_client` or `udp_out`.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  preview,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { type FieldTarget, fieldTarget, fieldTargetFields } from "../field.ts";
import { toJson } from "../payload.ts";
import {
  FACILITY_NAMES,
  formatSyslog,
  isRfc3339,
  localRfc3339,
  SEVERITY_NAMES,
  type StructuredData,
  type SyslogFields,
} from "../syslog.ts";

const Facility = z.union([
  z.enum(FACILITY_NAMES),
  z.number().int().min(0).max(23),
]);
const Severity = z.union([
  z.enum(SEVERITY_NAMES),
  z.number().int().min(0).max(7),
]);

/** Options of the `syslog_encode` actor. */
export const SyslogEncodeOptions = z.strictObject({
  ...fieldTargetFields({
    field:
      'The field holding what to write: a syslog record (an object laid out as the "syslog" codec makes them, e.g. from tcp_server with codec "syslog") or the message itself (a string; bytes as UTF-8; any other value as JSON).',
    result: "the syslog message text",
  }),
  format: z.enum(["rfc5424", "rfc3164"]).default("rfc5424").describe(
    'How to write the message: "rfc5424" (with structured data, a precise timestamp and zone) or "rfc3164" (BSD syslog, for old receivers: no structured data nor msgid, the time without year or zone).',
  ),
  facility: Facility.default("user").describe(
    'The facility of a message whose record has none: a name ("kern", "user", ... "local7") or 0 to 23.',
  ),
  severity: Severity.default("notice").describe(
    'The severity of a message whose record has none: a name ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug") or 0 to 7.',
  ),
  hostname: z.string().min(1).optional().describe(
    "The HOSTNAME of a message whose record has none; without it, the name of this machine.",
  ),
  app_name: z.string().min(1).default("compysition").describe(
    "The APP-NAME (RFC 3164: the TAG) of a message whose record has none.",
  ),
  procid: z.string().min(1).optional().describe(
    'The PROCID of a message whose record has none; without it, "-".',
  ),
  msgid: z.string().min(1).optional().describe(
    'The MSGID of a message whose record has none; without it, "-".',
  ),
});

/** Parsed options of the `syslog_encode` actor. */
export type SyslogEncodeOptions = z.infer<typeof SyslogEncodeOptions>;

/**
 * Replaces `field` (default `data`) with the text of a syslog message (or
 * writes it to `target`), without framing: send it on with `tcp_client`
 * (`framing: "octet_counting"`, as syslog receivers expect over TCP) or
 * `udp_out` (one message per datagram).
 *
 * When `field` holds a syslog record, as the `syslog` codec makes them
 * (`facility`, `severity`, `timestamp`, `hostname`, `app_name`, `procid`,
 * `msgid`, `structured_data`, `message`; see `actors/syslog.ts`), its keys
 * are written and the options fill in the keys it lacks (`null` is kept: it
 * is written `-`). `facility` and `severity` may be numbers or names,
 * `timestamp` RFC 3339 text, any text `Date` can read, or milliseconds since
 * the epoch; a record without one gets the time of encoding. Other keys
 * (`format`, `facility_name`, `severity_name` and any of your own) are not
 * written. Any other value is the message itself (a string as it is, bytes
 * as UTF-8, anything else as JSON), with every header field from the
 * options.
 *
 * RFC 5424 fields are cleaned as RFC 5424 requires (see `formatSyslog`); an
 * RFC 3164 message leaves structured data and msgid out. A record whose keys
 * cannot be written (a `message` that is not a string, a facility out of
 * range, a timestamp that is not a date...) sends its event to the `error`
 * queue with the reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { syslogEncode } from "./syslog_encode.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 2, data: "hello" });
 * router.register(syslogEncode, "encode", { hostname: "web1", severity: "info" });
 * router.connect("input.outbox", "encode.inbox");
 * const encoded = router.readable("encode.outbox");
 * await router.start();
 * const events = await Array.fromAsync(encoded);
 * assert.equal((await router.stop()).delivered, 2);
 * // each data is like "<14>1 2026-12-06T05:23:29+00:00 web1 compysition - - - hello"
 * for (const { data } of events) assert.match(String(data), /^<14>1 \S+ web1 compysition - - - hello$/);
 * ```
 */
export const syslogEncode: ActorSpec<SyslogEncodeOptions> = {
  type: "syslog_encode",
  kind: "transform",
  stateless: true,
  summary: "Writes each event as an RFC 5424 or RFC 3164 syslog message.",
  description: [
    'Reads at `field` either a syslog record, laid out as the `syslog` codec of `tcp_server`, `udp_in`, `file_in` and `stdin` makes them (see the README, "Receiving logs from rsyslog and syslog-ng"), or the message alone:',
    "",
    '- a record (an object): `facility` (0 to 23 or a name), `severity` (0 to 7 or a name), `timestamp` (RFC 3339 text, a date or milliseconds since 1970), `hostname`, `app_name`, `procid` and `msgid` (text, or null for `-`), `structured_data` (`{ "<SD-ID>": { "<name>": "<value>" } }`, an array of values for a repeated parameter) and `message` (text, required); the options fill in the keys it lacks, and other keys are not written;',
    "- anything else: the message itself (a string as it is, bytes as UTF-8, other values as JSON), with every header field from the options.",
    "",
    "The text is not framed: send it with `tcp_client` (`framing: octet_counting`, as syslog servers expect over TCP) or `udp_out`. An event whose record cannot be written goes to the `error` queue with the reason.",
  ].join("\n"),
  options: SyslogEncodeOptions,
  example: {
    format: "rfc5424",
    facility: "local0",
    severity: "info",
    app_name: "shop",
  },
  create: (name, options, settings) =>
    new SyslogEncode(name, options, settings),
};

/** The `syslog_encode` transform actor. */
export class SyslogEncode extends Actor {
  readonly kind = "transform";
  #io: FieldTarget;
  #rfc3164: boolean;
  #defaults: Omit<SyslogFields, "timestamp" | "message">;

  /** Makes a syslog encoder; see {@link SyslogEncodeOptions}. */
  constructor(
    name: string,
    options: Partial<SyslogEncodeOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const parsed = SyslogEncodeOptions.parse(options);
    this.#io = fieldTarget(parsed);
    this.#rfc3164 = parsed.format === "rfc3164";
    this.#defaults = {
      facility: code(parsed.facility, FACILITY_NAMES),
      severity: code(parsed.severity, SEVERITY_NAMES),
      hostname: parsed.hostname ?? Deno.hostname(),
      app_name: parsed.app_name,
      procid: parsed.procid ?? null,
      msgid: parsed.msgid ?? null,
      structured_data: {},
    };
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const { get, set } = this.#io;
    set(
      event,
      formatSyslog(
        this.#fields(get(event)),
        this.#rfc3164 ? "rfc3164" : "rfc5424",
      ),
    );
    return context.send(event);
  }

  /** The fields to write for `value`; throws what cannot be written. */
  #fields(value: unknown): SyslogFields {
    const defaults = this.#defaults;
    if (
      typeof value !== "object" || value === null || Array.isArray(value) ||
      value instanceof Uint8Array
    ) {
      return {
        ...defaults,
        timestamp: localRfc3339(new Date()),
        message: typeof value === "string"
          ? value
          : value instanceof Uint8Array
          ? new TextDecoder().decode(value)
          : toJson(value),
      };
    }
    const record = value as Record<string, unknown>;
    const field = this.#io.field;
    const message = record.message;
    if (typeof message !== "string") {
      throw new TypeError(
        `Field "${field}" is an object whose "message" is ${
          preview(message)
        }, not a string: give it one, or json_encode the object to send it as the message`,
      );
    }
    return {
      facility: record.facility === undefined
        ? defaults.facility
        : codeOf(record.facility, FACILITY_NAMES, `${field}.facility`),
      severity: record.severity === undefined
        ? defaults.severity
        : codeOf(record.severity, SEVERITY_NAMES, `${field}.severity`),
      timestamp: timestampOf(record.timestamp, `${field}.timestamp`),
      hostname: textOf(record, "hostname", defaults.hostname, field),
      app_name: textOf(record, "app_name", defaults.app_name, field),
      procid: textOf(record, "procid", defaults.procid, field),
      msgid: textOf(record, "msgid", defaults.msgid, field),
      structured_data: structuredDataOf(
        record.structured_data,
        `${field}.structured_data`,
      ),
      message,
    };
  }
}

/** The number of `value`, a name of `names` or a number, parsed already. */
function code(value: string | number, names: readonly string[]): number {
  return typeof value === "number" ? value : names.indexOf(value);
}

/** The number of a facility or severity read from an event. */
function codeOf(
  value: unknown,
  names: readonly string[],
  path: string,
): number {
  if (typeof value === "number" && Number.isInteger(value)) {
    if (value >= 0 && value < names.length) return value;
  } else if (typeof value === "string") {
    const index = names.indexOf(value);
    if (index !== -1) return index;
  }
  throw new TypeError(
    `Field "${path}" is ${preview(value)}: expected 0 to ${
      names.length - 1
    } or one of ${names.map((name) => `"${name}"`).join(", ")}`,
  );
}

/** RFC 3339 text for the timestamp read from an event (now when missing). */
function timestampOf(value: unknown, path: string): string {
  if (value === undefined || value === null) return localRfc3339(new Date());
  if (typeof value === "string" && isRfc3339(value)) return value;
  const date = value instanceof Date
    ? value
    : typeof value === "string" || typeof value === "number"
    ? new Date(value)
    : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new TypeError(
      `Field "${path}" is ${
        preview(value)
      }: expected an RFC 3339 date and time, a date or milliseconds since 1970`,
    );
  }
  const ms = date.getMilliseconds();
  return localRfc3339(date, ms === 0 ? "" : `.${String(ms).padStart(3, "0")}`);
}

/** A header field read from a record: text, `null`, or the default. */
function textOf(
  record: Record<string, unknown>,
  key: string,
  fallback: string | null,
  field: string,
): string | null {
  const value = record[key];
  if (value === undefined) return fallback;
  if (value === null || typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  throw new TypeError(
    `Field "${field}.${key}" is ${preview(value)}: expected text or null`,
  );
}

/** Structured data read from a record: an object of objects of text. */
function structuredDataOf(value: unknown, path: string): StructuredData {
  if (value === undefined || value === null) return {};
  const problem = `Field "${path}" is ${
    preview(value)
  }: expected { "<SD-ID>": { "<name>": "<value>" or ["<value>", ...] } }`;
  if (!isObject(value)) throw new TypeError(problem);
  // fromEntries makes own properties, even of an SD-ID "__proto__".
  return Object.fromEntries(
    Object.entries(value).map(([id, params]) => {
      if (!isObject(params)) throw new TypeError(problem);
      return [
        id,
        Object.fromEntries(
          Object.entries(params).map(([name, param]) => [
            name,
            Array.isArray(param) ? param.map(scalar) : scalar(param),
          ]),
        ),
      ];
    }),
  );

  function scalar(one: unknown): string {
    if (
      typeof one === "string" || typeof one === "number" ||
      typeof one === "boolean"
    ) return String(one);
    throw new TypeError(problem);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
