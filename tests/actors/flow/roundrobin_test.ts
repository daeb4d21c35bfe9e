import assert from "node:assert/strict";
import { Router } from "../../../core/router.ts";
import { RoundRobin, roundrobin } from "../../../actors/flow/roundrobin.ts";
import { Collector, ListInput, numbered } from "../../helpers.ts";

Deno.test("roundrobin spreads events over its branches in turn, in connection order", async () => {
  const total = 1600;
  const router = new Router();
  router.register(new ListInput("input", numbered(total)));
  router.register(roundrobin, "mix");
  const names = ["zulu", "alpha", "mike"];
  const sinks = names.map((name) =>
    router.register(new Collector(name)) as Collector
  );
  router.connect("input.outbox", "mix.inbox");
  for (const name of names) router.connect(`mix.${name}`, `${name}.inbox`);
  await router.start();
  await router.finished;
  const report = await router.stop();
  sinks.forEach((sink, branch) => {
    const expected = numbered(total)
      .filter((_, i) => i % 3 === branch)
      .map((event) => event.data);
    assert.deepEqual(sink.data(), expected, `branch "${sink.name}"`);
  });
  assert.equal(report.delivered, total);
  assert.equal(report.dropped, 0);
});

Deno.test("roundrobin does not count the error queue as a branch", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(6)));
  router.register(new RoundRobin("mix"));
  const one = router.register(new Collector("one")) as Collector;
  const two = router.register(new Collector("two")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "mix.inbox");
  router.connect("mix.error", "errors.inbox");
  router.connect("mix.one", "one.inbox");
  router.connect("mix.two", "two.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(one.data(), [1, 3, 5]);
  assert.deepEqual(two.data(), [2, 4, 6]);
  assert.equal(errors.events.length, 0);
});

Deno.test("roundrobin without a connected branch drops what it receives and counts it", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  router.register(new ListInput("input", numbered(4)));
  router.register(new RoundRobin("mix"));
  router.connect("input.outbox", "mix.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.queues["mix.outbox"]?.dropped_total, 4);
  assert.ok(
    logs.data().some((line) =>
      String(line).includes("has no connected outbound queue")
    ),
  );
});
