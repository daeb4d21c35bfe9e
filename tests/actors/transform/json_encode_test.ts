import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import {
  JsonEncode,
  jsonEncode,
} from "../../../actors/transform/json_encode.ts";
import { runStage } from "../stage.ts";

Deno.test("json_encode replaces data with its JSON text, on one line by default", async () => {
  const { out, errors } = await runStage(new JsonEncode("encode"), [
    { header: {}, data: { a: [1, "x"] } },
    { header: {}, data: null },
    { header: {}, data: "é" },
  ]);
  assert.deepEqual(out.outbox!.data(), ['{"a":[1,"x"]}', "null", '"é"']);
  assert.equal(errors.events.length, 0);
});

Deno.test("json_encode indents when told and writes the text to the target field", async () => {
  const { out } = await runStage(
    createActor(jsonEncode, "encode", {
      field: "header.http",
      target: "data.headers",
      indent: 2,
    }),
    [{ header: { http: { status: 200 } }, data: { body: "ok" } }],
  );
  assert.deepEqual(out.outbox!.data(), [{
    body: "ok",
    headers: '{\n  "status": 200\n}',
  }]);
});

Deno.test("json_encode sends values JSON cannot hold to the error queue with the reason", async () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const { out, errors, report } = await runStage(new JsonEncode("encode"), [
    { header: {}, data: 1n },
    { header: {}, data: undefined },
    { header: {}, data: cycle },
    { header: {}, data: [1] },
  ]);
  assert.deepEqual(out.outbox!.data(), ["[1]"]);
  const messages = errors.events.map((event) =>
    (event.header.error as EventError).message
  );
  assert.equal(
    messages[0],
    'Field "data" cannot be encoded as JSON: Do not know how to serialize a BigInt',
  );
  assert.equal(
    messages[1],
    'Field "data" cannot be encoded as JSON: it is undefined',
  );
  assert.match(
    messages[2]!,
    /^Field "data" cannot be encoded as JSON: Converting circular structure to JSON/,
  );
  assert.equal(report.errors, 3);
  assert.equal(report.failed, 0);
});
