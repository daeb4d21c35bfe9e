import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import {
  SyslogEncode,
  syslogEncode,
  SyslogEncodeOptions,
} from "../../../actors/transform/syslog_encode.ts";
import { isRfc3339, parseSyslog } from "../../../actors/syslog.ts";
import { runStage } from "../stage.ts";
import { schemaProblems } from "../../helpers.ts";

/** What logger --rfc5424 sent, as the syslog codec reads it. */
const LOGGER_LINE =
  '<164>1 2026-12-06T06:06:03.537659+00:00 vm myapp 9251 ID47 [timeQuality tzKnown="1" isSynced="0"][ex@32473 a="x\\"y" b="\\]\\\\"] with sd';

Deno.test("syslog_encode writes a record of the syslog codec back as it came, or as RFC 3164", async () => {
  const record = parseSyslog(LOGGER_LINE);
  const { out, errors } = await runStage(new SyslogEncode("encode"), [
    { header: {}, data: record },
  ]);
  assert.deepEqual(out.outbox!.data(), [LOGGER_LINE]);
  const bsd = await runStage(
    createActor(syslogEncode, "encode", { format: "rfc3164" }),
    [{ header: {}, data: parseSyslog(LOGGER_LINE) }],
  );
  assert.deepEqual(bsd.out.outbox!.data(), [
    "<164>Dec  6 06:06:03 vm myapp[9251]: with sd",
  ]);
  assert.equal(errors.events.length + bsd.errors.events.length, 0);
});

Deno.test("syslog_encode fills what an event lacks from its options, and keeps null as -", async () => {
  const encode = createActor(syslogEncode, "encode", {
    facility: "local3",
    severity: 6,
    hostname: "web1",
    app_name: "shop",
    procid: "77",
    msgid: "ORDER",
  });
  const { out, errors } = await runStage(encode, [
    { header: {}, data: "paid é" },
    { header: {}, data: new TextEncoder().encode("bytes") },
    { header: {}, data: [7, "a"] },
    {
      header: {},
      data: {
        message: "partial",
        severity: "err",
        hostname: null,
        procid: 12,
        timestamp: "2026-01-02T03:04:05Z",
        structured_data: { "o@1": { id: 7, tags: ["a", true] } },
        custom: "not written",
      },
    },
  ]);
  assert.equal(errors.events.length, 0);
  const lines = out.outbox!.data() as string[];
  const pattern = (message: string) =>
    new RegExp(`^<158>1 (\\S+) web1 shop 77 ORDER - ${message}$`);
  for (const [i, message] of ["paid é", "bytes", '\\[7,"a"\\]'].entries()) {
    const match = lines[i]!.match(pattern(message));
    assert.ok(match, lines[i]);
    assert.ok(isRfc3339(match[1]!), match[1]);
    // The time of encoding, in this process's zone.
    assert.ok(Math.abs(Date.parse(match[1]!) - Date.now()) < 60_000);
  }
  assert.equal(
    lines[3],
    '<155>1 2026-01-02T03:04:05Z - shop 12 ORDER [o@1 id="7" tags="a" tags="true"] partial',
  );
});

Deno.test("syslog_encode reads dates, milliseconds and other date text as timestamps", async () => {
  const at = Date.UTC(2026, 5, 7, 8, 9, 10, 11);
  const { out } = await runStage(
    createActor(syslogEncode, "encode", { hostname: "h" }),
    [
      { header: {}, data: { message: "a", timestamp: new Date(at) } },
      { header: {}, data: { message: "b", timestamp: at } },
      { header: {}, data: { message: "c", timestamp: "2026-06-07 08:09:10Z" } },
    ],
  );
  const stamps = (out.outbox!.data() as string[]).map((line) =>
    line.split(" ")[1]!
  );
  for (const stamp of stamps) assert.ok(isRfc3339(stamp), stamp);
  assert.deepEqual(stamps.map((stamp) => Date.parse(stamp)), [
    at,
    at,
    at - 11,
  ]);
});

Deno.test("syslog_encode reads the record at field and writes the text to target", async () => {
  const { out } = await runStage(
    createActor(syslogEncode, "encode", {
      field: "data.log",
      target: "header.line",
    }),
    [{ header: {}, data: { log: parseSyslog(LOGGER_LINE) } }],
  );
  assert.equal(out.outbox!.events[0]!.header.line, LOGGER_LINE);
});

Deno.test("syslog_encode sends records it cannot write to error, with the field and the reason", async () => {
  const { out, errors, report } = await runStage(
    new SyslogEncode("encode"),
    [
      { header: {}, data: { level: "info", msg: "no message key" } },
      { header: {}, data: { message: "m", facility: 24 } },
      { header: {}, data: { message: "m", severity: "loud" } },
      { header: {}, data: { message: "m", timestamp: "yesterday" } },
      { header: {}, data: { message: "m", hostname: ["a"] } },
      { header: {}, data: { message: "m", structured_data: { a: "b" } } },
      { header: {}, data: { message: "fine" } },
    ],
  );
  assert.equal(out.outbox!.events.length, 1);
  assert.equal(report.errors, 6);
  assert.equal(report.failed, 0);
  assert.deepEqual(
    errors.events.map((event) => (event.header.error as EventError).message),
    [
      'Field "data" is an object whose "message" is undefined, not a string: give it one, or json_encode the object to send it as the message',
      'Field "data.facility" is 24: expected 0 to 23 or one of "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"',
      'Field "data.severity" is "loud": expected 0 to 7 or one of "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"',
      'Field "data.timestamp" is "yesterday": expected an RFC 3339 date and time, a date or milliseconds since 1970',
      'Field "data.hostname" is [ "a" ]: expected text or null',
      'Field "data.structured_data" is { a: "b" }: expected { "<SD-ID>": { "<name>": "<value>" or ["<value>", ...] } }',
    ],
  );
  // The event on error is the one that came in, whole.
  assert.deepEqual(errors.events[0]!.data, {
    level: "info",
    msg: "no message key",
  });
});

Deno.test("syslog_encode options: names or numbers, checked", () => {
  assert.equal(
    schemaProblems(SyslogEncodeOptions, { facility: "local8" })?.length,
    1,
  );
  assert.equal(
    schemaProblems(SyslogEncodeOptions, { severity: 8 })?.length,
    1,
  );
  assert.equal(
    schemaProblems(SyslogEncodeOptions, { format: "rfc5425" })?.length,
    1,
  );
  assert.equal(
    schemaProblems(SyslogEncodeOptions, {
      facility: 16,
      severity: "debug",
      format: "rfc3164",
    }),
    undefined,
  );
});
