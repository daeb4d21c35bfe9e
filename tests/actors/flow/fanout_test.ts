import assert from "node:assert/strict";
import { Actor, type EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { Fanout, fanout } from "../../../actors/flow/fanout.ts";
import {
  Collector,
  counted,
  ListInput,
  numbered,
  sequenced,
} from "../../helpers.ts";

/** A transform that changes the data and header of every event in place. */
class Scribble extends Actor {
  readonly kind = "transform";
  override consume(event: Event): Promise<void> | undefined {
    (event.data as { n: number; tags: string[] }).tags.push("scribbled");
    (event.data as { n: number }).n = -1;
    event.header.seq = "changed";
    return this.send(event);
  }
}

function objects(count: number): Event[] {
  return sequenced(
    Array.from({ length: count }, (_, i) => ({ n: i + 1, tags: ["original"] })),
  );
}

Deno.test("fanout copies the event per branch so branches cannot see each other's changes", async () => {
  const total = 1500;
  const router = new Router();
  router.register(new ListInput("input", objects(total)));
  router.register(new Fanout("copy"));
  router.register(new Scribble("scribble"));
  const changed = router.register(new Collector("changed")) as Collector;
  const plain = router.register(new Collector("plain")) as Collector;
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.first", "scribble.inbox");
  router.connect("scribble.outbox", "changed.inbox");
  router.connect("copy.second", "plain.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(changed.events.length, total);
  assert.equal(plain.events.length, total);
  assert.deepEqual(plain.events, objects(total));
  for (const event of changed.events) {
    assert.deepEqual(event.data, { n: -1, tags: ["original", "scribbled"] });
    assert.equal(event.header.seq, "changed");
  }
  assert.equal(report.dropped, 0);
});

Deno.test("fanout sends every event to every connected branch in order", async () => {
  const total = 1200;
  const router = new Router();
  router.register(new ListInput("input", numbered(total)));
  router.register(fanout, "copy");
  const sinks = ["a", "b", "c"].map((name) =>
    router.register(new Collector(name)) as Collector
  );
  router.connect("input.outbox", "copy.inbox");
  for (const sink of sinks) {
    router.connect(`copy.${sink.name}`, `${sink.name}.inbox`);
  }
  await router.start();
  await router.finished;
  const report = await router.stop();
  for (const sink of sinks) assert.deepEqual(sink.events, numbered(total));
  assert.equal(report.delivered, 3 * total);
});

Deno.test("fanout with one branch passes each event on without copying it", async () => {
  const events = objects(10);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new Fanout("copy"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.only", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.equal(sink.events.length, 10);
  sink.events.forEach((event, i) => assert.equal(event, events[i]));
});

Deno.test("fanout gives the original event to the last branch and copies to the others", async () => {
  const events = objects(10);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new Fanout("copy"));
  const first = router.register(new Collector("first")) as Collector;
  const last = router.register(new Collector("last")) as Collector;
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.a", "first.inbox");
  router.connect("copy.b", "last.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  last.events.forEach((event, i) => assert.equal(event, events[i]));
  first.events.forEach((event, i) => {
    assert.notEqual(event, events[i]);
    assert.notEqual(event.data, events[i]!.data);
    assert.notEqual(event.header, events[i]!.header);
    assert.deepEqual(event, events[i]);
  });
});

Deno.test("fanout sends an event it cannot copy to error, not to some branches", async () => {
  const events: Event[] = [
    { header: { id: 1 }, data: "ok" },
    { header: { id: 2 }, data: { run: () => 1 } },
    { header: { id: 3 }, data: "ok too" },
  ];
  const router = new Router();
  router.register(new ListInput("input", events));
  const copy = router.register(new Fanout("copy"));
  const a = router.register(new Collector("a")) as Collector;
  const b = router.register(new Collector("b")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.a", "a.inbox");
  router.connect("copy.b", "b.inbox");
  router.connect("copy.error", "errors.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(a.data(), ["ok", "ok too"]);
  assert.deepEqual(b.data(), ["ok", "ok too"]);
  assert.deepEqual(errors.events.map((event) => event.header.id), [2]);
  const error = errors.events[0]!.header.error as EventError;
  assert.equal(error.actor, "copy");
  assert.equal(error.name, "DataCloneError");
  assert.deepEqual(counted(copy.figures()), {
    consumed_total: 2,
    failed_total: 1,
  });
});

Deno.test("fanout without a connected branch drops what it receives and counts it", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(5)));
  const copy = router.register(new Fanout("copy"));
  router.connect("input.outbox", "copy.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.dropped, 5);
  assert.equal(report.queues["copy.outbox"]?.dropped_total, 5);
  assert.equal(copy.figures().consumed_total, 5);
  assert.ok(
    logs.data().some((line) =>
      String(line).includes("has no connected outbound queue")
    ),
  );
});
