import assert from "node:assert/strict";
import type { LogLevel } from "../../../core/log.ts";
import { Router } from "../../../core/router.ts";
import { LogLevelFilter } from "../../../actors/log/log_level_filter.ts";
import { Collector, ListInput } from "../../helpers.ts";
import { runStage } from "../stage.ts";
import { logEvent } from "./support.ts";

Deno.test("log_level_filter passes log events at or above its level and events without one", async () => {
  const { out } = await runStage(
    new LogLevelFilter("filter", { level: "warning" }),
    [
      ...["trace", "debug", "info", "warning", "error", "fatal"].map((level) =>
        logEvent(level, level as LogLevel)
      ),
      logEvent("loud", "loud" as LogLevel),
      { header: { other: 1 }, data: "not a log event" },
    ],
  );
  assert.deepEqual(out.outbox!.data(), [
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
