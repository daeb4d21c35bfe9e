import assert from "node:assert/strict";
import { LogJson, toJsonLine } from "../../../actors/log/log_json.ts";
import { feed, logEvent, TextTarget } from "./support.ts";

Deno.test("log_json writes one JSON object per line for each log event, in order", async () => {
  const target = new TextTarget();
  await feed(new LogJson("log", {}, target), [
    logEvent("first", "error"),
    logEvent("second", "error", { error: new RangeError("too big"), n: 2n }),
    { header: { other: 1 }, data: [1, 2] },
  ]);
  assert.equal(target.writes, 1);
  assert.deepEqual(target.lines().map((line) => JSON.parse(line)), [
    {
      time: "2026-01-01T00:00:00.000Z",
      level: "error",
      actor: "a",
      message: "first",
    },
    {
      time: "2026-01-01T00:00:00.000Z",
      level: "error",
      actor: "a",
      message: "second",
      properties: { error: { name: "RangeError", message: "too big" }, n: "2" },
    },
    { header: { other: 1 }, data: [1, 2] },
  ]);
});

Deno.test("log_json writes a value with a cycle in a printable form instead of failing", () => {
  const cycle: Record<string, unknown> = { name: "loop" };
  cycle.self = cycle;
  assert.deepEqual(
    JSON.parse(toJsonLine(logEvent("cycle", "error", { cycle }))),
    {
      time: "2026-01-01T00:00:00.000Z",
      level: "error",
      actor: "a",
      message: "cycle",
      properties: '{ cycle: <ref *1> { name: "loop", self: [Circular *1] } }',
    },
  );
  assert.deepEqual(JSON.parse(toJsonLine({ header: { cycle }, data: 1 })), {
    event:
      '{ header: { cycle: <ref *1> { name: "loop", self: [Circular *1] } }, data: 1 }',
  });
});
