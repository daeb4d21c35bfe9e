import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import type { EventError } from "../../../core/actor.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { Router } from "../../../core/router.ts";
import { UdpIn, type UdpInOptions } from "../../../actors/input/udp_in.ts";
import { Collector, until } from "../../helpers.ts";
import {
  encode,
  Holder,
  type InputRun,
  sendDatagrams,
  startInput,
  within,
} from "./support.ts";

function pipeline(options: Partial<UdpInOptions>): Promise<InputRun<UdpIn>> {
  return startInput(new UdpIn("input", { port: 0, ...options }));
}

Deno.test("udp_in makes one event per datagram and sends undecodable ones to error", async () => {
  const { router, input, sink, errors } = await pipeline({ codec: "json" });
  try {
    const remote = await sendDatagrams(input.port, [
      '{"n":1}',
      "not json",
      '{"n":2}\n{"n":3}',
      "[4]",
    ]);
    await within(sink.waitFor(2), "two events");
    await within(errors.waitFor(2), "two errors");
    assert.deepEqual(sink.data(), [{ n: 1 }, [4]]);
    assert.deepEqual(sink.events.map((event) => event.header.input), [
      { remote },
      { remote },
    ]);
    assert.deepEqual(
      errors.events.map((event) => [
        event.data,
        (event.header.error as EventError).name,
        event.header.input,
      ]),
      [
        ["not json", "SyntaxError", { remote }],
        ['{"n":2}\n{"n":3}', "SyntaxError", { remote }],
      ],
    );
    assert.match(
      (errors.events[0]!.header.error as EventError).message,
      /^The message is not valid JSON: /,
    );
  } finally {
    const report = await router.stop();
    assert.equal(report.timedOut, false);
  }
});

Deno.test("udp_in lines keeps each datagram whole and raw keeps each datagram's own bytes", async () => {
  const lines = await pipeline({ codec: "lines" });
  try {
    await sendDatagrams(lines.input.port, ["a\nb", "c"]);
    await within(lines.sink.waitFor(2), "two datagrams");
    assert.deepEqual(lines.sink.data(), ["a\nb", "c"]);
  } finally {
    await lines.router.stop();
  }
  const raw = await pipeline({ codec: "raw" });
  try {
    await sendDatagrams(raw.input.port, ["first datagram", "2nd"]);
    await within(raw.sink.waitFor(2), "two datagrams");
    assert.deepEqual(raw.sink.data(), [
      encode("first datagram"),
      encode("2nd"),
    ]);
  } finally {
    await raw.router.stop();
  }
});

/**
 * udp_in -> a holder that holds every event until released, behind an inbox
 * of capacity 1, so that the input soon waits for room.
 */
async function heldPipeline(options: Partial<UdpInOptions> = {}): Promise<{
  router: Router;
  input: UdpIn;
  holder: Holder;
  logs: Collector;
  /**
   * Events the input has made so far: sent, gathered in its outbox, or
   * dropped (counted there too).
   */
  made: () => number;
}> {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  const input = router.register(
    new UdpIn("input", { port: 0, codec: "lines", ...options }),
  ) as UdpIn;
  const holder = router.register(new Holder("holder")) as Holder;
  router.connect("input.outbox", "holder.inbox", { capacity: 1 });
  await router.start();
  const outbox = input.pool.outbound.get("outbox")!;
  return {
    router,
    input,
    holder,
    logs,
    made: () => outbox.figures().in_total,
  };
}

/**
 * Sends `datagrams` in groups of `group`, each once the input received the
 * one before (made an event of it or keeps it waiting), so that the system's
 * socket buffer never overflows.
 */
async function sendPaced(
  input: UdpIn,
  made: () => number,
  datagrams: (string | Uint8Array)[],
  group: number,
): Promise<void> {
  let sent = made() + input.waiting;
  for (let at = 0; at < datagrams.length; at += group) {
    const part = datagrams.slice(at, at + group);
    await sendDatagrams(input.port, part);
    sent += part.length;
    await until(
      () => made() + input.waiting === sent,
      `the input to receive ${sent} datagrams`,
    );
  }
}

Deno.test("udp_in keeps the datagrams received while it waits for room and sends them on in order", async () => {
  const { router, input, holder, made } = await heldPipeline();
  try {
    const texts = Array.from({ length: 700 }, (_, i) => String(i + 1));
    await sendPaced(input, made, texts, 20);
    assert.ok(input.waiting > 0, "datagrams wait in memory");
    assert.equal(input.dropped, 0);
    holder.release();
    await within(holder.waitFor(700), "700 events");
    assert.deepEqual(holder.events.map((event) => event.data), texts);
    assert.equal(input.waiting, 0);
  } finally {
    holder.release();
    await router.stop();
  }
});

Deno.test("udp_in drops the datagrams past max_waiting_bytes while it waits for room, and logs how many", async () => {
  const maxBytes = 1_048_576;
  const { router, input, holder, logs, made } = await heldPipeline({
    max_waiting_bytes: maxBytes,
  });
  try {
    const small = Array.from({ length: 600 }, (_, i) => String(i + 1));
    await sendPaced(input, made, small, 20);
    assert.ok(input.waiting > 0, "the input waits for room");
    const smallBytes = small.slice(small.length - input.waiting)
      .reduce((bytes, text) => bytes + text.length, 0);
    const large = Array.from(
      { length: 20 },
      (_, i) => new Uint8Array(60_000).fill(97 + i),
    );
    await sendPaced(input, made, large, 1);
    const fit = Math.floor((maxBytes - smallBytes) / 60_000);
    assert.equal(fit, 17);
    assert.equal(input.dropped, 20 - fit);
    holder.release();
    await within(holder.waitFor(600 + fit), "the events that fit");
    assert.deepEqual(
      holder.events.slice(600).map((event) => (event.data as string)[0]),
      large.slice(0, fit).map((bytes) => String.fromCharCode(bytes[0]!)),
      "the first large datagrams were kept, in order",
    );
    const report = await router.stop();
    assert.equal(report.dropped, 20 - fit);
    assert.equal(report.unaccounted, 0);
    assert.equal(droppedLogged(logs), 20 - fit);
  } finally {
    holder.release();
    await router.stop();
  }
});

/** The datagrams the input's warnings say it dropped, in all. */
function droppedLogged(logs: Collector): number {
  return logs.data().map((line) =>
    /^Dropped (\d+) datagram\(s\) while waiting for room downstream: /.exec(
      String(line),
    )
  ).reduce((sum, match) => sum + Number(match?.[1] ?? 0), 0);
}

Deno.test("udp_in fails the start when its port is in use", async () => {
  const taken = createSocket("udp4");
  await new Promise<void>((resolve) => taken.bind(0, "127.0.0.1", resolve));
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  router.register(
    new UdpIn("input", { port: taken.address().port }),
  );
  router.register(new Collector("sink"));
  router.connect("input.outbox", "sink.inbox");
  try {
    await assert.rejects(
      router.start(),
      /Actor "input" failed to set up: Error: Cannot listen on 127\.0\.0\.1:\d+ \(UDP\): /,
    );
  } finally {
    await router.stop();
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});

Deno.test("udp_in counts empty datagrams against max_waiting_datagrams: the rest are dropped, counted in dropped_total at once, and reported", async () => {
  const { router, input, holder, logs, made } = await heldPipeline({
    max_waiting_datagrams: 100,
  });
  try {
    const empty = Array.from({ length: 3000 }, () => new Uint8Array(0));
    await sendPaced(input, made, empty, 100);
    assert.ok(input.waiting <= 100, `${input.waiting} datagrams wait`);
    const outbox = router.metrics().actors.input!.queues.outbox!;
    assert.ok(outbox.depth <= 2 * MAX_BATCH + 1, `${outbox.depth} in outbox`);
    // Dropped while running: the outbox's dropped_total (read by /metrics)
    // and the actor's own figure say so before any stop.
    assert.ok(input.dropped > 0);
    assert.equal(outbox.dropped_total, input.dropped);
    assert.equal(input.figures().dropped_datagrams_total, input.dropped);
    assert.equal(
      outbox.in_total + input.waiting,
      3000,
      "every datagram is an event, waiting, or dropped",
    );
    holder.release();
    const report = await router.stop();
    assert.equal(report.dropped, input.dropped);
    assert.equal(report.created, 3000);
    assert.equal(report.delivered + report.dropped, 3000);
    assert.equal(report.unaccounted, 0);
    assert.equal(droppedLogged(logs), input.dropped);
  } finally {
    holder.release();
    await router.stop();
  }
});

Deno.test("udp_in stopped with a large backlog while downstream is blocked ends at the stop's deadline and counts the backlog", async () => {
  const backlog = 20_000;
  const { router, input, made } = await heldPipeline({
    max_waiting_datagrams: 50_000,
  });
  const empty = Array.from({ length: backlog }, () => new Uint8Array(0));
  await sendPaced(input, made, empty, 250);
  assert.ok(input.waiting > 10_000, `${input.waiting} datagrams wait`);
  const report = await within(
    router.stop({ timeoutMs: 100 }),
    "the stop, at its deadline",
  );
  assert.equal(report.timedOut, true);
  assert.equal(input.waiting, 0, "nothing is kept after the stop");
  assert.equal(report.created, backlog);
  assert.equal(
    report.delivered + report.dropped + report.abandoned,
    backlog,
    "every datagram is delivered, dropped or abandoned",
  );
  assert.equal(report.unaccounted, 0);
});
