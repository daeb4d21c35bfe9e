import assert from "node:assert/strict";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import { Filter, filter } from "../../../actors/transform/filter.ts";
import { Collector, ListInput, numbered } from "../../helpers.ts";
import { runStage } from "../stage.ts";

const levels = ["debug", "info", "error", "debug", "warn", "error"].map((
  level,
  seq,
) => ({ header: { seq }, data: { level } }));

Deno.test("filter keeps the events that match and counts the others without sending them", async () => {
  const only = new Filter("only_errors", {
    keep: { field: "data.level", in: ["error", "warn"] },
  });
  const { out, errors, report } = await runStage(only, levels);
  assert.deepEqual(out.outbox!.events.map((event) => event.header.seq), [
    2,
    4,
    5,
  ]);
  assert.equal(only.figures().filtered_total, 3);
  assert.equal(only.figures().consumed_total, 6);
  assert.equal(errors.events.length, 0);
  assert.equal(report.dropped, 0, "filtered events are not lost events");
});

Deno.test("filter with drop passes on the events that do not match", async () => {
  const noDebug = new Filter("no_debug", {
    drop: { field: "data.level", equals: "debug" },
  });
  const { out } = await runStage(noDebug, levels);
  assert.deepEqual(out.outbox!.events.map((event) => event.header.seq), [
    1,
    2,
    4,
    5,
  ]);
  assert.equal(noDebug.figures().filtered_total, 2);
});

Deno.test("filter shows filtered_total in the router's metrics", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(10)));
  router.register(filter, "big", { keep: { field: "data", gt: 7 } });
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "big.inbox");
  router.connect("big.outbox", "sink.inbox");
  await router.start();
  await router.finished;
  const metrics = router.metrics();
  await router.stop();
  assert.deepEqual(sink.data(), [8, 9, 10]);
  assert.equal(
    (metrics.actors.big as unknown as { filtered_total: number })
      .filtered_total,
    7,
  );
});

Deno.test("filter takes exactly one of keep and drop", () => {
  const predicate = { field: "data", equals: 1 };
  for (const options of [{}, { keep: predicate, drop: predicate }]) {
    assert.throws(() => createActor(filter, "f", options), {
      name: "TypeError",
      message:
        'Invalid options for actor "f" (type "filter"): A filter takes exactly one of "keep" and "drop"',
    });
  }
  assert.throws(
    () => createActor(filter, "f", { drop: { field: "data", matches: "[" } }),
    /"drop\.matches": Invalid regular expression: \/\[\/: Unterminated character class/,
  );
});
