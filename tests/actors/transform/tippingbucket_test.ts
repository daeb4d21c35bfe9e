import assert from "node:assert/strict";
import { Actor } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import type { Tracker } from "../../../core/tracking.ts";
import {
  type BatchHeader,
  TippingBucket,
  tippingBucket,
} from "../../../actors/transform/tippingbucket.ts";
import {
  Collector,
  ListInput,
  numbered,
  trackedEvents,
} from "../../helpers.ts";
import { Gate } from "../../core/fixtures.ts";
import { runStage } from "../stage.ts";

/** An input that sends its events, then stays open until the router stops. */
class OpenInput extends Actor {
  readonly kind = "input";
  #events: Event[];

  constructor(name: string, events: Event[]) {
    super(name, {}, { inbound: [] });
    this.#events = events;
  }

  override async produce(signal: AbortSignal): Promise<void> {
    for (const event of this.#events) {
      const waiting = this.send(event);
      if (waiting !== undefined) await waiting;
    }
    if (signal.aborted) return;
    await new Promise((resolve) =>
      signal.addEventListener("abort", resolve, { once: true })
    );
  }
}

/**
 * Counts the timers set with `setTimeout` that have neither fired nor been
 * cleared, until `restore()` (Deno's sanitizers do not report timers).
 */
function watchTimers(): { live: Set<unknown>; restore: () => void } {
  const live = new Set<unknown>();
  const { setTimeout: set, clearTimeout: clear } = globalThis;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    const id: ReturnType<typeof setTimeout> = set(() => {
      live.delete(id);
      fn();
    }, ms);
    live.add(id);
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: ReturnType<typeof setTimeout>) => {
    live.delete(id);
    clear(id);
  }) as typeof clearTimeout;
  return {
    live,
    restore: () => {
      globalThis.setTimeout = set;
      globalThis.clearTimeout = clear;
    },
  };
}

/** The batch header a tipping bucket named `name` set on `event`. */
function batchOf(event: Event | undefined, name = "batch"): BatchHeader {
  return event?.header[name] as BatchHeader;
}

Deno.test("tippingbucket sends a batch per count events and the rest on stop, all in order", async () => {
  const { out, errors } = await runStage(
    createActor(tippingBucket, "batch", { count: 100 }),
    numbered(250),
  );
  const batches = out.outbox!.events;
  assert.deepEqual(batches.map((event) => (event.data as unknown[]).length), [
    100,
    100,
    50,
  ]);
  assert.deepEqual(
    batches.flatMap((event) => event.data as number[]),
    numbered(250).map((event) => event.data),
  );
  assert.deepEqual(batches.map((event) => batchOf(event).count), [
    100,
    100,
    50,
  ]);
  for (const event of batches) {
    const { first, last } = batchOf(event);
    assert.ok(Date.parse(first) <= Date.parse(last));
    assert.deepEqual(Object.keys(event.header), ["batch"]);
  }
  assert.equal(errors.events.length, 0);
});

Deno.test("tippingbucket with keep_events batches the whole events", async () => {
  const { out } = await runStage(
    new TippingBucket("batch", { count: 2, keep_events: true }),
    numbered(3),
  );
  assert.deepEqual(out.outbox!.data(), [
    numbered(3).slice(0, 2),
    numbered(3).slice(2),
  ]);
});

Deno.test("tippingbucket sends a batch max_age after its first event, while the input stays open", async () => {
  const { router, sink } = await startBucket(numbered(3), {
    count: 100,
    max_age: 0.05,
  });
  await sink.waitFor(1);
  assert.deepEqual(sink.data(), [[1, 2, 3]], "sent by the timer, not by stop");
  assert.equal(batchOf(sink.events[0]).count, 3);
  const report = await router.stop();
  assert.equal(sink.events.length, 1, "nothing was left to send on stop");
  assert.equal(report.delivered, 1);
});

/** Input -> tipping bucket -> collector, started; the input stays open. */
async function startBucket(
  events: Event[],
  options: Record<string, unknown>,
): Promise<{ router: Router; sink: Collector }> {
  const router = new Router();
  router.register(new OpenInput("input", events));
  router.register(tippingBucket, "batch", options);
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "batch.inbox");
  router.connect("batch.outbox", "sink.inbox");
  await router.start();
  return { router, sink };
}

Deno.test("tippingbucket clears its age timer when a batch leaves by count", async () => {
  const timers = watchTimers();
  try {
    const { router, sink } = await startBucket(numbered(6), {
      count: 3,
      max_age: 3600,
    });
    await sink.waitFor(2);
    assert.equal(timers.live.size, 0);
    await router.stop();
    assert.deepEqual(sink.data(), [[1, 2, 3], [4, 5, 6]]);
  } finally {
    timers.restore();
  }
});

Deno.test("tippingbucket sends what it holds on stop and clears its age timer", async () => {
  const timers = watchTimers();
  try {
    const { router, sink } = await startBucket(numbered(5), {
      count: 100,
      max_age: 3600,
    });
    await router.stop();
    assert.deepEqual(sink.data(), [[1, 2, 3, 4, 5]]);
    assert.equal(timers.live.size, 0);
  } finally {
    timers.restore();
  }
});

Deno.test("tippingbucket clears its age timer on teardown, when a stop gave up before the flush", () => {
  const timers = watchTimers();
  try {
    const bucket = new TippingBucket("batch", { count: 100, max_age: 3600 });
    assert.equal(bucket.consume({ header: {}, data: 1 }), undefined);
    assert.equal(timers.live.size, 1);
    bucket.teardown();
    assert.equal(timers.live.size, 0);
  } finally {
    timers.restore();
  }
});

Deno.test("tippingbucket sends a batch once the JSON of its data reaches bytes", async () => {
  // Each "aaaa" is 6 bytes of JSON; the batch ["aaaa","aaaa","aaaa"] is 22.
  const { out } = await runStage(
    new TippingBucket("batch", { bytes: 22 }),
    Array.from({ length: 7 }, () => ({ header: {}, data: "aaaa" })),
  );
  assert.deepEqual(
    out.outbox!.events.map((event) => batchOf(event).count),
    [3, 3, 1],
  );
});

Deno.test("tippingbucket counts bytes as UTF-8", async () => {
  // ["é"] is 6 bytes of UTF-8 (5 UTF-16 units); ["🎉"] is 8 bytes.
  const { out } = await runStage(
    new TippingBucket("batch", { bytes: 6 }),
    ["é", "é", "🎉", "a", "a"].map((data) => ({ header: {}, data })),
  );
  assert.deepEqual(out.outbox!.data(), [["é"], ["é"], ["🎉"], ["a", "a"]]);
});

Deno.test("tippingbucket with bytes sends data JSON cannot hold to the error queue alone", async () => {
  const { out, errors } = await runStage(
    new TippingBucket("batch", { bytes: 1000 }),
    [1, 2n, 3].map((data) => ({ header: {}, data })),
  );
  assert.deepEqual(out.outbox!.data(), [[1, 3]]);
  assert.equal(errors.events.length, 1);
  assert.equal(errors.events[0]?.data, 2n);
});

/** Whether each tracker completed (true), failed (its reason) or is open (false). */
function outcomes(trackers: Tracker[]): Promise<(boolean | string)[]> {
  return Promise.all(
    trackers.map((tracker) =>
      tracker.settled
        ? tracker.done.then(() => true, (error: Error) => error.message)
        : false
    ),
  );
}

/** Fails every event. */
class Broken extends Actor {
  readonly kind = "output";
  constructor(name: string) {
    super(name, {}, { outbound: ["error"] });
  }
  override consume(): void {
    throw new RangeError("broken on purpose");
  }
}

Deno.test("tippingbucket keeps the trackers of held events open until their batch was consumed downstream", async () => {
  const { events, trackers } = trackedEvents(5);
  const router = new Router();
  router.register(new OpenInput("input", events));
  router.register(tippingBucket, "batch", { count: 3 });
  const gate = router.register(new Gate("sink")) as Gate;
  router.connect("input.outbox", "batch.inbox");
  router.connect("batch.outbox", "sink.inbox");
  await router.start();

  const first = await gate.next();
  assert.deepEqual(first.event.data, [1, 2, 3]);
  assert.deepEqual(
    await outcomes(trackers),
    [false, false, false, false, false],
    "the batch is being consumed; 4 and 5 are held",
  );
  first.release();
  await Promise.all(trackers.slice(0, 3).map((tracker) => tracker.done));
  assert.deepEqual(await outcomes(trackers), [true, true, true, false, false]);

  const stopping = router.stop();
  const second = await gate.next();
  assert.deepEqual(second.event.data, [4, 5]);
  assert.deepEqual(await outcomes(trackers.slice(3)), [false, false]);
  second.release();
  await stopping;
  assert.deepEqual(await outcomes(trackers), [true, true, true, true, true]);
});

Deno.test("tippingbucket fails the trackers of its events when their batch fails with no error queue", async () => {
  const { events, trackers } = trackedEvents(4);
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  router.register(new ListInput("input", events));
  router.register(tippingBucket, "batch", { count: 2 });
  router.register(new Broken("broken"));
  router.connect("input.outbox", "batch.inbox");
  router.connect("batch.outbox", "broken.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(
    await outcomes(trackers),
    Array(4).fill("RangeError: broken on purpose"),
  );
});

Deno.test("tippingbucket fails the trackers of the events it still holds on teardown", async () => {
  const { events, trackers } = trackedEvents(2);
  const bucket = new TippingBucket("batch", { count: 100 });
  for (const event of events) assert.equal(bucket.consume(event), undefined);
  assert.deepEqual(await outcomes(trackers), [false, false]);
  bucket.teardown();
  assert.deepEqual(await outcomes(trackers), [
    'Actor "batch" stopped holding 2 event(s)',
    'Actor "batch" stopped holding 2 event(s)',
  ]);
});
