import assert from "node:assert/strict";
import fc from "fast-check";
import type { EventError } from "../../../core/actor.ts";
import {
  type Codec,
  type DecodeFailure,
  decodeMessage,
  type DecodeSink,
  StreamDecoder,
} from "../../../actors/input/codec.ts";
import { SyslogFrameDecoder } from "../../../actors/input/syslog_framing.ts";
import { TcpServer } from "../../../actors/input/tcp_server.ts";
import { UdpIn } from "../../../actors/input/udp_in.ts";
import type { SyslogRecord } from "../../../actors/syslog.ts";
import { encode, sendDatagrams, startInput, within } from "./support.ts";

/** A sink that keeps values and failures. */
function recorder(): DecodeSink & {
  values: unknown[];
  failures: DecodeFailure[];
} {
  const values: unknown[] = [];
  const failures: DecodeFailure[] = [];
  return {
    values,
    failures,
    value: (data) => values.push(data),
    failure: (failure) => failures.push(failure),
  };
}

function decoder(
  sink: DecodeSink,
  { codec = "lines", maxLine = 1024, maxFrame = 1024 }: {
    codec?: Codec;
    maxLine?: number;
    maxFrame?: number;
  } = {},
): SyslogFrameDecoder {
  return new SyslogFrameDecoder(codec, maxLine, maxFrame, sink);
}

/** `messages` octet-counted, as rsyslog and syslog-ng send them. */
function octets(messages: string[]): Uint8Array {
  return encode(
    messages.map((message) => `${encode(message).length} ${message}`).join(""),
  );
}

/** Writes `bytes` cut at each of `cuts` (positions), then ends. */
function feed(
  target: { write(chunk: Uint8Array): void; end(): void },
  bytes: Uint8Array,
  cuts: number[] = [],
): void {
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    target.write(bytes.subarray(from, Math.max(from, cut)));
    from = Math.max(from, cut);
  }
  target.write(bytes.subarray(from));
  target.end();
}

Deno.test("SyslogFrameDecoder property: octet-counted frames come out whole whatever the chunks", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: "binary" }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (messages, cuts) => {
        const bytes = octets(messages.map((message) => `<13>${message}`));
        const sink = recorder();
        const split = decoder(sink, { maxFrame: 1 << 20 });
        feed(split, bytes, cuts.map((cut) => cut % (bytes.length + 1)));
        assert.deepEqual(
          sink.values,
          messages.map((message) => `<13>${message}`),
        );
        assert.deepEqual(sink.failures, []);
        assert.equal(split.broken, false);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("SyslogFrameDecoder reads a connection whose first byte is not a digit line by line", () => {
  const sink = recorder();
  const split = decoder(sink, { codec: "syslog" });
  feed(
    split,
    encode("<13>Dec  6 06:07:00 h a: one\r\n\n<13>1 - h a - - - two\n<13>th"),
    [3, 20, 31],
  );
  assert.deepEqual(
    (sink.values as SyslogRecord[]).map((record) => record.message),
    ["one", "two", "th"],
    "the last line, without newline, counts when the connection ends",
  );
  assert.deepEqual(sink.failures, []);
});

Deno.test("SyslogFrameDecoder skips newlines between frames and decodes a zero-length frame", () => {
  const sink = recorder();
  feed(decoder(sink, { codec: "syslog" }), encode("4 <1>a\n\r\n4 <2>b0 3 <3>"));
  assert.deepEqual(
    (sink.values as SyslogRecord[]).map((record) => record.severity),
    [1, 2, 3],
  );
  assert.deepEqual(sink.failures.map((failure) => failure.message), [
    "The message is empty",
  ]);
});

Deno.test("SyslogFrameDecoder skips a frame longer than max_frame_bytes and goes on with the next", () => {
  const sink = recorder();
  const split = decoder(sink, { maxFrame: 16 });
  const long = `<13>${"x".repeat(300)}`;
  feed(split, octets(["<13>before", long, "<13>after"]), [2, 15, 40, 200]);
  assert.deepEqual(sink.values, ["<13>before", "<13>after"]);
  assert.equal(sink.failures.length, 1);
  const [failure] = sink.failures;
  assert.equal(failure!.name, "RangeError");
  assert.equal(
    failure!.message,
    "A frame of 304 bytes is longer than 16 bytes (max_frame_bytes); skipped",
  );
  assert.ok(long.startsWith(failure!.sample), failure!.sample);
  assert.ok(failure!.sample.length > 0);
  assert.equal(split.broken, false);
});

Deno.test("SyslogFrameDecoder reports lost octet counting once, with the bytes found, and reads no further", () => {
  for (
    const [rest, found] of [
      ["<13>no count\n", '"<13>no count\\n"'],
      ["12x <13>", '"12x <13>"'],
      ["12345678901 <13>", '"12345678901 <13>"'],
      ["007x", '"007x"'],
    ]
  ) {
    const sink = recorder();
    const split = decoder(sink);
    split.write(encode("9 <13>hello"));
    split.write(encode(rest!));
    assert.equal(split.broken, true, rest);
    split.write(encode("5 <1>a"));
    split.end();
    assert.deepEqual(sink.values, ["<13>hello"]);
    assert.deepEqual(sink.failures, [{
      name: "SyntaxError",
      message:
        `Octet counting lost: expected a frame length (digits, then a space) but found ${found}; closing the connection`,
      sample: rest,
    }]);
  }
});

Deno.test("SyslogFrameDecoder reports a connection that ends inside a frame or its length", () => {
  const inFrame = recorder();
  feed(decoder(inFrame), encode("20 <13>cut short"));
  assert.deepEqual(inFrame.failures, [{
    name: "SyntaxError",
    message: "The stream ended inside a frame",
    sample: "",
  }]);
  const inLength = recorder();
  feed(decoder(inLength), encode("4 <1>a12"));
  assert.deepEqual(inLength.values, ["<1>a"]);
  assert.deepEqual(inLength.failures, [{
    name: "SyntaxError",
    message: "The stream ended inside a frame length",
    sample: "12",
  }]);
});

Deno.test("SyslogFrameDecoder property: any bytes give values and failures, never an exception", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      fc.constantFrom<Codec>("syslog", "lines", "raw"),
      (bytes, cuts, codec) => {
        const sink = recorder();
        const split = decoder(sink, { codec, maxLine: 64, maxFrame: 64 });
        feed(split, bytes, cuts.map((cut) => cut % (bytes.length + 1)));
        assert.ok(split.pendingBytes <= 64);
        for (const failure of sink.failures) {
          assert.ok(failure.message.length > 0);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("codec syslog property: each datagram and each non-blank line is one record or one failure", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const sink = recorder();
      decodeMessage("syslog", bytes, sink);
      assert.equal(sink.values.length + sink.failures.length, 1);
      for (const failure of sink.failures) {
        assert.equal(failure.sample, new TextDecoder().decode(bytes));
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.string().map((text) => `<13>1 - h a - - - ${text}`),
        ).map((line) => line.replaceAll("\n", " ")),
        { maxLength: 10 },
      ),
      (lines) => {
        const sink = recorder();
        feed(
          new StreamDecoder("syslog", 1 << 20, sink),
          encode(lines.join("\n")),
        );
        const nonBlank = lines.filter((line) =>
          line.replace(/\r$/, "").trim() !== ""
        );
        assert.equal(
          sink.values.length + sink.failures.length,
          nonBlank.length,
        );
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("tcp_server framing syslog: octet-counted and newline connections side by side, malformed messages whole on error", async () => {
  const { router, input, sink, errors } = await startInput(
    new TcpServer("syslog", { port: 0, framing: "syslog", codec: "syslog" }),
  );
  try {
    const counted = await Deno.connect({
      hostname: "127.0.0.1",
      port: input.port,
    });
    const lines = await Deno.connect({
      hostname: "127.0.0.1",
      port: input.port,
    });
    const remote = (conn: Deno.TcpConn) =>
      `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
    await counted.write(octets([
      "<13>1 2026-12-06T06:07:00Z h app 1 - - counted\n",
      "not syslog at all",
    ]));
    await lines.write(
      encode("<14>Dec  6 06:07:00 h cron[2]: lined\r\nbad line\n"),
    );
    counted.close();
    lines.close();
    await within(sink.waitFor(2), "two records");
    await within(errors.waitFor(2), "two failures");
    const byMessage = new Map(
      sink.events.map((event) => [(event.data as SyslogRecord).message, event]),
    );
    assert.deepEqual(byMessage.get("counted")!.header.syslog, {
      remote: remote(counted),
    });
    assert.deepEqual(
      (byMessage.get("counted")!.data as SyslogRecord).app_name,
      "app",
    );
    assert.deepEqual(byMessage.get("lined")!.header.syslog, {
      remote: remote(lines),
      line: 1,
    });
    assert.deepEqual(
      errors.events.map((event) => [
        event.data,
        (event.header.error as EventError).message,
      ]).sort(),
      [
        [
          "bad line",
          'The message does not start with a priority such as "<13>" (line 2)',
        ],
        [
          "not syslog at all",
          'The message does not start with a priority such as "<13>"',
        ],
      ],
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server framing syslog closes a connection whose octet counting is lost, and skips over-long frames", async () => {
  const { router, input, sink, errors } = await startInput(
    new TcpServer("syslog", {
      port: 0,
      framing: "syslog",
      codec: "syslog",
      max_frame_bytes: 64,
    }),
  );
  try {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: input.port,
    });
    await conn.write(octets([
      "<13>1 - h a - - - first",
      `<13>1 - h a - - - ${"x".repeat(100)}`,
      "<13>1 - h a - - - third",
    ]));
    await conn.write(encode("garbage\n"));
    // The server closes its side: reading ends (or the connection resets).
    const ended = await within(
      conn.read(new Uint8Array(16)).catch(() => null),
      "the server to close the connection",
    );
    assert.equal(ended, null);
    conn.close();
    await within(sink.waitFor(2), "two records");
    await within(errors.waitFor(2), "two failures");
    assert.deepEqual(
      sink.events.map((event) => (event.data as SyslogRecord).message),
      ["first", "third"],
    );
    assert.deepEqual(
      errors.events.map((event) => (event.header.error as EventError).name),
      ["RangeError", "SyntaxError"],
    );
    assert.equal(errors.events[1]!.data, "garbage\n");
    assert.equal(input.connections, 0);
  } finally {
    await router.stop();
  }
});

Deno.test("udp_in codec syslog: one record per datagram, a bad datagram whole on error", async () => {
  const { router, input, sink, errors } = await startInput(
    new UdpIn("syslog", { port: 0, codec: "syslog" }),
  );
  try {
    const from = await sendDatagrams(input.port, [
      '<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [a b="c"] \ufeffhi\n',
      "<13>no timestamp here",
      "<300>bad",
    ]);
    await within(sink.waitFor(2), "two records");
    await within(errors.waitFor(1), "one failure");
    assert.deepEqual(
      sink.events.map((event) => {
        const record = event.data as SyslogRecord;
        return [
          event.header.syslog,
          record.msgid,
          record.structured_data,
          record.message,
        ];
      }),
      [
        [{ remote: from }, "ID47", { a: { b: "c" } }, "hi"],
        [{ remote: from }, null, {}, "timestamp here"],
      ],
    );
    assert.equal(errors.events[0]!.data, "<300>bad");
    assert.equal(
      (errors.events[0]!.header.error as EventError).message,
      "The priority <300> is above 191 (facility 23, severity 7)",
    );
  } finally {
    await router.stop();
  }
});

Deno.test("SyslogFrameDecoder.takeOver goes on where the decoder it replaces stopped: the same messages wherever the connection is cut", () => {
  const octets = fc.array(
    fc.oneof(
      fc.string({ maxLength: 30 }).map((text) =>
        `${encode(text).length} ${text}`
      ),
      fc.constant("\n"),
      fc.constant(`40 ${"x".repeat(40)}`),
    ),
    { minLength: 1, maxLength: 10 },
  ).map((parts) => "1 a" + parts.join(""));
  const lines = fc.array(fc.string({ maxLength: 40 }), { maxLength: 10 })
    .map((parts) => "<13>" + parts.join("\n"));
  fc.assert(
    fc.property(fc.oneof(octets, lines), fc.nat(), (text, cut) => {
      const bytes = encode(text);
      const expected = recorder();
      const reference = decoder(expected, { maxLine: 30, maxFrame: 30 });
      reference.write(bytes);
      reference.end();
      const sink = recorder();
      const first = decoder(sink, { maxLine: 30, maxFrame: 30 });
      const second = decoder(sink, { maxLine: 30, maxFrame: 30 });
      const at = cut % (bytes.length + 1);
      first.write(bytes.subarray(0, at));
      second.takeOver(first);
      first.end();
      second.write(bytes.subarray(at));
      second.end();
      assert.deepEqual(sink.values, expected.values);
      assert.deepEqual(
        sink.failures.map((failure) => failure.message),
        expected.failures.map((failure) => failure.message),
      );
    }),
    { numRuns: 2000 },
  );
});
