/**
 * One test per defect of issue 11 (and of what proving its fix found): a
 * stop that times out, crashes, the crash policy, timeouts as upper bounds,
 * explicit delivery, the one accounting, retries of batch actors and the
 * lifecycle's loose ends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Actor,
  type ActorSettings,
  type Context,
  CrashError,
  type EventError,
  sleep,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import { Router, STOP_GRACE_MS, type StopReport } from "../../core/router.ts";
import { Tracker } from "../../core/tracking.ts";
import { fileOut } from "../../actors/output/file_out.ts";
import { repoUrl, runCli } from "../cli_helpers.ts";
import {
  Collector,
  ListInput,
  numbered,
  trackedEvents,
  until,
  within,
  withTempDir,
} from "../helpers.ts";
import { Gate, Hang, Pass } from "./fixtures.ts";

/** Generous room for a loaded machine: stop() bounds are upper bounds. */
const SLACK_MS = 2000;

/**
 * A delivery tracker that counts how it settled: resolved, failed, and
 * anything done to it after it resolved (which a correct core never does).
 */
class CountingTracker extends Tracker {
  resolved = 0;
  failed = 0;
  afterResolved = 0;

  override retain(): void {
    if (this.resolved > 0) this.afterResolved++;
    super.retain();
  }

  override release(): void {
    if (this.resolved > 0) this.afterResolved++;
    const before = this.settled;
    super.release();
    if (!before && this.settled) this.resolved++;
  }

  override fail(reason: string): void {
    if (this.resolved > 0) this.afterResolved++;
    if (!this.settled) this.failed++;
    super.fail(reason);
  }
}

/** `count` events with data 1..count, each with a counting tracker. */
function counted(
  count: number,
): { events: Event[]; trackers: CountingTracker[] } {
  return trackedEvents(count, () => new CountingTracker());
}

/** An input that sends `events`, then ends. */
function listInput(name: string, events: Event[]): ListInput {
  return new ListInput(name, events);
}

/** Starts `router`, waits until its inputs ran out and it drained, stops it. */
async function runToEnd(router: Router): Promise<StopReport> {
  await router.start();
  await router.finished;
  return await router.stop({ timeoutMs: 2000 });
}

/**
 * Runs `stage` to the end between an input of `count` numbered events, a
 * sink on its outbox and a collector on its error queue.
 */
async function runStage(
  stage: Actor,
  count: number,
): Promise<{ sink: Collector; errors: Collector; report: StopReport }> {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(count)));
  router.register(stage);
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  router.connect("stage.error", "errors.inbox");
  return { sink, errors, report: await runToEnd(router) };
}

/** Stops `router`; asserts that stop() returned within its bound. */
async function stopWithinBound(
  router: Router,
  timeoutMs: number,
): Promise<StopReport> {
  const [report, took] = await timed(() => router.stop({ timeoutMs }));
  assert.ok(took < timeoutMs + STOP_GRACE_MS + SLACK_MS, `took ${took} ms`);
  return report;
}

/** Milliseconds `fn` took to settle. */
async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, performance.now() - started];
}

// ---------------------------------------------------------------------------
// A stop that times out

/**
 * A transform whose `consume` waits until the test opens it, then sends the
 * event on with `context.send` and a new one with `this.send`; it records
 * every call and its teardown.
 */
class Waiter extends Actor {
  readonly kind = "transform";
  readonly calls: string[] = [];
  readonly open = Promise.withResolvers<void>();

  override teardown(): void {
    this.calls.push("teardown");
  }

  override async consume(event: Event, context: Context): Promise<void> {
    this.calls.push(`consume ${event.data}`);
    await this.open.promise;
    await context.send(event);
    await this.send({ header: {}, data: "more" });
  }
}

Deno.test("A stop that times out calls no consume after teardown, sends nothing on, and settles each tracker once", async () => {
  const { events, trackers } = counted(10);
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", events));
  const waiter = router.register(new Waiter("waiter"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "waiter.inbox");
  router.connect("waiter.outbox", "sink.inbox");
  await router.start();
  await until(() => waiter.calls.length === 1, "the first consume");
  await until(
    () => waiter.pool.inbound.get("inbox")!.depth === 10,
    "all queued",
  );
  const report = await router.stop({ timeoutMs: 50 });
  waiter.open.resolve();
  await sleep(20, new AbortController().signal);
  // The event in hand and the 9 queued were thrown away, and nothing else.
  assert.deepEqual(waiter.calls, ["consume 1", "teardown"]);
  assert.equal(sink.events.length, 0);
  assert.equal(report.abandoned, 10);
  assert.equal(report.unaccounted, 0);
  assert.deepEqual(report.hung, [
    { actor: "sink", phase: "draining" },
    { actor: "waiter", phase: "draining" },
  ]);
  // What the consume in hand sent after the stop was counted, not sent on.
  assert.equal(waiter.figures().late_total, 2);
  assert.equal(waiter.pool.outbound.get("outbox")!.figures().in_total, 0);
  for (const tracker of trackers) {
    assert.deepEqual(
      [tracker.resolved, tracker.failed, tracker.afterResolved],
      [0, 1, 0],
    );
    await assert.rejects(tracker.done, {
      message: 'Actor "waiter" was stopped before it finished',
    });
  }
});

// ---------------------------------------------------------------------------
// Crashes and the crash policy

Deno.test("fail() on an event whose header is frozen sends a copy to error and the pipeline drains", async () => {
  class Freeze extends Actor {
    readonly kind = "transform";
    override consume(event: Event, context: Context): void {
      Object.freeze(event.header);
      context.fail(event, new RangeError(`bad ${event.data}`));
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(new Freeze("freeze"));
  router.register(new Collector("sink"));
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "freeze.inbox");
  router.connect("freeze.outbox", "sink.inbox");
  router.connect("freeze.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.deepEqual(errors.data(), [1, 2, 3]);
  const error = errors.events[0]!.header.error as EventError;
  assert.equal(error.message, "bad 1");
  assert.equal(error.actor, "freeze");
  assert.equal(report.timedOut, false);
  assert.equal(report.errors, 3);
  assert.equal(report.unaccounted, 0);
});

Deno.test("A queue observer that throws is dropped and the actor goes on", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(600)));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  let calls = 0;
  sink.pool.inbound.get("inbox")!.observe(() => {
    calls++;
    throw new Error("observer bug");
  });
  const report = await runToEnd(router);
  assert.equal(calls, 1, "called once, then removed");
  assert.equal(sink.events.length, 600);
  assert.equal(report.delivered, 600);
  assert.equal(report.timedOut, false);
});

/** A transform that crashes on event 2 and records its setups. */
class CrashOnTwo extends Actor {
  readonly kind = "transform";
  setups = 0;

  constructor(name: string, settings: ActorSettings, readonly batch: boolean) {
    super(name, settings);
    if (batch) {
      this.consumeBatch = (events, context) => {
        if (events.some((event) => event.data === 2)) {
          throw new CrashError("broken");
        }
        for (const event of events) void context.send(event, "outbox", event);
      };
    }
  }

  override setup(): void {
    this.setups++;
  }

  override consume(event: Event, context: Context) {
    if (event.data === 2) throw new CrashError("broken");
    return context.send(event);
  }
}

/** Runs 1..4 through a {@link CrashOnTwo}, one event per batch. */
async function runCrashOnTwo(batch: boolean) {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(4)));
  const crashy = router.register(
    new CrashOnTwo("crashy", {
      restart: { max: 1, withinMs: 60_000, backoffMs: 1 },
    }, batch),
  );
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "crashy.inbox", { capacity: 1 });
  router.connect("crashy.outbox", "sink.inbox");
  router.connect("crashy.error", "errors.inbox");
  const report = await runToEnd(router);
  return { report, crashy, sink, errors };
}

Deno.test("A CrashError from consume fails its event to error and restarts the actor", async () => {
  const { report, crashy, sink, errors } = await runCrashOnTwo(false);
  assert.deepEqual(sink.data(), [1, 3, 4]);
  assert.deepEqual(errors.data(), [2]);
  assert.equal(
    (errors.events[0]!.header.error as EventError).name,
    "CrashError",
  );
  assert.equal(crashy.setups, 2, "set up again for the restart");
  assert.equal(crashy.figures().restarts_total, 1);
  assert.deepEqual(
    report.crashed.map(({ actor, error, restarted }) => ({
      actor,
      error,
      restarted,
    })),
    [{ actor: "crashy", error: "CrashError: broken", restarted: true }],
  );
  assert.deepEqual(report.gaveUp, []);
  assert.equal(report.unaccounted, 0);
});

Deno.test("A CrashError from consumeBatch fails the batch to error and restarts the actor", async () => {
  const { report, crashy, sink, errors } = await runCrashOnTwo(true);
  assert.deepEqual(errors.data(), [2]);
  assert.deepEqual(sink.data(), [1, 3, 4]);
  assert.equal(crashy.figures().restarts_total, 1);
  assert.equal(report.crashed.length, 1);
  assert.deepEqual(report.gaveUp, []);
  assert.equal(report.unaccounted, 0);
});

Deno.test("A produce that ends by throwing its stop signal's abort reason is not a crash", async () => {
  class Ticker extends Actor {
    readonly kind = "input";
    constructor(name: string) {
      super(name, {}, { inbound: [] });
    }
    override async produce(signal: AbortSignal): Promise<void> {
      for (let i = 0;; i++) {
        await sleep(2, new AbortController().signal);
        signal.throwIfAborted();
        await this.send({ header: {}, data: i });
      }
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(new Ticker("ticker"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("ticker.outbox", "sink.inbox");
  await router.start();
  await sink.waitFor(3);
  const report = await router.stop({ timeoutMs: 2000 });
  assert.deepEqual(report.crashed, []);
  assert.deepEqual(report.gaveUp, []);
  assert.equal(report.delivered, report.created);
});

Deno.test("A sink that crashes while the pipeline stops is restarted and the drain delivers the rest", async () => {
  const go = Promise.withResolvers<void>();
  class CrashOnce extends Collector {
    #crashed = false;
    override async consume(event: Event, context: Context): Promise<void> {
      await go.promise;
      if (!this.#crashed && event.data === 50) {
        this.#crashed = true;
        throw new CrashError("hiccup");
      }
      super.consume(event, context);
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(100)));
  router.register(new Pass("pass"));
  const sink = router.register(
    new CrashOnce("sink", {
      restart: { max: 1, withinMs: 60_000, backoffMs: 1 },
    }),
  ) as CrashOnce;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "pass.inbox");
  // One event per batch: the crash takes no other event with it.
  router.connect("pass.outbox", "sink.inbox", { capacity: 1 });
  router.connect("sink.error", "errors.inbox");
  await router.start();
  await until(
    () => router.status().actors.input!.state === "finished",
    "the input",
  );
  // The sink crashes while the stop drains.
  const stopping = router.stop({ timeoutMs: 5000 });
  go.resolve();
  const report = await stopping;
  assert.deepEqual(errors.data(), [50]);
  assert.equal(sink.events.length, 99, "everything else was delivered");
  assert.deepEqual(report.gaveUp, []);
  assert.equal(report.crashed[0]?.restarted, true);
  assert.equal(report.unaccounted, 0);
});

Deno.test("compysition run exits 5 when an input crashes more often than its restart policy allows", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "broken.ts"),
      `
import { z } from "zod";
import { Actor } from "${repoUrl("core/actor.ts")}";

class Broken extends Actor {
  readonly kind = "input";
  constructor(name, settings) {
    super(name, { ...settings, restart: { max: 1, withinMs: 60000, backoffMs: 1 } }, { inbound: [] });
  }
  async produce() {
    await this.send({ header: {}, data: "one" });
    throw new Error("lost the connection");
  }
}

export default {
  type: "broken",
  kind: "input",
  summary: "Sends one event, then throws.",
  options: z.strictObject({}),
  create: (name, _options, settings) => new Broken(name, settings),
};
`,
    );
    const file = join(dir, "broken.yaml");
    await Deno.writeTextFile(
      file,
      [
        "actors:",
        "  input: { module: ./broken.ts }",
        '  sink: { type: "null" }',
        "connections:",
        "  - input.outbox -> sink.inbox",
        "",
      ].join("\n"),
    );
    const result = await runCli(["run", file]);
    assert.equal(result.code, 5, result.stderr);
    assert.match(
      result.stderr,
      /The pipeline stopped because "input" crashed more often than its restart policy allows: input: Error: lost the connection/,
    );
    assert.match(result.stderr, /: 2 created, 2 delivered, /);
  });
});

// ---------------------------------------------------------------------------
// timeoutMs is an upper bound

Deno.test("stop() with a teardown that hangs returns within timeoutMs + STOP_GRACE_MS and names the actor and phase", async () => {
  class StuckTeardown extends Collector {
    override teardown(): Promise<void> {
      return new Promise(() => {});
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(new StuckTeardown("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await stopWithinBound(router, 100);
  assert.deepEqual(report.hung, [{ actor: "sink", phase: "teardown" }]);
  assert.equal(report.timedOut, false, "the drain itself finished");
  assert.equal(report.delivered, 3);
});

Deno.test("stop() during a setup that hangs returns within its bound, start() rejects, and the report names the setup once", async () => {
  class StuckSetup extends Pass {
    tornDown = false;
    override setup(): Promise<void> {
      return new Promise(() => {});
    }
    override teardown(): void {
      this.tornDown = true;
    }
  }
  class Recorded extends Collector {
    tornDown = false;
    override teardown(): void {
      this.tornDown = true;
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(new Pass("late"));
  const stuck = router.register(new StuckSetup("stuck")) as StuckSetup;
  const sink = router.register(new Recorded("sink")) as Recorded;
  router.connect("input.outbox", "late.inbox");
  router.connect("late.outbox", "stuck.inbox");
  router.connect("stuck.outbox", "sink.inbox");
  // Started with the default 30 s for setups: the stop cuts it short.
  const starting = router.start();
  await until(() => router.status().actors.stuck!.phase === "setup", "setup");
  const report = await stopWithinBound(router, 100);
  await assert.rejects(starting, {
    message: 'The router was stopped while actor "stuck" was still setting up',
  });
  assert.deepEqual(report.hung, [{ actor: "stuck", phase: "setup" }]);
  assert.equal(report.timedOut, true);
  assert.equal(sink.tornDown, true, "what was set up is torn down");
  assert.equal(stuck.tornDown, false);
  await router.finished;
  assert.equal(router.status().state, "stopped");
});

Deno.test("A restart whose setup hangs counts as one more crash after the start timeout: not ready meanwhile, then the pipeline gives up", async () => {
  class HangsOnRestart extends Actor {
    readonly kind = "input";
    setups = 0;
    constructor(name: string) {
      super(name, { restart: { max: 1, withinMs: 60_000, backoffMs: 1 } }, {
        inbound: [],
      });
    }
    override setup(): Promise<void> {
      return ++this.setups === 1 ? Promise.resolve() : new Promise(() => {});
    }
    override async produce(): Promise<void> {
      await this.send({ header: {}, data: this.setups });
      throw new Error("lost its socket");
    }
  }
  const router = new Router({ logLevel: "fatal", crashStopTimeoutMs: 1000 });
  const input = router.register(new HangsOnRestart("input")) as HangsOnRestart;
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start({ timeoutMs: 200 });
  await until(() => input.setups === 2, "the restart's setup");
  assert.deepEqual(
    router.status().actors.input,
    {
      state: "running",
      phase: "restarting",
      restarts: 0,
      ready: false,
      reason: "It is restarting after a crash",
    },
  );
  await within(router.finished, 10_000, "the pipeline to give up");
  const report = await router.stop({ timeoutMs: 1000 });
  assert.deepEqual(report.gaveUp, ["input"]);
  assert.deepEqual(report.crashed.map(({ error }) => error), [
    "Error: lost its socket",
    'CrashError: Actor "input" did not finish its setup within 200 ms while it restarted',
  ]);
  assert.deepEqual(sink.data(), [1]);
  assert.equal(report.unaccounted, 0);
});

Deno.test("start() that fails tears down what it set up, waiting for each teardown", async () => {
  class SlowTeardown extends Collector {
    tornDown = false;
    override async teardown(): Promise<void> {
      await sleep(200, new AbortController().signal);
      this.tornDown = true;
    }
  }
  class BadSetup extends Pass {
    override setup(): void {
      throw new Error("no such file");
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", []));
  router.register(new BadSetup("bad"));
  const sink = router.register(new SlowTeardown("sink")) as SlowTeardown;
  router.connect("input.outbox", "bad.inbox");
  router.connect("bad.outbox", "sink.inbox");
  await assert.rejects(router.start(), {
    message: 'Actor "bad" failed to set up: Error: no such file',
  });
  assert.equal(sink.tornDown, true);
  const report = await router.stop();
  assert.deepEqual(report.hung, []);
});

Deno.test("A log actor that hangs cannot hold stop() past its bound, and the report names it", async () => {
  class HangingLog extends Collector {
    override consume(event: Event, context: Context): Promise<void> {
      super.consume(event, context);
      return new Promise(() => {});
    }
  }
  // The router logs its start at debug level: the log actor gets that.
  const router = new Router({ logLevel: "debug" });
  router.registerLogActor(new HangingLog("logs"));
  router.register(listInput("input", numbered(3)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await stopWithinBound(router, 100);
  assert.deepEqual(report.hung, [{ actor: "logs", phase: "draining" }]);
  assert.equal(report.delivered, 3);
});

Deno.test("A metric actor that hangs cannot hold stop() past its bound, and the report names it", async () => {
  class HangingMetrics extends Collector {
    override consume(event: Event, context: Context): Promise<void> {
      super.consume(event, context);
      return new Promise(() => {});
    }
  }
  const router = new Router({ logLevel: "fatal", metricsIntervalMs: 5 });
  const metrics = router.registerMetricActor(
    new HangingMetrics("metrics"),
  ) as HangingMetrics;
  router.register(listInput("input", numbered(3)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await metrics.waitFor(1);
  const report = await stopWithinBound(router, 100);
  assert.deepEqual(report.hung, [{ actor: "metrics", phase: "draining" }]);
  assert.equal(report.delivered, 3);
});

Deno.test("A stop that times out aborts context.signal for the consume in flight, which then sends nothing on", async () => {
  class Patient extends Actor {
    readonly kind = "transform";
    readonly started = Promise.withResolvers<void>();
    reason: unknown;
    sendRefused = false;

    override async consume(event: Event, context: Context): Promise<void> {
      this.started.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      context.signal.addEventListener("abort", () => resolve(), {
        once: true,
      });
      await promise;
      this.reason = context.signal.reason;
      try {
        await context.send(event);
      } catch {
        this.sendRefused = true;
      }
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  const patient = router.register(new Patient("patient")) as Patient;
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "patient.inbox");
  router.connect("patient.outbox", "sink.inbox");
  await router.start();
  await patient.started.promise;
  const report = await stopWithinBound(router, 50);
  assert.ok(patient.reason !== undefined, "the signal aborted with a reason");
  assert.equal(report.timedOut, true);
  assert.deepEqual(sink.events, []);
  assert.equal(report.delivered, 0);
  assert.equal(report.abandoned, 3);
  assert.equal(report.unaccounted, 0);
});

Deno.test("The last actor crashing for good does not hide the loss: what it held is counted as failed", async () => {
  class Broken extends Collector {
    override consume(): void {
      throw new CrashError("broken sink");
    }
  }
  const router = new Router({ logLevel: "fatal", crashStopTimeoutMs: 2000 });
  router.register(listInput("input", numbered(5)));
  router.register(
    new Broken("sink", { restart: { max: 0, withinMs: 60_000, backoffMs: 1 } }),
  );
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await within(router.finished, 10_000, "the pipeline to stop by itself");
  const report = await router.stop({ timeoutMs: 2000 });
  assert.deepEqual(report.gaveUp, ["sink"]);
  assert.equal(report.created, 5);
  assert.equal(report.delivered, 0);
  assert.equal(
    report.failed + report.dropped + report.abandoned,
    5,
    `every event is counted as lost: ${JSON.stringify(report)}`,
  );
  assert.equal(report.unaccounted, 0);
});

Deno.test("Concurrent stop() calls share the earliest deadline and return the same report", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  const hang = router.register(new Hang("hang")) as Hang;
  router.connect("input.outbox", "hang.inbox");
  await router.start();
  await hang.started;
  const [[first, second], took] = await timed(() =>
    Promise.all([
      router.stop({ timeoutMs: 60_000 }),
      router.stop({ timeoutMs: 50 }),
    ])
  );
  assert.equal(first, second);
  assert.ok(took < 50 + STOP_GRACE_MS + SLACK_MS, `took ${took} ms`);
  assert.equal(first.timedOut, true);
  assert.equal(first.abandoned, 3);
});

// ---------------------------------------------------------------------------
// Back-pressure cannot be bypassed

/** An input that sends `count` events without waiting for send()'s promise. */
class Flood extends Actor {
  readonly kind = "input";
  /** The most events its outbox held at once. */
  most = 0;
  sent = 0;
  readonly #count: number;

  constructor(name: string, count: number) {
    super(name, { restart: { max: 0, withinMs: 60_000, backoffMs: 1 } }, {
      inbound: [],
    });
    this.#count = count;
  }

  override produce(): Promise<void> {
    const outbox = this.pool.outbound.get("outbox")!;
    for (let i = 0; i < this.#count; i++) {
      void this.send({ header: {}, data: i });
      this.sent++;
      this.most = Math.max(this.most, outbox.figures().depth);
    }
    return Promise.resolve();
  }
}

Deno.test("An input that does not wait for send() gets a TypeError naming the queue (block), and what it sent is accounted for", async () => {
  const router = new Router({ logLevel: "fatal", crashStopTimeoutMs: 5000 });
  const flood = router.register(new Flood("flood", 5000)) as Flood;
  const sink = router.register(
    new Collector("sink", { capacity: 100 }),
  ) as Collector;
  router.connect("flood.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop({ timeoutMs: 5000 });
  assert.equal(report.crashed.length, 1);
  assert.match(
    report.crashed[0]!.error,
    /^TypeError: Cannot send to "flood\.outbox": 1024 events already wait for room there; wait for the promise that send\(\) returns/,
  );
  assert.deepEqual(report.gaveUp, ["flood"]);
  // The send that threw sent nothing: every event sent was delivered.
  assert.equal(report.created, flood.sent);
  assert.equal(report.delivered, flood.sent);
  assert.equal(sink.events.length, flood.sent);
  assert.equal(report.unaccounted, 0);
  assert.ok(flood.most <= 2 * 1024, `the outbox held ${flood.most}`);
});

for (const whenFull of ["drop_newest", "drop_oldest"] as const) {
  Deno.test(`An input that does not wait for send() on a ${whenFull} connection has the excess dropped and counted, in bounded memory`, async () => {
    const router = new Router({ logLevel: "fatal" });
    const flood = router.register(new Flood("flood", 20_000)) as Flood;
    const sink = router.register(new Collector("sink")) as Collector;
    router.connect("flood.outbox", "sink.inbox", { capacity: 100, whenFull });
    await router.start();
    await router.finished;
    const report = await router.stop({ timeoutMs: 5000 });
    assert.deepEqual(report.crashed, []);
    assert.equal(report.created, 20_000);
    assert.equal(report.delivered, sink.events.length);
    assert.equal(report.dropped, 20_000 - sink.events.length);
    assert.equal(report.unaccounted, 0);
    assert.ok(flood.most <= 2 * 1024, `the outbox held ${flood.most}`);
    const outbox = report.queues["flood.outbox"]!;
    const inbox = report.queues["sink.inbox"]!;
    assert.equal(outbox.dropped_total + inbox.dropped_total, report.dropped);
  });
}

// ---------------------------------------------------------------------------
// Delivery is acknowledged only after the derived event is written

/**
 * A transform with two inbound queues whose asynchronous `consume` fails
 * the first attempt of every event, so that both queues' calls overlap
 * while one waits for its retry; it sends a derived event with
 * `context.send` or `this.send`.
 */
class Joiner extends Actor {
  readonly kind = "transform";
  #attempts = new WeakSet<Event>();
  readonly #useThis: boolean;

  constructor(name: string, useThis: boolean) {
    super(name, { retry: { max: 1, backoffMs: 5 } }, {
      inbound: ["left", "right"],
    });
    this.#useThis = useThis;
  }

  override async consume(event: Event, context: Context): Promise<void> {
    await sleep(1, context.signal);
    if (!this.#attempts.has(event)) {
      this.#attempts.add(event);
      throw new Error("first attempt");
    }
    const derived = { header: {}, data: `${context.queue} ${event.data}` };
    await (this.#useThis ? this.send(derived) : context.send(derived));
  }
}

/** An output that takes a while per event and records what it consumed. */
class SlowSink extends Collector {
  override async consume(event: Event, context: Context): Promise<void> {
    await sleep(2, context.signal);
    super.consume(event, context);
  }
}

for (const useThis of [false, true]) {
  Deno.test(`Delivery is acknowledged only once the derived event is written: two inbound queues, async consume and retry, ${useThis ? "this.send" : "context.send"}`, async () => {
    const left = counted(8);
    const right = counted(8);
    const router = new Router({ logLevel: "fatal" });
    router.register(listInput("a", left.events));
    router.register(listInput("b", right.events));
    router.register(new Joiner("join", useThis));
    const sink = router.register(new SlowSink("sink")) as SlowSink;
    router.connect("a.outbox", "join.left");
    router.connect("b.outbox", "join.right");
    router.connect("join.outbox", "sink.inbox");
    const early: string[] = [];
    const watch = (trackers: CountingTracker[], queue: string) =>
      trackers.map((tracker, i) =>
        tracker.done.then(() => {
          const data = `${queue} ${i + 1}`;
          if (!sink.data().includes(data)) early.push(data);
        })
      );
    const acks = [
      ...watch(left.trackers, "left"),
      ...watch(right.trackers, "right"),
    ];
    await router.start();
    await router.finished;
    await Promise.all(acks);
    const report = await router.stop({ timeoutMs: 2000 });
    assert.deepEqual(
      early,
      [],
      "acknowledged before the derived event was written",
    );
    assert.equal(sink.events.length, 16);
    for (const tracker of [...left.trackers, ...right.trackers]) {
      assert.deepEqual([tracker.resolved, tracker.afterResolved], [1, 0]);
    }
    assert.equal(report.created, 16);
    assert.equal(report.copies, 0);
    assert.equal(report.unaccounted, 0);
  });
}

Deno.test("this.send() in consumeBatch derives from the batch: delivery waits for the derived event", async () => {
  class Summary extends Actor {
    readonly kind = "transform";
    override consumeBatch(events: Event[]): Promise<void> | undefined {
      return this.send({ header: {}, data: events.length });
    }
  }
  const { events, trackers } = counted(5);
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", events));
  router.register(new Summary("summary"));
  const gate = router.register(new Gate("gate")) as Gate;
  router.connect("input.outbox", "summary.inbox");
  router.connect("summary.outbox", "gate.inbox");
  await router.start();
  const call = await gate.next();
  await sleep(5, new AbortController().signal);
  assert.deepEqual(trackers.map((tracker) => tracker.settled), [
    false,
    false,
    false,
    false,
    false,
  ]);
  call.release();
  await router.finished;
  await Promise.all(trackers.map((tracker) => tracker.done));
  const report = await router.stop({ timeoutMs: 2000 });
  assert.equal(report.created, 5);
  assert.equal(report.filtered, 4, "five events became one");
  assert.equal(report.unaccounted, 0);
});

// ---------------------------------------------------------------------------
// Counters agree with one another

Deno.test("A stop that times out counts the batch in hand once: the report adds up to what the inputs made", async () => {
  class StopsAt extends Collector {
    override consume(event: Event, context: Context): void | Promise<void> {
      if (event.data === 700) return new Promise(() => {});
      super.consume(event, context);
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(4608)));
  const sink = router.register(new StopsAt("sink")) as StopsAt;
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await sink.waitFor(699);
  await until(
    () => sink.pool.inbound.get("inbox")!.depth === 1024,
    "a full queue",
  );
  const report = await router.stop({ timeoutMs: 50 });
  assert.equal(report.delivered, 699);
  assert.equal(report.failed, 0);
  assert.equal(report.created, report.delivered + report.abandoned);
  assert.equal(report.unaccounted, 0);
  const inbox = report.queues["sink.inbox"]!;
  assert.equal(
    inbox.in_total,
    inbox.out_total + inbox.dropped_total + inbox.failed_total,
  );
  assert.equal(inbox.failed_total, 0);
  assert.equal(inbox.abandoned_total, 1024, "the events in hand and queued");
});

Deno.test("A consumeBatch that calls fail(e) and then throws sends e to error once", async () => {
  class FailThenThrow extends Actor {
    readonly kind = "output";
    override consumeBatch(events: Event[], context: Context): void {
      context.fail(events[0]!, new RangeError("first"));
      throw new Error("the rest");
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(new FailThenThrow("out"));
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "out.inbox");
  router.connect("out.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.deepEqual(errors.data(), [1, 2, 3]);
  assert.deepEqual(
    errors.events.map((event) => (event.header.error as EventError).message),
    ["first", "the rest", "the rest"],
  );
  assert.equal(report.errors, 3);
  assert.equal(report.unaccounted, 0);
});

for (const when of ["at once", "after the send"] as const) {
  Deno.test(`A consumeBatch that passes its whole batch on and then throws (${when}) leaves the events downstream: none is also sent to error or retried`, async () => {
    class PassThenThrow extends Actor {
      readonly kind = "transform";
      override consumeBatch(
        events: Event[],
        context: Context,
      ): Promise<void> | undefined {
        const sending = context.sendAll(events);
        if (when === "at once") throw new Error("after passing on");
        return (async () => {
          await sending;
          throw new Error("after passing on");
        })();
      }
    }
    const stage = new PassThenThrow("stage", {
      retry: { max: 2, backoffMs: 1 },
    });
    const { sink, errors, report } = await runStage(stage, 5);
    assert.deepEqual(sink.data(), [1, 2, 3, 4, 5]);
    assert.deepEqual(errors.data(), []);
    assert.equal(report.delivered, 5);
    assert.equal(report.errors + report.failed, 0);
    assert.equal(report.unaccounted, 0);
    assert.equal(stage.figures().consumed_total, 5);
  });
}

for (const how of ["send() one by one", "sendAll() of a copy"] as const) {
  Deno.test(`A consumeBatch that sends its events on with ${how}, then throws, leaves the ones sent downstream; only the rest fail, after their retries`, async () => {
    let attempts = 0;
    class SendSomeThenThrow extends Actor {
      readonly kind = "transform";
      override async consumeBatch(
        events: Event[],
        context: Context,
      ): Promise<void> {
        attempts++;
        // The even ones go on, in order; then the batch throws.
        const even = events.filter((event) => (event.data as number) % 2 === 0);
        if (how === "sendAll() of a copy") await context.sendAll(even);
        else for (const event of even) await context.send(event);
        throw new Error("after sending some on");
      }
    }
    const stage = new SendSomeThenThrow("stage", {
      retry: { max: 2, backoffMs: 1 },
    });
    const { sink, errors, report } = await runStage(stage, 6);
    assert.deepEqual(sink.data().sort(), [2, 4, 6]);
    assert.deepEqual(errors.data().sort(), [1, 3, 5]);
    assert.deepEqual(
      errors.events.map((event) => (event.header.error as EventError).message),
      [
        "after sending some on",
        "after sending some on",
        "after sending some on",
      ],
    );
    // Retried: the odd ones, twice more; the even ones were not sent again.
    assert.ok(attempts >= 3, `${attempts} attempts`);
    assert.equal(report.delivered, 3);
    assert.equal(report.errors, 3);
    assert.equal(report.unaccounted, 0);
    assert.equal(stage.figures().consumed_total, 3);
    assert.equal(stage.figures().failed_total, 3);
  });
}

Deno.test("A consumeBatch that sends every event of its batch on, then throws, is not called again with an empty batch, and nothing fails", async () => {
  const sizes: number[] = [];
  class SendAllThenThrow extends Actor {
    readonly kind = "transform";
    override consumeBatch(events: Event[], context: Context): void {
      sizes.push(events.length);
      context.sendAll(events.slice());
      throw new Error("after sending all on");
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(4)));
  const stage = router.register(
    new SendAllThenThrow("stage", { retry: { max: 2, backoffMs: 1 } }),
  );
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  router.connect("stage.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.deepEqual(sink.data().sort(), [1, 2, 3, 4]);
  assert.equal(errors.events.length, 0);
  assert.ok(sizes.every((size) => size > 0), `batch sizes: ${sizes}`);
  assert.equal(report.unaccounted, 0);
  assert.equal(stage.figures().consumed_total, 4);
  assert.equal(stage.figures().failed_total, 0);
});

for (const error of ["an Error", "a CrashError"] as const) {
  Deno.test(`A consume that sends its own event on and then throws ${error} leaves it downstream, neither failed nor retried, and counts it once`, async () => {
    let calls = 0;
    class SendThenThrow extends Actor {
      readonly kind = "transform";
      override async consume(event: Event, context: Context): Promise<void> {
        calls++;
        await context.send(event);
        if (event.data === 2) {
          throw error === "a CrashError"
            ? new CrashError("after sending on")
            : new Error("after sending on");
        }
      }
    }
    const { sink, errors, report } = await runStage(
      new SendThenThrow("stage", {
        retry: { max: 2, backoffMs: 1 },
        restart: { max: 3, withinMs: 60_000, backoffMs: 1 },
      }),
      3,
    );
    if (error === "an Error") {
      assert.deepEqual(sink.data(), [1, 2, 3]);
      assert.deepEqual(errors.data(), []);
      assert.equal(calls, 3, "2 was not consumed again");
    } else {
      // The crash restarts the actor; the rest of its batch fails with the
      // crash, as after any CrashError. 2 is not among them.
      assert.deepEqual(sink.data(), [1, 2]);
      assert.deepEqual(errors.data(), [3]);
      assert.equal(
        (errors.events[0]!.header.error as EventError).name,
        "CrashError",
      );
      assert.equal(report.restarts, 1);
    }
    assert.equal(report.created, 3);
    assert.equal(report.delivered + report.errors, 3);
    assert.equal(report.failed, 0);
    assert.equal(report.unaccounted, 0);
  });
}

Deno.test("A consume that passes its own event on with sendAll([event]) and then throws leaves it downstream, neither failed nor retried", async () => {
  let calls = 0;
  class SendAllThenThrow extends Actor {
    readonly kind = "transform";
    override async consume(event: Event, context: Context): Promise<void> {
      calls++;
      await context.sendAll([event]);
      if (event.data === 2) throw new Error("after sending on");
    }
  }
  const { sink, errors, report } = await runStage(
    new SendAllThenThrow("stage", { retry: { max: 2, backoffMs: 1 } }),
    3,
  );
  assert.deepEqual(sink.data(), [1, 2, 3]);
  assert.deepEqual(errors.data(), []);
  assert.equal(calls, 3, "2 was not consumed again");
  assert.equal(report.delivered, 3);
  assert.equal(report.unaccounted, 0);
});

for (const mode of ["consume", "consumeBatch"] as const) {
  Deno.test(`An event whose own send threw in ${mode} (its sender did not wait) was not sent on: it fails, it is not lost`, async () => {
    /**
     * Sends copies without waiting until the outbox refuses more: they fill
     * the sink's queue, then a batch waits for room, then the outbox.
     */
    const overfill = (context: Context) => {
      for (let i = 0; i < 8 * MAX_BATCH; i++) {
        try {
          context.send({ header: {}, data: -1 });
        } catch {
          // Refused: the outbox is full, as the next send finds it.
        }
      }
    };
    class Overfill extends Actor {
      readonly kind = "transform";
      override consume(event: Event, context: Context): void {
        if (event.data === 2) overfill(context);
        // Throws for 2: refused, as the copies past the limit were.
        context.send(event);
      }
    }
    class OverfillBatch extends Actor {
      readonly kind = "transform";
      override consumeBatch(events: Event[], context: Context): void {
        overfill(context);
        context.sendAll(events.slice());
      }
    }
    const { sink, errors, report } = await runStage(
      mode === "consume" ? new Overfill("stage") : new OverfillBatch("stage"),
      3,
    );
    const sent = sink.data().filter((data) => data !== -1);
    const failed = errors.data();
    assert.deepEqual([...sent, ...failed].sort(), [1, 2, 3]);
    assert.ok(failed.includes(2), `2 failed: ${JSON.stringify(failed)}`);
    assert.match(
      (errors.events[0]!.header.error as EventError).message,
      /events already wait for room there/,
    );
    assert.equal(report.unaccounted, 0);
  });
}

Deno.test("delivered leaves out what error outputs consumed: they count in errors", async () => {
  class Refuse extends Actor {
    readonly kind = "output";
    override consume(): void {
      throw new Error("connection refused");
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(200)));
  router.register(new Refuse("client"));
  router.register(new Collector("errors"));
  router.connect("input.outbox", "client.inbox");
  router.connect("client.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.equal(report.delivered, 0);
  assert.equal(report.errors, 200);
  assert.equal(report.failed, 0);
  assert.equal(report.unaccounted, 0);
});

Deno.test("An actor stopped in the middle of consume counts what it had sent: the report adds up", async () => {
  class HalfSplit extends Actor {
    readonly kind = "transform";
    override async consume(event: Event, context: Context): Promise<void> {
      await context.send({ header: {}, data: `${event.data}a` });
      await context.send({ header: {}, data: `${event.data}b` });
      await new Promise(() => {});
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(1)));
  router.register(new HalfSplit("split"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "split.inbox");
  router.connect("split.outbox", "sink.inbox");
  await router.start();
  await sink.waitFor(2);
  const report = await router.stop({ timeoutMs: 50 });
  assert.equal(report.delivered, 2);
  assert.equal(report.abandoned, 1);
  assert.equal(report.copies, 2);
  assert.equal(report.unaccounted, 0);
});

// ---------------------------------------------------------------------------
// Retries for batch actors

Deno.test("retry: a consumeBatch that fails its first attempt is retried and delivers everything", async () => {
  class FirstFails extends Collector {
    attempts = 0;
    constructor(name: string) {
      super(name, { retry: { max: 2, backoffMs: 1 } });
      this.consumeBatch = (events, context) => {
        if (this.attempts++ === 0) throw new Error("not yet");
        for (const event of events) this.consume(event, context);
      };
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(5)));
  const sink = router.register(new FirstFails("sink")) as FirstFails;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  router.connect("sink.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.deepEqual(sink.data(), [1, 2, 3, 4, 5]);
  assert.equal(sink.attempts, 2);
  assert.equal(errors.events.length, 0);
  assert.equal(report.delivered, 5);
  assert.equal(report.unaccounted, 0);
});

Deno.test("retry: file_out to /dev/full is retried after the backoff, then fails to error", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(fileOut, "file", { path: "/dev/full" }, {
    retry: { max: 2, backoffMs: 50 },
  });
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "file.inbox");
  router.connect("file.error", "errors.inbox");
  const [report, took] = await timed(async () => {
    await router.start();
    await router.finished;
    return await router.stop({ timeoutMs: 5000 });
  });
  assert.deepEqual(errors.data(), [1, 2, 3]);
  assert.match(
    (errors.events[0]!.header.error as EventError).message,
    /space/i,
  );
  // Two retries waited 50 and 100 ms before the events failed.
  assert.ok(took >= 150, `failed after ${took} ms`);
  assert.equal(report.errors, 3);
  assert.equal(report.unaccounted, 0);
});

Deno.test("A stop that times out during a batch retry keeps what the first attempt finished", async () => {
  class FailsTwo extends Collector {
    constructor(name: string) {
      super(name, { retry: { max: 1, backoffMs: 60_000 } });
      this.consumeBatch = (events, context) => {
        for (const event of events) {
          if (event.data === 2) context.fail(event, new Error("busy"));
          else this.consume(event, context);
        }
      };
    }
  }
  const { events, trackers } = counted(3);
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", events));
  const sink = router.register(new FailsTwo("sink")) as FailsTwo;
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await sink.waitFor(2);
  const report = await router.stop({ timeoutMs: 50 });
  assert.deepEqual(sink.data(), [1, 3]);
  assert.equal(report.delivered, 2);
  assert.equal(report.abandoned, 1);
  assert.equal(report.unaccounted, 0);
  assert.deepEqual(
    trackers.map((tracker) => [tracker.resolved, tracker.failed]),
    [
      [1, 0],
      [0, 1],
      [1, 0],
    ],
  );
});

// ---------------------------------------------------------------------------
// Lifecycle

Deno.test("An input whose replies fail keeps its error queue open until its inbound queue drained", async () => {
  class Asker extends Actor {
    readonly kind = "input";
    protected override readonly implicitSend = false;
    override async produce(): Promise<void> {
      for (let i = 1; i <= 5; i++) await this.send({ header: {}, data: i });
    }
    override async consume(event: Event): Promise<void> {
      await sleep(2, new AbortController().signal);
      throw new Error(`reply ${event.data} failed`);
    }
  }
  class Echo extends Actor {
    readonly kind = "transform";
    override consume(event: Event, context: Context) {
      return context.send(event);
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(new Asker("ask"));
  router.register(new Echo("echo"));
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("ask.outbox", "echo.inbox");
  router.connect("echo.outbox", "ask.inbox");
  router.connect("ask.error", "errors.inbox");
  const report = await runToEnd(router);
  assert.deepEqual(errors.data(), [1, 2, 3, 4, 5]);
  assert.equal(report.queues["ask.error"]!.dropped_total, 0);
  assert.equal(report.errors, 5);
  assert.equal(report.unaccounted, 0);
});

Deno.test("An input in a request/reply cycle reads its replies while its own requests wait for room: no deadlock", async () => {
  class Asker extends Actor {
    readonly kind = "input";
    protected override readonly implicitSend = false;
    replies = 0;
    override async produce(): Promise<void> {
      for (let i = 1; i <= 20; i++) await this.send({ header: {}, data: i });
    }
    override consume(): void {
      this.replies++;
    }
  }
  const router = new Router({ logLevel: "fatal" });
  const ask = router.register(new Asker("ask")) as Asker;
  router.register(new Pass("echo"));
  // More requests than the cycle holds.
  router.connect("ask.outbox", "echo.inbox", { capacity: 1 });
  router.connect("echo.outbox", "ask.inbox", { capacity: 1 });
  await router.start();
  await within(router.finished, 5000, "the request/reply pipeline to finish");
  const report = await router.stop({ timeoutMs: 2000 });
  assert.equal(ask.replies, 20);
  assert.equal(report.delivered, 20);
  assert.equal(report.timedOut, false);
});

Deno.test("An actor that sends through its context and holds its event counts both: the report adds up", async () => {
  class AckThenHold extends Actor {
    readonly kind = "transform";
    override consume(event: Event, context: Context): void {
      void context.send({ header: {}, data: `ack ${event.data}` });
      const held = context.hold(event);
      setTimeout(() => {
        void held.send(event);
        held.done();
      }, 1);
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(3)));
  router.register(new AckThenHold("hold"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "hold.inbox");
  router.connect("hold.outbox", "sink.inbox");
  const report = await runToEnd(router);
  assert.equal(sink.events.length, 6);
  assert.equal(report.copies, 3);
  assert.equal(report.delivered, 6);
  assert.equal(report.unaccounted, 0);
});

Deno.test("Router.finished settles when start() failed", async () => {
  class BadSetup extends Collector {
    override setup(): void {
      throw new Error("nope");
    }
  }
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(1)));
  router.register(new BadSetup("sink"));
  router.connect("input.outbox", "sink.inbox");
  await assert.rejects(router.start());
  await router.finished;
  assert.equal(router.status().state, "stopped");
  await router.stop();
});

Deno.test("Router.finished settles when stop() came before start()", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(listInput("input", numbered(1)));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  const report = await router.stop();
  await router.finished;
  assert.equal(report.created, 0);
  await assert.rejects(router.start(), {
    message: "The router can be started once",
  });
});
