/**
 * `Router.change()`: a running pipeline changed without losing an event.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BUILTIN_ACTORS } from "../../actors/mod.ts";
import type { Connection } from "../../core/graph.ts";
import { Registry } from "../../core/registry.ts";
import { Router } from "../../core/router.ts";
import { Actor, sleep } from "../../core/actor.ts";
import { TcpServer } from "../../actors/input/tcp_server.ts";
import {
  Collector,
  freePort,
  ListInput,
  numbered,
  pollUntil,
  reachableObjects,
} from "../helpers.ts";

/** An input that sends events numbered from 1, a few at a time, until stopped. */
class Counter extends Actor {
  readonly kind = "input";
  sent = 0;

  constructor(name: string) {
    super(name, {}, { inbound: [] });
  }

  override async produce(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      for (let i = 0; i < 20; i++) {
        const waiting = this.send({ header: { seq: ++this.sent }, data: null });
        if (waiting !== undefined) await waiting;
      }
      await sleep(1, signal);
    }
  }
}

const registry = new Registry(BUILTIN_ACTORS);

/** A middle stage that tags each event with `tag`. */
function tagger(name: string, tag: string, capacity?: number): Actor {
  return registry.create(
    "header",
    name,
    { set: { tag } },
    capacity === undefined ? {} : { capacity },
  );
}

Deno.test("Router.change() replaces a middle stage many times without losing or repeating an event", async () => {
  const count = 20_000;
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new ListInput("input", numbered(count)));
  router.register(tagger("mid", "t0"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "mid.inbox", { capacity: 50 });
  router.connect("mid.outbox", "sink.inbox");
  await router.start();
  const connections: Connection[] = [...router.connections()];
  for (let i = 1; i <= 10; i++) {
    const result = await router.change({
      actors: new Map<string, Actor>([
        ["input", input],
        ["mid", tagger("mid", `t${i}`, i % 2 === 0 ? 100 : undefined)],
        ["sink", sink],
      ]),
      connections,
      remake: () => assert.fail("nothing to renew"),
    });
    assert.equal(result.applied, true, result.reason);
    assert.deepEqual(result.replaced, ["mid"]);
    assert.deepEqual(result.warnings, []);
  }
  await router.finished;
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.created, count);
  assert.equal(report.delivered, count);
  const seqs = sink.events.map((event) => event.header.seq);
  assert.deepEqual(seqs, Array.from({ length: count }, (_, i) => i + 1));
  assert.equal(sink.events.at(-1)!.header.tag, "t10");
});

/** The numbers 1..count. */
function upTo(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

Deno.test("Router.change() adds and removes a branch of a fanout while events flow", async () => {
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new Counter("input"));
  router.register(registry.create("fanout", "copy"));
  const main = router.register(new Collector("main"));
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.main", "main.inbox");
  await router.start();
  const branches: Collector[] = [];
  for (let i = 0; i < 6; i++) {
    await sleep(20, new AbortController().signal);
    const adding = i % 2 === 0;
    const actors = new Map<string, Actor>([
      ["input", input],
      ["copy", router.actor("copy")!],
      ["main", main],
    ]);
    const connections: Connection[] = [
      { from: "input.outbox", to: "copy.inbox", options: {} },
      { from: "copy.main", to: "main.inbox", options: {} },
    ];
    if (adding) {
      const branch = new Collector("side");
      branches.push(branch);
      actors.set("side", branch);
      connections.push({ from: "copy.side", to: "side.inbox", options: {} });
    }
    const result = await router.change({
      actors,
      connections,
      remake: (name) => registry.create("fanout", name),
    });
    assert.equal(result.applied, true, result.reason);
    assert.deepEqual(result.renewed, ["copy"]);
    assert.deepEqual(adding ? result.added : result.removed, ["side"]);
  }
  await sleep(20, new AbortController().signal);
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  // Every event reached the kept branch once, in order.
  assert.deepEqual(
    main.events.map((event) => event.header.seq),
    upTo(input.sent),
  );
  // Each added branch got an unbroken run of copies, then drained.
  let copies = 0;
  for (const branch of branches) {
    const seqs = branch.events.map((event) => event.header.seq as number);
    assert.ok(seqs.length > 0);
    assert.deepEqual(seqs, upTo(seqs.length).map((i) => i + seqs[0]! - 1));
    copies += seqs.length;
  }
  assert.equal(report.delivered, input.sent + copies);
});

Deno.test("Router.change() hands the events queued for a removed stage to the connection that replaces it", async () => {
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new Counter("input"));
  router.register(tagger("old", "old"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "old.inbox");
  router.connect("old.outbox", "sink.inbox");
  await router.start();
  await sleep(30, new AbortController().signal);
  const result = await router.change({
    actors: new Map<string, Actor>([["input", input], ["sink", sink]]),
    connections: [{ from: "input.outbox", to: "sink.inbox", options: {} }],
    remake: () => assert.fail("nothing to renew"),
  });
  assert.equal(result.applied, true, result.reason);
  assert.deepEqual(result.removed, ["old"]);
  await sleep(30, new AbortController().signal);
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  const seqs = sink.events.map((event) => event.header.seq);
  assert.deepEqual(seqs, upTo(input.sent));
  // Tagged while the stage ran, untagged after: one switch, in order.
  const tagged = sink.events.findLastIndex((event) =>
    event.header.tag === "old"
  );
  assert.ok(tagged > 0);
  assert.ok(
    sink.events.slice(tagged + 1).every((event) =>
      event.header.tag === undefined
    ),
  );
});

Deno.test("Router.change() drains a removed branch to its output", async () => {
  const router = new Router({ logLevel: "warning" });
  const kept = router.register(new Counter("kept"));
  router.register(new Counter("gone"));
  router.register(tagger("stage", "s"));
  const keptSink = router.register(new Collector("keptSink"));
  const goneSink = router.register(new Collector("goneSink"));
  router.connect("kept.outbox", "keptSink.inbox");
  router.connect("gone.outbox", "stage.inbox");
  router.connect("stage.outbox", "goneSink.inbox");
  await router.start();
  await sleep(30, new AbortController().signal);
  const gone = router.actor("gone") as Counter;
  const result = await router.change({
    actors: new Map<string, Actor>([["kept", kept], ["keptSink", keptSink]]),
    connections: [{ from: "kept.outbox", to: "keptSink.inbox", options: {} }],
    remake: () => assert.fail("nothing to renew"),
  });
  assert.equal(result.applied, true, result.reason);
  assert.deepEqual(result.removed, ["gone", "stage", "goneSink"]);
  assert.deepEqual(result.warnings, []);
  // Everything the removed input made reached the removed output.
  assert.deepEqual(
    goneSink.events.map((event) => event.header.seq),
    upTo(gone.sent),
  );
  assert.ok(goneSink.events.every((event) => event.header.tag === "s"));
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.delivered, (kept as Counter).sent + gone.sent);
  assert.equal(report.created, (kept as Counter).sent + gone.sent);
  assert.deepEqual(
    keptSink.events.map((event) => event.header.seq),
    upTo((kept as Counter).sent),
  );
});

Deno.test("Router.change() moves the events of a queue whose capacity changes into a new queue, with its counters", async () => {
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new Counter("input"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox", { capacity: 10 });
  await router.start();
  await sleep(30, new AbortController().signal);
  const result = await router.change({
    actors: new Map<string, Actor>([["input", input], ["sink", sink]]),
    connections: [{
      from: "input.outbox",
      to: "sink.inbox",
      options: { capacity: 200, whenFull: "block" },
    }],
    remake: (name) => new Collector(name),
  });
  assert.equal(result.applied, true, result.reason);
  assert.deepEqual(result.renewed, ["sink"]);
  const renewed = router.actor("sink") as Collector;
  assert.notEqual(renewed, sink);
  assert.equal(renewed.pool.inbound.get("inbox")!.capacity, 200);
  await sleep(30, new AbortController().signal);
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.deepEqual(
    [...sink.events, ...renewed.events].map((event) => event.header.seq),
    upTo(input.sent),
  );
  // One queue's figures, from start to end.
  assert.equal(report.queues["sink.inbox"]!.in_total, input.sent);
  assert.equal(report.queues["sink.inbox"]!.out_total, input.sent);
  assert.equal(router.metrics().actors.sink!.consumed_total, input.sent);
});

Deno.test("Router.change() keeps nothing of the actors it replaced: after 40 changes, neither they nor the waits on the actors that run on stay reachable", async () => {
  const port = freePort();
  const listener = (i: number) =>
    new TcpServer("listen", { port, max_connections: 100 + i % 2 });
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new Counter("input"));
  router.register(tagger("mid", "t0"));
  router.register(listener(0));
  const sink = router.register(new Collector("sink"));
  const heard = router.register(new Collector("heard"));
  router.connect("input.outbox", "mid.inbox");
  router.connect("mid.outbox", "sink.inbox");
  router.connect("listen.outbox", "heard.inbox");
  await router.start();
  const connections: Connection[] = [...router.connections()];
  const change = async (i: number) => {
    const result = await router.change({
      actors: new Map<string, Actor>([
        ["input", input],
        ["mid", tagger("mid", `t${i}`)],
        ["listen", listener(i)],
        ["sink", sink],
        ["heard", heard],
      ]),
      connections,
      remake: () => assert.fail("nothing to renew"),
      sameAddress: new Set(["listen"]),
    });
    assert.equal(result.applied, true, result.reason);
    assert.deepEqual(result.takenOver, ["listen"]);
    sink.events.length = 0;
  };
  try {
    for (let i = 1; i <= 5; i++) await change(i);
    const before = {
      supervisors: await reachableObjects("Supervisor"),
      promises: await reachableObjects("Promise"),
    };
    for (let i = 6; i <= 45; i++) await change(i);
    // The listener still listens, handed from one actor to the next.
    const client = await Deno.connect({ port });
    await client.write(new TextEncoder().encode("still here\n"));
    client.close();
    await heard.waitFor(1);
    assert.equal(heard.events[0]!.data, "still here");
    // Each replaced actor's supervisor kept, in the stack of the abort
    // that stopped it, the change that replaced it, with the actors it
    // set up: every change kept the one before reachable.
    const supervisors = await reachableObjects("Supervisor");
    assert.ok(
      supervisors <= before.supervisors + 3,
      `${supervisors - before.supervisors} replaced actors are still reachable`,
    );
    // Each change left a wait on the `done` of each actor that ran on, and
    // each listener handed over one on the accept in progress.
    const promises = await reachableObjects("Promise");
    assert.ok(
      promises <= before.promises + 20,
      `${promises - before.promises} promises more after 40 changes`,
    );
  } finally {
    await router.stop();
  }
});

Deno.test("Router.change() of the queue of an input that already finished closes the new queue: the stop does not wait for it", async () => {
  const router = new Router({ logLevel: "warning" });
  const done = router.register(new ListInput("done", numbered(3)));
  const input = router.register(new Counter("input"));
  const early = router.register(new Collector("early"));
  const sink = router.register(new Collector("sink"));
  router.connect("done.outbox", "early.inbox", { capacity: 10 });
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  await early.waitFor(3);
  await pollUntil(
    () => router.status().actors.done!.state,
    (state) => state === "finished",
    "the input to finish",
  );
  const result = await router.change({
    actors: new Map<string, Actor>([
      ["done", done],
      ["input", input],
      ["early", early],
      ["sink", sink],
    ]),
    connections: [
      {
        from: "done.outbox",
        to: "early.inbox",
        options: { capacity: 20, whenFull: "block" },
      },
      { from: "input.outbox", to: "sink.inbox", options: {} },
    ],
    remake: (name) => new Collector(name),
  });
  assert.equal(result.applied, true, result.reason);
  const report = await router.stop({ timeoutMs: 5000 });
  assert.equal(report.timedOut, false, JSON.stringify(report.hung));
  assert.equal(report.unaccounted, 0);
  const renewed = router.actor("early") as Collector;
  assert.deepEqual(
    [...early.events, ...(renewed === early ? [] : renewed.events)].map((
      event,
    ) => event.data),
    [1, 2, 3],
  );
});
