import assert from "node:assert/strict";
import type { LogEvent, LogLevel } from "../../../core/log.ts";
import { Router } from "../../../core/router.ts";
import { LogLevelFilter } from "../../../actors/log/log_level_filter.ts";
import { Collector, ListInput } from "../../helpers.ts";

function logEvent(level: string): LogEvent {
  return {
    header: {
      log: {
        time: "2026-01-01T00:00:00.000Z",
        level: level as LogLevel,
        actor: "a",
      },
    },
    data: level,
  };
}

Deno.test("log_level_filter passes log events at or above its level and events without one", async () => {
  const router = new Router();
  router.register(
    new ListInput("input", [
      ...["trace", "debug", "info", "warning", "error", "fatal"].map(logEvent),
      logEvent("loud"),
      { header: { other: 1 }, data: "not a log event" },
    ]),
  );
  router.register(new LogLevelFilter("filter", { level: "warning" }));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "filter.inbox");
  router.connect("filter.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(sink.data(), [
    "warning",
    "error",
    "fatal",
    "loud",
    "not a log event",
  ]);
});

Deno.test("log_level_filter between the router and a log actor keeps only the records it passes", async () => {
  const router = new Router({ logLevel: "debug" });
  router.registerLogActor(new LogLevelFilter("errors", { level: "error" }));
  const logs = router.register(new Collector("logs"));
  router.connect("errors.outbox", "logs.inbox");
  router.register(new ListInput("input", []));
  await router.start();
  await router.finished;
  await router.stop();
  // The router warned that input.outbox is not connected: left out.
  assert.deepEqual(logs.events, []);
  assert.throws(
    () => new LogLevelFilter("bad", { level: "loud" as LogLevel }),
    /level/,
  );
});
