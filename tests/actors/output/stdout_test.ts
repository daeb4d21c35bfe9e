import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { Router, type StopReport } from "../../../core/router.ts";
import {
  Stdout,
  stdout,
  StdoutOptions,
} from "../../../actors/output/stdout.ts";
import { runProgram } from "../../cli_helpers.ts";
import {
  Collector,
  counted,
  ListInput,
  numbered,
  until,
} from "../../helpers.ts";
import { runStage } from "../stage.ts";
import { StreamTarget } from "./fixtures.ts";

/** Runs `events` through a stdout actor writing to `target`; returns what it saw. */
async function run(
  events: unknown[],
  options: Record<string, unknown>,
  target: StreamTarget,
): Promise<{ out: Stdout; errors: Collector; report: StopReport }> {
  const out = new Stdout("out", options, {}, target.stream);
  const { errors, report } = await runStage(out, events, []);
  return { out, errors, report };
}

const mixed: Event[] = [
  { header: { id: 1 }, data: "plain text" },
  { header: { id: 2 }, data: { n: 1, list: [1, "a"] } },
  { header: { id: 3 }, data: 42 },
  { header: { id: 4 }, data: null },
];

Deno.test("stdout writes string data as it is and other data as JSON by default", async () => {
  const target = new StreamTarget();
  const { report } = await run(mixed, {}, target);
  assert.deepEqual(target.lines(), [
    "plain text",
    '{"n":1,"list":[1,"a"]}',
    "42",
    "null",
  ]);
  assert.equal(report.delivered, 4);
});

Deno.test('stdout with format "json" writes the data as JSON, strings included', async () => {
  const target = new StreamTarget();
  await run(mixed, { format: "json" }, target);
  assert.deepEqual(target.lines(), [
    '"plain text"',
    '{"n":1,"list":[1,"a"]}',
    "42",
    "null",
  ]);
});

Deno.test('stdout with format "event" writes the whole event as JSON', async () => {
  const target = new StreamTarget();
  await run(mixed.slice(0, 2), { format: "event" }, target);
  assert.deepEqual(target.lines().map((line) => JSON.parse(line)), [
    { header: { id: 1 }, data: "plain text" },
    { header: { id: 2 }, data: { n: 1, list: [1, "a"] } },
  ]);
});

Deno.test("stdout writes the prefix at the start of every line", async () => {
  const target = new StreamTarget();
  await run(numbered(3), { prefix: "one: " }, target);
  assert.equal(target.text, "one: 1\none: 2\none: 3\n");
});

Deno.test("stdout rejects unknown options and formats", () => {
  assert.equal(stdout.options.safeParse({ format: "xml" }).success, false);
  assert.equal(stdout.options.safeParse({ colour: true }).success, false);
  assert.deepEqual(StdoutOptions.parse({}), { prefix: "", format: "data" });
});

Deno.test("stdout writes the events of one batch as one chunk", async () => {
  const target = new StreamTarget();
  const { report } = await run(numbered(100), {}, target);
  assert.equal(target.lines().length, 100);
  assert.equal(target.writes, 1);
  assert.equal(report.delivered, 100);
});

Deno.test("stdout sends an event it cannot write as JSON to error and writes the rest", async () => {
  const cycle: Record<string, unknown> = { name: "loop" };
  cycle.self = cycle;
  const events: Event[] = [
    { header: { id: 1 }, data: "first" },
    { header: { id: 2 }, data: { big: 10n } },
    { header: { id: 3 }, data: "third" },
    { header: { id: 4 }, data: cycle },
    { header: { id: 5 }, data: "fifth" },
  ];
  const target = new StreamTarget();
  const { out, errors, report } = await run(events, {}, target);
  assert.deepEqual(target.lines(), ["first", "third", "fifth"]);
  assert.deepEqual(errors.events.map((event) => event.header.id), [2, 4]);
  for (const event of errors.events) {
    const error = event.header.error as EventError;
    assert.equal(error.actor, "out");
    assert.equal(error.queue, "inbox");
    assert.equal(error.name, "TypeError");
    assert.match(error.message, /^Cannot write the event as JSON: /);
  }
  assert.match(
    (errors.events[0]!.header.error as EventError).message,
    /BigInt/,
  );
  assert.deepEqual(counted(out.figures()), {
    consumed_total: 3,
    failed_total: 2,
  });
  assert.equal(report.errors, 2);
  assert.equal(report.failed, 0);
});

Deno.test("stdout waits for a slow stream and back-pressure reaches the producer", async () => {
  const total = 3000;
  const capacity = 16;
  const target = new StreamTarget(false);
  const router = new Router();
  const input = router.register(new ListInput("input", numbered(total)));
  const out = router.register(new Stdout("out", {}, {}, target.stream));
  router.connect("input.outbox", "out.inbox", { capacity });
  await router.start();
  await target.started;
  const inbox = out.pool.inbound.get("inbox")!;
  const outbox = input.pool.outbound.get("outbox")!;
  const sent = () => outbox.figures().out_total + outbox.figures().depth;
  let deepest = 0;
  let last = -1;
  let unchanged = 0;
  await until(() => {
    deepest = Math.max(deepest, inbox.depth);
    unchanged = sent() === last ? unchanged + 1 : 0;
    last = sent();
    return unchanged >= 50;
  }, "the pipeline to stall behind the closed stream");
  assert.equal(target.writes, 1, "one write at a time");
  assert.ok(deepest <= capacity, "the inbox never exceeds its capacity");
  assert.ok(last < total, `the producer waits (it sent ${last} of ${total})`);
  assert.ok(
    out.figures().consumed_total <= capacity + MAX_BATCH,
    "the actor stops taking events while it holds a batch of lines",
  );
  target.open();
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(
    target.lines(),
    Array.from({ length: total }, (_, i) => String(i + 1)),
  );
  assert.ok(target.writes < total / 10, `${target.writes} writes`);
  assert.equal(report.delivered, total);
  assert.equal(report.dropped, 0);
});

Deno.test("stdout actors writing to the same stream share it line by line", async () => {
  const target = new StreamTarget();
  const router = new Router();
  router.register(new ListInput("a", numbered(600)));
  router.register(new ListInput("b", numbered(600)));
  router.register(new Stdout("one", { prefix: "a" }, {}, target.stream));
  router.register(new Stdout("two", { prefix: "b" }, {}, target.stream));
  router.connect("a.outbox", "one.inbox");
  router.connect("b.outbox", "two.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  const lines = target.lines();
  const expected = Array.from({ length: 600 }, (_, i) => String(i + 1));
  assert.deepEqual(
    lines.filter((line) => line.startsWith("a")).map((l) => l.slice(1)),
    expected,
  );
  assert.deepEqual(
    lines.filter((line) => line.startsWith("b")).map((l) => l.slice(1)),
    expected,
  );
  assert.equal(lines.length, 1200);
  assert.equal(target.stream.locked, false, "the lock is released");
});

Deno.test("stdout writes to the process's standard output and leaves it open", async () => {
  const code = `
    import { BUILTIN_ACTORS, Registry, Router } from "./mod.ts";
    const registry = new Registry(BUILTIN_ACTORS);
    const router = new Router();
    router.register(registry.create("generator", "input", { interval: 0, count: 3, data: "n={{seq}}" }));
    router.register(registry.create("roundrobin", "mix"));
    router.register(registry.create("stdout", "one", { prefix: "one: " }));
    router.register(registry.create("stdout", "two", { prefix: "two: " }));
    router.connect("input.outbox", "mix.inbox");
    router.connect("mix.one", "one.inbox");
    router.connect("mix.two", "two.inbox");
    await router.start();
    await router.finished;
    const report = await router.stop();
    console.log("delivered " + report.delivered);
  `;
  const output = await runProgram(Deno.execPath(), ["eval", "--quiet", code]);
  assert.equal(output.code, 0, output.stderr);
  const lines = output.stdout.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.pop(), "delivered 3", "stdout is still open after stop");
  assert.deepEqual(lines.sort(), ["one: n=1", "one: n=3", "two: n=2"]);
});

Deno.test("stdout fails the events of a failed write and every later one, and logs the failure once", async () => {
  const broken = new WritableStream<Uint8Array>({
    write: () => Promise.reject(new Error("disk full")),
  });
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(50)));
  const out = router.register(new Stdout("out", {}, {}, broken));
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "out.inbox", { capacity: 10 });
  router.connect("out.error", "errors.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.timedOut, false);
  assert.deepEqual(counted(out.figures()), {
    consumed_total: 0,
    failed_total: 50,
  });
  assert.deepEqual(
    errors.events.map((event) => event.header.seq),
    numbered(50).map((event) => event.header.seq),
  );
  for (const event of errors.events) {
    assert.equal(
      (event.header.error as EventError).message,
      "Cannot write to the output stream: disk full",
    );
  }
  const failed = logs.data().map(String).filter((line) =>
    line.startsWith("Failed to write ")
  );
  assert.equal(failed.length, 1, String(failed));
  assert.match(
    failed[0]!,
    /^Failed to write \d+ line\(s\); they and every later event fail: Cannot write to the output stream: disk full$/,
  );
});
