import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { ActorSettings, Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { createActor } from "../../core/registry.ts";
import { Router, type StopReport } from "../../core/router.ts";
import { ThreadedActor } from "../../core/threads.ts";
import { loadPipeline } from "../../core/config/mod.ts";
import { ConfigError } from "../../core/errors.ts";
import { jsonDecode } from "../../actors/transform/json_decode.ts";
import { jsonEncode } from "../../actors/transform/json_encode.ts";
import { generator } from "../../actors/input/generator.ts";
import { nullOutput } from "../../actors/output/null.ts";
import {
  Collector,
  ListInput,
  trackedEvents,
  withTempDir,
} from "../helpers.ts";
import { spec as threadTest, unlocated } from "./thread_actor.ts";

/**
 * How long a start may take: under `deno test`, each thread type-checks its
 * module when the cache does not have it yet, which takes long on a busy
 * machine.
 */
const START = { timeoutMs: 300_000 };

/** What one pipeline input -> stage -> sink (error -> errors) gave. */
interface Ran {
  report: StopReport;
  sink: Collector;
  errors: Collector;
  side: Collector;
  stage: ThreadedActor;
}

/** Data of an event for the test actor. */
function order(n: number, what?: string, more: object = {}): unknown {
  return what === undefined ? { n } : { n, do: what, ...more };
}

/** Runs `values` through the test actor with `settings` until it drained. */
async function run(
  values: unknown[],
  settings: ActorSettings,
  header: Record<string, unknown> = {},
): Promise<Ran> {
  const router = new Router({ logLevel: "fatal" });
  router.register(
    new ListInput(
      "input",
      values.map((data, i) => ({ header: { ...header, i }, data })),
    ),
  );
  const stage = router.register(
    threadTest,
    "stage",
    {},
    settings,
  ) as ThreadedActor;
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  const side = router.register(new Collector("side")) as Collector;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  router.connect("stage.side", "side.inbox");
  router.connect("stage.error", "errors.inbox");
  await router.start(START);
  await router.finished;
  const report = await router.stop();
  return { report, sink, errors, side, stage };
}

const ns = (events: Event[]) =>
  events.map((event) => (event.data as { n: number }).n);

Deno.test("threads: N runs the copies in threads and keeps the input order", async () => {
  const count = 1000;
  const { report, sink, stage } = await run(
    Array.from({ length: count }, (_, i) => order(i)),
    { threads: 3, capacity: 200 },
  );
  assert.ok(stage instanceof ThreadedActor);
  assert.equal(stage.threads, 3);
  assert.deepEqual(ns(sink.events), Array.from({ length: count }, (_, i) => i));
  assert.deepEqual(sink.events[5]!.data, {
    n: 5,
    doubled: 10,
    scope: "DedicatedWorkerGlobalScope",
  });
  assert.deepEqual(sink.events[5]!.header, { i: 5 });
  assert.equal(report.delivered, count);
  assert.equal(report.unaccounted, 0);
  assert.equal(stage.figures().consumed_total, count);
});

Deno.test("threads: delivery trackers settle once the events from threads were handled", async () => {
  const { events, trackers } = trackedEvents(40);
  for (const event of events) event.data = order(event.data as number);
  (events[7]!.data as { do?: string }).do = "throw";
  const router = new Router({ logLevel: "fatal" });
  router.register(new ListInput("input", events));
  router.register(threadTest, "stage", {}, { threads: 2 });
  router.register(nullOutput, "sink");
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  await router.start(START);
  await router.finished;
  const report = await router.stop();
  const settled = await Promise.allSettled(trackers.map((t) => t.done));
  assert.deepEqual(
    settled.flatMap((result, i) => result.status === "rejected" ? [i] : []),
    [7],
  );
  assert.equal(report.delivered, 39);
  assert.equal(report.failed, 1);
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: failed events go to error with the reason, in order, the rest goes on", async () => {
  const values = [
    order(0),
    order(1, "fail"),
    order(2),
    order(3, "throw"),
    order(4, "drop"),
    order(5, "split"),
    order(6),
  ];
  const { report, sink, errors, side, stage } = await run(values, {
    threads: 2,
  });
  assert.deepEqual(ns(sink.events), [0, 2, 5, 6]);
  assert.deepEqual(side.data(), [{ side: 5 }]);
  assert.deepEqual(errors.data(), [values[1], values[3]]);
  const reasons = errors.events.map((event) => event.header.error) as Record<
    string,
    unknown
  >[];
  assert.equal(reasons[0]!.actor, "stage");
  assert.equal(reasons[0]!.queue, "inbox");
  assert.equal(reasons[0]!.name, "TypeError");
  assert.equal(reasons[0]!.message, "No 1");
  assert.equal(reasons[0]!.n, 1);
  assert.equal(reasons[1]!.name, "RangeError");
  assert.equal(reasons[1]!.message, "Out of range: 3");
  const figures = stage.figures();
  assert.equal(figures.consumed_total, 5);
  assert.equal(figures.failed_total, 2);
  assert.equal(figures.filtered_total, 1);
  assert.equal(figures.copies_total, 1);
  assert.equal(report.errors, 2);
  assert.equal(report.delivered, 5);
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: a failed event is retried in a thread as retry says", async () => {
  await withTempDir(async (dir) => {
    const values = [
      order(0),
      order(1, "flaky", { times: 2 }),
      order(2),
    ];
    const attempts = join(dir, "attempts");
    const { report, sink, errors } = await run(values, {
      threads: 2,
      retry: { max: 3, backoffMs: 1 },
    }, { attempts });
    assert.deepEqual(ns(sink.events), [0, 1, 2]);
    assert.equal(errors.events.length, 0);
    assert.equal(Deno.readTextFileSync(attempts), "x\nx\nx\n");
    assert.equal(report.unaccounted, 0);
  });
  await withTempDir(async (dir) => {
    const attempts = join(dir, "attempts");
    const { report, sink, errors } = await run(
      [order(0, "flaky", { times: 10 }), order(1)],
      { threads: 2, retry: { max: 2, backoffMs: 1 } },
      { attempts },
    );
    assert.deepEqual(ns(sink.events), [1]);
    assert.equal(errors.events.length, 1);
    assert.equal(
      (errors.events[0]!.header.error as { message: string }).message,
      "Attempt 3 failed",
    );
    assert.equal(Deno.readTextFileSync(attempts), "x\nx\nx\n");
    assert.equal(report.unaccounted, 0);
  });
});

Deno.test("threads: a CrashError in a thread fails its event and restarts the actor", async () => {
  const values = [
    ...Array.from({ length: 50 }, (_, i) => order(i)),
    order(50, "crash"),
    ...Array.from({ length: 50 }, (_, i) => order(51 + i)),
  ];
  const { report, sink, errors, stage } = await run(values, {
    threads: 2,
    restart: { max: 3, withinMs: 60_000, backoffMs: 1 },
  });
  assert.equal(stage.figures().restarts_total, 1);
  const crashed = errors.events.map((event) =>
    (event.header.error as { name: string }).name
  );
  assert.ok(crashed.length >= 1);
  assert.ok(crashed.every((name) => name === "CrashError"));
  assert.ok(ns(errors.events).includes(50));
  // Every event is either delivered once or failed once, and delivered in order.
  const delivered = ns(sink.events);
  assert.deepEqual(delivered, [...delivered].sort((a, b) => a - b));
  assert.deepEqual(
    [...delivered, ...ns(errors.events)].sort((a, b) => a - b),
    Array.from({ length: 101 }, (_, i) => i),
  );
  assert.ok(delivered.length >= 50);
  assert.deepEqual(report.crashed.length, 1);
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: a thread that dies is a crash of the actor; past its policy the pipeline stops", async () => {
  const restarted = await run(
    [
      order(0),
      order(1, "die"),
      ...Array.from({ length: 20 }, (_, i) => order(2 + i)),
    ],
    { threads: 2, restart: { max: 3, withinMs: 60_000, backoffMs: 1 } },
  );
  assert.equal(restarted.stage.figures().restarts_total, 1);
  assert.match(
    restarted.report.crashed[0]!.error,
    /Thread \d of actor "stage" failed: .*Thread died at 1/,
  );
  const all = [...ns(restarted.sink.events), ...ns(restarted.errors.events)];
  assert.deepEqual(
    all.sort((a, b) => a - b),
    Array.from({ length: 22 }, (_, i) => i),
  );
  assert.equal(restarted.report.unaccounted, 0);

  const gaveUp = await run(
    [order(0, "die"), ...Array.from({ length: 20 }, (_, i) => order(1 + i))],
    { threads: 2, restart: { max: 0, withinMs: 60_000, backoffMs: 1 } },
  );
  assert.deepEqual(gaveUp.report.gaveUp, ["stage"]);
  assert.equal(gaveUp.report.unaccounted, 0);
});

Deno.test("threads: a full output holds the threads back, and nothing is lost", async () => {
  const router = new Router({ logLevel: "fatal" });
  const count = 2000;
  router.register(generator, "input", {
    interval: 0,
    count,
    data: "{{seq}}",
  });
  router.register(jsonDecode, "decode", {}, { threads: 2, capacity: 50 });
  const sink = router.register(
    new SlowCollector("sink", { capacity: 10 }),
  ) as SlowCollector;
  router.connect("input.outbox", "decode.inbox");
  router.connect("decode.outbox", "sink.inbox");
  await router.start(START);
  const depths: number[] = [];
  const decode = router.actor("decode")!.pool.inbound.get("inbox")!;
  while (sink.events.length < count) {
    depths.push(decode.figures().depth);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(sink.data(), Array.from({ length: count }, (_, i) => i + 1));
  assert.ok(Math.max(...depths) <= 50, `depth ${Math.max(...depths)} > 50`);
  assert.equal(report.delivered, count);
  assert.equal(report.unaccounted, 0);
});

/** A collector that takes a while with each batch. */
class SlowCollector extends Collector {
  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (const event of events) this.consume(event, context);
  }
}

Deno.test("threads: stop drains what the threads hold", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(generator, "input", { interval: 0, data: { n: 1 } });
  router.register(threadTest, "stage", {}, { threads: 2 });
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  await router.start(START);
  await sink.waitFor(500);
  const report = await router.stop({ timeoutMs: 10_000 });
  assert.equal(report.timedOut, false);
  assert.equal(report.created, report.delivered);
  assert.equal(report.delivered, sink.events.length);
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: a stop that times out abandons what the threads hold, and returns", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(
    new ListInput(
      "input",
      Array.from({ length: 500 }, (_, n) => ({
        header: {},
        data: order(n, "slow"),
      })),
    ),
  );
  // Pieces of 32 events, 0.64 s of work each: much is left at the stop.
  router.register(threadTest, "stage", {}, { threads: 2, capacity: 64 });
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "stage.inbox");
  router.connect("stage.outbox", "sink.inbox");
  await router.start(START);
  await sink.waitFor(10);
  const report = await router.stop({ timeoutMs: 100 });
  assert.equal(report.timedOut, true);
  assert.ok(report.abandoned > 0);
  assert.equal(report.delivered, sink.events.length);
  assert.equal(
    report.created,
    report.delivered + report.abandoned + report.dropped,
  );
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: json_decode in threads reads strings and bytes", async () => {
  const router = new Router({ logLevel: "fatal" });
  const encoder = new TextEncoder();
  const buffer = encoder.encode('xx{"b":2}yy');
  router.register(
    new ListInput("input", [
      { header: { k: "s" }, data: '{"a":1}' },
      { header: { k: "b" }, data: buffer.subarray(2, 9) },
      { header: { k: "bad" }, data: "not json" },
      { header: { k: "n" }, data: 5 },
    ]),
  );
  router.register(jsonDecode, "decode", {}, { threads: 2 });
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "decode.inbox");
  router.connect("decode.outbox", "sink.inbox");
  router.connect("decode.error", "errors.inbox");
  await router.start(START);
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(sink.data(), [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(sink.events.map((event) => event.header.k), ["s", "b"]);
  assert.deepEqual(
    errors.events.map((event) =>
      (event.header.error as { message: string }).message
    ),
    [
      `Field "data" is not valid JSON: Unexpected token 'o', "not json" is not valid JSON`,
      'Field "data" is a number, not JSON text (a string or bytes)',
    ],
  );
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: an event that cannot cross to a thread fails with the reason; the others go on", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(
    new ListInput("input", [
      { header: {}, data: { n: 1 } },
      { header: { big: 1n }, data: { f: () => 1 } },
      { header: {}, data: { n: 3 } },
    ]),
  );
  router.register(jsonEncode, "encode", {}, { threads: 2 });
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "encode.inbox");
  router.connect("encode.outbox", "sink.inbox");
  router.connect("encode.error", "errors.inbox");
  await router.start(START);
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(sink.data(), ['{"n":1}', '{"n":3}']);
  assert.equal(errors.events.length, 1);
  assert.match(
    (errors.events[0]!.header.error as { message: string }).message,
    /^The event cannot cross to or from a thread \(not JSON, not cloneable\): /,
  );
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: an actor that is not stateless, or that a thread cannot load, is refused", () => {
  assert.throws(
    () => createActor(generator, "input", {}, { threads: 2 }),
    {
      name: "TypeError",
      message:
        'Actor "input" cannot run in threads: actor type "generator" is not stateless; only stateless actors (spec "stateless: true") run in threads',
    },
  );
  assert.throws(
    () => createActor(unlocated, "stage", {}, { threads: 2 }),
    /a thread cannot load actor type "thread_test_unlocated": its spec must say which module exports it/,
  );
  // One copy needs no thread.
  assert.equal(
    createActor(unlocated, "stage", {}, { threads: 1 }).name,
    "stage",
  );
});

Deno.test("threads: a bootstrap file's threads is checked and reported at its line", async () => {
  const text = [
    "actors:",
    "  input:",
    "    type: generator",
    "  sink:",
    '    type: "null"',
    "    threads: 2",
    "  decode:",
    "    type: json_decode",
    "    threads: 1.5",
    "connections:",
    "  - input.outbox -> decode.inbox",
    "  - decode.outbox -> sink.inbox",
  ].join("\n");
  await assert.rejects(
    loadPipeline({ file: "p.yaml", text }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /^p\.yaml:6:5: Actor "sink" cannot run in threads: actor type "null" is not stateless/m,
      );
      assert.match(
        error.message,
        /^p\.yaml:9:\d+: "threads" of actor "decode"/m,
      );
      return true;
    },
  );
});

Deno.test("threads: a module actor of a bootstrap file runs in threads", async () => {
  const text = [
    "actors:",
    "  input:",
    "    type: generator",
    "    options: { interval: 0, count: 300, data: { n: 4 } }",
    "  stage:",
    "    module: ./thread_actor.ts",
    "    options: { factor: 3 }",
    "    threads: 2",
    "  sink:",
    '    type: "null"',
    "connections:",
    "  - input.outbox -> stage.inbox",
    "  - stage.outbox -> sink.inbox",
  ].join("\n");
  // Named as a file beside the module, which `module:` is relative to.
  const file = fileURLToPath(new URL("./threads.yaml", import.meta.url));
  const { router, config } = await loadPipeline({ file, text });
  assert.equal(config.actors[1]!.settings.threads, 2);
  assert.ok(router.actor("stage") instanceof ThreadedActor);
  await router.start(START);
  await router.finished;
  const report = await router.stop();
  assert.equal(report.delivered, 300);
  assert.equal(report.unaccounted, 0);
});

Deno.test("threads: every event is accounted for exactly once (property)", async () => {
  const kinds = fc.constantFrom<string | undefined>(
    undefined,
    undefined,
    undefined,
    "fail",
    "throw",
    "drop",
    "split",
    "crash",
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(kinds, { minLength: 1, maxLength: 400 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 300 }),
      fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
      async (whats, threads, capacity, retries) => {
        const values = whats.map((what, n) => order(n, what));
        const settings: ActorSettings = {
          threads,
          capacity,
          restart: { max: 100, withinMs: 60_000, backoffMs: 1 },
        };
        if (retries !== undefined) {
          settings.retry = { max: retries, backoffMs: 1 };
        }
        const { report, sink, errors, side } = await run(values, settings);
        assert.equal(report.unaccounted, 0);
        const delivered = ns(sink.events);
        // Each event delivered at most once, in order.
        assert.deepEqual(
          delivered,
          [...new Set(delivered)].sort((a, b) => a - b),
        );
        // Each event is exactly once: delivered, failed, or dropped by the actor.
        const failed = ns(errors.events);
        const dropped = whats.flatMap((what, n) =>
          what === "drop" && !failed.includes(n) ? [n] : []
        );
        const seen = [...delivered, ...failed, ...dropped].sort((a, b) =>
          a - b
        );
        assert.deepEqual(seen, whats.map((_, n) => n));
        for (const n of failed) {
          const what = whats[n];
          assert.ok(
            what !== undefined ||
              errors.events.some((event) =>
                (event.data as { n: number }).n === n &&
                (event.header.error as { name: string }).name === "CrashError"
              ),
            `event ${n} failed without a reason`,
          );
        }
        assert.ok(
          side.events.length <= whats.filter((w) => w === "split").length,
        );
        assert.equal(
          report.delivered,
          sink.events.length + side.events.length,
        );
      },
    ),
    { numRuns: Number(Deno.env.get("FC_RUNS") ?? 12) },
  );
});
