import assert from "node:assert/strict";
import { z } from "zod";
import { BUILTIN_ACTORS } from "../../../actors/mod.ts";
import type { Actor } from "../../../core/actor.ts";
import {
  buildRouter,
  loadConfig,
  loadPipeline,
  makeActor,
} from "../../../core/config/mod.ts";
import { GraphError } from "../../../core/errors.ts";
import { type ActorSpec, Registry } from "../../../core/registry.ts";
import { Collector } from "../../helpers.ts";

/** A registry of the built-in actors plus `collect` (a {@link Collector}). */
function registryWithCollector(): Registry {
  const collect: ActorSpec<Record<string, never>> = {
    type: "collect",
    kind: "output",
    summary: "Keeps every event.",
    options: z.strictObject({}),
    create: (name, _options, settings) => new Collector(name, settings),
  };
  return new Registry([...BUILTIN_ACTORS, collect as ActorSpec]);
}

Deno.test("loadPipeline builds a router that runs the file's pipeline and describes it", async () => {
  const { router, config } = await loadPipeline({
    file: "inline.yaml",
    text: [
      "actors:",
      "  input:",
      "    type: generator",
      "    options: { interval: 0, count: 5, data: 'n={{seq}}' }",
      "  sink:",
      "    type: collect",
      "    capacity: 5",
      "    when_full: block",
      "    retry: { max: 2 }",
      "    restart: { max: 5, within: 30 }",
      "    linger_ms: 2",
      "connections:",
      "  - { from: input.outbox, to: sink.inbox, capacity: 7, when_full: drop_newest }",
      "",
    ].join("\n"),
  }, { registry: registryWithCollector() });
  try {
    assert.deepEqual(
      config.actors.map(({ name, type, line, column }) => ({
        name,
        type,
        line,
        column,
      })),
      [
        { name: "input", type: "generator", line: 2, column: 3 },
        { name: "sink", type: "collect", line: 5, column: 3 },
      ],
    );
    assert.deepEqual(config.actors[0]!.options, {
      interval: 0,
      count: 5,
      data: "n={{seq}}",
    });
    assert.deepEqual(config.actors[1]!.settings, {
      capacity: 5,
      whenFull: "block",
      retry: { max: 2, backoffMs: 100 },
      restart: { max: 5, withinMs: 30_000, backoffMs: 100 },
      lingerMs: 2,
    });
    const made = router.actor("sink")!;
    assert.deepEqual(made.restart, {
      max: 5,
      withinMs: 30_000,
      backoffMs: 100,
    });
    assert.equal(made.lingerMs, 2);
    assert.deepEqual(config.connections, [{
      from: "input.outbox",
      to: "sink.inbox",
      options: { capacity: 7, whenFull: "drop_newest" },
      line: 13,
      column: 5,
    }]);
    assert.equal(config.logs, null);
    assert.deepEqual(router.connections(), [{
      from: "input.outbox",
      to: "sink.inbox",
      options: { capacity: 7, whenFull: "drop_newest" },
    }]);
    await router.start();
    await router.finished;
    const sink = router.actor("sink") as Collector;
    assert.deepEqual(sink.data(), ["n=1", "n=2", "n=3", "n=4", "n=5"]);
    assert.equal(sink.pool.inbound.get("inbox")!.capacity, 7);
  } finally {
    const report = await router.stop();
    assert.equal(report.delivered, 5);
  }
});

Deno.test("logs: routes the router's log records to the named actor", async () => {
  const { router, config } = await loadPipeline({
    text: [
      "actors:",
      "  input: { type: generator, options: { interval: 0, count: 2 } }",
      "  lost: { type: generator, options: { interval: 0, count: 1 } }",
      "  sink: { type: collect }",
      "  logged: { type: collect }",
      "connections:",
      "  - input.outbox -> sink.inbox",
      "logs: logged",
      "",
    ].join("\n"),
  }, { registry: registryWithCollector() });
  assert.equal(config.logs, "logged");
  const logged = router.actor("logged") as Collector;
  try {
    await router.start();
    await router.finished;
    await logged.waitFor(1);
    const warning = logged.events.find((event) =>
      String(event.data).includes("lost.outbox")
    );
    assert.ok(warning, "the unconnected queue is logged");
    assert.equal(
      (warning.header.log as { level: string }).level,
      "warning",
    );
  } finally {
    const report = await router.stop();
    assert.equal(report.delivered, 2);
    assert.equal(report.dropped, 1);
  }
});

Deno.test("buildRouter makes new actors each time from one loaded config", async () => {
  const config = await loadConfig({
    text: [
      "actors:",
      "  input: { type: generator, options: { interval: 0, count: 3 } }",
      "  sink: { type: collect, capacity: 4 }",
      "connections:",
      "  - input.outbox -> sink.inbox",
      "",
    ].join("\n"),
  }, { registry: registryWithCollector() });
  const first = await buildRouter(config);
  const second = await buildRouter(config);
  try {
    assert.notEqual(first.actor("sink"), second.actor("sink"));
    assert.equal(first.actor("sink")!.pool.inbound.get("inbox")!.capacity, 4);
    for (const router of [first, second]) {
      await router.start();
      await router.finished;
    }
    assert.equal((first.actor("sink") as Collector).events.length, 3);
    assert.equal((second.actor("sink") as Collector).events.length, 3);
  } finally {
    assert.equal((await first.stop()).delivered, 3);
    assert.equal((await second.stop()).delivered, 3);
  }
});

Deno.test("buildRouter throws the graph's problems and makeActor says why an actor cannot be made", async () => {
  const config = await loadConfig({
    text: [
      "actors:",
      "  input: { type: generator, options: { interval: 0, count: 1 } }",
      "  a: { type: collect }",
      "  b: { type: collect }",
      "connections:",
      "  - input.outbox -> a.inbox",
      "",
    ].join("\n"),
  }, { registry: registryWithCollector() });
  const twice = {
    ...config,
    connections: [
      ...config.connections,
      { ...config.connections[0]!, to: "b.inbox" },
    ],
  };
  await assert.rejects(buildRouter(twice), (error: unknown) => {
    assert.ok(error instanceof GraphError);
    assert.deepEqual(error.problems, [{
      message:
        'Cannot connect "input.outbox": it is already connected to "a.inbox"',
      connection: 1,
    }]);
    return true;
  });
  const failing: ActorSpec = {
    ...config.actors[1]!.spec,
    type: "failing",
    create: () => {
      throw new RangeError("no room");
    },
  };
  assert.throws(
    () => makeActor({ name: "x", spec: failing, options: {}, settings: {} }),
    {
      name: "TypeError",
      message: 'Cannot make actor "x" (type "failing"): RangeError: no room',
    },
  );
  const notAnActor: ActorSpec = {
    ...failing,
    create: () => ({}) as Actor,
  };
  assert.throws(
    () => makeActor({ name: "x", spec: notAnActor, options: {}, settings: {} }),
    {
      name: "TypeError",
      message:
        'Actor type "failing" made something that is not an Actor for actor "x"; a module must import "Actor" from the same copy of Compysition',
    },
  );
});
