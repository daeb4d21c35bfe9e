import assert from "node:assert/strict";
import { Actor, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import { Router } from "../../core/router.ts";
import {
  attachTracker,
  combineTrackers,
  CountingTracker,
  hold,
  Tracker,
  trackerOf,
  type TrackerOwner,
} from "../../core/tracking.ts";
import { fanout } from "../../actors/flow/fanout.ts";
import { Collector, ListInput, trackedEvents } from "../helpers.ts";
import { Gate, Pass } from "./fixtures.ts";

/** Whether each tracker completed (true), failed (its reason) or is open. */
function outcomes(trackers: Tracker[]): Promise<(true | string)[]> {
  return Promise.all(
    trackers.map((tracker) =>
      tracker.done.then(() => true as const, (error: Error) => error.message)
    ),
  );
}

/** Drops every event whose data is even; sends the rest on. */
class DropEven extends Actor {
  readonly kind = "transform";
  override consume(event: Event): Promise<void> | undefined {
    if ((event.data as number) % 2 === 0) return undefined;
    return this.send(event);
  }
}

/** Fails every event. */
class Broken extends Actor {
  readonly kind = "transform";
  override consume(): void {
    throw new RangeError("broken on purpose");
  }
}

/** Splits each event into two new events. */
class Split extends Actor {
  readonly kind = "transform";
  override async consume(event: Event): Promise<void> {
    await this.send({ header: {}, data: `${event.data}a` });
    await this.send({ header: {}, data: `${event.data}b` });
  }
}

Deno.test("a tracker completes once its event was consumed by the output", async () => {
  const { events, trackers } = trackedEvents(50);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new Pass("pass"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "pass.inbox");
  router.connect("pass.outbox", "sink.inbox");
  await router.start();
  assert.deepEqual(await outcomes(trackers), Array(50).fill(true));
  assert.equal(sink.events.length, 50);
  await router.stop();
});

Deno.test("a tracker never shows in the header, in JSON or in a copy", () => {
  const event = attachTracker({ header: { a: 1 }, data: 2 }, new Tracker());
  assert.equal(JSON.stringify(event), '{"header":{"a":1},"data":2}');
  assert.deepEqual(Object.keys(event.header), ["a"]);
  assert.equal(trackerOf(structuredClone(event)), undefined);
});

Deno.test("a tracker waits for the output to finish, not just for the queue", async () => {
  const { events, trackers } = trackedEvents(1);
  const router = new Router();
  router.register(new ListInput("input", events));
  const gate = router.register(new Gate("gate"));
  router.connect("input.outbox", "gate.inbox");
  await router.start();
  const call = await gate.next();
  assert.equal(trackers[0]!.settled, false);
  call.release();
  assert.deepEqual(await outcomes(trackers), [true]);
  await router.stop();
});

/**
 * Passes each batch on whole with `sendAll`, `copies` times; then, when
 * told, waits for `proceed` and fails the events whose data is in `fail`.
 */
class PassBatch extends Actor {
  readonly kind = "transform";
  constructor(
    readonly copies = 1,
    readonly proceed?: Promise<void>,
    readonly fail: number[] = [],
  ) {
    super("pass");
  }
  override consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> | undefined {
    for (let i = 1; i < this.copies; i++) void context.sendAll(events);
    const sent = context.sendAll(events);
    if (this.proceed === undefined && this.fail.length === 0) return sent;
    return (async () => {
      await sent;
      await this.proceed;
      for (const event of events) {
        if (this.fail.includes(event.data as number)) {
          context.fail(event, new Error("failed after it was passed on"));
        }
      }
    })();
  }
}

for (
  const [what, count, copies, waits, fail] of [
    ["at once", 3, 1, false, []],
    // A whole batch is written at once: into a queue of 1, the send waits.
    ["into a full queue", MAX_BATCH + 2, 1, false, []],
    ["twice", 3, 2, false, []],
    ["and then waits", 3, 1, true, []],
    ["and then fails one", 3, 1, false, [2]],
  ] as const
) {
  Deno.test(`a batch passed on whole ${what} keeps its trackers waiting until every copy was finished`, async () => {
    const { events, trackers } = trackedEvents(count);
    const expected = events.map((event) =>
      (fail as readonly unknown[]).includes(event.data) ? "failed" : true
    );
    const proceed = Promise.withResolvers<void>();
    const router = new Router();
    router.register(new ListInput("input", events));
    router.register(
      new PassBatch(copies, waits ? proceed.promise : undefined, [...fail]),
    );
    const gate = router.register(
      new Gate("gate", count > 3 ? { capacity: 1 } : {}),
    );
    router.connect("input.outbox", "pass.inbox");
    router.connect("pass.outbox", "gate.inbox");
    await router.start();
    for (let call = 0; call < count * copies; call++) {
      const consuming = await gate.next();
      // No tracker completes before the gate finished its last copy.
      for (const [i, tracker] of trackers.entries()) {
        if (expected[i] === true && (copies - 1) * count + i >= call) {
          assert.equal(tracker.settled, false, `tracker ${i} at call ${call}`);
        }
      }
      consuming.release();
    }
    if (waits) {
      // Every copy was finished, but the stage has not finished the batch.
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(
        trackers.map((tracker) => tracker.settled),
        Array(count).fill(false),
      );
      proceed.resolve();
    }
    const settled = await outcomes(trackers);
    assert.deepEqual(
      settled.map((outcome) => outcome === true ? true : "failed"),
      expected,
    );
    await router.stop();
  });
}

Deno.test("events deliberately dropped by a stage complete their trackers", async () => {
  const { events, trackers } = trackedEvents(10);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new DropEven("odd"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "odd.inbox");
  router.connect("odd.outbox", "sink.inbox");
  await router.start();
  assert.deepEqual(await outcomes(trackers), Array(10).fill(true));
  assert.deepEqual(sink.data(), [1, 3, 5, 7, 9]);
  await router.stop();
});

Deno.test("a tracker waits for every copy made by fanout and every split event", async () => {
  const { events, trackers } = trackedEvents(1);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(fanout, "copy");
  router.register(new Split("split"));
  const left = router.register(new Gate("left"));
  const right = router.register(new Collector("right"));
  router.connect("input.outbox", "copy.inbox");
  router.connect("copy.a", "split.inbox");
  router.connect("copy.b", "right.inbox");
  router.connect("split.outbox", "left.inbox");
  await router.start();
  await right.waitFor(1);
  const first = await left.next();
  assert.equal(first.event.data, "1a");
  first.release();
  const second = await left.next();
  assert.equal(trackers[0]!.settled, false);
  second.release();
  assert.deepEqual(await outcomes(trackers), [true]);
  await router.stop();
});

Deno.test("a failure with no error queue fails the tracker; a handled one completes it", async () => {
  const unhandled = trackedEvents(2);
  const handled = trackedEvents(2);
  const router = new Router();
  router.register(new ListInput("input", unhandled.events));
  router.register(new Broken("broken"));
  router.register(new ListInput("input2", handled.events));
  router.register(new Broken("broken2"));
  const errors = router.register(new Collector("errors"));
  router.connect("input.outbox", "broken.inbox");
  router.connect("input2.outbox", "broken2.inbox");
  router.connect("broken2.error", "errors.inbox");
  await router.start();
  assert.deepEqual(await outcomes(unhandled.trackers), [
    "RangeError: broken on purpose",
    "RangeError: broken on purpose",
  ]);
  assert.deepEqual(await outcomes(handled.trackers), [true, true]);
  assert.equal(errors.events.length, 2);
  await router.stop();
});

Deno.test("events dropped by a full queue or an unconnected queue fail their trackers", async () => {
  const { events, trackers } = trackedEvents(3);
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new Pass("nowhere"));
  router.connect("input.outbox", "nowhere.inbox");
  await router.start();
  const results = await outcomes(trackers);
  assert.ok(
    results.every((result) =>
      result === 'Queue "nowhere.outbox": not connected'
    ),
    String(results),
  );
  await router.stop();

  const full = trackedEvents(5);
  const gated = new Router();
  gated.register(new ListInput("input", full.events));
  const gate = gated.register(
    new Gate("gate", { capacity: 1, whenFull: "drop_newest" }),
  );
  gated.connect("input.outbox", "gate.inbox");
  await gated.start();
  const call = await gate.next();
  const dropped = await outcomes(full.trackers.slice(1));
  assert.ok(dropped.every((result) => result !== true), String(dropped));
  call.release();
  assert.deepEqual(await outcomes(full.trackers.slice(0, 1)), [true]);
  await gated.stop();
});

Deno.test("hold and combineTrackers let a batch carry the trackers of its events", async () => {
  const { events, trackers } = trackedEvents(3);
  const settles = events.map((event) => hold(event));
  const batch = attachTracker(
    { header: {}, data: events.map((event) => event.data) },
    combineTrackers(events)!,
  );
  const batchTracker = trackerOf(batch)!;
  batchTracker.retain();
  for (const settle of settles) settle();
  assert.ok(trackers.every((tracker) => !tracker.settled));
  batchTracker.release();
  assert.deepEqual(await outcomes(trackers), [true, true, true]);
});

Deno.test("a stop that times out fails the trackers of events an output still held", async () => {
  const { events, trackers } = trackedEvents(3);
  const router = new Router();
  router.register(new ListInput("input", events));
  const gate = router.register(new Gate("gate"));
  router.connect("input.outbox", "gate.inbox");
  await router.start();
  await gate.next(); // consuming event 1, never released
  const report = await router.stop({ timeoutMs: 50 });
  assert.equal(report.timedOut, true);
  const results = await outcomes(trackers);
  assert.deepEqual(
    results,
    Array(3).fill('Actor "gate" was stopped before it finished'),
  );
});

/** What a {@link CountingTracker} told its owner, in order. */
function recordingOwner(): TrackerOwner<string> & { told: string[] } {
  const told: string[] = [];
  return {
    told,
    handled: (subject) => told.push(`handled ${subject}`),
    lost: (subject, reason) => told.push(`lost ${subject}: ${reason}`),
  };
}

Deno.test("a counting tracker tells its owner once, at once, when the last event was handled", async () => {
  const owner = recordingOwner();
  const tracker = new CountingTracker("m1", owner);
  tracker.retain();
  tracker.retain();
  tracker.release();
  assert.deepEqual(owner.told, [], "one event is still out");
  tracker.release();
  assert.deepEqual(owner.told, ["handled m1"], "told synchronously");
  assert.equal(tracker.settled, true);
  tracker.fail("too late");
  tracker.retain();
  tracker.release();
  await Promise.resolve();
  assert.deepEqual(owner.told, ["handled m1"], "told once");
});

Deno.test("a counting tracker tells its owner of a loss once, in a microtask, and never of a success after", async () => {
  const owner = recordingOwner();
  const tracker = new CountingTracker("m2", owner);
  tracker.retain();
  tracker.retain();
  tracker.fail("dropped by a full queue");
  tracker.fail("failed again");
  assert.deepEqual(owner.told, [], "not told inside the core's work");
  await Promise.resolve();
  assert.deepEqual(owner.told, ["lost m2: dropped by a full queue"]);
  tracker.release();
  tracker.release();
  await Promise.resolve();
  assert.deepEqual(owner.told, ["lost m2: dropped by a full queue"]);
});

Deno.test("counting trackers are settled by a pipeline: handled when filtered, lost when failed with no error queue", async () => {
  const owner = recordingOwner();
  const events = [1, 2, 3, 4].map((n) =>
    attachTracker(
      { header: {}, data: n },
      new CountingTracker(`m${n}`, owner),
    )
  );
  const router = new Router();
  router.register(new ListInput("input", events));
  router.register(new DropEven("odd"));
  router.register(new Broken("broken"));
  router.connect("input.outbox", "odd.inbox");
  router.connect("odd.outbox", "broken.inbox");
  await router.start();
  await router.finished;
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed, 2);
  assert.deepEqual(owner.told.toSorted(), [
    "handled m2",
    "handled m4",
    "lost m1: RangeError: broken on purpose",
    "lost m3: RangeError: broken on purpose",
  ]);
});
