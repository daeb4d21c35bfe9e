import assert from "node:assert/strict";
import { Actor, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import {
  formatLogLine,
  type LogEvent,
  routeLogs,
  scopedLogger,
  unrouteLogs,
} from "../../core/log.ts";
import { Router, type RouterOptions } from "../../core/router.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";
import { logLines } from "./fixtures.ts";

/** A transform that logs once at each level for every event. */
class Talker extends Actor {
  readonly kind = "transform";
  override consume(event: Event): Promise<void> | undefined {
    this.log.debug("Debug {n}", { n: event.data });
    this.log.info("Info {n}", { n: event.data });
    this.log.warn("Warning {n}", { n: event.data, extra: "kept" });
    this.log.error("Error {n}", { n: event.data });
    return this.send(event);
  }
}

async function talk(
  options: RouterOptions,
): Promise<{ logs: Collector; sink: Collector }> {
  const router = new Router(options);
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(2)));
  router.register(new Talker("talker"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "talker.inbox");
  router.connect("talker.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  return { logs, sink };
}

Deno.test("The log actor receives every record as a log event with header.log and the message as data", async () => {
  const { logs } = await talk({});
  const talker = (logs.events as LogEvent[]).filter((event) =>
    event.header.log.actor === "talker"
  );
  // "info" is the default level: debug records are not routed.
  assert.deepEqual(talker.map((event) => event.data), [
    "Info 1",
    "Warning 1",
    "Error 1",
    "Info 2",
    "Warning 2",
    "Error 2",
  ]);
  assert.deepEqual(talker.map((event) => event.header.log.level), [
    "info",
    "warning",
    "error",
    "info",
    "warning",
    "error",
  ]);
  const warning = talker[1]!;
  const { time, ...rest } = warning.header.log;
  assert.equal(new Date(time).toISOString(), time);
  assert.deepEqual(rest, {
    level: "warning",
    actor: "talker",
    properties: { extra: "kept" },
  });
});

Deno.test("RouterOptions.logLevel filters the records routed", async () => {
  const { logs, sink } = await talk({ logLevel: "error" });
  assert.ok(logs.events.length > 0);
  assert.ok(logLines(logs).every((line) => line.level === "error"));
  assert.deepEqual(
    logLines(logs).filter((line) => line.actor === "talker").map((line) =>
      line.message
    ),
    ["Error 1", "Error 2"],
  );
  assert.equal(sink.events.length, 2);
  const verbose = await talk({ logLevel: "debug" });
  assert.ok(logLines(verbose.logs).some((line) => line.message === "Debug 1"));
});

Deno.test("Without a log actor records go to stderr and the pipeline runs as usual", async () => {
  const router = new Router({ logLevel: "error" });
  router.register(new ListInput("input", numbered(2)));
  router.register(new Talker("talker"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "talker.inbox");
  router.connect("talker.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.delivered, 2);
  assert.deepEqual(sink.data(), [1, 2]);
});

Deno.test("What the log actor itself logs never comes back to it", async () => {
  class LoggingCollector extends Collector {
    override consume(event: Event, context: Context): void {
      this.log.info("Got a log event");
      super.consume(event, context);
    }
  }
  const router = new Router();
  const logs = router.registerLogActor(
    new LoggingCollector("logs"),
  ) as Collector;
  router.register(new ListInput("input", numbered(3)));
  router.register(new Talker("talker"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "talker.inbox");
  router.connect("talker.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.ok(logs.events.length >= 9);
  assert.ok(logLines(logs).every((line) => line.actor !== "logs"));
});

Deno.test("registerLogActor() needs an inbox and a name no other actor has", () => {
  const router = new Router();
  router.register(new Collector("logs"));
  assert.throws(() => router.registerLogActor(new Collector("logs")), {
    name: "TypeError",
    message: 'An actor named "logs" is already registered',
  });
  assert.throws(
    () => router.registerLogActor(new Collector("other", {}, ["in"])),
    {
      name: "TypeError",
      message:
        'Cannot make "other" the log actor: it has no inbound queue "inbox"',
    },
  );
});

Deno.test("Nothing may be connected to the log actor's inbox", () => {
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  router.register(new ListInput("input", []));
  router.connect("input.outbox", "logs.inbox");
  assert.throws(() => router.check(), {
    name: "GraphError",
    message: "The pipeline graph has 1 problem:\n" +
      '  - Cannot connect "logs.inbox": it receives the router\'s log events',
  });
});

Deno.test("routeLogs() hands a scope's records to its handler until unrouted", () => {
  const seen: LogEvent[] = [];
  const scope = routeLogs((event) => seen.push(event));
  const log = scopedLogger(scope, "a");
  log.info("Hello {name}", { name: "you" });
  log.warn("Values {list}", { list: [1, 2] });
  unrouteLogs(scope);
  assert.deepEqual(seen.map((event) => event.data), [
    "Hello you",
    "Values [ 1, 2 ]",
  ]);
  assert.equal(seen[0]!.header.log.actor, "a");
  assert.equal(seen[0]!.header.log.properties, undefined);
});

Deno.test("formatLogLine() writes time, level, actor, message and extra values", () => {
  assert.equal(
    formatLogLine({
      header: {
        log: { time: "2026-01-01T00:00:00.000Z", level: "info", actor: "a" },
      },
      data: "started",
    }),
    "2026-01-01T00:00:00.000Z INFO  [a] started",
  );
  assert.equal(
    formatLogLine({
      header: {
        log: {
          time: "2026-01-01T00:00:00.000Z",
          level: "warning",
          actor: "b",
          properties: { value: "x" },
        },
      },
      data: "odd",
    }),
    '2026-01-01T00:00:00.000Z WARN  [b] odd {"value":"x"}',
  );
});
