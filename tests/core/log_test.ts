import assert from "node:assert/strict";
import { Actor, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import {
  formatLogLine,
  type LogEvent,
  type LogLevel,
  LogLimiter,
  routeLogs,
  scopedLogger,
  unrouteLogs,
} from "../../core/log.ts";
import { Router, type RouterOptions } from "../../core/router.ts";
import { Collector, eventually, ListInput, numbered } from "../helpers.ts";
import { logLines, suppressedCount } from "./fixtures.ts";

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

Deno.test("Actors named as what every object has (constructor, toString, valueOf) start, and their records are routed under their names", async () => {
  const router = new Router({});
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("constructor", numbered(1)));
  router.register(new Talker("toString"));
  router.register(new Talker("valueOf"));
  const sink = router.register(new Collector("hasOwnProperty")) as Collector;
  router.connect("constructor.outbox", "toString.inbox");
  router.connect("toString.outbox", "valueOf.inbox");
  router.connect("valueOf.outbox", "hasOwnProperty.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.equal(sink.events.length, 1);
  const said = (actor: string) =>
    (logs.events as LogEvent[])
      .filter((event) => event.header.log.actor === actor)
      .map((event) => event.data);
  assert.deepEqual(said("toString"), ["Info 1", "Warning 1", "Error 1"]);
  assert.deepEqual(said("valueOf"), ["Info 1", "Warning 1", "Error 1"]);
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

/** A log event of `actor` at `level`. */
function record(
  data: string,
  actor = "tcp",
  level: LogLevel = "warning",
): LogEvent {
  return {
    header: { log: { time: new Date().toISOString(), level, actor } },
    data,
  };
}

/** A limiter with a clock the test moves, and what it passed on. */
function limited(burst: number, intervalMs = 1000) {
  const clock = { now: 0 };
  const seen: LogEvent[] = [];
  const limiter = new LogLimiter(
    (event) => seen.push(event),
    { burst, intervalMs },
    () => clock.now,
  );
  const offer = (template: string, data: string, actor = "tcp") =>
    limiter.offer(`${actor} ${template}`, template, record(data, actor));
  return { clock, seen, limiter, offer };
}

Deno.test("LogLimiter passes a burst of one template, then sums up the rest in one record", () => {
  const { seen, limiter, offer } = limited(3);
  for (let i = 1; i <= 10; i++) offer("Refused {peer}", `Refused ${i}`);
  assert.deepEqual(seen.map((event) => event.data), [
    "Refused 1",
    "Refused 2",
    "Refused 3",
  ]);
  limiter.flush();
  assert.equal(seen.length, 4);
  const summary = seen[3]!;
  assert.equal(summary.data, "7 similar messages suppressed");
  assert.deepEqual(
    { ...summary.header.log, time: undefined },
    {
      time: undefined,
      level: "warning",
      actor: "tcp",
      properties: { suppressed: 7, template: "Refused {peer}" },
    },
  );
  limiter.flush();
  assert.equal(seen.length, 4, "a summary is passed on once");
});

Deno.test("LogLimiter lets one record a second through after the burst, its summary just before it", () => {
  const { clock, seen, offer } = limited(2);
  for (let i = 1; i <= 4; i++) offer("Refused {peer}", `Refused ${i}`);
  clock.now = 500;
  offer("Refused {peer}", "Refused 5"); // half a token: held back
  clock.now = 1000;
  offer("Refused {peer}", "Refused 6");
  offer("Refused {peer}", "Refused 7");
  assert.deepEqual(seen.map((event) => event.data), [
    "Refused 1",
    "Refused 2",
    "3 similar messages suppressed",
    "Refused 6",
  ]);
  // A quiet while fills the bucket again: the next burst passes whole.
  clock.now = 60_000;
  offer("Refused {peer}", "Refused 8");
  offer("Refused {peer}", "Refused 9");
  assert.deepEqual(seen.slice(4).map((event) => event.data), [
    "1 similar message suppressed",
    "Refused 8",
    "Refused 9",
  ]);
});

Deno.test("LogLimiter limits each actor and template apart, and sums up at the highest level held back", () => {
  const { seen, limiter } = limited(1);
  const offer = (actor: string, template: string, level: LogLevel) =>
    limiter.offer(
      `${actor} ${template}`,
      template,
      record(template, actor, level),
    );
  offer("a", "One", "info");
  offer("a", "Two", "info");
  offer("b", "One", "info");
  offer("a", "One", "warning");
  offer("a", "One", "error");
  offer("a", "One", "info");
  assert.deepEqual(seen.map((event) => event.data), ["One", "Two", "One"]);
  limiter.flush();
  const summary = seen[3]!;
  assert.equal(summary.data, "3 similar messages suppressed");
  assert.equal(summary.header.log.actor, "a");
  assert.equal(summary.header.log.level, "error");
  assert.equal(seen.length, 4);
});

Deno.test("LogLimiter keeps track of at most 1000 templates and sums up one it forgets", () => {
  const { seen, offer } = limited(1);
  offer("First {n}", "First 1");
  offer("First {n}", "First 2");
  for (let i = 0; i < 1000; i++) offer(`Other ${i}`, `Other ${i}`);
  const summaries = seen.filter((event) => event.data.endsWith("suppressed"));
  assert.deepEqual(summaries.map((event) => event.header.log.properties), [
    { suppressed: 1, template: "First {n}" },
  ]);
  assert.equal(seen.length, 1 + 1000 + 1);
  // Forgotten, it starts again with a full burst.
  offer("First {n}", "First 3");
  assert.equal(seen.at(-1)!.data, "First 3");
});

Deno.test("LogLimiter refuses a burst or an interval that limits nothing", () => {
  assert.throws(() => new LogLimiter(() => {}, { burst: 0, intervalMs: 1 }), {
    name: "RangeError",
    message: "LogLimiter: burst must be a whole number of at least 1, got 0",
  });
  assert.throws(() => new LogLimiter(() => {}, { burst: 1, intervalMs: 0 }), {
    name: "RangeError",
    message: "LogLimiter: intervalMs must be a number above 0, got 0",
  });
});

Deno.test("routeLogs() rate-limits an actor's repeated records and hands the summary over when unrouted", () => {
  const seen: LogEvent[] = [];
  const scope = routeLogs((event) => seen.push(event));
  const log = scopedLogger(scope, "tcp");
  for (let i = 1; i <= 1000; i++) {
    log.warn("Refused a connection from {peer}", { peer: `10.0.0.${i}` });
  }
  log.info("Something else");
  unrouteLogs(scope);
  const refused = seen.filter((event) => event.data.startsWith("Refused"));
  const summaries = seen.filter((event) => event.data.endsWith("suppressed"));
  // The first ones always pass; whatever else the clock let through, every
  // record is either passed on or counted in a summary.
  assert.equal(refused[0]!.data, "Refused a connection from 10.0.0.1");
  assert.ok(refused.length >= 5 && refused.length < 1000, `${refused.length}`);
  const suppressed = suppressedCount(summaries);
  assert.equal(refused.length + suppressed, 1000);
  assert.ok(summaries.every((event) =>
    event.header.log.properties!.template ===
      "Refused a connection from {peer}"
  ));
  assert.ok(seen.some((event) => event.data === "Something else"));
  const unlimited: LogEvent[] = [];
  const open = routeLogs((event) => unlimited.push(event), "trace", null);
  for (let i = 0; i < 20; i++) scopedLogger(open, "tcp").warn("Same");
  unrouteLogs(open);
  assert.equal(unlimited.length, 20, "null passes every record");
});

Deno.test("A router's log actor gets the summary of repeated records once the second is over", async () => {
  class Noisy extends Actor {
    readonly kind = "transform";
    override consume(event: Event): Promise<void> | undefined {
      this.log.warn("Odd event {n}", { n: event.data });
      return this.send(event);
    }
  }
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(200)));
  router.register(new Noisy("noisy"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "noisy.inbox");
  router.connect("noisy.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const noisy = () =>
    (logs.events as LogEvent[]).filter((event) =>
      event.header.log.actor === "noisy"
    );
  const suppressed = () => suppressedCount(noisy());
  const passed = () => noisy().filter((event) => event.data.startsWith("Odd"));
  // Every record is passed on or counted in a summary, without a stop.
  await eventually(
    () => passed().length + suppressed() === 200 ? true : undefined,
    "every record passed on or summed up",
  );
  await router.stop();
  assert.equal(passed()[0]!.data, "Odd event 1");
  assert.ok(suppressed() > 0);
  assert.ok(
    noisy().every((event) =>
      event.data.startsWith("Odd") ||
      event.header.log.properties?.template === "Odd event {n}"
    ),
  );
});
