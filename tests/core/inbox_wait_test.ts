/**
 * Red team of the in-memory wait of a supervisor's loop (`Queue.onQueued`):
 * a loop that waits on an empty inbox while its actor crashes and restarts,
 * is replaced by a reload or stops, still gets every event after.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { setTimeout as pause } from "node:timers/promises";
import { Actor, type Context, CrashError, sleep } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { Router } from "../../core/router.ts";
import type { Connection } from "../../core/graph.ts";
import {
  Collector,
  numbered,
  pollUntil,
  PushInput,
  trackedEvents,
  within,
} from "../helpers.ts";
import { toTransformStream } from "../../core/stream.ts";

/** A stage with two inbound queues that crashes on `data === "crash"`. */
class TwoInboxes extends Actor {
  readonly kind = "transform";
  setups = 0;

  constructor(name: string) {
    super(name, { restart: { max: 3, withinMs: 60_000, backoffMs: 1 } }, {
      inbound: ["left", "right"],
    });
  }

  override setup(): void {
    this.setups++;
  }

  override consume(event: Event, context: Context) {
    if (event.data === "crash") throw new CrashError("broken");
    return context.send({ header: event.header, data: event.data });
  }
}

function ev(source: string, seq: number, data: unknown = seq): Event {
  return { header: { source, seq }, data };
}

/** Waits until `sink` has `count` events, or fails. */
function collected(sink: Collector, count: number, what: string) {
  return within(sink.waitFor(count), 5000, what);
}

Deno.test("A loop that waits on an empty inbox while the other inbox crashes its actor gets its events after the restart", async () => {
  const router = new Router({ logLevel: "fatal" });
  const left = router.register(new PushInput("l"));
  const right = router.register(new PushInput("r"));
  const stage = router.register(new TwoInboxes("two"));
  const sink = router.register(new Collector("sink"));
  const errors = router.register(new Collector("errors"));
  router.connect("l.outbox", "two.left");
  router.connect("r.outbox", "two.right");
  router.connect("two.outbox", "sink.inbox");
  router.connect("two.error", "errors.inbox");
  await router.start();
  try {
    right.push([ev("r", 1)]);
    await collected(sink, 1, "the first event");
    // Both loops now wait on empty inboxes; the left one crashes the actor.
    left.push([ev("l", 1, "crash")]);
    await collected(errors, 1, "the crashed event");
    await pollUntil(() => stage.setups, (n) => n >= 2, "the restart", 500, 10);
    for (let round = 0; round < 3; round++) {
      await pause(10);
      right.push([ev("r", 2 + round)]);
      left.push([ev("l", 2 + round)]);
      await collected(sink, 3 + 2 * round, `round ${round} after the restart`);
    }
  } finally {
    left.end();
    right.end();
    await router.finished;
  }
  const report = await router.stop({ timeoutMs: 2000 });
  assert.equal(report.unaccounted, 0);
  assert.equal(report.timedOut, false);
  assert.deepEqual(
    sink.events.filter((e) => e.header.source === "r").map((e) => e.header.seq),
    [1, 2, 3, 4],
  );
  assert.deepEqual(
    sink.events.filter((e) => e.header.source === "l").map((e) => e.header.seq),
    [2, 3, 4],
  );
});

/** A pass-through stage tagging what it sends with its `tag`. */
class Tagger extends Actor {
  readonly kind = "transform";
  constructor(name: string, readonly tag: string) {
    super(name);
  }
  override consume(event: Event, context: Context) {
    return context.send({
      header: { ...event.header, tag: this.tag },
      data: event.data,
    });
  }
}

Deno.test("A stage replaced by Router.change() while its loop waits on an empty inbox gets the events that arrive after", async () => {
  const router = new Router({ logLevel: "warning" });
  const input = router.register(new PushInput("input"));
  router.register(new Tagger("mid", "t0"));
  const sink = router.register(new Collector("sink"));
  router.connect("input.outbox", "mid.inbox");
  router.connect("mid.outbox", "sink.inbox");
  await router.start();
  const connections: Connection[] = [...router.connections()];
  let seq = 0;
  try {
    for (let i = 1; i <= 6; i++) {
      input.push([ev("i", ++seq)]);
      await collected(sink, seq, `event ${seq}`);
      // The loop of "mid" waits on its empty inbox now.
      const result = await router.change({
        actors: new Map<string, Actor>([
          ["input", input],
          ["mid", new Tagger("mid", `t${i}`)],
          ["sink", sink],
        ]),
        connections: i % 2 === 0
          ? connections.map((c) =>
            c.to === "mid.inbox" ? { ...c, capacity: 77 } : c
          )
          : connections,
        remake: () => assert.fail("nothing to renew"),
      });
      assert.equal(result.applied, true, result.reason);
      input.push([ev("i", ++seq)]);
      await collected(sink, seq, `event ${seq} after change ${i}`);
      assert.equal(sink.events.at(-1)!.header.tag, `t${i}`);
    }
  } finally {
    input.end();
    await router.finished;
  }
  const report = await router.stop({ timeoutMs: 2000 });
  assert.equal(report.unaccounted, 0);
  assert.deepEqual(
    sink.events.map((e) => e.header.seq),
    Array.from({ length: seq }, (_, i) => i + 1),
  );
});

/** An input that sends `events`, then waits for its stop. */
class OnceThenIdle extends Actor {
  readonly kind = "input";
  constructor(name: string, readonly events: Event[]) {
    super(name, {}, { inbound: [] });
  }
  override async produce(signal: AbortSignal): Promise<void> {
    for (const event of this.events) await this.send(event);
    await new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
  }
}

Deno.test("stop() while every loop waits on an empty inbox ends without a timeout", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(new OnceThenIdle("l", [ev("l", 1)]));
  router.register(new OnceThenIdle("r", []));
  router.register(new TwoInboxes("two"));
  const sink = router.register(new Collector("sink"));
  router.connect("l.outbox", "two.left");
  router.connect("r.outbox", "two.right");
  router.connect("two.outbox", "sink.inbox");
  await router.start();
  await collected(sink, 1, "the first event");
  const report = await router.stop({ timeoutMs: 2000 });
  assert.equal(report.timedOut, false);
  assert.equal(report.unaccounted, 0);
  assert.equal(report.delivered, 1);
});

/** A stage that sleeps a random while per event, as `delays` says. */
class Sleepy extends Actor {
  readonly kind = "transform";
  #i = 0;
  constructor(name: string, readonly delays: number[]) {
    super(name);
  }
  override async consume(event: Event, context: Context): Promise<void> {
    const ms = this.delays[this.#i++ % this.delays.length]!;
    if (ms > 0) await sleep(ms, context.signal);
    await context.send(event);
  }
}

Deno.test("A flood of interleaved sources through stages that sleep at random keeps per-source order and accounts for every event", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 2 }), {
        minLength: 200,
        maxLength: 900,
      }),
      fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 40 }),
      async (sources, delays, capacity) => {
        const router = new Router({ logLevel: "fatal" });
        const input = router.register(new PushInput("in"));
        router.register(new Sleepy("a", delays));
        router.register(new Sleepy("b", [...delays].reverse()));
        const sink = router.register(new Collector("sink"));
        router.connect("in.outbox", "a.inbox", { capacity });
        router.connect("a.outbox", "b.inbox", { capacity });
        router.connect("b.outbox", "sink.inbox");
        await router.start();
        const seqs = [0, 0, 0];
        const events = sources.map((source) =>
          ev(`s${source}`, ++seqs[source]!)
        );
        // Half at once, then the rest one by one after an empty spell.
        const half = events.length >> 1;
        input.push(events.slice(0, half));
        await pause(3);
        for (const event of events.slice(half)) input.push([event]);
        input.end();
        await within(router.finished, 20_000, "the flood");
        const report = await router.stop({ timeoutMs: 5000 });
        assert.equal(report.unaccounted, 0);
        assert.equal(report.created, events.length);
        assert.equal(report.delivered, events.length);
        seqs.forEach((count, source) => {
          assert.deepEqual(
            sink.events.filter((e) => e.header.source === `s${source}`).map((
              e,
            ) => e.header.seq),
            Array.from({ length: count }, (_, j) => j + 1),
          );
        });
      },
    ),
    { numRuns: 12 },
  );
});

/** A batch stage that sleeps `delays` in turn before passing a batch on. */
class SleepyBatch extends Actor {
  readonly kind = "transform";
  #i = 0;
  constructor(name: string, readonly delays: number[]) {
    super(name);
    this.consumeBatch = async (events, context) => {
      const ms = this.delays[this.#i++ % this.delays.length]!;
      if (ms > 0) await pause(ms);
      await context.sendAll(events);
    };
  }
}

Deno.test("Chains of TransformStreams fed arrays of random sizes, aborted or cancelled at random moments, never hang, repeat or reorder an event, and settle every tracker", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 1500 }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 5 }),
      fc.constantFrom("none", "abort", "cancel", "close"),
      fc.integer({ min: 0, max: 30 }),
      fc.boolean(),
      async (sizes, delays, end, endAfterMs, tracked) => {
        const stages = ["a", "b", "c"].map((name, i) =>
          toTransformStream(
            new SleepyBatch(name, delays.map((d) => (d + i) % 4)),
            { batch: true },
          )
        );
        for (let i = 0; i + 1 < stages.length; i++) {
          void stages[i]!.readable.pipeTo(stages[i + 1]!.writable).catch(
            () => {},
          );
        }
        const total = sizes.reduce((a, b) => a + b, 0);
        const { events, trackers } = tracked
          ? trackedEvents(total)
          : { events: numbered(total), trackers: [] };
        const writer = stages[0]!.writable.getWriter();
        const reader = stages.at(-1)!.readable.getReader();
        const received: number[] = [];
        const reading = (async () => {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            for (const event of value as Event[]) {
              received.push(event.data as number);
            }
            if (delays[received.length % delays.length]! > 1) await pause(1);
          }
        })().catch(() => {});
        // Events of the writes the stream took: their trackers must settle
        // (a write refused once the writable errored never reaches the
        // stream, see the commit that added this test).
        let handed = 0;
        let taken = 0;
        const writing = (async () => {
          for (const size of sizes) {
            const chunk = events.slice(handed, handed + size);
            handed += size;
            await writer.write(chunk);
            taken = handed;
          }
          if (end === "none") await writer.close();
        })().catch(() => {});
        if (end !== "none") {
          await pause(endAfterMs);
          const reason = new Error(end);
          if (end === "abort") await writer.abort(reason).catch(() => {});
          else if (end === "cancel") await reader.cancel(reason);
          else {
            await writing;
            await writer.close().catch(() => {});
          }
        }
        await within(
          Promise.all([writing, reading]),
          5000,
          `the chain to end (${end})`,
        );
        await within(
          Promise.all(stages.map((s) => s.finished.catch(() => {}))),
          5000,
          "the actors to end",
        );
        await within(
          Promise.all(
            trackers.slice(0, taken).map((t) => t.done.catch(() => {})),
          ),
          5000,
          "every tracker to settle",
        );
        // What arrived is a prefix of what was written, in order, once.
        assert.deepEqual(
          received,
          Array.from({ length: received.length }, (_, i) => i + 1),
        );
        if (end === "none" || end === "close") {
          assert.equal(received.length, total);
          for (const tracker of trackers) await tracker.done;
        }
        for (const stage of stages) {
          const inbox = stage.figures().queues.inbox!;
          assert.equal(inbox.depth, 0);
        }
      },
    ),
    { numRuns: 30 },
  );
});

/** An output whose consume never ends and ignores its signal. */
class Stuck extends Actor {
  readonly kind = "output";
  #release = Promise.withResolvers<void>();
  consumed = 0;
  override consume(): Promise<void> {
    this.consumed++;
    return this.#release.promise;
  }
  /** Ends the consume in progress (after the test). */
  release(): void {
    this.#release.resolve();
  }
}

Deno.test("A stop that times out on a stuck output ends the loops that wait on empty inboxes, and accounts for every event", async () => {
  const router = new Router({ logLevel: "fatal" });
  router.register(new OnceThenIdle("l", [ev("l", 1), ev("l", 2)]));
  router.register(new OnceThenIdle("r", [ev("r", 1)]));
  router.register(new TwoInboxes("two"));
  const stuck = router.register(new Stuck("stuck"));
  router.connect("l.outbox", "two.left");
  router.connect("r.outbox", "two.right");
  router.connect("two.outbox", "stuck.inbox");
  await router.start();
  await pollUntil(
    () => stuck.consumed,
    (n) => n >= 1,
    "the stuck consume",
    500,
    10,
  );
  const report = await within(
    router.stop({ timeoutMs: 200 }),
    5000,
    "the stop",
  );
  stuck.release();
  assert.equal(report.timedOut, true);
  assert.equal(report.unaccounted, 0);
  assert.equal(report.created, 3);
  assert.equal(report.delivered, 0);
});
