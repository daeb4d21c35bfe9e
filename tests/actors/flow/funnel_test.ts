import assert from "node:assert/strict";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import { funnel } from "../../../actors/flow/funnel.ts";
import { Collector, ListInput } from "../../helpers.ts";

function tagged(source: string, count: number): Event[] {
  return Array.from({ length: count }, (_, i) => ({
    header: { source },
    data: i + 1,
  }));
}

Deno.test("funnel merges every inbound queue into outbox keeping each input's order", async () => {
  const counts: Record<string, number> = { a: 1500, b: 700, c: 3 };
  const router = new Router();
  for (const [name, count] of Object.entries(counts)) {
    router.register(new ListInput(name, tagged(name, count)));
  }
  router.register(funnel, "merge");
  const sink = router.register(new Collector("sink")) as Collector;
  for (const name of Object.keys(counts)) {
    router.connect(`${name}.outbox`, `merge.${name}`);
  }
  router.connect("merge.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(sink.events.length, 1500 + 700 + 3);
  for (const [name, count] of Object.entries(counts)) {
    assert.deepEqual(
      sink.events.filter((event) => event.header.source === name).map((
        event,
      ) => event.data),
      Array.from({ length: count }, (_, i) => i + 1),
      `events from "${name}" in order`,
    );
  }
  assert.deepEqual(
    Object.keys(report.queues).filter((queue) => queue.startsWith("merge.")),
    ["merge.a", "merge.b", "merge.c", "merge.outbox", "merge.error"],
  );
  assert.equal(report.dropped, 0);
});

Deno.test("funnel with one inbound queue passes events on unchanged", async () => {
  const events = tagged("only", 10);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(funnel, "merge");
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "merge.inbox");
  router.connect("merge.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  sink.events.forEach((event, i) => assert.equal(event, events[i]));
});
