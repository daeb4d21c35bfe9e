import assert from "node:assert/strict";
import { Actor, type Context, CrashError } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import {
  type ActorStream,
  EventFailedError,
  toTransformStream,
} from "../../core/stream.ts";
import { attachTracker, Tracker } from "../../core/tracking.ts";
import { generator } from "../../actors/input/generator.ts";
import { fileOut } from "../../actors/output/file_out.ts";
import { jsonata } from "../../actors/transform/jsonata.ts";
import {
  Collector,
  numbered,
  pollUntil,
  trackedEvents,
  within,
} from "../helpers.ts";
import { Gate, Pass, unreadable } from "./fixtures.ts";

/** A transform that fails events whose data is not a number. */
class Numbers extends Actor {
  readonly kind = "transform";
  attempts = 0;

  override consume(event: Event, context: Context) {
    this.attempts++;
    if (typeof event.data !== "number") {
      throw new TypeError(`not a number: ${event.data}`);
    }
    return context.send(event);
  }
}

/** A transform that fails each event on its first attempt only. */
class Flaky extends Actor {
  readonly kind = "transform";
  #seen = new Set<unknown>();

  override consume(event: Event, context: Context) {
    if (!this.#seen.has(event.data)) {
      this.#seen.add(event.data);
      throw new Error("first attempt fails");
    }
    return context.send(event);
  }
}

/** A lazy source of `count` events numbered from 1, one batch per pull. */
function numberedSource(count: number, batch = MAX_BATCH): ReadableStream<
  Event[]
> {
  let seq = 0;
  return new ReadableStream<Event[]>({
    pull(controller) {
      const events: Event[] = [];
      while (events.length < batch && seq < count) {
        seq++;
        events.push({ header: { seq }, data: seq });
      }
      controller.enqueue(events);
      if (seq === count) controller.close();
    },
  }, { highWaterMark: 0 });
}

/** What reading `readable` to its end fails with; fails when it does not. */
function errorOf(readable: ReadableStream<unknown>): Promise<unknown> {
  return Array.fromAsync(readable).then(
    () => assert.fail("the stream did not error"),
    (error) => error,
  );
}

/** The events held by `stream` that its figures show. */
function held(stream: ActorStream<Event | Event[]>): number {
  const figures = stream.figures();
  let count = (figures.writable?.depth ?? 0) +
    (figures.readable?.depth ?? 0);
  for (const queue of Object.values(figures.queues)) count += queue.depth;
  return count;
}

Deno.test("1,000,000 events through three actors as TransformStreams arrive in order, and a slow WritableStream keeps what they hold bounded", async () => {
  const count = 1_000_000;
  const capacity = 1000;
  const stages = ["one", "two", "three"].map((name) =>
    toTransformStream(new Pass(name, { capacity }), { batch: true })
  );
  let next = 1;
  let written = 0;
  let mostHeld = 0;
  let rss = 0;
  const slow = new WritableStream<Event[]>({
    async write(batch) {
      for (const event of batch) {
        assert.equal(event.data, next, "events arrive in order");
        next++;
      }
      written++;
      if (written % 8 === 0) {
        // Slow: the pipeline must wait for the sink, not gather in memory.
        await new Promise((resolve) => setTimeout(resolve, 1));
        mostHeld = Math.max(
          mostHeld,
          stages.reduce((sum, stage) => sum + held(stage), 0),
        );
        rss = Math.max(rss, Deno.memoryUsage().rss);
      }
    },
  });
  let source = numberedSource(count);
  for (const stage of stages) source = source.pipeThrough(stage);
  await source.pipeTo(slow);
  assert.equal(next - 1, count);
  // Per stage: its writable's gathering and its outbox (at most two
  // batches and a write in flight each), its inbox and the queue of its
  // readable side (capacity each).
  const bound = 3 * (2 * capacity + 6 * MAX_BATCH);
  assert.ok(
    mostHeld <= bound,
    `the stages held ${mostHeld} events at once, more than ${bound}`,
  );
  assert.ok(
    mostHeld >= capacity,
    `the queues never filled up (${mostHeld} events held): no back-pressure was tested`,
  );
  for (const stage of stages) {
    await stage.finished;
    const figures = stage.figures();
    assert.equal(figures.actor.consumed_total, count);
    assert.equal(figures.queues.inbox!.depth, 0);
    assert.equal(figures.queues.inbox!.abandoned_total, 0);
  }
  console.log(
    `  most events held at once: ${mostHeld}; peak RSS seen: ${
      (rss / 1024 / 1024).toFixed(0)
    } MB`,
  );
});

Deno.test("toTransformStream() of a spec passes single events through in order, and its figures add up", async () => {
  const stream = toTransformStream(jsonata, { expression: "$ * 10" }, {
    name: "times",
  });
  const out = await Array.fromAsync(
    ReadableStream.from(numbered(2000)).pipeThrough(stream),
  );
  assert.deepEqual(
    out.map((event) => event.data),
    numbered(2000).map((event) => Number(event.data) * 10),
  );
  await stream.finished;
  const figures = stream.figures();
  assert.equal(stream.actor.name, "times");
  assert.equal(figures.actor.consumed_total, 2000);
  assert.equal(figures.writable!.in_total, 2000);
  assert.equal(figures.queues.inbox!.out_total, 2000);
  assert.equal(figures.readable!.out_total, 2000);
});

Deno.test("a stream's writable takes arrays and single events alike, and discards values that are not events, counted", async () => {
  const stream = toTransformStream(new Pass("pass"), { batch: true });
  const writer = stream.writable.getWriter();
  const read = Array.fromAsync(stream.readable);
  await writer.write({ header: {}, data: 1 });
  await writer.write([{ header: {}, data: 2 }, "not an event" as never]);
  await writer.write(42 as never);
  await writer.close();
  const batches = await read;
  assert.deepEqual(batches.flat().map((event) => event.data), [1, 2]);
  assert.equal(stream.figures().writable!.discarded_total, 2);
});

/** A stage that passes each batch on whole. */
class PassBatches extends Actor {
  readonly kind = "transform";
  override consumeBatch(events: Event[], context: Context) {
    return context.sendAll(events);
  }
}

for (const stage of [() => new Pass("pass"), () => new PassBatches("pass")]) {
  Deno.test(`an array its writer changes after writing it goes on as written (${stage().constructor.name})`, async () => {
    const stream = toTransformStream(stage(), { batch: true });
    const read = Array.fromAsync(stream.readable);
    const writer = stream.writable.getWriter();
    const chunks: Event[][] = [[1, 2], [3, 4], [5]].map((data) =>
      data.map((n) => ({ header: {}, data: n }))
    );
    const written = chunks.map((chunk) => writer.write(chunk));
    // Whether still queued in the writable or taken by the stream already.
    for (const chunk of chunks) {
      chunk[0] = null as never;
      chunk.push("not an event" as never);
    }
    await Promise.all(written);
    await writer.close();
    const batches = await read;
    assert.deepEqual(batches.flat().map((event) => event.data), [
      1,
      2,
      3,
      4,
      5,
    ]);
    assert.equal(stream.figures().writable!.discarded_total, 0);
  });
}

Deno.test("a batch read from a stream once its pipe into another stream ended, changed and written there, is checked and copied as any", async () => {
  // Whole batches, which stages pass on as they are.
  const a = toTransformStream(new PassBatches("a"), { batch: true });
  const b = toTransformStream(new PassBatches("b"), { batch: true });
  const into = a.writable.getWriter();
  const out = b.readable.getReader();
  const stop = new AbortController();
  const piping = a.readable.pipeTo(b.writable, {
    signal: stop.signal,
    preventAbort: true,
    preventCancel: true,
  });
  const numbered = (from: number): Event[] =>
    Array.from(
      { length: MAX_BATCH },
      (_, i) => ({ header: {}, data: from + i }),
    );
  await into.write(numbered(0));
  const piped = await out.read();
  assert.deepEqual(
    piped.value?.map((event) => event.data),
    numbered(0).map((event) => event.data),
  );
  stop.abort(new Error("enough"));
  await assert.rejects(piping, /enough/);

  await into.write(numbered(MAX_BATCH));
  const fromA = a.readable.getReader();
  const batch = (await fromA.read()).value!;
  assert.equal(batch.length, MAX_BATCH);
  batch[0] = "not an event" as never;
  const toB = b.writable.getWriter();
  const written = toB.write(batch);
  batch.push({ header: {}, data: "after the write" });
  await written;
  const next = await out.read();
  assert.equal(next.value?.length, MAX_BATCH - 1);
  assert.equal(next.value?.[0]?.data, MAX_BATCH + 1);
  assert.equal(next.value?.at(-1)?.data, 2 * MAX_BATCH - 1);
  assert.equal(b.figures().writable!.discarded_total, 1);
  await into.close();
  await toB.close();
  fromA.releaseLock();
  await a.readable.pipeTo(new WritableStream());
  assert.equal((await out.read()).done, true);
  await Promise.all([a.finished, b.finished]);
});

Deno.test("a batch read by hand before a pipe ran, and written into the piped stream as the pipe ends, is checked and copied as any", async () => {
  const a = toTransformStream(new PassBatches("a"), { batch: true });
  const b = toTransformStream(new PassBatches("b"), { batch: true });
  const into = a.writable.getWriter();
  const out = b.readable.getReader();
  const numbered = (from: number): Event[] =>
    Array.from(
      { length: MAX_BATCH },
      (_, i) => ({ header: {}, data: from + i }),
    );
  await into.write(numbered(0));
  const byHand = a.readable.getReader();
  const batch = (await byHand.read()).value!;
  byHand.releaseLock();
  const stop = new AbortController();
  const piping = a.readable.pipeTo(b.writable, {
    signal: stop.signal,
    preventAbort: true,
    preventCancel: true,
  });
  await into.write(numbered(MAX_BATCH));
  assert.equal((await out.read()).value?.[0]?.data, MAX_BATCH);
  // Written the moment the pipe lets go of b, before its promise settles.
  let written: Promise<void> | undefined;
  const writing = (async () => {
    while (b.writable.locked) await null;
    const toB = b.writable.getWriter();
    written = toB.write(batch);
    batch[0] = "not an event" as never;
    batch.length = 3;
    toB.releaseLock();
  })();
  stop.abort(new Error("enough"));
  await assert.rejects(piping, /enough/);
  await writing;
  await written;
  const next = await out.read();
  assert.equal(next.value?.length, MAX_BATCH);
  assert.deepEqual(
    next.value?.map((event) => event.data),
    numbered(0).map((event) => event.data),
  );
  await into.close();
  await b.writable.close();
  await a.readable.pipeTo(new WritableStream());
  assert.equal((await out.read()).done, true);
  await Promise.all([a.finished, b.finished]);
});

Deno.test('errors: "throw" (the default): a failed event errors both sides with an EventFailedError naming the actor, after its retries', async () => {
  const numbers = new Numbers("numbers", { retry: { max: 2, backoffMs: 1 } });
  const stream = toTransformStream(numbers);
  const tracker = new Tracker();
  const bad = attachTracker({ header: {}, data: "x" }, tracker);
  let cancelled: unknown;
  const events = [{ header: {}, data: 1 }, bad];
  // A source that stays open after its two events: the writable is open
  // when the failure comes, and the producer's pipe sees it.
  const source = new ReadableStream<Event>({
    pull: (controller) =>
      events.length > 0
        ? controller.enqueue(events.shift()!)
        : new Promise<void>(() => {}),
    cancel: (reason) => void (cancelled = reason),
  });
  const writing = source.pipeTo(stream.writable);
  const error = await errorOf(stream.readable);
  assert.ok(error instanceof EventFailedError);
  assert.equal(
    error.message,
    'Actor "numbers" failed an event: TypeError: not a number: x',
  );
  assert.equal(error.actor, "numbers");
  assert.equal(error.event.data, "x");
  assert.equal(numbers.attempts, 1 + 3, "one event, then three attempts");
  await assert.rejects(writing, (reason) => reason === error);
  assert.equal(cancelled, error);
  await assert.rejects(tracker.done, /not a number/);
  await stream.finished;
});

Deno.test('errors: "readable": failed events are the chunks of errors, with header.error, and the stream goes on; retry applies first', async () => {
  const stream = toTransformStream(new Numbers("numbers"), {
    errors: "readable",
  });
  const failed = Array.fromAsync(stream.errors);
  const out = await Array.fromAsync(
    ReadableStream.from(
      [1, "two", 3, null].map((data) => ({ header: {}, data })),
    ).pipeThrough(stream),
  );
  assert.deepEqual(out.map((event) => event.data), [1, 3]);
  const errors = await failed;
  assert.deepEqual(errors.map((event) => event.data), ["two", null]);
  assert.deepEqual(
    errors.map((event) => (event.header.error as { message: string }).message),
    ["not a number: two", "not a number: null"],
  );
  assert.equal(stream.figures().actor.failed_total, 2);

  const flaky = toTransformStream(
    new Flaky("flaky", { retry: { max: 1, backoffMs: 1 } }),
    { errors: "readable" },
  );
  const noErrors = Array.fromAsync(flaky.errors);
  const retried = await Array.fromAsync(
    ReadableStream.from(numbered(3)).pipeThrough(flaky),
  );
  assert.deepEqual(retried.map((event) => event.data), [1, 2, 3]);
  assert.deepEqual(await noErrors, []);
});

Deno.test("aborting the writable abandons the actor: what it held is counted as abandoned, trackers fail, and the readable errors with the reason", async () => {
  const gate = new Gate("gate", { capacity: 100 });
  const stream = toTransformStream(gate);
  const read = stream.readable.pipeTo(new WritableStream());
  const { events, trackers } = trackedEvents(10);
  const writer = stream.writable.getWriter();
  await writer.write(events);
  const first = await within(gate.next(), 5000, "the first consume");
  const reason = new Error("the producer gave up");
  await writer.abort(reason);
  await assert.rejects(read, (error) => error === reason);
  first.release();
  await stream.finished;
  const inbox = stream.figures().queues.inbox!;
  assert.equal(inbox.in_total, 10);
  assert.equal(inbox.abandoned_total, 10);
  assert.equal(inbox.depth, 0);
  for (const tracker of trackers) {
    await assert.rejects(tracker.done, /stopped before it finished|abandoned/);
  }
  assert.equal(gate.figures().consumed_total, 0);
});

Deno.test("aborting the writable while a write waits for a stuck actor (whole batches, a full inbox) settles at once: the abort resolves and every tracker fails", async () => {
  const gate = new Gate("gate", { capacity: 1024 });
  const stream = toTransformStream(gate, { batch: true });
  const read = stream.readable.pipeTo(new WritableStream()).then(
    () => assert.fail("the readable did not error"),
    (error) => error,
  );
  const writer = stream.writable.getWriter();
  const batches = [0, 1, 2].map(() => trackedEvents(MAX_BATCH));
  const writes = batches.map(({ events }) =>
    writer.write(events).catch((error) => error)
  );
  await within(gate.next(), 5000, "the first consume");
  // The gate holds the first batch and the inbox the second: the write of
  // the third waits for room, the actor never makes any.
  await pollUntil(
    () => stream.figures().queues.inbox!.depth,
    (depth) => depth === 2 * MAX_BATCH,
    "the inbox to fill up",
  );
  const reason = new Error("the producer gave up");
  await within(writer.abort(reason), 5000, "the abort");
  assert.equal(await within(read, 5000, "the readable to error"), reason);
  await within(Promise.all(writes), 5000, "the writes to settle");
  await within(stream.finished, 5000, "the actor to end");
  const inbox = stream.figures().queues.inbox!;
  assert.equal(inbox.in_total, 2 * MAX_BATCH);
  assert.equal(inbox.abandoned_total, 2 * MAX_BATCH);
  assert.equal(inbox.depth, 0);
  for (const { trackers } of batches) {
    for (const tracker of trackers) {
      await assert.rejects(tracker.done);
    }
  }
});

Deno.test("cancelling the readable errors the writable with the reason (the producer's pipe fails and its source is cancelled) and abandons the actor", async () => {
  const stream = toTransformStream(new Pass("pass", { capacity: 10 }), {
    batch: true,
  });
  let cancelled: unknown;
  const source = new ReadableStream<Event[]>({
    pull: (controller) => controller.enqueue(numbered(5)),
    cancel: (reason) => void (cancelled = reason),
  });
  const piped = source.pipeTo(stream.writable);
  const reader = stream.readable.getReader();
  assert.equal((await reader.read()).value?.length, 5);
  // Wait until the queues are full behind the unread readable.
  await pollUntil(
    () => stream.figures(),
    (figures) =>
      figures.queues.inbox!.depth === 10 && figures.readable!.depth === 10,
    "the inbox and the readable's queue to fill up",
  );
  const reason = new Error("the consumer has enough");
  await reader.cancel(reason);
  await assert.rejects(piped, (error) => error === reason);
  assert.equal(cancelled, reason);
  await stream.finished;
  const { queues, readable } = stream.figures();
  assert.equal(queues.inbox!.abandoned_total, 10);
  assert.equal(readable!.abandoned_total, 10);
  assert.equal(queues.inbox!.depth, 0);
});

Deno.test("closing the writable drains the actor: the readable closes only after its teardown, and an output's events are all written by then", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/out.log`;
    const stream = toTransformStream(fileOut, { path });
    await ReadableStream.from(numbered(3)).pipeThrough(stream).pipeTo(
      new WritableStream({
        write: () => assert.fail("an output sends nothing"),
      }),
    );
    assert.equal(await Deno.readTextFile(path), "1\n2\n3\n");
    assert.equal(stream.actor.figures().delivered_total, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an input as a stream produces on its own; closing the writable stops it, and writing to it fails", async () => {
  const stream = toTransformStream(generator, { interval: 0, count: 5 });
  const writer = stream.writable.getWriter();
  await assert.rejects(
    writer.write({ header: {}, data: 1 }),
    /has no inbound queue "inbox"/,
  );
  const events = await Array.fromAsync(stream.readable);
  assert.equal(events.length, 5);

  const endless = toTransformStream(generator, { interval: 0.001 });
  const reader = endless.readable.getReader();
  await reader.read();
  await endless.writable.close();
  while (!(await reader.read()).done);
  await endless.finished;
  assert.equal(endless.actor.figures().created_total > 0, true);
});

Deno.test("an actor that crashes more often than its restart policy allows errors the stream with the crash", async () => {
  class Device extends Actor {
    readonly kind = "input";
    runs = 0;
    constructor() {
      super("device", { restart: { max: 1, withinMs: 60_000, backoffMs: 1 } }, {
        inbound: [],
      });
    }
    override produce(): Promise<void> {
      this.runs++;
      return Promise.reject(new Error("the device is gone"));
    }
  }
  const device = new Device();
  const stream = toTransformStream(device);
  const error = await errorOf(stream.readable);
  assert.ok(error instanceof CrashError);
  assert.equal(
    error.message,
    'Actor "device" crashed more often than its restart policy allows: Error: the device is gone',
  );
  assert.equal(device.runs, 2, "restarted once, as its policy says");
  assert.equal(device.figures().restarts_total, 1);
  await assert.rejects(stream.writable.getWriter().closed, CrashError);
  await stream.finished;
});

Deno.test("a setup that fails errors both sides with its error", async () => {
  class NoSetup extends Pass {
    override setup(): void {
      throw new Error("cannot open the database");
    }
  }
  const stream = toTransformStream(new NoSetup("db"));
  await assert.rejects(
    stream.writable.getWriter().write({ header: {}, data: 1 }),
    /cannot open the database/,
  );
  await assert.rejects(
    stream.readable.getReader().read(),
    /cannot open the database/,
  );
  await stream.finished;
});

Deno.test("delivery tracking: a tracker completes only once the readable's consumer wrote its events, or once an output consumed them", async () => {
  const { events, trackers } = trackedEvents(2000);
  const written = new Set<number>();
  const settledEarly: number[] = [];
  trackers.forEach((tracker, i) =>
    tracker.done.then(() => {
      if (!written.has(i + 1)) settledEarly.push(i + 1);
    })
  );
  await ReadableStream.from(events)
    .pipeThrough(toTransformStream(new Pass("a")))
    .pipeThrough(toTransformStream(new Pass("b"), { batch: true }))
    .pipeTo(
      new WritableStream<Event[]>({
        async write(batch) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          for (const event of batch) written.add(Number(event.data));
        },
      }),
    );
  await Promise.all(trackers.map((tracker) => tracker.done));
  assert.deepEqual(settledEarly, []);

  const sink = new Collector("sink");
  const tracked = trackedEvents(3);
  await ReadableStream.from(tracked.events)
    .pipeThrough(toTransformStream(sink))
    .pipeTo(new WritableStream());
  await Promise.all(tracked.trackers.map((tracker) => tracker.done));
  assert.deepEqual(sink.data(), [1, 2, 3]);
});

Deno.test("delivery tracking with arrays passed on whole: tracked arrays between untracked ones complete only once the consumer wrote them, and all do", async () => {
  const { events, trackers } = trackedEvents(2 * MAX_BATCH);
  const written = new Set<unknown>();
  const settledEarly: unknown[] = [];
  trackers.forEach((tracker, i) =>
    tracker.done.then(() => {
      if (!written.has(i + 1)) settledEarly.push(i + 1);
    })
  );
  const untracked = (from: number): Event[] =>
    Array.from({ length: MAX_BATCH }, (_, i) => ({
      header: {},
      data: `untracked ${from + i}`,
    }));
  const chunks = [
    untracked(0),
    events.slice(0, MAX_BATCH),
    untracked(MAX_BATCH),
    events.slice(MAX_BATCH),
    untracked(2 * MAX_BATCH),
  ];
  let received = 0;
  await ReadableStream.from(chunks)
    .pipeThrough(toTransformStream(new PassBatches("a"), { batch: true }))
    .pipeThrough(toTransformStream(new PassBatches("b"), { batch: true }))
    .pipeTo(
      new WritableStream<Event[]>({
        async write(batch) {
          await new Promise((resolve) => setTimeout(resolve, 1));
          for (const event of batch) written.add(event.data);
          received += batch.length;
        },
      }),
    );
  await within(
    Promise.all(trackers.map((tracker) => tracker.done)),
    5000,
    "every tracker completing",
  );
  assert.equal(received, 5 * MAX_BATCH);
  assert.deepEqual(settledEarly, []);
});

Deno.test("delivery tracking per event: a consumer that reads 2,000 of 3,000 events one by one and cancels fails only the trackers of the events it did not ask past", async () => {
  const { events, trackers } = trackedEvents(3000);
  const stream = toTransformStream(new Pass("pass"));
  const writer = stream.writable.getWriter();
  let written = 0;
  const writing = (async () => {
    for (const event of events) {
      try {
        await writer.write(event);
      } catch {
        return;
      }
      written++;
    }
  })();
  const reader = stream.readable.getReader();
  for (let n = 1; n <= 2000; n++) {
    const { value } = await reader.read();
    assert.equal((value as Event).data, n);
  }
  await reader.cancel("enough");
  await writing;
  await stream.finished.catch(() => {});
  const settled = await Promise.all(
    trackers.slice(0, written).map((tracker) =>
      tracker.done.then(() => "done", () => "failed")
    ),
  );
  // Read and asked past: done. The 2,000th was read, but nothing was asked
  // after it: it may not have been handled, so it fails with the rest.
  assert.ok(written > 2000, `${written} written`);
  assert.deepEqual(settled.slice(0, 1999), Array(1999).fill("done"));
  assert.deepEqual(
    settled.slice(1999),
    Array(written - 1999).fill("failed"),
  );
});

Deno.test("an event waiting in a writable's own queue keeps its tracker waiting (the stage before may let go of it), and fails it when the stream is aborted", async () => {
  const ready = Promise.withResolvers<void>();
  class SlowSetup extends Pass {
    override setup(): Promise<void> {
      return ready.promise;
    }
  }
  const stream = toTransformStream(new SlowSetup("slow"), { batch: true });
  const { events, trackers } = trackedEvents(3);
  const writer = stream.writable.getWriter();
  for (const tracker of trackers) tracker.retain(); // the stage before holds them
  const writes = events.map((event) => writer.write(event));
  for (const tracker of trackers) tracker.release(); // ...and lets go of them
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(trackers.map((tracker) => tracker.settled), [
    false,
    false,
    false,
  ]);
  const reason = new Error("the producer gave up");
  const aborted = writer.abort(reason);
  ready.resolve();
  await aborted;
  await Promise.allSettled(writes);
  for (const tracker of trackers) {
    await assert.rejects(tracker.done, /the producer gave up/);
  }
  await stream.finished;
});

Deno.test("an actor that already runs in a stream (or a router) cannot be made a stream again", async () => {
  const pass = new Pass("pass");
  const stream = toTransformStream(pass);
  assert.throws(() => toTransformStream(pass), {
    name: "TypeError",
    message:
      'Cannot make a stream of actor "pass": it already runs, or is connected, in a router or another stream',
  });
  await stream.writable.close();
  await stream.readable.pipeTo(new WritableStream());
});

Deno.test("a write after close() is refused, and its delivery tracker fails instead of waiting for ever", async () => {
  const stream = toTransformStream(new Pass("pass"));
  const tracker = new Tracker();
  const writer = stream.writable.getWriter();
  const closing = writer.close();
  await assert.rejects(
    writer.write(attachTracker({ header: {}, data: 1 }, tracker)),
    TypeError,
  );
  assert.deepEqual(await Array.fromAsync(stream.readable), []);
  await closing;
  await assert.rejects(
    tracker.done,
    /Written after the writable side was closed/,
  );
  await stream.finished;
});

Deno.test("a write made once the stream broke on an abort, while the write in flight still waits for a stuck actor, fails its delivery tracker instead of leaving it waiting", async () => {
  const gate = new Gate("gate", { capacity: 1024 });
  const stream = toTransformStream(gate, { batch: true });
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const writes = [0, 1].map(() =>
    writer.write(trackedEvents(MAX_BATCH).events).catch(() => {})
  );
  await within(gate.next(), 5000, "the first consume");
  const tracker = new Tracker();
  // Written as the readable errors with the abort's reason: the writable
  // still sizes (and so retains) what is written until the write in flight
  // settled, then refuses it.
  const late = reader.read().then(
    () => assert.fail("the readable did not error"),
    () =>
      writer.write([attachTracker({ header: {}, data: 1 }, tracker)]).then(
        () => assert.fail("the late write was taken"),
        (error) => error,
      ),
  );
  const reason = new Error("the producer gave up");
  await within(writer.abort(reason), 5000, "the abort");
  assert.equal(await late, reason);
  await Promise.all(writes);
  await within(stream.finished, 5000, "the actor to end");
  await assert.rejects(
    within(tracker.done, 5000, "the late write's tracker"),
    /the producer gave up/,
  );
});

Deno.test("a value whose properties throw when read, written alone or in an array, is discarded and counted; the stream goes on and every tracker settles", async () => {
  const stream = toTransformStream(new Pass("pass"), { batch: true });
  const read = Array.fromAsync(stream.readable);
  const writer = stream.writable.getWriter();
  const { events, trackers } = trackedEvents(3);
  await writer.write([events[0]!, unreadable(), events[1]!]);
  await writer.write(unreadable());
  await writer.write(events[2]!);
  await writer.close();
  const batches = await within(read, 5000, "the readable to close");
  assert.deepEqual(batches.flat().map((event) => event.data), [1, 2, 3]);
  assert.equal(stream.figures().writable!.discarded_total, 2);
  await within(Promise.all(trackers.map((t) => t.done)), 5000, "trackers");
  await stream.finished;
});

Deno.test("a chunk that throws as it is sized (a revoked proxy, a trap on the tracker symbol) breaks the stream both ways instead of leaving the actor and the readable waiting", async () => {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const symbolTrap = new Proxy({ header: {}, data: 0 }, {
    get(target, key) {
      if (typeof key === "symbol") throw new Error("no symbols here");
      return Reflect.get(target, key);
    },
  });
  for (
    const chunk of [revoked.proxy, symbolTrap, [
      { header: {}, data: 1 },
      symbolTrap,
    ]]
  ) {
    const stream = toTransformStream(new Pass("pass"), { batch: true });
    const read = errorOf(stream.readable);
    const writer = stream.writable.getWriter();
    const { events: [event], trackers: [tracker] } = trackedEvents(1);
    await writer.write(event!);
    const thrown = await writer.write(chunk as never).then(
      () => assert.fail("the write did not fail"),
      (error) => error,
    );
    assert.equal(await within(read, 5000, "the readable to error"), thrown);
    await within(stream.finished, 5000, "the actor to end");
    await within(
      tracker!.done.then(() => {}, () => {}),
      5000,
      "the tracker to settle",
    );
  }
});

Deno.test("an abort or a cancel whose reason cannot be turned into text (no prototype, a throwing toString) still breaks the stream both ways with that reason", async () => {
  const reasons = [
    Object.create(null),
    { toString: () => assert.fail("a toString that throws") },
  ];
  for (const reason of reasons) {
    for (const side of ["abort", "cancel"] as const) {
      const stream = toTransformStream(new Pass("pass"), { batch: true });
      const writer = stream.writable.getWriter();
      const { events, trackers } = trackedEvents(10);
      void writer.write(events).catch(() => {});
      const reader = stream.readable.getReader();
      if (side === "abort") {
        await within(writer.abort(reason), 5000, "the abort");
        await assert.rejects(
          within(reader.read(), 5000, "the read"),
          (error) => error === reason,
        );
      } else {
        await within(reader.cancel(reason), 5000, "the cancel");
        await assert.rejects(
          within(writer.closed, 5000, "the writable to error"),
          (error) => error === reason,
        );
      }
      await within(stream.finished, 5000, "the actor to end");
      await within(
        Promise.all(trackers.map((t) => t.done.catch(() => {}))),
        5000,
        "every tracker to settle",
      );
    }
  }
});

/** Throws values that cannot be turned into text for some events. */
class ThrowsOddValues extends Actor {
  readonly kind = "transform";
  override consume(event: Event, context: Context) {
    const n = event.data as number;
    if (n % 3 === 0) throw Object.create(null);
    if (n % 5 === 0) throw { toString: () => assert.fail("cannot") };
    return context.send(event);
  }
}

Deno.test("an actor that throws values that cannot be turned into text fails those events, named, without crashing: every event is delivered or failed once", async () => {
  const stream = toTransformStream(new ThrowsOddValues("odd"), {
    errors: "readable",
    batch: true,
  });
  const failed = Array.fromAsync(stream.errors);
  const out = Array.fromAsync(stream.readable);
  const writer = stream.writable.getWriter();
  await writer.write(numbered(30));
  await writer.close();
  const delivered = (await within(out, 5000, "the readable")).flat();
  const errors = (await within(failed, 5000, "the errors")).flat();
  assert.deepEqual(
    delivered.map((event) => event.data),
    [1, 2, 4, 7, 8, 11, 13, 14, 16, 17, 19, 22, 23, 26, 28, 29],
  );
  assert.equal(errors.length, 14);
  assert.deepEqual(
    new Set(errors.map((event) => (event.header.error as Error).message)),
    new Set(["[object Object]"]),
  );
  assert.equal(stream.actor.figures().restarts_total, 0);
  await stream.finished;
});
