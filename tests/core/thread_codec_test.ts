import assert from "node:assert/strict";
import {
  decodeEvents,
  encodeEvents,
  transferables,
} from "../../core/thread_codec.ts";

Deno.test("encodeEvents() keeps strings and bytes apart from the JSON, and decodeEvents() restores them", () => {
  const buffer = new TextEncoder().encode("..abc..de");
  const events = [
    { header: { a: 1, nested: { b: [1, 2] } }, data: 'text with "quotes"' },
    { header: {}, data: buffer.subarray(2, 5) },
    { header: { n: null }, data: { deep: { list: [1, "x", true, null] } } },
    { header: {}, data: undefined },
    { header: {}, data: buffer.subarray(7) },
    { header: {}, data: 42 },
  ];
  const wire = encodeEvents(events);
  assert.equal(wire.text, 'text with "quotes"');
  // Only the bytes themselves cross, not the buffer they were cut from.
  assert.equal(wire.bytes.byteLength, 5);
  assert.equal(wire.json.includes("quotes"), false);
  assert.equal(transferables(wire).length, 0);
  const decoded = decodeEvents(wire);
  assert.deepEqual(
    decoded.map((event) => event.header),
    events.map((event) => event.header),
  );
  assert.equal(decoded[0]!.data, 'text with "quotes"');
  assert.deepEqual(decoded[1]!.data, new TextEncoder().encode("abc"));
  assert.deepEqual(decoded[2]!.data, events[2]!.data);
  assert.equal(decoded[3]!.data, undefined);
  assert.deepEqual(decoded[4]!.data, new TextEncoder().encode("de"));
  assert.equal(decoded[5]!.data, 42);
});

Deno.test("transferables() moves the byte data when there is much of it", () => {
  const big = new Uint8Array(1024 * 1024).fill(7);
  const wire = encodeEvents([{ header: {}, data: big }]);
  assert.deepEqual(transferables(wire), [wire.bytes.buffer]);
  const [event] = decodeEvents(structuredClone(wire, {
    transfer: transferables(wire),
  }));
  assert.deepEqual(event!.data, big);
  assert.equal(wire.bytes.byteLength, 0);
});

Deno.test("encodeEvents() clones the events JSON cannot carry, and only those", () => {
  const events = [
    { header: { big: 10n }, data: "a" },
    { header: {}, data: { n: 1 } },
    { header: {}, data: { when: 5n } },
  ];
  const wire = encodeEvents(events);
  assert.equal(wire.cloned.length, 2);
  const decoded = decodeEvents(structuredClone(wire));
  assert.deepEqual(decoded, events);
});

Deno.test("encodeEvents() refuses the events it can neither write as JSON nor clone", () => {
  const wire = encodeEvents([
    { header: {}, data: "a" },
    { header: { big: 1n }, data: { f: () => 1 } },
    { header: {}, data: "b" },
  ]);
  assert.equal(wire.refused.length, 1);
  assert.equal(wire.refused[0]![0], 1);
  assert.match(wire.refused[0]![1], /could not be cloned/);
  const decoded = decodeEvents(structuredClone(wire));
  assert.deepEqual(decoded.map((event) => event.data), ["a", undefined, "b"]);
});

Deno.test("encodeEvents() sends what JSON makes of dates", () => {
  const when = new Date(0);
  const [event] = decodeEvents(
    encodeEvents([{ header: { when }, data: { when } }]),
  );
  assert.deepEqual(event, {
    header: { when: "1970-01-01T00:00:00.000Z" },
    data: { when: "1970-01-01T00:00:00.000Z" },
  });
});

Deno.test("encodeEvents() sends many strings as one, each restored whole", () => {
  const texts = ["😀 smile", "", "é", "a\u0000b", "x".repeat(10_000)];
  const wire = encodeEvents(texts.map((data) => ({ header: {}, data })));
  assert.equal(wire.text, texts.join(""));
  assert.deepEqual(decodeEvents(wire).map((event) => event.data), texts);
});
