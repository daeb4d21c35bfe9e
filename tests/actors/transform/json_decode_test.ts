import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import {
  JsonDecode,
  jsonDecode,
} from "../../../actors/transform/json_decode.ts";
import { JsonEncode } from "../../../actors/transform/json_encode.ts";
import { runStage } from "../stage.ts";

Deno.test("json_decode replaces JSON text in data with the value it encodes, in order", async () => {
  const texts = ['{"a":1}', "[1,2]", '"x"', "3", "null", "true"];
  const { out, errors } = await runStage(
    new JsonDecode("decode"),
    texts.map((data, seq) => ({ header: { seq }, data })),
  );
  assert.deepEqual(out.outbox!.data(), [{ a: 1 }, [1, 2], "x", 3, null, true]);
  assert.deepEqual(
    out.outbox!.events.map((event) => event.header.seq),
    [0, 1, 2, 3, 4, 5],
  );
  assert.equal(errors.events.length, 0);
});

Deno.test("json_decode decodes UTF-8 bytes and reads and writes the fields it is told", async () => {
  const bytes = new TextEncoder().encode('{"name":"Zoë"}');
  const { out } = await runStage(
    createActor(jsonDecode, "decode", {
      field: "data.body",
      target: "header.decoded",
    }),
    [{ header: {}, data: { body: bytes } }],
  );
  const [event] = out.outbox!.events;
  assert.deepEqual(event?.header.decoded, { name: "Zoë" });
  assert.equal(event?.data && (event.data as { body: unknown }).body, bytes);
});

Deno.test("json_decode sends bad input to the error queue with the reason, and goes on", async () => {
  const { out, errors, report } = await runStage(new JsonDecode("decode"), [
    { header: {}, data: "{}" },
    { header: {}, data: '{"a":}' },
    { header: {}, data: 42 },
    { header: {}, data: new Uint8Array([0xff, 0xfe]) },
    { header: {}, data: "[1,2" },
    { header: {}, data: "[]" },
  ]);
  assert.deepEqual(out.outbox!.data(), [{}, []]);
  const failures = errors.events.map((event) =>
    event.header.error as EventError
  );
  assert.deepEqual(failures.map((failure) => failure.name), [
    "SyntaxError",
    "TypeError",
    "TypeError",
    "SyntaxError",
  ]);
  assert.deepEqual(failures.map((failure) => failure.message), [
    `Field "data" is not valid JSON: Unexpected token '}', "{"a":}" is not valid JSON`,
    `Field "data" is a number, not JSON text (a string or bytes)`,
    `Field "data" is not valid UTF-8`,
    `Field "data" is not valid JSON: Expected ',' or ']' after array element in JSON at position 4 (line 1 column 5)`,
  ]);
  assert.ok(failures.every((failure) => failure.actor === "decode"));
  assert.equal(
    errors.events[0]?.data,
    '{"a":}',
    "the event is left as it came",
  );
  assert.equal(report.errors, 4);
  assert.equal(report.failed, 0);
});

Deno.test("json_encode then json_decode give back the same data (round trip)", async () => {
  const values = [
    { user: { id: 7, tags: ["a", "b"] }, ok: true, none: null },
    [1.5, -2, "ünïcödé ✓ 🎉"],
    "plain",
    0,
  ];
  const encoded = await runStage(
    new JsonEncode("encode", { indent: 2 }),
    values.map((data) => ({ header: {}, data })),
  );
  const texts = encoded.out.outbox!.data();
  assert.ok(texts.every((text) => typeof text === "string"));
  const decoded = await runStage(
    new JsonDecode("decode"),
    encoded.out.outbox!.events,
  );
  assert.deepEqual(decoded.out.outbox!.data(), values);
  assert.equal(encoded.errors.events.length + decoded.errors.events.length, 0);
});

Deno.test("json_decode refuses option paths that name no field, naming the option", () => {
  assert.throws(
    () => createActor(jsonDecode, "decode", { field: "body" }),
    {
      name: "TypeError",
      message:
        'Invalid options for actor "decode" (type "json_decode"): "field": Field path "body" must start with "data" or "header"',
    },
  );
});
