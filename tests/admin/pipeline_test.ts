import assert from "node:assert/strict";
import { Router } from "../../core/router.ts";
import { layoutColumns, pipelineView } from "../../admin/pipeline.ts";
import { LogLevelFilter } from "../../actors/log/log_level_filter.ts";
import { Collector, ListInput } from "../helpers.ts";
import { Pass } from "../core/fixtures.ts";

Deno.test("layoutColumns puts each actor after the longest path to it, and the log actors last", async () => {
  const router = new Router();
  router.register(new ListInput("input", []));
  router.register(new Pass("a"));
  router.register(new Pass("b"));
  router.register(new Collector("sink", {}, ["one", "two"]));
  router.connect("input.outbox", "a.inbox");
  router.connect("a.outbox", "b.inbox");
  router.connect("b.outbox", "sink.two");
  router.connect("a.error", "sink.one");
  router.registerLogActor(new LogLevelFilter("logs"));
  router.register(new Collector("log_sink"));
  router.connect("logs.outbox", "log_sink.inbox");
  assert.deepEqual(Object.fromEntries(layoutColumns(router)), {
    input: 0,
    a: 1,
    b: 2,
    sink: 3,
    logs: 4,
    log_sink: 5,
  });
  await router.stop();
});

Deno.test("layoutColumns leaves out the edge that closes a cycle", async () => {
  const router = new Router();
  router.register(new ListInput("input", [], {}));
  const loop = new Pass("loop");
  loop.pool.addInbound("again");
  router.register(loop);
  router.register(new Pass("back"));
  router.connect("input.outbox", "loop.inbox");
  router.connect("loop.outbox", "back.inbox");
  router.connect("back.outbox", "loop.again");
  assert.deepEqual(Object.fromEntries(layoutColumns(router)), {
    input: 0,
    loop: 1,
    back: 2,
  });
  await router.stop();
});

Deno.test("pipelineView lists each actor's queues inbound first, with what they connect to", async () => {
  const router = new Router();
  router.register(new ListInput("input", []));
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  const view = pipelineView(router, router.metrics(), {
    seconds: 0,
    actors: {},
  });
  assert.deepEqual(
    view.actors.map((actor) =>
      actor.queues.map((
        queue,
      ) => [queue.address, queue.direction, queue.connected])
    ),
    [
      [["input.outbox", "outbound", "sink.inbox"], [
        "input.error",
        "outbound",
        undefined,
      ]],
      [["sink.inbox", "inbound", "input.outbox"], [
        "sink.error",
        "outbound",
        undefined,
      ]],
    ],
  );
  assert.deepEqual(view.connections, [{
    from: "input.outbox",
    to: "sink.inbox",
    depth: 0,
    capacity: 1024,
    fill: 0,
    in_total: 0,
    out_total: 0,
    dropped_total: 0,
    in_rate: 0,
    out_rate: 0,
    dropped_rate: 0,
  }]);
  await router.stop();
});

Deno.test("pipelineView marks a router's external ends with their direction", async () => {
  const router = new Router();
  router.register(new Collector("sink"));
  router.register(new ListInput("input", []));
  router.expose("sink.inbox");
  router.expose("input.outbox");
  const view = pipelineView(router, router.metrics(), {
    seconds: 0,
    actors: {},
  });
  assert.deepEqual(
    view.actors.map((actor) => [actor.name, actor.kind, actor.end]),
    [
      ["sink", "output", undefined],
      ["input", "input", undefined],
      ["sink.inbox", "input", "writable"],
      ["input.outbox", "output", "readable"],
    ],
  );
  assert.deepEqual(
    view.connections.map(({ from, to }) => `${from} -> ${to}`),
    ["sink.inbox.outbox -> sink.inbox", "input.outbox -> input.outbox.inbox"],
  );
  await router.stop();
});

Deno.test("pipelineView shows actors named as a property of every object (toString, constructor) without rates or types for them yet", async () => {
  const router = new Router();
  router.register(new ListInput("constructor", []));
  router.register(new Collector("toString"));
  router.connect("constructor.outbox", "toString.inbox");
  // No rates yet (an actor a reload just added has none), no types.
  const view = pipelineView(router, router.metrics(), {
    seconds: 0,
    actors: {},
  });
  assert.deepEqual(
    view.actors.map((actor) => [actor.name, actor.type, actor.consumed_rate]),
    [["constructor", undefined, 0], ["toString", undefined, 0]],
  );
  assert.deepEqual(
    view.actors[1]!.queues.map((queue) => [queue.address, queue.in_rate]),
    [["toString.inbox", 0], ["toString.error", 0]],
  );
  assert.equal(view.connections[0]!.in_rate, 0);
  await router.stop();
});
