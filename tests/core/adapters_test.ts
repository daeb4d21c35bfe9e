import assert from "node:assert/strict";
import {
  bytesToEvents,
  eventsToBytes,
  eventsToTextLines,
  type LinesOptions,
  textLinesToEvents,
} from "../../core/adapters.ts";
import type { Event } from "../../core/event.ts";
import { toTransformStream } from "../../core/stream.ts";
import { jsonata } from "../../actors/transform/jsonata.ts";
import { testWith } from "../requires.ts";

const GZIP = { name: "gzip", install: "apt-get install -y gzip" };

/** `text` as UTF-8 bytes cut into chunks of `size` bytes (mid-character too). */
function chunked(text: string, size: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    chunks.push(bytes.slice(i, i + size));
  }
  return ReadableStream.from(chunks);
}

const data = (events: Event[]) => events.map((event) => event.data);

Deno.test("TextDecoderStream then textLinesToEvents(): one event per line, UTF-8 split across chunks, CRLF and a last line without newline", async () => {
  const text = "héllo wörld\r\n\nñ🎉 line three\nlast";
  for (const size of [1, 2, 3, 7, 100]) {
    const events = await Array.fromAsync(
      chunked(text, size)
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(textLinesToEvents()),
    );
    assert.deepEqual(data(events), [
      "héllo wörld",
      "",
      "ñ🎉 line three",
      "last",
    ]);
  }
  const batches = await Array.fromAsync(
    ReadableStream.from(["a\nb\n", "c\n"]).pipeThrough(
      textLinesToEvents({ batch: true }),
    ),
  );
  assert.deepEqual(batches.map(data), [["a", "b"], ["c"]]);
});

Deno.test("textLinesToEvents(): a line longer than maxLineLength errors the stream naming it, or goes to onFailure and is skipped to its end", async () => {
  const text = ["ok", "x".repeat(50), "fine", "y".repeat(11)].join("\n");
  const chunks = () => ReadableStream.from(text.match(/.{1,7}/gs)!);
  await assert.rejects(
    Array.fromAsync(
      chunks().pipeThrough(textLinesToEvents({ maxLineLength: 10 })),
    ),
    { name: "RangeError", message: "Line 2 is longer than 10 characters" },
  );
  const failed: Event[] = [];
  const events = await Array.fromAsync(
    chunks().pipeThrough(
      textLinesToEvents({
        maxLineLength: 10,
        onFailure: (event) => failed.push(event),
      }),
    ),
  );
  assert.deepEqual(data(events), ["ok", "fine"]);
  assert.deepEqual(
    failed.map((event) => (event.header.error as { message: string }).message),
    [
      "Line 2 is longer than 10 characters",
      "Line 4 is longer than 10 characters",
    ],
  );
  assert.ok(String(failed[0]!.data).startsWith("xxxxxxxxxx"));
});

Deno.test("bytesToEvents(): the inputs' codecs; a line that is not JSON errors the stream naming it, or goes to onFailure", async () => {
  const ndjson = '{"a":1}\nnot json\n\n[2]\n';
  await assert.rejects(
    Array.fromAsync(
      chunked(ndjson, 4).pipeThrough(
        bytesToEvents({ codec: "ndjson" }),
      ),
    ),
    (error) =>
      error instanceof SyntaxError &&
      error.message.startsWith("Line 2 is not valid JSON"),
  );
  const failed: Event[] = [];
  const events = await Array.fromAsync(
    chunked(ndjson, 4).pipeThrough(
      bytesToEvents({ codec: "ndjson", onFailure: (e) => failed.push(e) }),
    ),
  );
  assert.deepEqual(data(events), [{ a: 1 }, [2]]);
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.data, "not json");
  assert.equal(
    (failed[0]!.header.error as { actor: string }).actor,
    "bytesToEvents",
  );
  const json = await Array.fromAsync(
    chunked('{"whole": [1, 2]}', 3).pipeThrough(
      bytesToEvents({ codec: "json" }),
    ),
  );
  assert.deepEqual(data(json), [{ whole: [1, 2] }]);
});

Deno.test("eventsToTextLines() and eventsToBytes(): one line per event, one chunk per chunk, as file_out writes them", async () => {
  const events: Event[] = [
    { header: {}, data: "text" },
    { header: {}, data: { n: 1 } },
    { header: {}, data: new TextEncoder().encode("bytes") },
  ];
  const text = await Array.fromAsync(
    ReadableStream.from([events[0]!, events.slice(1)]).pipeThrough(
      eventsToTextLines(),
    ),
  );
  assert.deepEqual(text, ["text\n", '{"n":1}\nbytes\n']);
  const ndjson = await new Response(
    ReadableStream.from([events.slice(0, 2)]).pipeThrough(
      eventsToBytes({ format: "ndjson" }),
    ),
  ).text();
  assert.equal(ndjson, '"text"\n{"n":1}\n');
  const bad: Event[] = [{ header: {}, data: 1n }, { header: {}, data: 2 }];
  await assert.rejects(
    Array.fromAsync(ReadableStream.from([bad]).pipeThrough(eventsToBytes())),
    { name: "TypeError", message: /Cannot write the data as JSON/ },
  );
  const failed: Event[] = [];
  const kept = await Array.fromAsync(
    ReadableStream.from([bad]).pipeThrough(
      eventsToTextLines({ onFailure: (event) => failed.push(event) }),
    ),
  );
  assert.deepEqual(kept, ["2\n"]);
  assert.equal(failed.length, 1);
});

testWith(
  "events through CompressionStream: gzip decompresses them, and DecompressionStream plus TextDecoderStream give them back",
  [GZIP],
  async ([gzip]) => {
    const events = Array.from(
      { length: 10_000 },
      (_, i): Event => ({ header: {}, data: { i, text: `é${i}` } }),
    );
    const compressed = new Uint8Array(
      await new Response(
        ReadableStream.from(events)
          .pipeThrough(toTransformStream(jsonata, { expression: "$" }))
          .pipeThrough(eventsToBytes({ format: "ndjson" }))
          .pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer(),
    );
    const child = new Deno.Command(gzip!, {
      args: ["-dc"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writing = ReadableStream.from([compressed]).pipeTo(child.stdin);
    const output = await child.output();
    await writing;
    assert.equal(output.code, 0);
    const lines = new TextDecoder().decode(output.stdout).trimEnd().split("\n");
    assert.deepEqual(lines.map((line) => JSON.parse(line)), data(events));

    const back = await Array.fromAsync(
      ReadableStream.from([compressed])
        .pipeThrough(new DecompressionStream("gzip"))
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(textLinesToEvents({ batch: true })),
    );
    assert.deepEqual(
      back.flat().map((event) => JSON.parse(String(event.data))),
      data(events),
    );
  },
);

Deno.test("eventsToTextLines() and eventsToBytes(): a value that is not an event is a failure naming why, never a line of its own", async () => {
  const chunks = [
    [{ header: {}, data: "a" }, null, 5, { data: "no header" }],
    "text",
    { header: {}, data: "b" },
  ] as never[];
  const asText = [
    eventsToTextLines,
    (options?: LinesOptions): ReadableWritablePair<string, Event | Event[]> => {
      const bytes = eventsToBytes(options);
      return {
        writable: bytes.writable,
        readable: bytes.readable.pipeThrough(new TextDecoderStream()),
      };
    },
  ];
  for (const adapter of asText) {
    const failed: Event[] = [];
    const out = await Array.fromAsync(
      ReadableStream.from(chunks).pipeThrough(
        adapter({ onFailure: (event) => failed.push(event) }),
      ),
    );
    assert.equal(out.join(""), "a\nb\n");
    assert.deepEqual(
      failed.map((event) => (event.header.error as Error).message),
      [
        "Not an event: not an object (null)",
        "Not an event: not an object (number)",
        'Not an event: missing "header"',
        "Not an event: not an object (string)",
      ],
    );
    await assert.rejects(
      Array.fromAsync(ReadableStream.from(chunks).pipeThrough(adapter())),
      { name: "TypeError", message: "Not an event: not an object (null)" },
    );
  }
});

Deno.test("the adapters refuse chunks of the wrong kind and options out of range, naming them", async () => {
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([new TextEncoder().encode("a\n")]).pipeThrough(
        textLinesToEvents() as never,
      ),
    ),
    {
      name: "TypeError",
      message:
        "textLinesToEvents() takes text, not Uint8Array: pipe bytes through TextDecoderStream first, or use bytesToEvents()",
    },
  );
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from(["a\n"]).pipeThrough(bytesToEvents() as never),
    ),
    {
      name: "TypeError",
      message:
        "bytesToEvents() takes bytes (Uint8Array), not string: use textLinesToEvents() for text",
    },
  );
  assert.throws(() => textLinesToEvents({ maxLineLength: 0 }), {
    name: "RangeError",
    message:
      "textLinesToEvents(): maxLineLength must be a whole number of at least 1, not 0",
  });
  assert.throws(() => textLinesToEvents({ maxLineLength: NaN }), RangeError);
  assert.throws(() => bytesToEvents({ maxLineBytes: -1 }), {
    name: "RangeError",
    message:
      "bytesToEvents(): maxLineBytes must be a whole number of at least 1, not -1",
  });
  assert.throws(() => bytesToEvents({ codec: "xml" as never }), {
    name: "TypeError",
    message:
      'bytesToEvents(): codec must be one of "lines", "ndjson", "json", "raw", "syslog", not "xml"',
  });
  for (const adapter of [eventsToTextLines, eventsToBytes]) {
    assert.throws(() => adapter({ format: "json" as never }), {
      name: "TypeError",
      message:
        `${adapter.name}(): format must be "lines" or "ndjson", not "json"`,
    });
  }
});
