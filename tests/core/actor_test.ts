import assert from "node:assert/strict";
import {
  Actor,
  type ActorSettings,
  type Context,
  type EventError,
  sleep,
  yieldToEventLoop,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import { Router } from "../../core/router.ts";
import { Generator } from "../../actors/input/generator.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";
import { Gate, logLines, Pass } from "./fixtures.ts";

/** A transform whose `consume` throws for even data. */
class FailEven extends Actor {
  readonly kind = "transform";
  readonly #async: boolean;

  constructor(name: string, async = false, settings: ActorSettings = {}) {
    super(name, settings);
    this.#async = async;
  }

  override consume(event: Event): Promise<void> | undefined {
    const n = event.data as number;
    if (this.#async) {
      return Promise.resolve().then(() => {
        if (n % 2 === 0) throw new RangeError(`even ${n}`);
        return this.send(event);
      });
    }
    if (n % 2 === 0) throw new RangeError(`even ${n}`);
    return this.send(event);
  }
}

/** A transform that fails the first `failures` attempts of every event. */
class Flaky extends Actor {
  readonly kind = "transform";
  /** Attempts per event data. */
  readonly attempts = new Map<unknown, number>();
  readonly #failures: number;

  constructor(name: string, failures: number, settings: ActorSettings) {
    super(name, settings);
    this.#failures = failures;
  }

  override consume(event: Event): Promise<void> | undefined {
    const attempt = (this.attempts.get(event.data) ?? 0) + 1;
    this.attempts.set(event.data, attempt);
    if (attempt <= this.#failures) {
      throw new TypeError(`attempt ${attempt} of ${event.data}`);
    }
    return this.send(event);
  }
}

/** Runs `input -> subject -> ok`, subject.error -> errors when asked. */
async function runThrough(
  subject: Actor,
  events: Event[],
  withErrors: boolean,
): Promise<{
  ok: Collector;
  errors: Collector;
  logs: Collector;
  report: Awaited<ReturnType<Router["stop"]>>;
}> {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", events));
  router.register(subject);
  const ok = router.register(new Collector("ok")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", `${subject.name}.inbox`);
  router.connect(`${subject.name}.outbox`, "ok.inbox");
  if (withErrors) router.connect(`${subject.name}.error`, "errors.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  return { ok, errors, logs, report };
}

function assertEventError(
  value: unknown,
  expected: Omit<EventError, "time">,
): void {
  const error = value as EventError;
  const { time, ...rest } = error;
  assert.deepEqual(rest, expected);
  assert.equal(new Date(time).toISOString(), time);
}

Deno.test("A consume that throws sends the event to error with header.error, and the actor goes on", async () => {
  const subject = new FailEven("fail");
  const { ok, errors, report } = await runThrough(subject, numbered(6), true);
  assert.deepEqual(ok.data(), [1, 3, 5]);
  assert.deepEqual(errors.data(), [2, 4, 6]);
  assertEventError(errors.events[0]!.header.error, {
    actor: "fail",
    queue: "inbox",
    name: "RangeError",
    message: "even 2",
  });
  assert.equal(errors.events[0]!.header.seq, 2, "the rest of the header stays");
  const { consumed_total, failed_total, lost_total } = subject.figures();
  assert.deepEqual({ consumed_total, failed_total, lost_total }, {
    consumed_total: 3,
    failed_total: 3,
    lost_total: 0,
  });
  // The error output's events count apart from the good ones.
  assert.equal(report.delivered, 3);
  assert.equal(report.errors, 3);
  assert.equal(report.failed, 0);
  assert.equal(report.unaccounted, 0);
});

Deno.test("A consume whose promise rejects sends the event to error too", async () => {
  const subject = new FailEven("fail", true);
  const { ok, errors } = await runThrough(subject, numbered(4), true);
  assert.deepEqual(ok.data(), [1, 3]);
  assert.deepEqual(errors.data(), [2, 4]);
  assertEventError(errors.events[1]!.header.error, {
    actor: "fail",
    queue: "inbox",
    name: "RangeError",
    message: "even 4",
  });
});

Deno.test("A consume that throws something other than an Error is reported as Error", async () => {
  class ThrowString extends Actor {
    readonly kind = "transform";
    override consume(): void {
      throw "plain text";
    }
  }
  const { errors } = await runThrough(
    new ThrowString("fail"),
    numbered(1),
    true,
  );
  assertEventError(errors.events[0]!.header.error, {
    actor: "fail",
    queue: "inbox",
    name: "Error",
    message: "plain text",
  });
});

Deno.test("retry runs consume again and an event that succeeds on the second attempt never reaches error", async () => {
  const subject = new Flaky("flaky", 1, { retry: { max: 2, backoffMs: 1 } });
  const { ok, errors, report } = await runThrough(subject, numbered(3), true);
  assert.deepEqual(ok.data(), [1, 2, 3]);
  assert.equal(errors.events.length, 0);
  assert.deepEqual([...subject.attempts.values()], [2, 2, 2]);
  assert.equal(subject.figures().consumed_total, 3);
  assert.equal(subject.figures().failed_total, 0);
  assert.equal(report.failed, 0);
  assert.equal(report.errors, 0);
});

Deno.test("retry gives up after max extra attempts and sends the event to error with the last failure", async () => {
  const subject = new Flaky("flaky", 99, { retry: { max: 2, backoffMs: 1 } });
  const { ok, errors } = await runThrough(subject, numbered(2), true);
  assert.equal(ok.events.length, 0);
  assert.deepEqual(errors.data(), [1, 2]);
  assert.deepEqual([...subject.attempts.values()], [3, 3]);
  assertEventError(errors.events[0]!.header.error, {
    actor: "flaky",
    queue: "inbox",
    name: "TypeError",
    message: "attempt 3 of 1",
  });
});

Deno.test("A failure with error not connected is counted, logged at error level, and later events still flow", async () => {
  const subject = new FailEven("fail");
  const { ok, logs, report } = await runThrough(subject, numbered(5), false);
  assert.deepEqual(ok.data(), [1, 3, 5]);
  assert.equal(subject.figures().failed_total, 2);
  assert.equal(subject.figures().lost_total, 2);
  assert.equal(report.failed, 2);
  assert.equal(report.unaccounted, 0);
  const failures = logLines(logs).filter((line) => line.level === "error");
  assert.deepEqual(failures, [
    {
      level: "error",
      actor: "fail",
      message:
        'Failed to consume an event from "fail.inbox": RangeError: even 2',
    },
    {
      level: "error",
      actor: "fail",
      message:
        'Failed to consume an event from "fail.inbox": RangeError: even 4',
    },
  ]);
});

Deno.test("A consumeBatch that throws sends every event of the batch to error", async () => {
  class BatchFail extends Actor {
    readonly kind = "output";
    override consumeBatch(events: Event[]): void {
      if (events.some((event) => event.data === 2)) {
        throw new Error("bad batch");
      }
    }
  }
  const subject = new BatchFail("batch");
  const { errors, report } = await runThrough(subject, numbered(3), true);
  assert.deepEqual(errors.data(), [1, 2, 3]);
  assert.equal(subject.figures().failed_total, 3);
  assert.equal(report.errors, 3);
  assert.equal(report.failed, 0);
});

Deno.test("Values that are not events are discarded, counted and logged once each, and the rest is delivered", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  const values: unknown[] = [
    { header: {}, data: 1 },
    "text",
    42,
    null,
    { data: "no header" },
    { header: [], data: "array header" },
    { header: {}, data: 2 },
  ];
  router.register(new ListInput("input", values));
  router.register(new Pass("pass"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "pass.inbox");
  router.connect("pass.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(sink.data(), [1, 2]);
  assert.equal(report.discarded, 5);
  // Checked where they are sent, so they never reach the next queue.
  assert.equal(report.queues["input.outbox"]!.discarded_total, 5);
  assert.equal(report.queues["input.outbox"]!.in_total, 2);
  assert.equal(report.queues["pass.inbox"]!.in_total, 2);
  const discards = logLines(logs).filter((line) =>
    line.message.startsWith("Discarded")
  );
  assert.deepEqual(discards, [
    {
      level: "warning",
      actor: "input",
      message:
        'Discarded a value that is not an event sent to "input.outbox": not an object (string)',
    },
    {
      level: "warning",
      actor: "input",
      message:
        'Discarded a value that is not an event sent to "input.outbox": not an object (number)',
    },
    {
      level: "warning",
      actor: "input",
      message:
        'Discarded a value that is not an event sent to "input.outbox": not an object (null)',
    },
    {
      level: "warning",
      actor: "input",
      message:
        'Discarded a value that is not an event sent to "input.outbox": missing "header"',
    },
    {
      level: "warning",
      actor: "input",
      message:
        'Discarded a value that is not an event sent to "input.outbox": "header" is not an object',
    },
  ]);
});

/**
 * Drives a slow consumer one event at a time and checks, at every consume,
 * that its inbox never holds more than its capacity and that the producer
 * is never further ahead than the capacity plus one batch.
 */
async function assertBackPressure(input: Actor, total: number): Promise<void> {
  const capacity = 16;
  const router = new Router();
  router.register(input);
  const gate = router.register(new Gate("slow", { capacity })) as Gate;
  router.connect(`${input.name}.outbox`, "slow.inbox");
  const inbox = gate.pool.inbound.get("inbox")!;
  const outbox = input.pool.outbound.get("outbox")!;
  await router.start();
  let maxDepth = 0;
  let maxAhead = 0;
  const seen: unknown[] = [];
  for (let consumed = 0; consumed < total; consumed++) {
    const { event, release } = await gate.next();
    seen.push(event.data);
    maxDepth = Math.max(maxDepth, inbox.depth);
    maxAhead = Math.max(maxAhead, outbox.figures().in_total - consumed);
    release();
  }
  await router.finished;
  const report = await router.stop();
  assert.equal(maxDepth, capacity, "the inbox fills up but never overflows");
  assert.ok(
    maxAhead <= capacity + MAX_BATCH,
    `the producer got ${maxAhead} events ahead`,
  );
  assert.equal(seen.length, total);
  assert.equal(report.delivered, total);
  assert.equal(report.dropped, 0);
}

Deno.test("A slow consumer never holds more than its capacity and a list input waits for it", async () => {
  const total = 3 * MAX_BATCH;
  await assertBackPressure(new ListInput("input", numbered(total)), total);
});

Deno.test("A slow consumer never holds more than its capacity and a generator waits for it", async () => {
  const total = 3 * MAX_BATCH;
  await assertBackPressure(
    new Generator("input", { interval: 0, count: total }),
    total,
  );
});

Deno.test("drained() runs once the inbound queues are empty, before the outbound queues close", async () => {
  class Hold extends Actor {
    readonly kind = "transform";
    readonly held: Event[] = [];
    override consume(event: Event): void {
      this.held.push(event);
    }
    override async drained(): Promise<void> {
      for (const event of this.held.reverse()) {
        const waiting = this.send(event);
        if (waiting !== undefined) await waiting;
      }
    }
  }
  const router = new Router();
  router.register(new ListInput("input", numbered(700)));
  router.register(new Hold("hold", { capacity: 10 }));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "hold.inbox");
  router.connect("hold.outbox", "sink.inbox", { capacity: 10 });
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(
    sink.data(),
    Array.from({ length: 700 }, (_, i) => 700 - i),
  );
});

Deno.test("send() to a queue the actor does not have throws a TypeError", () => {
  const pass = new Pass("pass");
  assert.throws(() => pass.send({ header: {}, data: 1 }, "nowhere"), {
    name: "TypeError",
    message: 'Actor "pass" has no outbound queue "nowhere"',
  });
});

Deno.test("An actor needs a non-empty name, and not __proto__", () => {
  assert.throws(() => new Pass(""), {
    name: "TypeError",
    message: "An actor needs a non-empty name",
  });
  assert.throws(() => new Pass("__proto__"), {
    name: "TypeError",
    message: /cannot be named "__proto__": inputs write header\.<their name>/,
  });
});

Deno.test("A produce that throws is a crash: the input restarts as its policy says, then the pipeline stops naming it", async () => {
  class Broken extends Actor {
    readonly kind = "input";
    readonly calls: string[] = [];
    constructor(name: string) {
      super(name, { restart: { max: 2, withinMs: 60_000, backoffMs: 1 } }, {
        inbound: [],
      });
    }
    override setup(): void {
      this.calls.push("setup");
    }
    override teardown(): void {
      this.calls.push("teardown");
    }
    override async produce(): Promise<void> {
      await this.send({ header: {}, data: 1 });
      throw new Error("lost the connection");
    }
  }
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  const input = router.register(new Broken("input"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  // Each run sent its event before it crashed: nothing it sent is lost.
  assert.deepEqual(sink.data(), [1, 1, 1]);
  assert.deepEqual(input.calls, [
    "setup",
    "teardown",
    "setup",
    "teardown",
    "setup",
    "teardown",
  ]);
  assert.equal(input.figures().restarts_total, 2);
  assert.deepEqual(report.gaveUp, ["input"]);
  assert.deepEqual(
    report.crashed.map(({ actor, error, restarted }) => ({
      actor,
      error,
      restarted,
    })),
    [true, true, false].map((restarted) => ({
      actor: "input",
      error: "Error: lost the connection",
      restarted,
    })),
  );
  assert.equal(report.delivered, 3);
  assert.equal(report.unaccounted, 0);
  const errors = logLines(logs).filter((line) => line.level === "error");
  assert.deepEqual(errors.map((line) => line.message), [
    'Actor "input" crashed and will be restarted: Error: lost the connection',
    'Actor "input" crashed and will be restarted: Error: lost the connection',
    'Actor "input" crashed: Error: lost the connection',
    'Stopping the pipeline: actor "input" crashed more often than its restart policy allows (Error: lost the connection)',
  ]);
});

Deno.test("An actor that sends after its outbound queues closed has it counted as dropped and logged once", async () => {
  class Late extends Actor {
    readonly kind = "transform";
    override consume(event: Event): Promise<void> | undefined {
      return this.send(event);
    }
  }
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(1)));
  const late = router.register(new Late("late")) as Late;
  router.register(new Collector("sink"));
  router.connect("input.outbox", "late.inbox");
  router.connect("late.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  late.send({ header: {}, data: 2 });
  late.send({ header: {}, data: 3 });
  const report = await router.stop();
  assert.equal(report.queues["late.outbox"]!.dropped_total, 2);
  const dropped = logLines(logs).filter((line) =>
    line.message.startsWith("Dropped")
  );
  assert.deepEqual(dropped, [{
    level: "error",
    actor: "late",
    message:
      'Dropped 1 event(s) sent to "late.outbox" after it closed; later ones are only counted',
  }]);
});

Deno.test("sleep() resolves true after the time, false at once on abort, and leaves no timer", async () => {
  const controller = new AbortController();
  assert.equal(await sleep(1, controller.signal), true);
  const sleeping = sleep(60_000, controller.signal);
  controller.abort();
  assert.equal(await sleeping, false);
  assert.equal(await sleep(10, controller.signal), false);
  await yieldToEventLoop();
});

Deno.test("A failed event is counted in failed_total of the queue it came from", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(3)));
  router.register(new ListInput("other", numbered(2)));
  const failing = router.register(
    new (class extends Actor {
      readonly kind = "output";
      override consume(_event: Event, context: Context): void {
        if (context.queue === "left") throw new Error("left fails");
      }
    })("split", {}, { inbound: ["left", "right"], outbound: ["error"] }),
  );
  router.connect("input.outbox", "split.left");
  router.connect("other.outbox", "split.right");
  await router.start();
  await router.finished;
  await router.stop();
  const queues = failing.pool.figures();
  assert.equal(queues.left!.failed_total, 3);
  assert.equal(queues.right!.failed_total, 0);
  assert.equal(failing.figures().failed_total, 3);
});
