import assert from "node:assert/strict";
import { Router } from "../../../core/router.ts";
import { LogHuman } from "../../../actors/log/log_human.ts";
import { ListInput } from "../../helpers.ts";
import { feed, logEvent, TextTarget } from "./support.ts";

Deno.test("log_human writes one readable line per log event, in order, a batch in one write", async () => {
  const target = new TextTarget();
  await feed(new LogHuman("log", {}, target), [
    logEvent("first", "warning"),
    logEvent("second {n}", "warning", { extra: 2 }),
    { header: { other: 1 }, data: "not a log event" },
  ]);
  assert.deepEqual(target.lines(), [
    "2026-01-01T00:00:00.000Z WARN  [a] first",
    '2026-01-01T00:00:00.000Z WARN  [a] second {n} {"extra":2}',
    '{ header: { other: 1 }, data: "not a log event" }',
  ]);
  assert.equal(target.writes, 1);
});

Deno.test("log_human writes values JSON cannot hold in a printable form instead of failing", async () => {
  const cycle: Record<string, unknown> = { name: "loop" };
  cycle.self = cycle;
  const target = new TextTarget();
  await feed(new LogHuman("log", {}, target), [
    logEvent("big", "warning", { n: 1n }),
    logEvent("cycle", "warning", { cycle }),
  ]);
  assert.deepEqual(target.lines(), [
    "2026-01-01T00:00:00.000Z WARN  [a] big { n: 1n }",
    '2026-01-01T00:00:00.000Z WARN  [a] cycle { cycle: <ref *1> { name: "loop", self: [Circular *1] } }',
  ]);
});

Deno.test("log_human receives the router's own log records as the log actor", async () => {
  const target = new TextTarget();
  const router = new Router();
  router.registerLogActor(new LogHuman("log", {}, target));
  router.register(new ListInput("input", [{ header: {}, data: 1 }]));
  await router.start();
  await router.finished;
  await router.stop();
  assert.match(
    target.text,
    /^\S+ WARN {2}\[router\] Queue "input\.outbox" is not connected/m,
  );
});
