import assert from "node:assert/strict";
import { Actor } from "../../core/actor.ts";
import { GraphError } from "../../core/errors.ts";
import type { Event } from "../../core/event.ts";
import { Router } from "../../core/router.ts";
import { Generator } from "../../actors/input/generator.ts";
import { Collector, ListInput, numbered, pollUntil } from "../helpers.ts";
import {
  Gate,
  Hang,
  logLines,
  Pass,
  Recorder,
  RecorderInput,
} from "./fixtures.ts";

/** A router with an input, two transforms and a sink, not connected. */
function actors(): Router {
  const router = new Router();
  router.register(new ListInput("input", []));
  router.register(new Pass("one"));
  router.register(new Pass("two"));
  router.register(new Collector("sink"));
  return router;
}

function graphError(router: Router): GraphError {
  try {
    router.check();
  } catch (error) {
    assert.ok(error instanceof GraphError);
    return error;
  }
  assert.fail("check() did not throw");
}

Deno.test("Router.check() reports every graph problem at once in one GraphError", () => {
  const router = actors();
  router.connect("inptu.outbox", "one.inbox");
  router.connect("input.outbx", "two.inbox");
  router.connect("one.outbox", "sink.inbx");
  router.connect("two", "sink.inbox");
  router.connect("input.outbox", "sink.inbox");
  const error = graphError(router);
  assert.deepEqual(error.problems, [
    {
      connection: 0,
      message:
        'Cannot connect "inptu.outbox": actor "inptu" is not registered; did you mean "input"?',
    },
    {
      connection: 1,
      message:
        'Cannot connect "input.outbx": actor "input" has no outbound queue "outbx"; did you mean "outbox"?',
    },
    {
      connection: 2,
      message:
        'Cannot connect "sink.inbx": actor "sink" has no inbound queue "inbx"; did you mean "inbox"?',
    },
    {
      connection: 3,
      message: 'Cannot connect "two": write the queue as "actor.queue"',
    },
    {
      connection: 4,
      message:
        'Cannot connect "sink.inbox": it is already connected from "two"',
    },
  ]);
  assert.equal(
    error.message,
    "The pipeline graph has 5 problems:\n" +
      '  - Cannot connect "inptu.outbox": actor "inptu" is not registered; did you mean "input"?\n' +
      '  - Cannot connect "input.outbx": actor "input" has no outbound queue "outbx"; did you mean "outbox"?\n' +
      '  - Cannot connect "sink.inbx": actor "sink" has no inbound queue "inbx"; did you mean "inbox"?\n' +
      '  - Cannot connect "two": write the queue as "actor.queue"\n' +
      '  - Cannot connect "sink.inbox": it is already connected from "two"',
  );
});

Deno.test("Router.check() names unknown actors and queues without a suggestion when none is close", () => {
  const router = actors();
  router.connect("zzzzzz.outbox", "one.inbox");
  router.connect("one.qqqqqq", "two.inbox");
  assert.deepEqual(graphError(router).problems.map((p) => p.message), [
    'Cannot connect "zzzzzz.outbox": actor "zzzzzz" is not registered',
    'Cannot connect "one.qqqqqq": actor "one" has no outbound queue "qqqqqq"',
  ]);
});

Deno.test("Router.connect() is strictly one to one on both sides", () => {
  const router = actors();
  router.connect("input.outbox", "one.inbox");
  router.connect("input.outbox", "two.inbox"); // fan-out
  router.connect("one.outbox", "sink.inbox");
  router.connect("two.outbox", "sink.inbox"); // fan-in
  router.connect("input.outbox", "sink.inbox"); // both
  assert.deepEqual(graphError(router).problems, [
    {
      connection: 1,
      message:
        'Cannot connect "input.outbox": it is already connected to "one.inbox"',
    },
    {
      connection: 3,
      message:
        'Cannot connect "sink.inbox": it is already connected from "one.outbox"',
    },
    {
      connection: 4,
      message:
        'Cannot connect "input.outbox": it is already connected to "one.inbox"',
    },
    {
      connection: 4,
      message:
        'Cannot connect "sink.inbox": it is already connected from "one.outbox"',
    },
  ]);
});

Deno.test("Router.check() reports a cycle without an input with its path", () => {
  const router = actors();
  router.connect("one.outbox", "two.inbox");
  router.connect("two.outbox", "one.inbox");
  assert.deepEqual(graphError(router).problems, [{
    message:
      'Cycle "one -> two -> one" can never drain: none of its actors ("one", "two") is an input',
  }]);
});

Deno.test("Router.check() accepts a cycle through an input, which drains once the input stops", async () => {
  class Echo extends Actor {
    readonly kind = "input";
    readonly replies: unknown[] = [];
    override async produce(): Promise<void> {
      for (const event of numbered(3)) await this.send(event);
    }
    override consume(event: Event): void {
      this.replies.push(event.data);
    }
  }
  const router = new Router();
  const echo = router.register(new Echo("echo")) as Echo;
  router.register(new Pass("pass"));
  router.connect("echo.outbox", "pass.inbox");
  router.connect("pass.outbox", "echo.inbox");
  router.check();
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(echo.replies, [1, 2, 3]);
  assert.equal(report.timedOut, false);
});

Deno.test("Router.check() reports a queue connected to itself as a cycle", () => {
  const router = actors();
  router.connect("one.outbox", "one.inbox");
  assert.deepEqual(graphError(router).problems.map((p) => p.message), [
    'Cycle "one -> one" can never drain: none of its actors ("one") is an input',
  ]);
});

Deno.test("Router.check() rejects bad queue settings on a connection", () => {
  const router = actors();
  router.connect("input.outbox", "one.inbox", { capacity: 0 });
  // @ts-expect-error: not a policy
  router.connect("one.outbox", "sink.inbox", { whenFull: "explode" });
  assert.deepEqual(graphError(router).problems.map((p) => p.message), [
    'Cannot connect "input.outbox" to "one.inbox": capacity must be a whole number of at least 1, got 0',
    'Cannot connect "one.outbox" to "sink.inbox": whenFull must be one of "block", "drop_newest", "drop_oldest", got "explode"',
  ]);
});

Deno.test("Router checks connections when it starts, whatever the order of register and connect", async () => {
  const router = new Router();
  router.connect("input.outbox", "sink.inbox");
  router.register(new ListInput("input", numbered(2)));
  const sink = router.register(new Collector("sink")) as Collector;
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(sink.data(), [1, 2]);
});

Deno.test("Router.start() rejects with the GraphError and sets nothing up", async () => {
  const log: string[] = [];
  const router = new Router();
  router.register(new RecorderInput("input", log, 1));
  router.register(new Recorder("sink", log, "output"));
  router.connect("input.outbox", "sink.inbx");
  await assert.rejects(router.start(), GraphError);
  assert.deepEqual(log, []);
  const report = await router.stop();
  assert.equal(report.delivered, 0);
  assert.deepEqual(log, []);
});

Deno.test("Router refuses a second actor of the same name and changes after start", async () => {
  const router = new Router();
  router.register(new ListInput("input", []));
  assert.throws(() => router.register(new Pass("input")), {
    name: "TypeError",
    message: 'An actor named "input" is already registered',
  });
  await router.start();
  assert.throws(() => router.register(new Pass("late")), {
    name: "TypeError",
    message: 'Cannot register "late": the router has already started',
  });
  assert.throws(() => router.connect("input.outbox", "late.inbox"), {
    name: "TypeError",
    message:
      'Cannot connect "input.outbox" to "late.inbox": the router has already started',
  });
  assert.throws(() => router.registerLogActor(new Collector("logs")), {
    name: "TypeError",
    message: 'Cannot make "logs" the log actor: the router has already started',
  });
  await assert.rejects(router.start(), {
    name: "TypeError",
    message: "The router can be started once",
  });
  await router.stop();
});

Deno.test("Router.stop() delivers every event sent, in order along every path", async () => {
  const router = new Router();
  const input = router.register(new ListInput("input", numbered(5000)));
  router.register(new Pass("one"));
  router.register(new Pass("two"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "one.inbox", { capacity: 100 });
  router.connect("one.outbox", "two.inbox", { capacity: 7 });
  router.connect("two.outbox", "sink.inbox");
  await router.start();
  await sink.waitFor(10); // still in flight
  const report = await router.stop();
  // The input stops sending when the router stops; all it sent arrives.
  const total = input.pool.outbound.get("outbox")!.figures().in_total;
  assert.ok(total > 10 && total < 5000, `sent ${total}`);
  assert.deepEqual(sink.data(), numbered(total).map((event) => event.data));
  assert.equal(report.delivered, total);
  assert.equal(report.dropped, 0);
  assert.equal(report.timedOut, false);
  assert.deepEqual(report.queued, {});
  assert.deepEqual(report.queues["two.inbox"], {
    in_total: total,
    out_total: total,
    dropped_total: 0,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 0,
    depth: 0,
    capacity: 7,
  });
});

Deno.test("Router.stop() mid-stream delivers every event a generator sent, with no gap", async () => {
  const router = new Router();
  const input = router.register(
    new Generator("input", { interval: 0, data: "x" }),
  );
  router.register(new Pass("pass"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "pass.inbox", { capacity: 50 });
  router.connect("pass.outbox", "sink.inbox", { capacity: 50 });
  await router.start();
  await sink.waitFor(2000);
  const report = await router.stop();
  const seqs = sink.events.map((event) =>
    (event.header.input as { seq: number }).seq
  );
  const sent = input.pool.outbound.get("outbox")!.figures().in_total;
  assert.ok(sent >= 2000);
  assert.deepEqual(seqs, Array.from({ length: sent }, (_, i) => i + 1));
  assert.equal(report.delivered, sent);
  assert.equal(report.dropped, 0);
});

Deno.test("Router.finished resolves once the inputs ran out and every queue drained", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(3)));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  assert.equal(sink.events.length, 3);
  const first = await router.stop();
  assert.equal(await router.stop(), first, "stop() again returns the report");
});

Deno.test("Router.stop() that times out reports what was still queued, drops it and leaves no timer", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(1000)));
  const hang = router.register(new Hang("hang", { capacity: 10 })) as Hang;
  router.connect("input.outbox", "hang.inbox");
  await router.start();
  await hang.started;
  const report = await router.stop({ timeoutMs: 20 });
  assert.equal(report.timedOut, true);
  assert.equal(hang.calls, 1);
  // The first write carried 512 events: 10 went in (the one being consumed
  // among them), 502 waited for room; the input was held back before the rest.
  assert.deepEqual(report.queued, { "hang.inbox": 10, "input.outbox": 502 });
  assert.equal(report.delivered, 0);
  assert.equal(report.abandoned, 512);
  assert.equal(report.queues["hang.inbox"]!.abandoned_total, 10);
  assert.equal(report.queues["input.outbox"]!.abandoned_total, 502);
  assert.deepEqual(report.hung, [
    { actor: "hang", phase: "draining" },
    { actor: "input", phase: "draining" },
  ]);
  assert.equal(report.unaccounted, 0);
  assert.ok(
    logLines(logs).some((line) =>
      line.level === "warning" &&
      line.message ===
        'Stop timed out: "hang", "input" had not finished; 512 events were still queued'
    ),
  );
});

Deno.test("Router.stop() that times out counts only the events a consumer did not finish", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(5)));
  const gate = router.register(new Gate("gate")) as Gate;
  router.connect("input.outbox", "gate.inbox");
  await router.start();
  (await gate.next()).release();
  (await gate.next()).release();
  await gate.next(); // the third never finishes
  const report = await router.stop({ timeoutMs: 20 });
  assert.equal(report.timedOut, true);
  assert.equal(report.delivered, 2);
  assert.deepEqual(report.queued, { "gate.inbox": 3 });
});

Deno.test("Router.start() sets up consumers before producers; teardown follows the drain", async () => {
  const log: string[] = [];
  const router = new Router();
  router.register(new RecorderInput("input", log, 2));
  router.register(new Recorder("sink", log, "output"));
  router.register(new Recorder("mid", log, "transform"));
  router.connect("input.outbox", "mid.inbox");
  router.connect("mid.outbox", "sink.inbox");
  await router.start();
  assert.deepEqual(log.slice(0, 3), ["setup sink", "setup mid", "setup input"]);
  await router.stop();
  const rest = log.slice(3);
  const firstTeardown = rest.findIndex((entry) => entry.startsWith("teardown"));
  assert.deepEqual(rest.slice(firstTeardown), [
    "teardown input",
    "teardown mid",
    "teardown sink",
  ]);
  const drain = rest.slice(0, firstTeardown);
  const at = (entry: string) => {
    const index = drain.indexOf(entry);
    assert.ok(index >= 0, `"${entry}" happened before teardown`);
    return index;
  };
  assert.ok(at("consume mid 1") < at("consume mid 2"));
  assert.ok(at("consume mid 2") < at("drained mid"));
  assert.ok(at("consume mid 1") < at("consume sink 1"));
  assert.ok(at("consume sink 1") < at("consume sink 2"));
  assert.ok(at("consume sink 2") < at("drained sink"));
  assert.ok(at("drained mid") < at("drained sink"));
});

Deno.test("Router.start() rejects naming the actor whose setup failed and tears down those already set up", async () => {
  class BadSetup extends Recorder {
    override setup(): void {
      super.setup();
      throw new Error("no such file");
    }
  }
  const log: string[] = [];
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new RecorderInput("input", log, 1));
  router.register(new BadSetup("mid", log, "transform"));
  router.register(new Recorder("sink", log, "output"));
  router.connect("input.outbox", "mid.inbox");
  router.connect("mid.outbox", "sink.inbox");
  await assert.rejects(router.start(), {
    message: 'Actor "mid" failed to set up: Error: no such file',
  });
  assert.deepEqual(log, ["setup sink", "setup mid", "teardown sink"]);
  assert.ok(
    logLines(logs).some((line) =>
      line.level === "error" &&
      line.message === 'Actor "mid" failed to set up: Error: no such file'
    ),
  );
  await router.stop();
  assert.deepEqual(log, ["setup sink", "setup mid", "teardown sink"]);
});

Deno.test("Router.stop() called while start() is still setting up cancels the start", async () => {
  class SlowSetup extends Collector {
    readonly ready = Promise.withResolvers<void>();
    override setup(): Promise<void> {
      return this.ready.promise;
    }
  }
  const router = new Router();
  router.register(new ListInput("input", numbered(3)));
  const sink = router.register(new SlowSetup("sink")) as SlowSetup;
  router.connect("input.outbox", "sink.inbox");
  const starting = router.start();
  const stopping = router.stop();
  sink.ready.resolve();
  await assert.rejects(starting, {
    message: "The router was stopped while it started",
  });
  const report = await stopping;
  assert.equal(report.timedOut, false);
  assert.equal(report.delivered, 0);
  assert.equal(router.status().state, "stopped");
});

Deno.test("An outbound queue left unconnected is warned about once and what is sent there is dropped", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(5)));
  router.register(new Pass("pass"));
  router.connect("input.outbox", "pass.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  const warnings = logLines(logs).filter((line) =>
    line.message.includes("is not connected")
  );
  assert.deepEqual(warnings, [{
    level: "warning",
    actor: "router",
    message:
      'Queue "pass.outbox" is not connected: events sent there are dropped and counted',
  }]);
  assert.equal(report.queues["pass.outbox"]!.dropped_total, 5);
  assert.equal(report.dropped, 5);
});

/** `input -> sink` with a small sink inbox of `policy`, sink blocked first. */
async function throughPolicy(
  whenFull: "block" | "drop_newest" | "drop_oldest",
): Promise<{ data: unknown[]; dropped: number }> {
  const router = new Router();
  router.register(new ListInput("input", numbered(100)));
  const gate = router.register(new Gate("sink")) as Gate;
  router.connect("input.outbox", "sink.inbox", { capacity: 10, whenFull });
  await router.start();
  const data: unknown[] = [];
  const stopping = router.finished;
  let done = false;
  stopping.then(() => done = true);
  while (!done) {
    const call = await Promise.race([gate.next(), stopping]);
    if (call === undefined) break;
    data.push(call.event.data);
    call.release();
  }
  const report = await router.stop();
  return { data, dropped: report.queues["sink.inbox"]!.dropped_total };
}

Deno.test("A connection with whenFull block delivers every event", async () => {
  const { data, dropped } = await throughPolicy("block");
  assert.deepEqual(data, numbered(100).map((event) => event.data));
  assert.equal(dropped, 0);
});

Deno.test("A connection with whenFull drop_newest keeps the first events and counts the rest", async () => {
  const { data, dropped } = await throughPolicy("drop_newest");
  assert.deepEqual(data, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(dropped, 90);
});

Deno.test("A connection with whenFull drop_oldest keeps the last events and counts the rest", async () => {
  const { data, dropped } = await throughPolicy("drop_oldest");
  assert.deepEqual(data, [91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
  assert.equal(dropped, 90);
});

Deno.test("Actors settings give the capacity and policy of their inbound queues", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(30)));
  router.register(
    new Collector("sink", { capacity: 5, whenFull: "drop_newest" }),
  );
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.queues["sink.inbox"]!.capacity, 5);
  assert.equal(report.queues["sink.inbox"]!.dropped_total, 25);
  assert.equal(report.delivered, 5);
});

Deno.test("A log actor may feed other actors: they drain after the pipeline and their logs go to stderr", async () => {
  class Chatty extends Pass {
    override consume(event: Event): Promise<void> | undefined {
      this.log.info("forwarding");
      return super.consume(event);
    }
  }
  const router = new Router();
  router.registerLogActor(new Pass("logs"));
  router.register(new Chatty("forward"));
  const out = router.register(new Collector("out")) as Collector;
  router.connect("logs.outbox", "forward.inbox");
  router.connect("forward.outbox", "out.inbox");
  router.register(new ListInput("input", numbered(3)));
  router.register(new Chatty("pass"));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "pass.inbox");
  router.connect("pass.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop({ timeoutMs: 5000 });
  assert.equal(report.timedOut, false);
  assert.equal(report.delivered, 3);
  const forwarded = out.events.map((event) =>
    (event.header.log as { actor: string }).actor
  );
  assert.deepEqual(forwarded.filter((actor) => actor === "pass").length, 3);
  assert.ok(!forwarded.includes("forward"), "no log loops back");
});

Deno.test("Router rejects bad options", () => {
  assert.throws(() => new Router({ metricsIntervalMs: -1 }), {
    name: "RangeError",
    message: "Router: metricsIntervalMs must be a number of at least 0, got -1",
  });
  // @ts-expect-error: not a level
  assert.throws(() => new Router({ logLevel: "loud" }), {
    name: "RangeError",
    message:
      'Router: logLevel must be one of "trace", "debug", "info", "warning", "error", "fatal", got "loud"',
  });
});

Deno.test("the router keeps the last 1,000 crashes an actor was restarted after, and counts every restart: an actor that crashes for months does not grow its list", async () => {
  /** Crashes on each of its first `crashes` runs, then runs until stopped. */
  class Crashing extends Actor {
    readonly kind = "input";
    runs = 0;

    constructor(readonly crashes: number) {
      super("crashing", {
        restart: { max: 10_000, withinMs: 60_000, backoffMs: 0 },
      }, { inbound: [] });
    }

    override async produce(signal: AbortSignal): Promise<void> {
      if (++this.runs <= this.crashes) throw new Error(`run ${this.runs}`);
      await new Promise((done) =>
        signal.addEventListener("abort", done, { once: true })
      );
    }
  }
  const router = new Router({ logLevel: "fatal" });
  const input = router.register(new Crashing(1100));
  router.register(new Collector("sink"));
  router.connect("crashing.outbox", "sink.inbox");
  await router.start();
  await pollUntil(() => input.runs, (runs) => runs > 1100, "1,100 restarts");
  const report = await router.stop();
  assert.equal(report.restarts, 1100);
  assert.equal(report.crashed.length, 1000);
  assert.ok(report.crashed.every((crash) => crash.restarted));
  assert.deepEqual(
    [report.crashed[0]!.error, report.crashed.at(-1)!.error],
    ["Error: run 101", "Error: run 1100"],
  );
});
