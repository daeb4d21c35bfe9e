import assert from "node:assert/strict";
import { GraphError } from "../../core/errors.ts";
import type { Event } from "../../core/event.ts";
import { Router } from "../../core/router.ts";
import { endDirection } from "../../core/router_ends.ts";
import { bytesToEvents, eventsToBytes } from "../../core/adapters.ts";
import { jsonata } from "../../actors/transform/jsonata.ts";
import { Collector, ListInput, numbered, trackedEvents } from "../helpers.ts";
import { Pass, unreadable } from "./fixtures.ts";

/** double (x2) -> plus (+1), with neither end connected. */
function arithmetic(): Router {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(jsonata, "double", { expression: "$ * 2" });
  router.register(jsonata, "plus", { expression: "$ + 1" });
  router.connect("double.outbox", "plus.inbox");
  return router;
}

Deno.test("router.stream() makes a pipeline one TransformStream stage: events in order, counted as created and delivered", async () => {
  const router = arithmetic();
  const stage = router.stream("double.inbox", "plus.outbox");
  await router.start();
  const out = await Array.fromAsync(
    ReadableStream.from(numbered(1000)).pipeThrough(stage),
  );
  assert.deepEqual(
    out.map((event) => event.data),
    numbered(1000).map((event) => Number(event.data) * 2 + 1),
  );
  await router.finished;
  const report = await router.stop();
  assert.equal(report.created, 1000);
  assert.equal(report.delivered, 1000);
  assert.equal(report.unaccounted, 0);
  assert.equal(report.queues["double.inbox"]!.in_total, 1000);
  assert.equal(report.queues["plus.outbox.inbox"]!.out_total, 1000);
});

Deno.test("router.readable() with batch: true gives arrays of events; trackers complete only after the reader asked for more", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Pass("pass"));
  const writable = router.writable("pass.inbox");
  const readable = router.readable("pass.outbox", { batch: true });
  await router.start();
  const { events, trackers } = trackedEvents(100);
  const writing = ReadableStream.from([events]).pipeTo(writable);
  const reader = readable.getReader();
  const first = await reader.read();
  assert.ok(Array.isArray(first.value));
  const read = first.value!.length;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(
    trackers.slice(0, read).filter((tracker) => tracker.settled).length,
    0,
    "no tracker completes while its batch is in the reader's hands",
  );
  const rest: Event[] = [];
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    rest.push(...next.value);
  }
  await writing;
  assert.equal(read + rest.length, 100);
  await Promise.all(trackers.map((tracker) => tracker.done));
  const report = await router.stop();
  assert.equal(report.delivered, 100);
});

Deno.test("exposed ends count as connected in the graph check, and their actors say which way they go", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new ListInput("input", []));
  router.register(new Pass("pass"));
  router.expose("pass.inbox");
  router.connect("input.outbox", "pass.inbox");
  assert.throws(
    () => router.check(),
    (error) =>
      error instanceof GraphError &&
      error.message.includes(
        'Cannot connect "pass.inbox": it is already connected from "pass.inbox.outbox"',
      ),
  );
  assert.equal(endDirection(router.actor("pass.inbox")!), "writable");
  router.expose("pass.outbox");
  assert.equal(endDirection(router.actor("pass.outbox")!), "readable");
  assert.equal(endDirection(router.actor("pass")!), undefined);
  await router.stop();
});

Deno.test("opening an end says what is wrong: not exposed before start, the wrong way, an unknown actor or queue", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Pass("pass"));
  router.register(new Collector("sink"));
  router.connect("pass.outbox", "sink.inbox");
  assert.throws(
    () => router.expose("pas.inbox"),
    {
      message:
        'Cannot expose "pas.inbox": actor "pas" is not registered; did you mean "pass"?',
    },
  );
  assert.throws(
    () => router.expose("pass.inbx"),
    {
      message:
        'Cannot expose "pass.inbx": actor "pass" has no queue "inbx"; did you mean "inbox"?',
    },
  );
  assert.throws(
    () => router.expose("pass"),
    { message: 'Cannot expose "pass": write the queue as "actor.queue"' },
  );
  router.expose("pass.inbox");
  assert.throws(
    () => router.readable("pass.inbox"),
    {
      message:
        '"pass.inbox" is an inbound queue: open it with router.writable()',
    },
  );
  await router.start();
  assert.throws(
    () => router.readable("pass.error"),
    {
      message:
        'Cannot open "pass.error": expose it before the router starts (router.expose("pass.error"))',
    },
  );
  assert.throws(() => router.expose("pass.error"), {
    message: 'Cannot expose "pass.error": the router has already started',
  });
  await router.writable("pass.inbox").close();
  await router.finished;
  await router.stop();
});

Deno.test("a writable end errors once the router stops, and a readable end the router stopped before it drained errors too", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Pass("pass", { capacity: 10 }));
  const writable = router.writable("pass.inbox");
  const readable = router.readable("pass.outbox");
  await router.start();
  const writer = writable.getWriter();
  await writer.write(numbered(30));
  const report = await router.stop({ timeoutMs: 100 });
  await assert.rejects(
    writer.write({ header: {}, data: 1 }),
    /"pass.inbox" takes no more events: the router is stopping/,
  );
  await assert.rejects(
    readable.getReader().read(),
    /The router stopped before "pass.outbox" drained/,
  );
  assert.equal(report.timedOut, true);
  assert.equal(report.unaccounted, 0);
  assert.equal(report.created, 30);

  const never = new Router({ metricsIntervalMs: 0 });
  never.register(new Pass("pass"));
  const unused = never.writable("pass.inbox");
  await never.stop();
  await assert.rejects(
    unused.getWriter().write({ header: {}, data: 1 }),
    /"pass.inbox" takes no more events: the router stopped/,
  );
});

Deno.test("router.stream(): cancelling the readable errors the writable; aborting the writable errors the readable", async () => {
  const cancelled = arithmetic();
  const stage = cancelled.stream("double.inbox", "plus.outbox");
  await cancelled.start();
  const piped = new ReadableStream<Event>({
    pull: (controller) => controller.enqueue({ header: {}, data: 1 }),
  }).pipeTo(stage.writable);
  const reader = stage.readable.getReader();
  assert.equal((await reader.read()).value?.data, 3);
  const reason = new Error("enough");
  await reader.cancel(reason);
  await assert.rejects(piped, (error) => error === reason);
  const report = await cancelled.stop();
  assert.equal(report.timedOut, false);
  assert.equal(report.unaccounted, 0);
  assert.equal(
    report.created,
    report.delivered + report.failed + report.dropped,
  );
  // What the end held when its reader left failed (logged, one line each);
  // what came afterwards was dropped and counted.
  assert.ok(report.failed <= 1000 + 512, `${report.failed} events failed`);

  const aborted = arithmetic();
  const other = aborted.stream("double.inbox", "plus.outbox");
  await aborted.start();
  const read = Array.fromAsync(other.readable);
  const problem = new Error("the source broke");
  await other.writable.abort(problem);
  await assert.rejects(read, (error) => error === problem);
  await aborted.finished;
  assert.equal((await aborted.stop()).unaccounted, 0);
});

Deno.test("a Deno.serve request body through a router's stream and back as the response body", async () => {
  const router = arithmetic();
  const stage = router.stream("double.inbox", "plus.outbox", { batch: true });
  await router.start();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      new Response(
        request.body!
          .pipeThrough(bytesToEvents({ codec: "ndjson", batch: true }))
          .pipeThrough(stage)
          .pipeThrough(eventsToBytes({ format: "ndjson" })),
      ),
  );
  const lines = Array.from({ length: 5000 }, (_, i) => `${i}\n`).join("");
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/`, {
    method: "POST",
    body: ReadableStream.from([lines]).pipeThrough(new TextEncoderStream()),
  });
  const text = await response.text();
  assert.deepEqual(
    text.trimEnd().split("\n").map(Number),
    Array.from({ length: 5000 }, (_, i) => i * 2 + 1),
  );
  await router.finished;
  const report = await router.stop();
  assert.equal(report.delivered, 5000);
});

Deno.test("router.writable(): the trackers of a write after close() and of writes an abort discards fail, none waits for ever", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Pass("pass"));
  router.register(new Pass("other"));
  const late = router.writable("pass.inbox");
  const aborted = router.writable("other.inbox", { capacity: 1 });
  const collected = router.register(new Collector("sink")) as Collector;
  router.register(new Collector("other_sink"));
  router.connect("pass.outbox", "sink.inbox");
  router.connect("other.outbox", "other_sink.inbox");
  await router.start();

  const { events: [event], trackers: [tracker] } = trackedEvents(1);
  const writer = late.getWriter();
  const closing = writer.close();
  await assert.rejects(writer.write(event!), TypeError);
  await closing;
  await assert.rejects(
    tracker!.done,
    /Written after the writable side was closed/,
  );

  // Writes queued beyond the capacity when the writer aborts are discarded.
  const queued = trackedEvents(20);
  const abortable = aborted.getWriter();
  const writes = queued.events.map((each) => abortable.write(each));
  for (const write of writes) write.catch(() => {});
  await abortable.abort(new Error("changed my mind"));
  const outcomes = await Promise.all(
    queued.trackers.map((each) => each.done.then(() => "done", () => "failed")),
  );
  assert.equal(outcomes.length, 20, "every tracker settles");
  await router.stop();
  assert.equal(collected.events.length, 0);
});

Deno.test("router.writable(): a value whose properties throw when read is discarded and counted, and the pipeline goes on", async () => {
  const router = new Router({ metricsIntervalMs: 0 });
  router.register(new Pass("pass"));
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("pass.outbox", "sink.inbox");
  const writable = router.writable("pass.inbox");
  await router.start();
  const hostile = unreadable();
  const writer = writable.getWriter();
  await writer.write({ header: {}, data: 1 });
  await writer.write([hostile as never, { header: {}, data: 2 }]);
  await writer.write(hostile as never);
  await writer.close();
  await router.finished;
  const report = await router.stop();
  assert.deepEqual(sink.data(), [1, 2]);
  assert.equal(report.created, 2);
  assert.equal(report.queues["pass.inbox.outbox"]?.discarded_total ?? -1, 2);
});

Deno.test("router.stream(): a chunk that throws as it is sized (a revoked proxy) errors both sides, and the router drains", async () => {
  const router = arithmetic();
  const stage = router.stream("double.inbox", "plus.outbox");
  await router.start();
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const read = Array.fromAsync(stage.readable).then(
    () => assert.fail("the readable did not error"),
    (error) => error,
  );
  const writer = stage.writable.getWriter();
  await assert.rejects(writer.write(revoked.proxy as never), TypeError);
  assert.ok((await read) instanceof TypeError);
  await router.finished;
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
});
