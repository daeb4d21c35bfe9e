/**
 * Syslog messages: the record layout that the `syslog` codec makes and
 * `syslog_encode` writes, {@link parseSyslog} for RFC 5424 and RFC 3164 (BSD)
 * messages, and {@link formatSyslog} for the way back. Not an actor.
 *
 * ## The record ({@link SyslogRecord})
 *
 * | Key               | Value                                                                                     |
 * | ----------------- | ----------------------------------------------------------------------------------------- |
 * | `format`          | `"rfc5424"` or `"rfc3164"`: how the message was written                                   |
 * | `facility`        | 0 to 23, and `facility_name`: `"kern"`, `"user"`, … `"local7"` ({@link FACILITY_NAMES})   |
 * | `severity`        | 0 to 7, and `severity_name`: `"emerg"`, … `"debug"` ({@link SEVERITY_NAMES})              |
 * | `timestamp`       | RFC 3339 text with its zone, e.g. `"2026-12-06T05:23:29.823978+00:00"` (see below)        |
 * | `hostname`        | the HOSTNAME, or `null` when the sender gave none (`-`)                                   |
 * | `app_name`        | the APP-NAME (RFC 3164: the TAG), or `null`                                               |
 * | `procid`          | the PROCID (RFC 3164: the pid in `tag[pid]:`), or `null`                                  |
 * | `msgid`           | the MSGID, or `null` (always `null` for RFC 3164)                                         |
 * | `structured_data` | `{ "<SD-ID>": { "<name>": "<value>" } }`, `{}` when there is none                         |
 * | `message`         | the MSG, without a leading UTF-8 byte order mark nor trailing `"\n"`, `"\r"` or NUL bytes |
 *
 * Structured data values are unescaped (`\"`, `\\` and `\]` become `"`, `\`
 * and `]`; a backslash before any other character is kept, as RFC 5424
 * says). A parameter repeated in one element gives an array of its values in
 * order; an SD-ID repeated in one message (which RFC 5424 forbids) merges its
 * parameters into one object.
 *
 * ## Timestamps
 *
 * An RFC 5424 timestamp is kept as the sender wrote it (its precision and
 * zone included), once checked to be a real RFC 3339 date and time; the
 * NILVALUE `-` becomes the time the message was parsed, in UTC. An RFC 3164
 * timestamp (`Mmm dd hh:mm:ss`, optionally with fractions of a second or a
 * year after the day, as some devices send) has no year and no zone: as
 * rsyslog and syslog-ng do, the zone is the receiving machine's local zone
 * (the `TZ` of this process) and the year the latest one that does not put
 * the time more than two days in the future (so a December message read on
 * the 1st of January is from last year, and a sender's clock a little ahead
 * at the turn of the year is forgiven). An RFC 3164 message may also carry an
 * RFC 3339 timestamp (rsyslog's high-precision forwarding format), kept as it
 * is; one with no timestamp at all gets the time it was parsed, as RFC 3164
 * asks of a relay.
 *
 * ## What is accepted
 *
 * Liberal where real senders are sloppy: `<PRI>` with 1 to 3 digits (leading
 * zeros too), any non-space characters in header fields and names, no
 * length limits on them, a missing STRUCTURED-DATA (the rest is the message),
 * RFC 3164 messages without hostname (`<13>Dec  6 05:23:29 cron[12]: ...`),
 * with a TAG that ends with a space instead of a colon (rsyslog's `imfile`
 * sends `myapp text`; like rsyslog and syslog-ng, the first word is then the
 * app name, if it has at most 48 characters and is not the last word), or
 * with no timestamp. Invalid UTF-8 is decoded with U+FFFD.
 *
 * Strict where the text cannot be syslog: no `<PRI>` or one above 191, an
 * RFC 5424 message (`<PRI>1 ` then a timestamp or `-`) with an invalid date,
 * a header that ends early or an empty field (two spaces in a row), or
 * malformed structured data. Those are failures with the reason, and the
 * message is never guessed at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSyslog } from "./syslog.ts";
 * const record = parseSyslog(
 *   '<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [ex@32473 a="1"] hi',
 * );
 * assert.equal(typeof record === "string" ? record : record.severity_name, "notice");
 * ```
 *
 * @module
 */

import { setOwn } from "../core/own.ts";

/** Facility names by number (0 to 23), as rsyslog and syslog-ng name them. */
export const FACILITY_NAMES = [
  "kern",
  "user",
  "mail",
  "daemon",
  "auth",
  "syslog",
  "lpr",
  "news",
  "uucp",
  "cron",
  "authpriv",
  "ftp",
  "ntp",
  "security",
  "console",
  "solaris-cron",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
] as const;

/** Severity names by number (0 to 7). */
export const SEVERITY_NAMES = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warning",
  "notice",
  "info",
  "debug",
] as const;

/** The two ways a syslog message is written. */
export type SyslogFormat = "rfc5424" | "rfc3164";

/**
 * Structured data: SD-ID -> parameter name -> value (an array of values when
 * a parameter is repeated in its element).
 */
export type StructuredData = Record<string, Record<string, string | string[]>>;

/** A parsed syslog message; see the module documentation for each key. */
export interface SyslogRecord {
  /** How the message was written. */
  format: SyslogFormat;
  /** 0 to 23. */
  facility: number;
  /** The name of `facility`, e.g. `"local4"`. */
  facility_name: string;
  /** 0 (emerg) to 7 (debug). */
  severity: number;
  /** The name of `severity`, e.g. `"warning"`. */
  severity_name: string;
  /** RFC 3339 date and time with its zone. */
  timestamp: string;
  /** HOSTNAME, or `null`. */
  hostname: string | null;
  /** APP-NAME (the RFC 3164 TAG), or `null`. */
  app_name: string | null;
  /** PROCID, or `null`. */
  procid: string | null;
  /** MSGID, or `null`. */
  msgid: string | null;
  /** Structured data, `{}` when there is none. */
  structured_data: StructuredData;
  /** The MSG part. */
  message: string;
}

const SPACE = 0x20;
const LESS = 0x3c;
const GREATER = 0x3e;
const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EQUALS = 0x3d;
const COLON = 0x3a;
const DASH = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const BOM = 0xfeff;

/** The longest RFC 3164 TAG taken as the app name (RFC 5424's APP-NAME). */
const MAX_TAG = 48;

const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/**
 * Parses one syslog message (RFC 5424 or RFC 3164, told apart by the `1 `
 * after the priority). Returns the {@link SyslogRecord}, or a sentence saying
 * why `text` is not a syslog message; never throws. `now` (milliseconds since
 * the epoch) is the time of reception: it fills a missing timestamp and picks
 * the year of an RFC 3164 one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSyslog } from "./syslog.ts";
 * const record = parseSyslog("<13>Dec  6 05:23:29 vm cron[12]: hello\n");
 * assert(typeof record !== "string");
 * assert.deepEqual([record.app_name, record.procid, record.message], ["cron", "12", "hello"]);
 * assert.equal(parseSyslog("hello"), 'The message does not start with a priority such as "<13>"');
 * ```
 */
export function parseSyslog(
  text: string,
  now: number = Date.now(),
): SyslogRecord | string {
  let end = text.length;
  for (;;) {
    const last = text.charCodeAt(end - 1);
    if (last !== 0x0a && last !== 0x0d && last !== 0) break;
    end--;
  }
  if (end === 0) return "The message is empty";
  if (text.charCodeAt(0) !== LESS) {
    return 'The message does not start with a priority such as "<13>"';
  }
  let priority = 0;
  let at = 1;
  for (; at < end && at <= 4; at++) {
    const c = text.charCodeAt(at);
    if (c < ZERO || c > NINE) break;
    priority = priority * 10 + c - ZERO;
  }
  if (at === 1 || at > 4 || text.charCodeAt(at) !== GREATER) {
    return `The priority ${
      quote(text.slice(0, Math.min(end, 6)))
    } is not "<" and 1 to 3 digits and ">"`;
  }
  if (priority > 191) {
    return `The priority <${priority}> is above 191 (facility 23, severity 7)`;
  }
  at++;
  if (
    text.charCodeAt(at) === 0x31 && text.charCodeAt(at + 1) === SPACE &&
    (isDigit(text.charCodeAt(at + 2)) || text.charCodeAt(at + 2) === DASH)
  ) {
    return parse5424(text, at + 2, end, priority, now);
  }
  return parse3164(text, at, end, priority, now);
}

/** The five header fields after VERSION, for messages. */
const HEADER_FIELDS = ["TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID", "MSGID"];

function parse5424(
  text: string,
  start: number,
  end: number,
  priority: number,
  now: number,
): SyslogRecord | string {
  const fields: (string | null)[] = [];
  let at = start;
  for (let f = 0; f < 5; f++) {
    if (at >= end) {
      return `The RFC 5424 header ends before its ${HEADER_FIELDS[f]}`;
    }
    let space = text.indexOf(" ", at);
    if (space === -1 || space > end) space = end;
    if (space === at) {
      return `The RFC 5424 ${
        HEADER_FIELDS[f]
      } is empty (two spaces in a row at character ${at + 1})`;
    }
    fields.push(
      space === at + 1 && text.charCodeAt(at) === DASH
        ? null
        : text.slice(at, space),
    );
    at = space + 1;
  }
  let timestamp = fields[0]!;
  if (timestamp === null) timestamp = new Date(now).toISOString();
  else if (!isRfc3339(timestamp)) {
    return `The RFC 5424 timestamp ${
      quote(timestamp)
    } is not an RFC 3339 date and time`;
  }
  const structured: StructuredData = {};
  if (at < end) {
    const c = text.charCodeAt(at);
    if (c === OPEN) {
      const after = parseStructuredData(text, at, end, structured);
      if (typeof after === "string") return after;
      at = after;
      if (text.charCodeAt(at) === SPACE) at++;
    } else if (
      c === DASH && (at + 1 === end || text.charCodeAt(at + 1) === SPACE)
    ) {
      at += 2;
    }
  }
  return record(
    "rfc5424",
    priority,
    timestamp,
    fields[1]!,
    fields[2]!,
    fields[3]!,
    fields[4]!,
    structured,
    message(text, at, end),
  );
}

/**
 * Parses the SD-ELEMENTs from `start` (a `[`) into `into`; returns the index
 * after the last `]`, or why they are malformed.
 */
function parseStructuredData(
  text: string,
  start: number,
  end: number,
  into: StructuredData,
): number | string {
  let at = start;
  while (at < end && text.charCodeAt(at) === OPEN) {
    at++;
    const idEnd = nameEnd(text, at, end);
    if (idEnd === at) return malformed(text, at, end, "an SD-ID");
    const id = text.slice(at, idEnd);
    const element = Object.hasOwn(into, id) ? into[id]! : {};
    setOwn(into, id, element);
    at = idEnd;
    for (;;) {
      if (at >= end) return malformed(text, at, end, '"]"');
      const c = text.charCodeAt(at);
      if (c === CLOSE) {
        at++;
        break;
      }
      if (c !== SPACE) return malformed(text, at, end, '" " or "]"');
      while (text.charCodeAt(at) === SPACE) at++;
      const nameStop = nameEnd(text, at, end);
      if (nameStop === at) return malformed(text, at, end, "a parameter name");
      const name = text.slice(at, nameStop);
      at = nameStop;
      if (text.charCodeAt(at) !== EQUALS) {
        return malformed(text, at, end, `"=" after "${name}"`);
      }
      if (text.charCodeAt(at + 1) !== QUOTE) {
        return malformed(
          text,
          at + 1,
          end,
          `'"' to open the value of "${name}"`,
        );
      }
      at += 2;
      let value = "";
      let from = at;
      for (;; at++) {
        if (at >= end) {
          return `The structured data is malformed: the value of "${name}" has no closing '"'`;
        }
        const v = text.charCodeAt(at);
        if (v === QUOTE) break;
        if (v === BACKSLASH) {
          const next = text.charCodeAt(at + 1);
          if (next === QUOTE || next === BACKSLASH || next === CLOSE) {
            value += text.slice(from, at);
            from = ++at;
          }
        }
      }
      value += text.slice(from, at);
      at++;
      const earlier = Object.hasOwn(element, name) ? element[name] : undefined;
      setOwn(
        element,
        name,
        earlier === undefined
          ? value
          : Array.isArray(earlier)
          ? [...earlier, value]
          : [earlier, value],
      );
    }
  }
  return at;
}

/** Where an SD-NAME starting at `at` ends (at `=`, ` `, `]`, `"` or the end). */
function nameEnd(text: string, at: number, end: number): number {
  for (; at < end; at++) {
    const c = text.charCodeAt(at);
    if (c === EQUALS || c === SPACE || c === CLOSE || c === QUOTE) break;
  }
  return at;
}

function malformed(
  text: string,
  at: number,
  end: number,
  expected: string,
): string {
  const found = at >= end ? "the end" : quote(text.slice(at, at + 10));
  return `The structured data is malformed at character ${
    at + 1
  }: expected ${expected}, found ${found}`;
}

function parse3164(
  text: string,
  start: number,
  end: number,
  priority: number,
  now: number,
): SyslogRecord | string {
  let at = start;
  let timestamp: string;
  const stamp = bsdTimestamp(text, at, end, now);
  if (stamp === undefined) {
    timestamp = new Date(now).toISOString();
  } else if (typeof stamp === "string") {
    return stamp;
  } else {
    timestamp = stamp.timestamp;
    at = stamp.end;
    while (text.charCodeAt(at) === SPACE) at++;
  }
  let hostname: string | null = null;
  if (stamp !== undefined) {
    const space = text.indexOf(" ", at);
    if (space !== -1 && space < end && space > at) {
      const word = text.slice(at, space);
      if (!word.endsWith(":") && !word.includes("[")) {
        hostname = word;
        at = space + 1;
      }
    }
  }
  let app: string | null = null;
  let procid: string | null = null;
  let stop = at;
  for (; stop < end && stop - at <= MAX_TAG; stop++) {
    const c = text.charCodeAt(stop);
    if (c === SPACE || c === COLON || c === OPEN) break;
  }
  const c = text.charCodeAt(stop);
  if (stop > at && stop < end && stop - at <= MAX_TAG) {
    if (c === OPEN) {
      const close = text.indexOf("]", stop);
      const space = text.indexOf(" ", stop);
      if (close !== -1 && close < end && (space === -1 || space > close)) {
        app = text.slice(at, stop);
        procid = text.slice(stop + 1, close);
        at = close + 1;
        if (text.charCodeAt(at) === COLON) at++;
        if (text.charCodeAt(at) === SPACE) at++;
      }
    } else {
      app = text.slice(at, stop);
      at = stop + 1;
      if (c === COLON && text.charCodeAt(at) === SPACE) at++;
    }
  }
  return record(
    "rfc3164",
    priority,
    timestamp,
    hostname,
    app,
    procid === "" ? null : procid,
    null,
    {},
    message(text, at, end),
  );
}

/** The last RFC 3164 timestamp filled in, to reuse while it repeats. */
let lastStamp = { text: "", timestamp: "", at: 0 };

/**
 * The RFC 3164 (or RFC 3339) timestamp at `at`: `undefined` when there is
 * none, a reason when it is one that is not a real date, else its RFC 3339
 * text and where it ends.
 */
function bsdTimestamp(
  text: string,
  at: number,
  end: number,
  now: number,
): { timestamp: string; end: number } | string | undefined {
  if (isDigit(text.charCodeAt(at))) {
    let space = text.indexOf(" ", at);
    if (space === -1 || space > end) space = end;
    const token = text.slice(at, space);
    return isRfc3339(token) ? { timestamp: token, end: space } : undefined;
  }
  const month = MONTHS.indexOf(text.slice(at, at + 3));
  if (month === -1 || text.charCodeAt(at + 3) !== SPACE) return undefined;
  let i = at + 4;
  if (text.charCodeAt(i) === SPACE) i++;
  const width = isDigit(text.charCodeAt(i + 1)) ? 2 : 1;
  const day = digits(text, i, width);
  if (day < 0) return undefined;
  i += width;
  if (text.charCodeAt(i) !== SPACE) return undefined;
  i++;
  let year: number | undefined;
  if (text.charCodeAt(i + 4) === SPACE) {
    year = digits(text, i, 4);
    if (year < 0) return undefined;
    i += 5;
  }
  const hours = digits(text, i, 2);
  const minutes = digits(text, i + 3, 2);
  const seconds = digits(text, i + 6, 2);
  if (
    hours < 0 || minutes < 0 || seconds < 0 ||
    text.charCodeAt(i + 2) !== COLON || text.charCodeAt(i + 5) !== COLON
  ) return undefined;
  let stop = i + 8;
  if (text.charCodeAt(stop) === DOT && isDigit(text.charCodeAt(stop + 1))) {
    stop++;
    while (isDigit(text.charCodeAt(stop))) stop++;
  }
  if (stop < end && text.charCodeAt(stop) !== SPACE) return undefined;
  const written = text.slice(at, stop);
  if (written === lastStamp.text && Math.abs(now - lastStamp.at) < 60_000) {
    return { timestamp: lastStamp.timestamp, end: stop };
  }
  const fraction = text.slice(i + 8, stop);
  const timestamp = localTimestamp(
    year,
    month,
    day,
    hours,
    minutes,
    seconds,
    fraction,
    now,
  );
  if (timestamp === undefined) {
    return `The RFC 3164 timestamp ${
      quote(written)
    } is not a real date and time`;
  }
  lastStamp = { text: written, timestamp, at: now };
  return { timestamp, end: stop };
}

/**
 * How far in the future an RFC 3164 timestamp may be (a sender's clock ahead
 * of ours) before it is taken to be from the year before.
 */
const FUTURE_MS = 2 * 86_400_000;

/**
 * The RFC 3339 text of a local wall-clock time; without a year, the latest
 * year that puts it at most {@link FUTURE_MS} after `now`. `undefined` when it
 * is not a real date and time.
 */
function localTimestamp(
  year: number | undefined,
  month: number,
  day: number,
  hours: number,
  minutes: number,
  seconds: number,
  fraction: string,
  now: number,
): string | undefined {
  let date: Date | undefined;
  if (year !== undefined) {
    date = new Date(year, month, day, hours, minutes, seconds);
  } else {
    const thisYear = new Date(now).getFullYear();
    for (const candidate of [thisYear + 1, thisYear, thisYear - 1]) {
      date = new Date(candidate, month, day, hours, minutes, seconds);
      if (date.getTime() - now <= FUTURE_MS) break;
    }
  }
  if (
    date!.getMonth() !== month || date!.getDate() !== day || hours > 23 ||
    minutes > 59 || seconds > 59
  ) return undefined;
  return localRfc3339(date!, fraction);
}

/**
 * `date` as RFC 3339 text in the local zone (the `TZ` of this process), with
 * `fraction` (e.g. `".123"`) after the seconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRfc3339, localRfc3339 } from "./syslog.ts";
 * assert.equal(isRfc3339(localRfc3339(new Date(), ".5")), true);
 * ```
 */
export function localRfc3339(date: Date, fraction = ""): string {
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${
    pad(date.getDate())
  }T${pad(date.getHours())}:${pad(date.getMinutes())}:${
    pad(date.getSeconds())
  }${fraction}${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${
    pad(abs % 60)
  }`;
}

/** The record, with the names of its facility and severity. */
function record(
  format: SyslogFormat,
  priority: number,
  timestamp: string,
  hostname: string | null,
  app: string | null,
  procid: string | null,
  msgid: string | null,
  structured: StructuredData,
  message: string,
): SyslogRecord {
  const facility = priority >> 3;
  const severity = priority & 7;
  return {
    format,
    facility,
    facility_name: FACILITY_NAMES[facility]!,
    severity,
    severity_name: SEVERITY_NAMES[severity]!,
    timestamp,
    hostname,
    app_name: app,
    procid,
    msgid,
    structured_data: structured,
    message,
  };
}

/** `text[at, end)` without a leading byte order mark. */
function message(text: string, at: number, end: number): string {
  if (text.charCodeAt(at) === BOM) at++;
  return at >= end ? "" : text.slice(at, end);
}

/**
 * Whether `text` is an RFC 3339 date and time with a zone
 * (`YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`), a real one (leap seconds
 * and lower-case `t` and `z` accepted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRfc3339 } from "./syslog.ts";
 * assert.equal(isRfc3339("2026-02-28T23:59:60.5+01:00"), true);
 * assert.equal(isRfc3339("2026-02-29T00:00:00Z"), false);
 * ```
 */
export function isRfc3339(text: string): boolean {
  const length = text.length;
  if (length < 20) return false;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hours = digits(text, 11, 2);
  const minutes = digits(text, 14, 2);
  const seconds = digits(text, 17, 2);
  const t = text.charCodeAt(10) | 0x20;
  if (
    year < 0 || month < 1 || month > 12 || day < 1 ||
    day > daysIn(year, month) || hours < 0 || hours > 23 || minutes < 0 ||
    minutes > 59 || seconds < 0 || seconds > 60 || t !== 0x74 ||
    text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH ||
    text.charCodeAt(13) !== COLON || text.charCodeAt(16) !== COLON
  ) return false;
  let at = 19;
  if (text.charCodeAt(at) === DOT) {
    at++;
    const from = at;
    while (isDigit(text.charCodeAt(at))) at++;
    if (at === from || at - from > 9) return false;
  }
  const zone = text.charCodeAt(at);
  if ((zone | 0x20) === 0x7a) return at + 1 === length;
  if (zone !== 0x2b && zone !== DASH) return false;
  const offsetHours = digits(text, at + 1, 2);
  const offsetMinutes = digits(text, at + 4, 2);
  return at + 6 === length && text.charCodeAt(at + 3) === COLON &&
    offsetHours >= 0 && offsetHours <= 23 && offsetMinutes >= 0 &&
    offsetMinutes <= 59;
}

function daysIn(year: number, month: number): number {
  if (month === 2) {
    return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The number written by the `count` digits at `at`, or -1. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
    value = value * 10 + c - ZERO;
  }
  return value;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `text` quoted for a message, cut at 40 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/**
 * What {@link formatSyslog} writes: a {@link SyslogRecord} without the keys
 * that follow from others.
 */
export type SyslogFields = Omit<
  SyslogRecord,
  "format" | "facility_name" | "severity_name"
>;

/** The longest HOSTNAME, APP-NAME, PROCID and MSGID of RFC 5424, in order. */
const FIELD_LIMITS = [255, 48, 128, 32];

/**
 * Writes a syslog message, without framing. `fields` must hold numbers in
 * range and an RFC 3339 `timestamp` (as {@link parseSyslog} makes them).
 *
 * RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`. A `null`
 * or empty field is written `-`; characters RFC 5424 does not allow in a
 * header field or an SD name (spaces, control characters, non-ASCII; `=`,
 * `]` and `"` in names) become `_`, and fields are cut to RFC 5424's lengths
 * (255, 48, 128, 32; SD names 32). Parameter values are escaped (`"`, `\`,
 * `]`); an array value is written as the parameter repeated.
 *
 * RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PROCID]: MSG`, the time being
 * the wall-clock time of `timestamp` in its own zone (RFC 3164 has none);
 * `null` hostname, TAG or PROCID parts are left out, and the structured data
 * and MSGID, which RFC 3164 cannot carry, too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSyslog } from "./syslog.ts";
 * const fields = {
 *   facility: 16, severity: 6, timestamp: "2026-12-06T05:23:29.5+01:00",
 *   hostname: "web1", app_name: "shop", procid: "42", msgid: null,
 *   structured_data: { "order@32473": { id: "7" } }, message: "paid",
 * };
 * assert.equal(
 *   formatSyslog(fields, "rfc5424"),
 *   '<134>1 2026-12-06T05:23:29.5+01:00 web1 shop 42 - [order@32473 id="7"] paid',
 * );
 * assert.equal(formatSyslog(fields, "rfc3164"), "<134>Dec  6 05:23:29 web1 shop[42]: paid");
 * ```
 */
export function formatSyslog(
  fields: SyslogFields,
  format: SyslogFormat,
): string {
  const priority = `<${fields.facility * 8 + fields.severity}>`;
  const { timestamp, hostname, app_name, procid, message } = fields;
  if (format === "rfc3164") {
    const day = Number(timestamp.slice(8, 10));
    let text = `${priority}${MONTHS[Number(timestamp.slice(5, 7)) - 1]} ${
      day < 10 ? " " : ""
    }${day} ${timestamp.slice(11, 19)} `;
    if (hostname !== null && hostname !== "") {
      text += `${headerField(hostname, 255)} `;
    }
    if (app_name !== null && app_name !== "") {
      text += app_name.replace(TAG_UNSAFE, "_").slice(0, MAX_TAG);
      if (procid !== null && procid !== "") {
        text += `[${procid.replace(PROCID_UNSAFE, "_")}]`;
      }
      text += ": ";
    }
    return text + message;
  }
  const header = [hostname, app_name, procid, fields.msgid].map((value, i) =>
    value === null || value === "" ? "-" : headerField(value, FIELD_LIMITS[i]!)
  ).join(" ");
  const sd = formatStructuredData(fields.structured_data);
  return `${priority}1 ${timestamp} ${header} ${sd}${
    message === "" ? "" : ` ${message}`
  }`;
}

/** Characters RFC 5424 does not allow in a header field. */
const FIELD_UNSAFE = /[^\x21-\x7e]/g;
/** Characters RFC 5424 does not allow in an SD-NAME. */
const NAME_UNSAFE = /[^\x21-\x7e]|[=\]"]/g;
/** Characters that would end an RFC 3164 TAG early. */
const TAG_UNSAFE = /[^\x21-\x7e]|[:[\]]/g;
/** Characters that would end an RFC 3164 PROCID early. */
const PROCID_UNSAFE = /[^\x21-\x7e]|\]/g;
/** Characters escaped in an SD parameter value. */
const VALUE_ESCAPED = /["\\\]]/g;

function headerField(value: string, limit: number): string {
  return value.replace(FIELD_UNSAFE, "_").slice(0, limit);
}

function sdName(name: string): string {
  return name === "" ? "_" : name.replace(NAME_UNSAFE, "_").slice(0, 32);
}

function formatStructuredData(sd: StructuredData): string {
  let text = "";
  for (const id of Object.keys(sd)) {
    text += `[${sdName(id)}`;
    const params = sd[id]!;
    for (const name of Object.keys(params)) {
      const value = params[name]!;
      for (const one of Array.isArray(value) ? value : [value]) {
        text += ` ${sdName(name)}="${one.replace(VALUE_ESCAPED, "\\$&")}"`;
      }
    }
    text += "]";
  }
  return text === "" ? "-" : text;
}
