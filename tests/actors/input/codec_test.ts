import assert from "node:assert/strict";
import fc from "fast-check";
import { Actor } from "../../../core/actor.ts";
import { type OutboundQueue, Queue } from "../../../core/queue.ts";
import {
  type Codec,
  type DecodeFailure,
  decodeMessage,
  type DecodeSink,
  failureEvent,
  InputSink,
  LengthFrameDecoder,
  LineSplitter,
  type PausingDecoder,
  SAMPLE_CHARS,
  SendGate,
  StreamDecoder,
} from "../../../actors/input/codec.ts";
import { encode, frame, joined } from "./support.ts";

/** A sink that keeps values and failures with their line numbers. */
function recorder(): DecodeSink & {
  values: [unknown, number][];
  failures: [DecodeFailure, number][];
} {
  const values: [unknown, number][] = [];
  const failures: [DecodeFailure, number][] = [];
  return {
    values,
    failures,
    value: (data, line) => values.push([data, line]),
    failure: (failure, line) => failures.push([failure, line]),
  };
}

/** Feeds `text` in chunks of `size` bytes (1 splits inside every character). */
function feed(
  decoder: { write(chunk: Uint8Array): void; end(): void },
  bytes: Uint8Array,
  size: number,
): void {
  for (let i = 0; i < bytes.length; i += size) {
    decoder.write(bytes.subarray(i, i + size));
  }
  decoder.end();
}

Deno.test("StreamDecoder lines gives the same lines whatever the chunk boundaries", () => {
  const text = "one\r\ntwo\n\nthré€ 😀\nlast";
  for (const size of [1, 2, 3, 5, 64]) {
    const sink = recorder();
    feed(new StreamDecoder("lines", 1024, sink), encode(text), size);
    assert.deepEqual(sink.values, [
      ["one", 1],
      ["two", 2],
      ["", 3],
      ["thré€ 😀", 4],
      ["last", 5],
    ], `chunks of ${size}`);
    assert.deepEqual(sink.failures, []);
  }
});

Deno.test("StreamDecoder reuses no caller buffer: a reused chunk does not change held lines", () => {
  const sink = recorder();
  const decoder = new StreamDecoder("lines", 1024, sink);
  const buffer = encode("abc");
  decoder.write(buffer);
  buffer.set(encode("xyz"));
  decoder.write(encode("\n"));
  assert.deepEqual(sink.values, [["abc", 1]]);
});

Deno.test("StreamDecoder reports a line over max_line_bytes once and goes on with the next line", () => {
  const long = "x".repeat(50);
  const text = `short\n${long}\nafter\n${"é".repeat(9)}\nend\n`;
  for (const size of [1, 7, 1000]) {
    const sink = recorder();
    feed(new StreamDecoder("lines", 16, sink), encode(text), size);
    assert.deepEqual(
      sink.values,
      [["short", 1], ["after", 3], ["end", 5]],
      `chunks of ${size}`,
    );
    assert.deepEqual(
      sink.failures.map(([failure, line]) => [failure.name, line]),
      [["RangeError", 2], ["RangeError", 4]],
      `chunks of ${size}`,
    );
    assert.equal(
      sink.failures[0]![0].message,
      "Line 2 is longer than 16 bytes (max_line_bytes)",
    );
    assert.ok(long.startsWith(sink.failures[0]![0].sample));
  }
});

Deno.test("StreamDecoder keeps only the first characters of an over-long line as its sample", () => {
  const sink = recorder();
  feed(
    new StreamDecoder("lines", 300, sink),
    encode(`${"y".repeat(10_000)}\nok\n`),
    4096,
  );
  assert.equal(sink.failures.length, 1);
  assert.equal(sink.failures[0]![0].sample, "y".repeat(SAMPLE_CHARS));
  assert.deepEqual(sink.values, [["ok", 2]]);
});

Deno.test("StreamDecoder ndjson skips blank lines and reports bad JSON with its line", () => {
  const sink = recorder();
  feed(
    new StreamDecoder("ndjson", 1024, sink),
    encode('{"a":1}\n\n  \nnot json\n[1,2]\n"tail"'),
    4,
  );
  assert.deepEqual(sink.values, [[{ a: 1 }, 1], [[1, 2], 5], ["tail", 6]]);
  assert.equal(sink.failures.length, 1);
  const [failure, line] = sink.failures[0]!;
  assert.equal(line, 4);
  assert.equal(failure.name, "SyntaxError");
  assert.match(failure.message, /^Line 4 is not valid JSON: /);
  assert.equal(failure.sample, "not json");
});

Deno.test("StreamDecoder json decodes the whole input as one document", () => {
  const sink = recorder();
  feed(
    new StreamDecoder("json", 1024, sink),
    encode('{\n  "a": [1, 2],\n  "b": "ü"\n}\n'),
    3,
  );
  assert.deepEqual(sink.values, [[{ a: [1, 2], b: "ü" }, 0]]);

  const empty = recorder();
  feed(new StreamDecoder("json", 1024, empty), encode(" \n"), 1);
  assert.deepEqual([empty.values, empty.failures], [[], []]);

  const bad = recorder();
  feed(new StreamDecoder("json", 1024, bad), encode("{oops"), 2);
  assert.equal(bad.failures.length, 1);
  assert.match(
    bad.failures[0]![0].message,
    /^The input is not a JSON document/,
  );
  assert.equal(bad.failures[0]![0].sample, "{oops");
});

Deno.test("StreamDecoder json reports a document over max_line_bytes once", () => {
  const sink = recorder();
  feed(new StreamDecoder("json", 10, sink), encode(`["${"z".repeat(40)}"]`), 4);
  assert.deepEqual(sink.values, []);
  assert.deepEqual(sink.failures.map(([failure]) => failure.message), [
    "The JSON document is longer than 10 bytes (max_line_bytes)",
  ]);
});

Deno.test("StreamDecoder raw gives a copy of each chunk", () => {
  const sink = recorder();
  const decoder = new StreamDecoder("raw", 4, sink);
  const chunk = encode("more than four bytes");
  decoder.write(chunk);
  chunk.fill(0);
  decoder.end();
  assert.equal(sink.values.length, 1);
  assert.deepEqual(sink.values[0]![0], encode("more than four bytes"));
  assert.deepEqual(sink.failures, []);
});

Deno.test("StreamDecoder per line decodes json and raw line by line", () => {
  const json = recorder();
  feed(new StreamDecoder("json", 64, json, true), encode("1\n[2]\n"), 2);
  assert.deepEqual(json.values, [[1, 1], [[2], 2]]);
  const raw = recorder();
  feed(new StreamDecoder("raw", 64, raw, true), encode("ab\r\ncd\n"), 3);
  assert.deepEqual(raw.values, [[encode("ab\r"), 1], [encode("cd"), 2]]);
});

Deno.test("StreamDecoder reset forgets an unfinished line and numbers lines from 1 again", () => {
  const sink = recorder();
  const decoder = new StreamDecoder("lines", 64, sink);
  decoder.write(encode("a\nhalf"));
  decoder.reset();
  decoder.write(encode("b\n"));
  assert.deepEqual(sink.values, [["a", 1], ["b", 1]]);
});

Deno.test("LineSplitter counts an over-long line held across chunks once", () => {
  const lines: unknown[] = [];
  const tooLong: number[] = [];
  const splitter = new LineSplitter(
    4,
    "bytes",
    (line, number) =>
      lines.push([new TextDecoder().decode(line as Uint8Array), number]),
    (_sample, number) => tooLong.push(number),
  );
  for (const part of ["ab", "cdef", "gh", "\nij\n"]) {
    splitter.write(encode(part));
  }
  splitter.end();
  assert.deepEqual(lines, [["ij", 2]]);
  assert.deepEqual(tooLong, [1]);
  assert.equal(splitter.lines, 2);
});

function frames(...payloads: Uint8Array[]): Uint8Array {
  return joined(payloads.map(frame));
}

Deno.test("LengthFrameDecoder decodes frames whatever the chunk boundaries", () => {
  const bytes = frames(encode('{"a":1}'), encode(""), encode("[2]"));
  for (const size of [1, 3, 4, 5, 100]) {
    const sink = recorder();
    feed(new LengthFrameDecoder("lines", 64, sink), bytes, size);
    assert.deepEqual(sink.values.map(([data]) => data), ['{"a":1}', "", "[2]"]);
    assert.deepEqual(sink.failures, [], `chunks of ${size}`);
  }
});

Deno.test("LengthFrameDecoder skips a frame over max_frame_bytes and goes on", () => {
  const bytes = frames(encode("1"), encode("x".repeat(100)), encode("3"));
  for (const size of [1, 7, 1000]) {
    const sink = recorder();
    feed(new LengthFrameDecoder("json", 10, sink), bytes, size);
    assert.deepEqual(sink.values.map(([data]) => data), [1, 3]);
    assert.deepEqual(sink.failures.map(([failure]) => failure.message), [
      "A frame of 100 bytes is longer than 10 bytes (max_frame_bytes)",
    ]);
  }
});

Deno.test("LengthFrameDecoder reports a stream that ends inside a frame", () => {
  const sink = recorder();
  const decoder = new LengthFrameDecoder("raw", 64, sink);
  decoder.write(frames(encode("abc")).subarray(0, 5));
  decoder.end();
  assert.deepEqual(sink.values, []);
  assert.deepEqual(sink.failures.map(([failure]) => failure.message), [
    "The stream ended inside a frame",
  ]);
});

Deno.test("decodeMessage decodes one message per codec", () => {
  const cases: [Codec, string, unknown][] = [
    ["lines", "a\nb", "a\nb"],
    ["json", '{"x":[1]}', { x: [1] }],
    ["ndjson", "2", 2],
    ["raw", "hi", encode("hi")],
  ];
  for (const [codec, text, expected] of cases) {
    const sink = recorder();
    decodeMessage(codec, encode(text), sink);
    assert.deepEqual(sink.values, [[expected, 0]], codec);
  }
  const sink = recorder();
  decodeMessage("json", encode("nope"), sink);
  assert.equal(sink.failures[0]![0].name, "SyntaxError");
  assert.equal(sink.failures[0]![0].sample, "nope");
});

Deno.test("failureEvent carries the source and an error header in the core's shape", () => {
  const event = failureEvent("input", { line: 3 }, {
    name: "SyntaxError",
    message: "Line 3 is not valid JSON: oops",
    sample: "{oops",
  });
  assert.equal(event.data, "{oops");
  assert.deepEqual(event.header.input, { line: 3 });
  const error = event.header.error as Record<string, unknown>;
  assert.deepEqual(
    { ...error, time: undefined },
    {
      actor: "input",
      queue: "",
      name: "SyntaxError",
      message: "Line 3 is not valid JSON: oops",
      time: undefined,
    },
  );
  assert.ok(!Number.isNaN(Date.parse(error.time as string)));
});

/**
 * A recorder that says it is full after every `every`-th value or failure
 * (0: never), until `full = false` is set again.
 */
function fillingRecorder(every: number): ReturnType<typeof recorder> & {
  full: boolean;
} {
  const sink = recorder();
  let made = 0;
  const filling = {
    ...sink,
    full: false,
    value: (data: unknown, line: number) => {
      sink.value(data, line);
      if (every > 0 && ++made % every === 0) filling.full = true;
    },
    failure: (failure: DecodeFailure, line: number) => {
      sink.failure(failure, line);
      if (every > 0 && ++made % every === 0) filling.full = true;
    },
  };
  return filling;
}

/**
 * Feeds `bytes` in chunks of the given sizes with `feed`, resuming each time
 * the decoder stopped (after checking it stopped only when the sink was
 * full, right after one value or failure), then ends.
 */
function feedPausing(
  decoder: PausingDecoder,
  sink: ReturnType<typeof fillingRecorder>,
  bytes: Uint8Array,
  sizes: number[],
): void {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    const chunk = bytes.slice(at, at + size);
    at += size;
    let made = sink.values.length + sink.failures.length;
    for (let done = decoder.feed(chunk); !done; done = decoder.resume()) {
      assert.ok(sink.full, "stopped only because the sink was full");
      const now = sink.values.length + sink.failures.length;
      assert.ok(now > made, "made something before stopping");
      made = now;
      sink.full = false;
    }
    sink.full = false;
  }
  decoder.end();
}

/** Bytes of lines, JSON, blank lines, "\r\n", invalid UTF-8 and long lines. */
const lineBytes = fc.array(
  fc.oneof(
    fc.json().map((json) => encode(json + "\n")),
    fc.constantFrom(encode("\n"), encode("\r\n"), encode("nope\n")),
    fc.uint8Array({ maxLength: 40 }),
    fc.integer({ min: 30, max: 90 }).map((n) => encode("x".repeat(n))),
  ),
  { maxLength: 30 },
).map(joined);

const chunkSizes = fc.array(fc.integer({ min: 1, max: 64 }), {
  minLength: 1,
  maxLength: 8,
});

Deno.test("StreamDecoder.feed stops when the sink is full and resume gives what write would, in order", () => {
  for (const codec of ["lines", "ndjson", "raw"] as const) {
    fc.assert(
      fc.property(
        lineBytes,
        chunkSizes,
        fc.nat({ max: 4 }),
        (bytes, sizes, every) => {
          const expected = recorder();
          const reference = new StreamDecoder(codec, 48, expected, true);
          reference.write(bytes);
          reference.end();
          const sink = fillingRecorder(every);
          feedPausing(
            new StreamDecoder(codec, 48, sink, true),
            sink,
            bytes,
            sizes,
          );
          assert.deepEqual(sink.values, expected.values);
          assert.deepEqual(
            sink.failures.map(([failure, line]) => [failure.message, line]),
            expected.failures.map(([failure, line]) => [failure.message, line]),
          );
        },
      ),
      { numRuns: 1000 },
    );
  }
});

Deno.test("LengthFrameDecoder.feed stops when the sink is full and resume gives what write would, in order", () => {
  const frameBytes = fc.array(
    fc.oneof(
      fc.json().map((json) => frame(encode(json))),
      fc.uint8Array({ maxLength: 60 }).map(frame),
      fc.uint8Array({ minLength: 1, maxLength: 6 }),
    ),
    { maxLength: 20 },
  ).map(joined);
  fc.assert(
    fc.property(
      frameBytes,
      chunkSizes,
      fc.nat({ max: 4 }),
      (bytes, sizes, every) => {
        const expected = recorder();
        const reference = new LengthFrameDecoder("json", 40, expected);
        reference.write(bytes);
        reference.end();
        const sink = fillingRecorder(every);
        feedPausing(
          new LengthFrameDecoder("json", 40, sink),
          sink,
          bytes,
          sizes,
        );
        assert.deepEqual(sink.values, expected.values);
        assert.deepEqual(
          sink.failures.map(([failure]) => failure.message),
          expected.failures.map(([failure]) => failure.message),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("LengthFrameDecoder holds only the bytes of a frame that arrived, not its announced length", () => {
  const decoder = new LengthFrameDecoder("raw", 1_000_000, recorder());
  decoder.write(new Uint8Array([0, 0x0f, 0x42, 0x40, 1, 2, 3])); // 1,000,000 bytes announced
  assert.equal(decoder.pendingBytes, 3);
});

/** An input whose outbox writes into `target`, outside a router. */
class Input extends Actor {
  readonly kind = "input";
  constructor(target: Queue) {
    super("input", {}, { inbound: [] });
    this.outbound("outbox").connect(target);
  }
}

Deno.test("InputSink.decode stops decoding as soon as a send must wait, and readers take turns in order", async () => {
  const target = new Queue("sink.inbox", { capacity: 1 });
  const input = new Input(target);
  const outbox: OutboundQueue = input.outbound("outbox");
  const gate = new SendGate(input);
  const source = (line: number) => ({ line });
  const sinks = [0, 1].map(() => new InputSink(input, source, () => {}, gate));
  const decoders = sinks.map((sink) => new StreamDecoder("lines", 64, sink));
  const lines = (tag: string, count: number) =>
    encode(
      Array.from({ length: count }, (_, i) => `${tag}${i}`).join("\n") + "\n",
    );
  // 600 lines: the 512th fills a batch, whose write waits for room.
  const first = sinks[0]!.decode(decoders[0]!, lines("a", 600));
  assert.ok(first !== undefined, "the first reader waits");
  assert.equal(outbox.figures().in_total, 512, "decoding stopped at the batch");
  const second = sinks[1]!.decode(decoders[1]!, lines("b", 10));
  assert.ok(second !== undefined, "the second reader waits its turn");
  assert.equal(
    outbox.figures().in_total,
    512,
    "the second reader sent nothing",
  );
  assert.equal(gate.queued, 2);
  const reader = target.readable.getReader();
  const read: string[] = [];
  while (read.length < 610) {
    const next = await reader.read();
    for (const event of next.value!) read.push(event.data as string);
  }
  await Promise.all([first, second]);
  assert.deepEqual(
    read,
    [
      ...Array.from({ length: 600 }, (_, i) => `a${i}`),
      ...Array.from({ length: 10 }, (_, i) => `b${i}`),
    ],
  );
  assert.equal(sinks[0]!.kept + sinks[1]!.kept, 0);
  reader.releaseLock();
  await outbox.close();
});

Deno.test("StreamDecoder lines drops a byte order mark at the start of the stream only, whatever the chunks", () => {
  const bom = "\uFEFF";
  const text = `${bom}first\n${bom}second\r\nthird\n${bom}`;
  for (const size of [1, 2, 3, 4, 7, 100]) {
    const sink = recorder();
    feed(new StreamDecoder("lines", 64, sink), encode(text), size);
    assert.deepEqual(sink.values, [
      ["first", 1],
      [`${bom}second`, 2],
      ["third", 3],
      [bom, 4],
    ], `chunks of ${size}`);
  }
});

/**
 * Decodes `bytes` with `first` up to `at`, then with `second`, which takes
 * `first` over there (a connection handed to a reload's replacement).
 */
function handedOver<D extends { write(chunk: Uint8Array): void; end(): void }>(
  first: D,
  second: D & { takeOver(previous: D): void },
  bytes: Uint8Array,
  at: number,
): void {
  first.write(bytes.subarray(0, at));
  second.takeOver(first);
  first.end();
  second.write(bytes.subarray(at));
  second.end();
}

Deno.test("StreamDecoder.takeOver goes on where the decoder it replaces stopped: the same lines, numbers and failures wherever the stream is cut", () => {
  for (const codec of ["lines", "ndjson", "raw"] as const) {
    fc.assert(
      fc.property(lineBytes, fc.nat(), (bytes, cut) => {
        const expected = recorder();
        const reference = new StreamDecoder(codec, 48, expected, true);
        reference.write(bytes);
        reference.end();
        const sink = recorder();
        handedOver(
          new StreamDecoder(codec, 48, sink, true),
          new StreamDecoder(codec, 48, sink, true),
          bytes,
          cut % (bytes.length + 1),
        );
        assert.deepEqual(sink.values, expected.values);
        assert.deepEqual(
          sink.failures.map(([failure, line]) => [failure.message, line]),
          expected.failures.map(([failure, line]) => [failure.message, line]),
        );
      }),
      { numRuns: 1000 },
    );
  }
});

Deno.test("StreamDecoder.takeOver decodes the unfinished line with its own codec and limit", () => {
  const sink = recorder();
  const before = new StreamDecoder("lines", 100, sink, true);
  const after = new StreamDecoder("ndjson", 10, sink, true);
  before.write(encode('a\n{"n":'));
  after.takeOver(before);
  assert.equal(before.pendingBytes, 0);
  assert.equal(after.pendingBytes, 5);
  after.write(encode('1}\n{"n":"too long"}\n'));
  after.end();
  assert.deepEqual(sink.values, [["a", 1], [{ n: 1 }, 2]]);
  assert.deepEqual(
    sink.failures.map(([failure, line]) => [failure.name, line]),
    [
      ["RangeError", 3],
    ],
  );
  assert.throws(
    () => {
      const stopped = new LineSplitter(
        10,
        "text",
        () => {},
        () => {},
        () => true,
      );
      stopped.feed(encode("a\nb\n"));
      new LineSplitter(10, "text", () => {}, () => {}).takeOver(stopped);
    },
    { name: "TypeError", message: /stopped inside a chunk/ },
  );
});

Deno.test("LengthFrameDecoder.takeOver goes on where the decoder it replaces stopped: the same frames and failures wherever the stream is cut", () => {
  const frameBytes = fc.array(
    fc.oneof(
      fc.json().map((json) => frame(encode(json))),
      fc.uint8Array({ maxLength: 60 }).map(frame),
    ),
    { maxLength: 20 },
  ).map(joined);
  fc.assert(
    fc.property(frameBytes, fc.nat(), (bytes, cut) => {
      const expected = recorder();
      const reference = new LengthFrameDecoder("json", 40, expected);
      reference.write(bytes);
      reference.end();
      const sink = recorder();
      handedOver(
        new LengthFrameDecoder("json", 40, sink),
        new LengthFrameDecoder("json", 40, sink),
        bytes,
        cut % (bytes.length + 1),
      );
      assert.deepEqual(sink.values, expected.values);
      assert.deepEqual(
        sink.failures.map(([failure]) => failure.message),
        expected.failures.map(([failure]) => failure.message),
      );
    }),
    { numRuns: 2000 },
  );
});
