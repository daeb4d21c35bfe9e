import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatSyslog,
  isRfc3339,
  parseSyslog,
  type SyslogFields,
  type SyslogRecord,
} from "../../actors/syslog.ts";

/** A fixed time of reception: 2026-12-06T06:10:00Z. */
const NOW = Date.parse("2026-12-06T06:10:00Z");

/** The record of `text`, failing the test with the reason when it is none. */
function parsed(text: string, now = NOW): SyslogRecord {
  const record = parseSyslog(text, now);
  if (typeof record === "string") {
    assert.fail(`${JSON.stringify(text)} did not parse: ${record}`);
  }
  return record;
}

/** The record's keys that follow from the message, without the derived ones. */
function fieldsOf(record: SyslogRecord): SyslogFields {
  const { format: _, facility_name: __, severity_name: ___, ...fields } =
    record;
  return fields;
}

Deno.test("parseSyslog reads the RFC 5424 examples of its section 6.5", () => {
  assert.deepEqual(
    parsed(
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8",
    ),
    {
      format: "rfc5424",
      facility: 4,
      facility_name: "auth",
      severity: 2,
      severity_name: "crit",
      timestamp: "2003-10-11T22:14:15.003Z",
      hostname: "mymachine.example.com",
      app_name: "su",
      procid: null,
      msgid: "ID47",
      structured_data: {},
      message: "'su root' failed for lonvick on /dev/pts/8",
    },
  );
  const second = parsed(
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
  );
  assert.deepEqual(
    [
      second.facility_name,
      second.severity_name,
      second.timestamp,
      second.hostname,
      second.procid,
      second.message,
    ],
    [
      "local4",
      "notice",
      "2003-08-24T05:14:15.000003-07:00",
      "192.0.2.1",
      "8710",
      "%% It's time to make the do-nuts.",
    ],
  );
  const sd = {
    "exampleSDID@32473": {
      iut: "3",
      eventSource: "Application",
      eventID: "1011",
    },
  };
  const third = parsed(
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \ufeffAn application event log entry...',
  );
  assert.deepEqual(third.structured_data, sd);
  assert.equal(third.message, "An application event log entry...");
  const fourth = parsed(
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
  );
  assert.deepEqual(fourth.structured_data, {
    ...sd,
    "examplePriority@32473": { class: "high" },
  });
  assert.equal(fourth.message, "");
});

Deno.test("parseSyslog unescapes structured data values and keeps repeated parameters and elements", () => {
  const record = parsed(
    '<13>1 2026-12-06T06:07:00Z h a p m [x@1 q="say \\"hi\\"" b="a\\\\b" c="[1\\]" d="C:\\dir" e=""][x@1 f="2" f="3" f="4"][y z="é ] \' ="] msg',
  );
  assert.deepEqual(record.structured_data, {
    "x@1": {
      q: 'say "hi"',
      b: "a\\b",
      c: "[1]",
      d: "C:\\dir",
      e: "",
      f: ["2", "3", "4"],
    },
    y: { z: "é ] ' =" },
  });
  assert.equal(record.message, "msg");
});

Deno.test("parseSyslog reads what logger, rsyslog and syslog-ng send", () => {
  // Captured from logger (util-linux 2.38), rsyslog 8.2302 and syslog-ng 3.38.
  const logger5424 = parsed(
    '<164>1 2026-12-06T06:06:03.537659+00:00 vm myapp 9251 ID47 [timeQuality tzKnown="1" isSynced="0"][ex@32473 a="x\\"y" b="\\]\\\\"] with sd',
  );
  assert.deepEqual(fieldsOf(logger5424), {
    facility: 20,
    severity: 4,
    timestamp: "2026-12-06T06:06:03.537659+00:00",
    hostname: "vm",
    app_name: "myapp",
    procid: "9251",
    msgid: "ID47",
    structured_data: {
      timeQuality: { tzKnown: "1", isSynced: "0" },
      "ex@32473": { a: 'x"y', b: "]\\" },
    },
    message: "with sd",
  });
  const cases: [string, Partial<SyslogRecord>][] = [
    ["<164>Dec  6 06:06:03 vm myapp[9252]: with pid", {
      format: "rfc3164",
      timestamp: "2026-12-06T06:06:03+00:00",
      hostname: "vm",
      app_name: "myapp",
      procid: "9252",
      message: "with pid",
    }],
    // syslog-ng network() of a line read with flags(no-parse): no tag.
    ["<13>Dec  6 06:07:00 vm first message\n", {
      hostname: "vm",
      app_name: "first",
      message: "message",
    }],
    // rsyslog imfile with Tag="myapp": the tag ends with a space.
    ["<133>Dec  6 06:07:55 vm myapp rs one", {
      facility_name: "local0",
      app_name: "myapp",
      message: "rs one",
    }],
    // syslog-ng syslog(): a trailing newline inside the frame.
    ['<13>1 2026-12-06T06:07:00+00:00 vm - - - [meta sequenceId="1"] first\n', {
      format: "rfc5424",
      app_name: null,
      structured_data: { meta: { sequenceId: "1" } },
      message: "first",
    }],
    // A local sender without hostname.
    ["<13>Dec  6 06:07:00 cron[12]: job done", {
      hostname: null,
      app_name: "cron",
      procid: "12",
      message: "job done",
    }],
    ["<13>Dec  6 06:07:00 root: hello\r\n\0", {
      hostname: null,
      app_name: "root",
      message: "hello",
    }],
    // rsyslog's high-precision forwarding format.
    ["<13>2026-12-06T06:07:00.5+01:00 vm app: iso", {
      timestamp: "2026-12-06T06:07:00.5+01:00",
      hostname: "vm",
      message: "iso",
    }],
    // Fractions of a second, a year, a one-digit day with one space.
    ["<13>Dec  6 06:07:00.123 vm app: ms", {
      timestamp: "2026-12-06T06:07:00.123+00:00",
    }],
    ["<13>Dec 6 2025 06:07:00 vm app: year", {
      timestamp: "2025-12-06T06:07:00+00:00",
      message: "year",
    }],
    ["<13>Dec 06 06:07:00 vm /usr/sbin/cron[7]:x", {
      app_name: "/usr/sbin/cron",
      procid: "7",
      message: "x",
    }],
    // No timestamp: the time of reception, no hostname.
    ["<13>hello world", {
      timestamp: "2026-12-06T06:10:00.000Z",
      hostname: null,
      app_name: "hello",
      message: "world",
    }],
    // Brackets with a space inside do not hold a pid: no tag.
    ["<13>Dec  6 06:07:00 vm app[a b]: x", {
      app_name: null,
      procid: null,
      message: "app[a b]: x",
    }],
    // A lone last word is the message, not a tag; an over-long word too.
    ["<13>Dec  6 06:07:00 vm hello", { app_name: null, message: "hello" }],
    [`<13>Dec  6 06:07:00 vm ${"w".repeat(49)}: x`, {
      app_name: null,
      message: `${"w".repeat(49)}: x`,
    }],
    // RFC 5424 NILVALUEs everywhere; the time of reception.
    ["<0>1 - - - - - -", {
      format: "rfc5424",
      facility_name: "kern",
      severity_name: "emerg",
      timestamp: "2026-12-06T06:10:00.000Z",
      hostname: null,
      app_name: null,
      procid: null,
      msgid: null,
      structured_data: {},
      message: "",
    }],
    // Sloppy RFC 5424: no structured data at all, leading zeros in PRI.
    ["<013>1 2026-12-06T06:07:00Z h a p m hello there", {
      facility_name: "user",
      severity_name: "notice",
      structured_data: {},
      message: "hello there",
    }],
    ["<191>1 2026-12-06T06:07:00z h a p m -", {
      facility_name: "local7",
      severity_name: "debug",
      timestamp: "2026-12-06T06:07:00z",
    }],
    // "<13>1 " then neither a timestamp nor "-": RFC 3164 content.
    ["<13>1 apple", { format: "rfc3164", app_name: "1", message: "apple" }],
  ];
  for (const [text, expected] of cases) {
    const record = parsed(text);
    const got = Object.fromEntries(
      Object.keys(expected).map((
        key,
      ) => [key, record[key as keyof SyslogRecord]]),
    );
    assert.deepEqual(got, expected, JSON.stringify(text));
  }
});

Deno.test("parseSyslog says why text is not syslog", () => {
  const cases: [string, string][] = [
    ["", "The message is empty"],
    ["\n", "The message is empty"],
    ["hello", 'The message does not start with a priority such as "<13>"'],
    [" <13>hello", 'The message does not start with a priority such as "<13>"'],
    ["<>hello", 'The priority "<>hell" is not "<" and 1 to 3 digits and ">"'],
    ["<1234>x", 'The priority "<1234>" is not "<" and 1 to 3 digits and ">"'],
    ["<13", 'The priority "<13" is not "<" and 1 to 3 digits and ">"'],
    ["<192>x", "The priority <192> is above 191 (facility 23, severity 7)"],
    [
      "<13>1 2026-13-06T06:07:00Z h a p m - x",
      'The RFC 5424 timestamp "2026-13-06T06:07:00Z" is not an RFC 3339 date and time',
    ],
    [
      "<13>1 2026-02-29T06:07:00Z h a p m - x",
      'The RFC 5424 timestamp "2026-02-29T06:07:00Z" is not an RFC 3339 date and time',
    ],
    [
      "<13>1 2026-12-06 06:07:00 h a p m - x",
      'The RFC 5424 timestamp "2026-12-06" is not an RFC 3339 date and time',
    ],
    ["<13>1 -", "The RFC 5424 header ends before its HOSTNAME"],
    ["<13>1 - h a", "The RFC 5424 header ends before its PROCID"],
    [
      "<13>1 - h  p m - x",
      "The RFC 5424 APP-NAME is empty (two spaces in a row at character 11)",
    ],
    [
      '<13>1 - h a p m [x a="1"',
      'The structured data is malformed at character 25: expected "]", found the end',
    ],
    [
      '<13>1 - h a p m [x a="1] msg',
      'The structured data is malformed: the value of "a" has no closing \'"\'',
    ],
    [
      "<13>1 - h a p m [x a=1] msg",
      `The structured data is malformed at character 22: expected '"' to open the value of "a", found "1] msg"`,
    ],
    [
      "<13>1 - h a p m [x a] msg",
      'The structured data is malformed at character 21: expected "=" after "a", found "] msg"',
    ],
    [
      "<13>1 - h a p m [] msg",
      'The structured data is malformed at character 18: expected an SD-ID, found "] msg"',
    ],
    [
      '<13>1 - h a p m [x a="1"b="2"] msg',
      'The structured data is malformed at character 25: expected " " or "]", found "b=\\"2\\"] msg"',
    ],
    [
      "<13>Feb 30 06:07:00 h a: x",
      'The RFC 3164 timestamp "Feb 30 06:07:00" is not a real date and time',
    ],
    [
      "<13>Dec  6 24:07:00 h a: x",
      'The RFC 3164 timestamp "Dec  6 24:07:00" is not a real date and time',
    ],
  ];
  for (const [text, reason] of cases) {
    assert.equal(parseSyslog(text, NOW), reason, JSON.stringify(text));
  }
});

Deno.test("parseSyslog gives an RFC 3164 time the year that is not in the future", () => {
  const at = (iso: string, text: string) =>
    parsed(`<13>${text} h a: x`, Date.parse(iso)).timestamp;
  // Read in January, a December message is from last year.
  assert.equal(
    at("2027-01-01T00:00:05Z", "Dec 31 23:59:59"),
    "2026-12-31T23:59:59+00:00",
  );
  // A sender whose clock is a little ahead at the turn of the year.
  assert.equal(
    at("2026-12-31T23:59:59Z", "Jan  1 00:00:05"),
    "2027-01-01T00:00:05+00:00",
  );
  // A January message read in December, replayed late: this year's.
  assert.equal(
    at("2026-12-06T06:10:00Z", "Jan  1 00:00:05"),
    "2026-01-01T00:00:05+00:00",
  );
  // A leap day of the year before.
  assert.equal(
    at("2029-01-10T00:00:00Z", "Feb 29 10:00:00"),
    "2028-02-29T10:00:00+00:00",
  );
});

Deno.test("parseSyslog fills an RFC 3164 time with the local zone of the process (TZ)", async () => {
  const script = `
    import { parseSyslog } from ${
    JSON.stringify(import.meta.resolve("../../actors/syslog.ts"))
  };
    const now = Date.parse("2026-07-10T12:00:00Z");
    const at = (text) => parseSyslog("<13>" + text + " h a: x", now).timestamp;
    console.log(JSON.stringify([at("Jul  4 12:00:00"), at("Jan  4 12:00:00.25")]));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { TZ: "America/New_York" },
  }).output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), [
    "2026-07-04T12:00:00-04:00",
    "2026-01-04T12:00:00.25-05:00",
  ]);
});

Deno.test("isRfc3339 checks the calendar, the clock and the zone", () => {
  for (
    const good of [
      "2026-12-06T06:07:00Z",
      "2024-02-29T23:59:60.123456789+14:00",
      "2026-01-31t00:00:00-00:30",
    ]
  ) assert.equal(isRfc3339(good), true, good);
  for (
    const bad of [
      "2026-12-06T06:07:00",
      "2026-12-06T06:07:00+1:00",
      "2026-04-31T00:00:00Z",
      "2100-02-29T00:00:00Z",
      "2026-12-06T06:07:00.Z",
      "2026-12-06T06:07:00.1234567890Z",
      "2026-12-06T06:07:61Z",
      "2026-12-06 06:07:00Z",
      "2026-12-06T06:07:00Zjunk",
    ]
  ) assert.equal(isRfc3339(bad), false, bad);
});

Deno.test("formatSyslog writes RFC 5424 and RFC 3164, cleaning what they cannot carry", () => {
  const fields: SyslogFields = {
    facility: 23,
    severity: 7,
    timestamp: "2026-03-09T08:07:06.5-07:00",
    hostname: "a host",
    app_name: "app:x[1]",
    procid: "p]1",
    msgid: "",
    structured_data: {
      "id=1": { 'na"me': ['v"1', "v]\\2"], ok: "é" },
      e: {},
    },
    message: "héllo",
  };
  assert.equal(
    formatSyslog(fields, "rfc5424"),
    '<191>1 2026-03-09T08:07:06.5-07:00 a_host app:x[1] p]1 - [id_1 na_me="v\\"1" na_me="v\\]\\\\2" ok="é"][e] héllo',
  );
  assert.equal(
    formatSyslog(fields, "rfc3164"),
    "<191>Mar  9 08:07:06 a_host app_x_1_[p_1]: héllo",
  );
  assert.equal(
    formatSyslog({
      ...fields,
      hostname: "h".repeat(300),
      app_name: null,
      procid: null,
      msgid: "m".repeat(40),
      structured_data: {},
      message: "",
    }, "rfc5424"),
    `<191>1 2026-03-09T08:07:06.5-07:00 ${"h".repeat(255)} - - ${
      "m".repeat(32)
    } -`,
  );
  assert.equal(
    formatSyslog({ ...fields, hostname: null, app_name: null }, "rfc3164"),
    "<191>Mar  9 08:07:06 héllo",
  );
});

// Properties, with fast-check: the parser never throws, whatever it is given.

/** Header field text RFC 5424 allows (printable ASCII), not the NILVALUE. */
const token = (max: number) =>
  fc.stringMatching(new RegExp(`^[!-~]{1,${max}}$`)).filter((t) => t !== "-");
/** An SD-NAME: printable ASCII but `=`, `]`, `"`. */
const sdName = fc.stringMatching(/^[!#-<>-\\^-~]{1,32}$/);
/** A message as it comes back from a parse: no BOM first, no line end last. */
const messageText = fc.string({ unit: "binary" }).filter((text) =>
  !text.startsWith("\ufeff") && !/[\n\r\0]$/.test(text)
);
const timestamp = fc.record({
  year: fc.integer({ min: 1970, max: 2100 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 28 }),
  hours: fc.integer({ min: 0, max: 23 }),
  minutes: fc.integer({ min: 0, max: 59 }),
  seconds: fc.integer({ min: 0, max: 59 }),
  fraction: fc.stringMatching(/^(\.[0-9]{1,6})?$/),
  zone: fc.constantFrom("Z", "+00:00", "+01:00", "-07:00", "+05:45"),
}).map(({ year, month, day, hours, minutes, seconds, fraction, zone }) => {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${year}-${two(month)}-${two(day)}T${two(hours)}:${two(minutes)}:${
    two(seconds)
  }${fraction}${zone}`;
});
const nullable = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.option(arbitrary, { nil: null });
const fields5424: fc.Arbitrary<SyslogFields> = fc.record({
  facility: fc.integer({ min: 0, max: 23 }),
  severity: fc.integer({ min: 0, max: 7 }),
  timestamp,
  hostname: nullable(token(255)),
  app_name: nullable(token(48)),
  procid: nullable(token(128)),
  msgid: nullable(token(32)),
  structured_data: fc.dictionary(
    sdName,
    fc.dictionary(
      sdName,
      fc.oneof(
        fc.string({ unit: "binary" }),
        fc.array(fc.string(), { minLength: 2, maxLength: 3 }),
      ),
      { maxKeys: 3, noNullPrototype: true },
    ),
    { maxKeys: 3, noNullPrototype: true },
  ),
  message: messageText,
}, { noNullPrototype: true });

/** Checks what any parse returns: a reason, or a record that holds together. */
function checkResult(text: string, result: SyslogRecord | string): void {
  if (typeof result === "string") {
    assert.match(result, /^The /, JSON.stringify(text));
    return;
  }
  assert.ok(result.facility >= 0 && result.facility <= 23);
  assert.ok(result.severity >= 0 && result.severity <= 7);
  assert.ok(isRfc3339(result.timestamp), result.timestamp);
  assert.equal(typeof result.message, "string");
  assert.ok(!/[\n\r\0]$/.test(result.message));
}

Deno.test("parseSyslog property: any text is a record or a reason, never an exception", () => {
  const prefixes = fc.constantFrom(
    "",
    "<13>",
    "<13>1 ",
    "<13>1 - h a p m [",
    "<34>Dec  6 ",
  );
  fc.assert(
    fc.property(prefixes, fc.string({ unit: "binary" }), (prefix, rest) => {
      const text = prefix + rest;
      checkResult(text, parseSyslog(text, NOW));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("parseSyslog property: RFC 5424 written by formatSyslog reads back the same", () => {
  fc.assert(
    fc.property(fields5424, (fields) => {
      const text = formatSyslog(fields, "rfc5424");
      const record = parsed(text);
      assert.equal(record.format, "rfc5424");
      assert.deepEqual(fieldsOf(record), fields);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseSyslog property: every cut or changed valid message is a record or a reason", () => {
  fc.assert(
    fc.property(
      fields5424,
      fc.constantFrom<"rfc5424" | "rfc3164">("rfc5424", "rfc3164"),
      fc.nat(),
      fc.string({ unit: "binary", maxLength: 3 }),
      (fields, format, at, inserted) => {
        const text = formatSyslog(fields, format);
        const cut = at % (text.length + 1);
        for (
          const changed of [
            text.slice(0, cut),
            text.slice(0, cut) + inserted + text.slice(cut),
            text.slice(0, cut) + text.slice(cut + 1),
          ]
        ) checkResult(changed, parseSyslog(changed, NOW));
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("parseSyslog property: RFC 3164 written by formatSyslog reads back its fields", () => {
  const tag = fc.stringMatching(/^[!-9;-Z\\^-~]{1,48}$/);
  fc.assert(
    fc.property(
      fields5424,
      token(255).filter((host) => !host.endsWith(":") && !host.includes("[")),
      tag,
      nullable(fc.stringMatching(/^[!-\\^-~]{1,16}$/)),
      (fields, hostname, app, procid) => {
        const sent = { ...fields, hostname, app_name: app, procid };
        const record = parsed(formatSyslog(sent, "rfc3164"));
        assert.deepEqual(
          [
            record.format,
            record.facility,
            record.severity,
            record.hostname,
            record.app_name,
            record.procid,
            record.message,
            record.timestamp.slice(5, 19),
          ],
          [
            "rfc3164",
            fields.facility,
            fields.severity,
            hostname,
            app,
            procid,
            fields.message,
            fields.timestamp.slice(5, 19),
          ],
        );
      },
    ),
    { numRuns: 2000 },
  );
});
