import assert from "node:assert/strict";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { Router } from "../../core/router.ts";
import { Collector, ListInput, numbered, within } from "../helpers.ts";

/** Long enough that a test never sees it pass. */
const FOREVER_MS = 600_000;
const WAIT_MS = 10_000;

/** A stage whose work waits for the event loop (a timer) for each event. */
class Slow extends Actor {
  readonly kind = "transform";

  constructor(name: string, settings: ActorSettings) {
    super(name, settings);
  }

  override async consume(event: Event, context: Context): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const waiting = context.send(event);
    if (waiting !== undefined) await waiting;
  }
}

/**
 * Runs `count` events through a {@link Slow} stage with `lingerMs`; returns
 * the sizes of the batches that reached the sink and the data, in order.
 */
async function throughSlow(
  count: number,
  lingerMs: number,
): Promise<{ batches: number[]; data: unknown[] }> {
  const router = new Router();
  router.register(new ListInput("input", numbered(count)));
  router.register(new Slow("slow", { lingerMs }));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "slow.inbox");
  router.connect("slow.outbox", "sink.inbox");
  const batches: number[] = [];
  sink.pool.inbound.get("inbox")!.observe((batch) =>
    batches.push(batch.length)
  );
  await router.start();
  await within(router.finished, WAIT_MS, "the events to reach the sink");
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  return { batches, data: sink.data() };
}

Deno.test("the results of an asynchronous stage travel as the batch it was given, in order", async () => {
  const { batches, data } = await throughSlow(50, FOREVER_MS);
  assert.deepEqual(batches, [50]);
  assert.deepEqual(data, numbered(50).map((event) => event.data));
});

Deno.test("a lone event through an asynchronous stage goes on when its work is done, not after linger_ms", async () => {
  // With the linger applied to it, the event would wait 10 minutes.
  const { batches, data } = await throughSlow(1, FOREVER_MS);
  assert.deepEqual(batches, [1]);
  assert.deepEqual(data, [1]);
});

Deno.test("linger_ms 0 writes on what an asynchronous stage sent while it still works", async () => {
  const { batches, data } = await throughSlow(50, 0);
  assert.ok(batches.length > 1, `one batch of ${batches}`);
  assert.equal(batches.reduce((sum, size) => sum + size, 0), 50);
  assert.deepEqual(data, numbered(50).map((event) => event.data));
});
