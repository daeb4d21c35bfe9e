import assert from "node:assert/strict";
import type { Event } from "../../core/event.ts";
import { Queue } from "../../core/queue.ts";
import { eventJson, Tap } from "../../admin/tap.ts";
import { serverSentEvents } from "../../admin/client.ts";
import { numbered } from "../helpers.ts";

/** Passes `events` through `queue` as its consumer would. */
async function pass(queue: Queue, events: Event[]): Promise<void> {
  const writer = queue.writable.getWriter();
  const reader = queue.readable.getReader();
  await writer.write(events);
  let seen = 0;
  while (seen < events.length) {
    const { value } = await reader.read();
    seen += value?.length ?? 0;
  }
  writer.releaseLock();
  reader.releaseLock();
}

/** The tap's server-sent events until `messages` events came; then it is closed. */
async function read(
  tap: Tap,
  messages: number,
): Promise<{ event: string; data: string }[]> {
  const events: { event: string; data: string }[] = [];
  const text = tap.readable.pipeThrough(new TextDecoderStream());
  let count = 0;
  for await (const event of serverSentEvents(text)) {
    events.push(event);
    if (event.event === "message" && ++count === messages) break;
  }
  tap.close();
  return events;
}

Deno.test("a tap whose listener does not read keeps a bounded buffer and counts the events it drops", async () => {
  const queue = new Queue("b.inbox", { capacity: 100 });
  const tap = new Tap(queue, "b.inbox", { buffer: 4, rate: 1000 });
  // The listener reads nothing while 30 events pass: the queue never waits.
  await pass(queue, numbered(10));
  await pass(queue, numbered(20));
  assert.equal(tap.dropped, 26);
  const events = await read(tap, 4);
  assert.deepEqual(events.map((e) => e.event), [
    "open",
    "dropped",
    "message",
    "message",
    "message",
    "message",
  ]);
  assert.deepEqual(JSON.parse(events[1]!.data), { dropped: 26 });
  assert.deepEqual(
    events.slice(2).map((e) => JSON.parse(e.data).data),
    [1, 2, 3, 4],
  );
  assert.equal(tap.observing, false);
});

Deno.test("a tap takes at most its rate of events at once and stops observing at its limit", async () => {
  const queue = new Queue("b.inbox", { capacity: 1000 });
  const limited = new Tap(queue, "b.inbox", { rate: 5, limit: 100, buffer: 5 });
  const ended: string[] = [];
  const short = new Tap(
    queue,
    "b.inbox",
    { limit: 3 },
    () => ended.push("short"),
  );
  await pass(queue, numbered(50));
  assert.equal(short.observing, false, "it stopped at its limit");
  assert.equal(limited.observing, true);
  const limitedEvents = await read(limited, 5);
  assert.equal(limitedEvents.filter((e) => e.event === "message").length, 5);
  // No more than 5 were taken from the batch of 50: none had to be dropped.
  assert.equal(limited.sent, 5);
  assert.equal(limited.dropped, 0);
  const reader = short.readable.pipeThrough(new TextDecoderStream());
  const shortEvents = [];
  for await (const event of serverSentEvents(reader)) shortEvents.push(event);
  assert.deepEqual(
    shortEvents.filter((e) => e.event === "message").map((e) => e.id),
    ["1", "2", "3"],
  );
  assert.deepEqual(ended, ["short"], "the stream ended by itself");
});

Deno.test("eventJson writes values JSON cannot hold as text and cuts data too large", () => {
  const cycle: Record<string, unknown> = { name: "loop" };
  cycle.self = cycle;
  assert.deepEqual(
    JSON.parse(eventJson({
      header: { n: 2n, error: new RangeError("too big"), f: () => 1 },
      data: cycle,
    })),
    {
      header: { n: "2", error: { name: "RangeError", message: "too big" } },
      data: { name: "loop", self: "[cycle]" },
    },
  );
  const big = eventJson({ header: { a: 1 }, data: "x".repeat(100_000) });
  assert.deepEqual(JSON.parse(big), {
    header: { a: 1 },
    data: "[100028 characters, not shown]",
  });
});
