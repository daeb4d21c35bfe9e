import assert from "node:assert/strict";
import type { LogEvent } from "../../../core/log.ts";
import { Router } from "../../../core/router.ts";
import { LogJson, toJsonLine } from "../../../actors/log/log_json.ts";
import { ListInput } from "../../helpers.ts";
import { TextTarget } from "./target.ts";

function logEvent(
  message: string,
  properties?: Record<string, unknown>,
): LogEvent {
  const event: LogEvent = {
    header: {
      log: { time: "2026-01-01T00:00:00.000Z", level: "error", actor: "a" },
    },
    data: message,
  };
  if (properties !== undefined) event.header.log.properties = properties;
  return event;
}

Deno.test("log_json writes one JSON object per line for each log event, in order", async () => {
  const target = new TextTarget();
  const router = new Router();
  router.register(
    new ListInput("input", [
      logEvent("first"),
      logEvent("second", { error: new RangeError("too big"), n: 2n }),
      { header: { other: 1 }, data: [1, 2] },
    ]),
  );
  router.register(new LogJson("log", {}, target));
  router.connect("input.outbox", "log.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.failed, 0);
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
  assert.deepEqual(JSON.parse(toJsonLine(logEvent("cycle", { cycle }))), {
    time: "2026-01-01T00:00:00.000Z",
    level: "error",
    actor: "a",
    message: "cycle",
    properties: '{ cycle: <ref *1> { name: "loop", self: [Circular *1] } }',
  });
  assert.deepEqual(JSON.parse(toJsonLine({ header: { cycle }, data: 1 })), {
    event:
      '{ header: { cycle: <ref *1> { name: "loop", self: [Circular *1] } }, data: 1 }',
  });
});
