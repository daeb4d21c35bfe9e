import assert from "node:assert/strict";
import type { Event } from "../../core/event.ts";
import {
  DEFAULT_CAPACITY,
  MAX_BATCH,
  OutboundQueue,
  Queue,
  QueuePool,
} from "../../core/queue.ts";
import { numbered } from "../helpers.ts";

/** Reads every batch until the queue ends. */
async function readAll(queue: Queue): Promise<Event[][]> {
  const batches: Event[][] = [];
  for await (const batch of queue.readable) batches.push(batch);
  return batches;
}

function data(events: readonly Event[]): unknown[] {
  return events.map((event) => event.data);
}

Deno.test("Queue rejects a capacity that is not a whole number of at least 1", () => {
  assert.throws(() => new Queue("a.inbox", { capacity: 0 }), {
    name: "RangeError",
    message:
      'Queue "a.inbox": capacity must be a whole number of at least 1, got 0',
  });
  assert.throws(() => new Queue("a.inbox", { capacity: 1.5 }), RangeError);
  assert.equal(new Queue("a.inbox").capacity, DEFAULT_CAPACITY);
});

Deno.test("Queue rejects an unknown full-queue policy", () => {
  assert.throws(
    // @ts-expect-error: not a policy
    () => new Queue("a.inbox", { whenFull: "drop_all" }),
    {
      name: "RangeError",
      message:
        'Queue "a.inbox": whenFull must be one of "block", "drop_newest", "drop_oldest", got "drop_all"',
    },
  );
});

Deno.test("Queue hands over events in order in batches of at most MAX_BATCH", async () => {
  const queue = new Queue("a.inbox", { capacity: 5000 });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(1200));
  await writer.write(numbered(3).map((event) => ({ ...event, data: "x" })));
  await writer.close();
  const batches = await readAll(queue);
  assert.ok(batches.every((batch) => batch.length <= MAX_BATCH));
  const all = batches.flat();
  assert.equal(all.length, 1203);
  assert.deepEqual(
    data(all.slice(0, 1200)),
    Array.from({ length: 1200 }, (_, i) => i + 1),
  );
  assert.deepEqual(queue.figures(), {
    in_total: 1203,
    out_total: 1203,
    dropped_total: 0,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 0,
    depth: 0,
    capacity: 5000,
  });
});

Deno.test("Queue accepts a single event written on its own", async () => {
  const queue = new Queue("a.inbox");
  const writer = queue.writable.getWriter();
  await writer.write({ header: {}, data: "alone" });
  await writer.close();
  assert.deepEqual(data((await readAll(queue)).flat()), ["alone"]);
});

Deno.test("Queue with block holds a write until there is room and never exceeds its capacity", async () => {
  const queue = new Queue("a.inbox", { capacity: 4 });
  const writer = queue.writable.getWriter();
  await writer.ready; // started: writes reach the queue at once
  let written = false;
  const writing = writer.write(numbered(10)).then(() => written = true);
  // Four fit at once; the other six wait for the reader.
  assert.equal(queue.depth, 4);
  assert.equal(queue.waiting, 6);
  const reader = queue.readable.getReader();
  const seen: number[] = [];
  let maxDepth = 0;
  while (seen.length < 10) {
    const { value } = await reader.read();
    maxDepth = Math.max(maxDepth, queue.depth);
    for (const event of value!) seen.push(event.data as number);
  }
  await writing;
  assert.equal(written, true);
  assert.ok(maxDepth <= 4, `depth reached ${maxDepth}`);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await writer.close();
  assert.equal((await reader.read()).done, true);
  assert.equal(queue.figures().dropped_total, 0);
});

Deno.test("Queue counts the batch a plain reader holds in its depth until it reads again", async () => {
  const queue = new Queue("a.inbox", { capacity: 3 });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(3));
  const reader = queue.readable.getReader();
  assert.equal((await reader.read()).value!.length, 3);
  assert.equal(queue.depth, 3);
  await writer.close();
  assert.equal((await reader.read()).done, true);
  assert.equal(queue.depth, 0);
  assert.equal(queue.figures().out_total, 3);
});

Deno.test("Queue consumed manually counts what the consumer holds until it finishes each event", async () => {
  const queue = new Queue("a.inbox", { capacity: 3 });
  queue.consumeManually();
  const writer = queue.writable.getWriter();
  await writer.write(numbered(3));
  const reader = queue.readable.getReader();
  const first = await reader.read();
  assert.equal(first.value!.length, 3);
  // The consumer holds 3: the queue is still full.
  assert.equal(queue.depth, 3);
  let written = false;
  const writing = writer.write(numbered(1)).then(() => written = true);
  await Promise.resolve();
  assert.equal(written, false);
  assert.equal(queue.waiting, 1);
  // Finishing part of the batch frees room for the waiting write.
  queue.finish(2);
  assert.equal(queue.depth, 1);
  assert.equal(queue.figures().out_total, 2);
  queue.finishFailed(1);
  await writing;
  assert.equal(queue.depth, 1);
  const second = await reader.read();
  assert.equal(second.value!.length, 1);
  // Reading again finishes nothing: the consumer still holds the event.
  await writer.close();
  const end = reader.read();
  queue.finish(1);
  assert.equal((await end).done, true);
  assert.deepEqual(queue.figures(), {
    in_total: 4,
    out_total: 3,
    dropped_total: 0,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 1,
    depth: 0,
    capacity: 3,
  });
});

Deno.test("Queue with drop_newest keeps the oldest events and counts the newest as dropped", async () => {
  const queue = new Queue("a.inbox", { capacity: 3, whenFull: "drop_newest" });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(5)); // never waits
  await writer.write(numbered(2).map((event) => ({ ...event, data: 99 })));
  await writer.close();
  assert.deepEqual(data((await readAll(queue)).flat()), [1, 2, 3]);
  const figures = queue.figures();
  assert.equal(figures.dropped_total, 4);
  // What a policy drops reached the queue, as with drop_oldest.
  assert.equal(figures.in_total, 7);
  assert.equal(figures.out_total, 3);
});

Deno.test("Queue with drop_oldest keeps the newest events and counts the oldest as dropped", async () => {
  const queue = new Queue("a.inbox", { capacity: 3, whenFull: "drop_oldest" });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(2));
  await writer.write(numbered(6).slice(2)); // 3, 4, 5, 6
  await writer.close();
  assert.deepEqual(data((await readAll(queue)).flat()), [4, 5, 6]);
  assert.equal(queue.figures().dropped_total, 3);
});

Deno.test("Queue with drop_oldest never drops the batch the consumer holds", async () => {
  const queue = new Queue("a.inbox", { capacity: 3, whenFull: "drop_oldest" });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(2));
  const reader = queue.readable.getReader();
  const held = await reader.read(); // holds 1, 2
  await writer.write(numbered(5).slice(2)); // 3, 4, 5: room for one
  const next = await reader.read();
  assert.deepEqual(data(held.value!), [1, 2]);
  assert.deepEqual(data(next.value!), [5]);
  assert.equal(queue.figures().dropped_total, 2);
  await writer.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("Queue discards values written that are not events, counting and reporting each", async () => {
  const discarded: [unknown, string, string][] = [];
  const queue = new Queue("b.inbox", {
    onDiscard: (value, reason, name) => discarded.push([value, reason, name]),
  });
  const writer = queue.writable.getWriter();
  await writer.write([
    { header: {}, data: 1 },
    "text",
    null,
    { data: 2 },
    { header: [], data: 3 },
    { header: {} },
    { header: {}, data: 4 },
  ] as Event[]);
  await writer.close();
  assert.deepEqual(data((await readAll(queue)).flat()), [1, 4]);
  assert.equal(queue.figures().discarded_total, 5);
  assert.equal(queue.figures().in_total, 2);
  assert.deepEqual(discarded, [
    ["text", "not an object (string)", "b.inbox"],
    [null, "not an object (null)", "b.inbox"],
    [{ data: 2 }, 'missing "header"', "b.inbox"],
    [{ header: [], data: 3 }, '"header" is not an object', "b.inbox"],
    [{ header: {} }, 'missing "data"', "b.inbox"],
  ]);
});

Deno.test("OutboundQueue discards values sent that are not events: they never reach the next queue", async () => {
  const discarded: [unknown, string, string][] = [];
  const queue = new Queue("b.inbox");
  const outbox = new OutboundQueue("a.outbox", {
    onDiscard: (value, reason, name) => discarded.push([value, reason, name]),
  });
  outbox.connect(queue);
  const values: unknown[] = [
    { header: {}, data: 1 },
    "text",
    { data: 2 },
    { header: {}, data: 4 },
  ];
  for (const value of values) await outbox.push(value as Event);
  await outbox.close();
  assert.deepEqual(data((await readAll(queue)).flat()), [1, 4]);
  assert.equal(outbox.figures().discarded_total, 2);
  assert.equal(outbox.figures().in_total, 2);
  assert.equal(queue.figures().discarded_total, 0);
  assert.deepEqual(discarded, [
    ["text", "not an object (string)", "a.outbox"],
    [{ data: 2 }, 'missing "header"', "a.outbox"],
  ]);
});

Deno.test("Queue.close() while a write is blocked refuses what did not fit: it never entered", async () => {
  const queue = new Queue("a.inbox", { capacity: 2 });
  const writer = queue.writable.getWriter();
  await writer.ready;
  const writing = writer.write(numbered(5));
  assert.equal(queue.waiting, 3);
  queue.close();
  await writing; // resolves: it does not hang
  assert.equal(queue.waiting, 0);
  assert.deepEqual(
    { ...queue.figures(), capacity: undefined },
    {
      in_total: 2,
      out_total: 0,
      dropped_total: 0,
      abandoned_total: 0,
      discarded_total: 0,
      failed_total: 0,
      depth: 2,
      capacity: undefined,
    },
  );
  assert.deepEqual(data((await readAll(queue)).flat()), [1, 2]);
  // A later write is refused: the writer learns it.
  await assert.rejects(writer.write(numbered(2)), {
    name: "TypeError",
    message: 'Queue "a.inbox" is closed: 2 event(s) were not taken',
  });
});

Deno.test("An outbound queue counts what a closed queue refused as dropped", async () => {
  const queue = new Queue("b.inbox", { capacity: 2 });
  const drops: [number, string][] = [];
  const outbox = new OutboundQueue("a.outbox", {
    onDrop: (count, reason) => drops.push([count, reason]),
  });
  outbox.connect(queue);
  for (const event of numbered(5)) outbox.push(event);
  const writing = outbox.flush()!;
  await Promise.resolve();
  queue.close();
  await writing;
  assert.deepEqual(drops, [[3, "refused"]]);
  const figures = outbox.figures();
  assert.equal(figures.in_total, 5);
  assert.equal(figures.out_total, 2);
  assert.equal(figures.dropped_total, 3);
  assert.equal(figures.depth, 0);
  assert.equal(queue.figures().in_total, 2);
});

Deno.test("Queue.clear() throws away held and queued events as abandoned and refuses waiting ones", async () => {
  const queue = new Queue("a.inbox", { capacity: 4 });
  const writer = queue.writable.getWriter();
  await writer.write(numbered(4));
  const reader = queue.readable.getReader();
  await reader.read(); // the consumer holds 4
  const writing = writer.write(numbered(3)); // waits
  assert.equal(queue.clear(), 7);
  await writing;
  assert.equal(queue.depth, 0);
  const figures = queue.figures();
  assert.equal(figures.in_total, 4);
  assert.equal(figures.dropped_total, 4);
  assert.equal(figures.abandoned_total, 4);
  assert.equal((await reader.read()).done, true);
  await writer.close();
});

Deno.test("Queue cancelled by its reader while it waits for events ends cleanly", async () => {
  const queue = new Queue("a.inbox", { capacity: 4 });
  const writer = queue.writable.getWriter();
  const reader = queue.readable.getReader();
  const reading = reader.read(); // waits: nothing queued
  await reader.cancel();
  assert.equal((await reading).done, true);
  await assert.rejects(writer.write(numbered(2)), TypeError);
  assert.equal(queue.figures().in_total, 0);
});

Deno.test("Queue.offer() never waits: with block it drops what does not fit", async () => {
  const queue = new Queue("logs.inbox", { capacity: 2 });
  assert.equal(queue.offer(numbered(3)), 1);
  assert.equal(queue.depth, 2);
  const oldest = new Queue("logs.inbox", {
    capacity: 2,
    whenFull: "drop_oldest",
  });
  assert.equal(oldest.offer(numbered(3)), 1);
  oldest.close();
  assert.deepEqual(data((await readAll(oldest)).flat()), [2, 3]);
  queue.close();
  // Offered to a closed queue: not taken, not counted as reaching it.
  assert.equal(queue.offer(numbered(1)), 1);
  assert.equal(queue.figures().dropped_total, 1);
  assert.equal(queue.figures().in_total, 3);
  assert.equal((await readAll(queue)).flat().length, 2);
});

Deno.test("OutboundQueue drops and counts what is sent while it is not connected", () => {
  const drops: [number, string][] = [];
  const outbox = new OutboundQueue("a.outbox", {
    onDrop: (count, reason) => drops.push([count, reason]),
  });
  assert.equal(outbox.push({ header: {}, data: 1 }), undefined);
  assert.equal(outbox.push({ header: {}, data: 2 }), undefined);
  assert.deepEqual(drops, [[1, "not connected"], [1, "not connected"]]);
  assert.deepEqual(outbox.figures(), {
    in_total: 2,
    out_total: 0,
    dropped_total: 2,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 0,
    depth: 0,
    capacity: 0,
  });
});

Deno.test("OutboundQueue connects once", () => {
  const outbox = new OutboundQueue("a.outbox");
  const first = new Queue("b.inbox");
  outbox.connect(first);
  assert.equal(first.source, "a.outbox");
  assert.throws(() => outbox.connect(new Queue("c.inbox")), {
    name: "TypeError",
    message: 'Cannot connect "a.outbox": it is already connected to "b.inbox"',
  });
});

Deno.test("OutboundQueue gathers what is sent in one run into one chunk", async () => {
  const target = new Queue("b.inbox");
  const outbox = new OutboundQueue("a.outbox");
  outbox.connect(target);
  for (const event of numbered(10)) assert.equal(outbox.push(event), undefined);
  assert.equal(outbox.figures().depth, 10);
  await outbox.close();
  const batches = await readAll(target);
  assert.deepEqual(batches.map((batch) => batch.length), [10]);
});

Deno.test("OutboundQueue.push() returns a promise once a full batch must wait for room", async () => {
  const capacity = 8;
  const target = new Queue("b.inbox", { capacity });
  const outbox = new OutboundQueue("a.outbox");
  outbox.connect(target);
  const events = numbered(3 * MAX_BATCH);
  let sent = 0;
  let waited = 0;
  let consumed = 0;
  const producing = (async () => {
    for (const event of events) {
      const waiting = outbox.push(event);
      sent++;
      if (waiting !== undefined) {
        waited++;
        await waiting;
      }
    }
    await outbox.close();
  })();
  const seen: unknown[] = [];
  const reader = target.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    assert.ok(target.depth <= capacity);
    // The producer never gets further ahead than the queue plus one batch.
    assert.ok(
      sent - consumed <= capacity + MAX_BATCH,
      `sent ${sent}, consumed ${consumed}`,
    );
    for (const event of value) seen.push(event.data);
    consumed += value.length;
  }
  await producing;
  assert.ok(waited >= 2, `the producer waited ${waited} times`);
  assert.deepEqual(seen, data(events));
  assert.deepEqual(outbox.figures(), {
    in_total: events.length,
    out_total: events.length,
    dropped_total: 0,
    abandoned_total: 0,
    discarded_total: 0,
    failed_total: 0,
    depth: 0,
    capacity,
  });
});

Deno.test("OutboundQueue.pushAll() sends in order with single sends, passes a whole batch on without a copy, waits as push() does and discards what is not an event", async () => {
  const target = new Queue("b.inbox", { capacity: MAX_BATCH + 4 });
  const discarded: string[] = [];
  const outbox = new OutboundQueue("a.outbox", {
    onDiscard: (_value, reason) => discarded.push(reason),
  });
  outbox.connect(target);
  const whole = numbered(MAX_BATCH);
  assert.equal(
    outbox.pushAll(whole),
    undefined,
    "a whole batch is written at once, taken at once where there is room",
  );
  assert.equal(target.depth, MAX_BATCH);
  const small = numbered(3);
  assert.equal(outbox.pushAll(small), undefined);
  assert.equal(outbox.push({ header: {}, data: "one more" }), undefined);
  assert.equal(small.length, 3, "the caller's array is left as it was");
  const full = outbox.pushAll(numbered(MAX_BATCH));
  assert.ok(full instanceof Promise, "a batch without room must be waited for");
  assert.equal(target.depth, MAX_BATCH + 4, "as much as fits is taken");
  const reading = readAll(target);
  await full;
  assert.equal(
    outbox.pushAll([{ header: {}, data: "ok" }, "bad" as never, null as never]),
    undefined,
  );
  await outbox.close();
  const batches = await reading;
  assert.equal(batches[0], whole, "the whole batch is passed on as it is");
  assert.deepEqual(batches.flat().map((event) => event.data), [
    ...data(whole),
    ...data(small),
    "one more",
    ...data(numbered(MAX_BATCH)),
    "ok",
  ]);
  assert.deepEqual(discarded, [
    "not an object (string)",
    "not an object (null)",
  ]);
  assert.equal(outbox.figures().in_total, 2 * MAX_BATCH + 5);
  assert.equal(outbox.figures().discarded_total, 2);

  const loose = new OutboundQueue("c.outbox");
  assert.equal(loose.pushAll(numbered(3)), undefined);
  assert.equal(loose.figures().dropped_total, 3, "not connected: dropped");
});

Deno.test("OutboundQueue.close() writes everything sent before it, then drops and reports later sends", async () => {
  const target = new Queue("b.inbox", { capacity: 2 });
  const drops: [number, string][] = [];
  const outbox = new OutboundQueue("a.outbox", {
    onDrop: (count, reason) => drops.push([count, reason]),
  });
  outbox.connect(target);
  for (const event of numbered(5)) outbox.push(event);
  const reading = readAll(target);
  const closing = outbox.close();
  // Sent while the close waits for room: still written before the end.
  outbox.push({ header: {}, data: 6 });
  await closing;
  assert.equal(outbox.closed, true);
  outbox.push({ header: {}, data: 7 });
  assert.deepEqual(data((await reading).flat()), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(drops, [[1, "closed"]]);
  assert.equal(outbox.figures().dropped_total, 1);
  assert.equal(outbox.figures().in_total, 7);
});

Deno.test("QueuePool makes the declared queues and more by name when allowed", () => {
  const pool = new QueuePool("f", {
    inbound: ["inbox"],
    outbound: ["outbox", "error"],
    anyInbound: true,
    anyOutbound: false,
  }, { inbound: { capacity: 7 } });
  assert.deepEqual([...pool.inbound.keys()], ["inbox"]);
  assert.deepEqual([...pool.outbound.keys()], ["outbox", "error"]);
  assert.equal(pool.acceptsInbound("other"), true);
  assert.equal(pool.acceptsOutbound("other"), false);
  const other = pool.addInbound("other", { capacity: 3 });
  assert.equal(other.name, "f.other");
  assert.equal(other.capacity, 3);
  assert.equal(pool.inbound.get("inbox")!.capacity, 7);
  assert.deepEqual(Object.keys(pool.figures()), [
    "inbox",
    "other",
    "outbox",
    "error",
  ]);
});

Deno.test("drop_oldest and drop_newest count what they drop alike: it reached the queue and was dropped", async () => {
  const figures = [];
  for (const whenFull of ["drop_newest", "drop_oldest"] as const) {
    const queue = new Queue("a.inbox", { capacity: 3, whenFull });
    const writer = queue.writable.getWriter();
    await writer.write(numbered(5));
    await writer.close();
    assert.equal((await readAll(queue)).flat().length, 3);
    figures.push(queue.figures());
  }
  assert.deepEqual(figures[0], figures[1]);
  assert.deepEqual(
    { ...figures[0], capacity: undefined },
    {
      in_total: 5,
      out_total: 3,
      dropped_total: 2,
      abandoned_total: 0,
      discarded_total: 0,
      failed_total: 0,
      depth: 0,
      capacity: undefined,
    },
  );
});

Deno.test("Queue.clear() does not count the events of a writer still waiting for room: its writer counts them", async () => {
  const target = new Queue("b.inbox", { capacity: 2 });
  const outbox = new OutboundQueue("a.outbox");
  outbox.connect(target);
  for (const event of numbered(5)) outbox.push(event);
  const writing = outbox.flush()!;
  await Promise.resolve();
  assert.equal(target.waiting, 3);
  target.clear();
  await writing;
  const inbound = target.figures();
  const outbound = outbox.figures();
  // Two entered and were thrown away; three never entered.
  assert.deepEqual(
    [inbound.in_total, inbound.dropped_total, inbound.abandoned_total],
    [2, 2, 2],
  );
  assert.deepEqual(
    [
      outbound.in_total,
      outbound.out_total,
      outbound.dropped_total,
      outbound.abandoned_total,
    ],
    [5, 2, 3, 3],
  );
});

Deno.test("OutboundQueue whose sender does not wait: block throws a TypeError naming it, drop policies drop and count", async () => {
  for (const whenFull of ["block", "drop_newest", "drop_oldest"] as const) {
    const target = new Queue("b.inbox", { capacity: 1, whenFull });
    const outbox = new OutboundQueue("a.outbox");
    outbox.connect(target);
    const events = numbered(3 * MAX_BATCH + 10);
    let thrown: unknown;
    let sent = 0;
    // One synchronous run: the write in flight cannot finish meanwhile.
    for (const event of events) {
      try {
        void outbox.push(event);
        sent++;
      } catch (error) {
        thrown = error;
        break;
      }
      assert.ok(outbox.figures().depth <= 3 * MAX_BATCH, whenFull);
    }
    const figures = outbox.figures();
    if (whenFull === "block") {
      assert.ok(thrown instanceof TypeError);
      assert.match(
        thrown.message,
        /^Cannot send to "a\.outbox": 1024 events already wait for room there; wait for the promise that send\(\) returns before sending more/,
      );
      assert.equal(sent, 3 * MAX_BATCH);
      assert.equal(figures.in_total, sent, "the push that threw sent nothing");
      assert.equal(figures.dropped_total, 0);
    } else {
      // Nothing waits with a drop policy: the target queue drops at once.
      assert.equal(thrown, undefined);
      assert.equal(figures.in_total, events.length);
      assert.equal(figures.depth, 10, "the last ones wait to be written");
      await outbox.flush();
      assert.equal(outbox.figures().out_total, events.length, whenFull);
      const taken = target.figures();
      assert.equal(taken.in_total, events.length, whenFull);
      assert.equal(taken.dropped_total, events.length - 1, whenFull);
      assert.equal(taken.depth, 1, whenFull);
    }
    target.clear();
    await outbox.close();
  }
});

Deno.test("OutboundQueue keeps whole batches whole and in order, and a paused one with drop_oldest drops its oldest gathered events", async () => {
  // Whole batches sent one by one, then a part of one: each arrives whole,
  // exactly as long as what was sent, in order.
  const target = new Queue("b.inbox", { capacity: 4 * MAX_BATCH });
  const outbox = new OutboundQueue("a.outbox");
  outbox.connect(target);
  const sent = numbered(2 * MAX_BATCH + 3);
  for (const event of sent) await outbox.push(event);
  await outbox.flush();
  assert.equal(outbox.figures().depth, 0);
  // Paused (as a reload pauses it): sends gather, beyond the gather limit
  // the connection's drop_oldest policy drops the oldest gathered ones.
  const oldest = new Queue("c.inbox", {
    capacity: 4 * MAX_BATCH,
    whenFull: "drop_oldest",
  });
  const paused = new OutboundQueue("d.outbox");
  paused.connect(oldest);
  await paused.pause();
  const gathered = numbered(2 * MAX_BATCH + 2);
  for (const event of gathered) void paused.push(event);
  assert.equal(paused.figures().dropped_total, 2);
  paused.resume();
  await outbox.close();
  await paused.close();
  const batches = await readAll(target);
  assert.deepEqual(batches.map((batch) => batch.length), [
    MAX_BATCH,
    MAX_BATCH,
    3,
  ]);
  assert.deepEqual(data(batches.flat()), data(sent));
  assert.deepEqual(
    data((await readAll(oldest)).flat()),
    data(gathered.slice(2)),
  );
});
