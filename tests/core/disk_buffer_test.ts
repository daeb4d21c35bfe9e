import assert from "node:assert/strict";
import { join } from "node:path";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { Queue } from "../../core/queue.ts";
import { Router } from "../../core/router.ts";
import type { Tracker } from "../../core/tracking.ts";
import {
  Collector,
  ListInput,
  numbered,
  pollUntil,
  sequenced,
  trackedEvents,
  withTempDir,
  withTinyDisk,
} from "../helpers.ts";
import { logLines } from "./fixtures.ts";

/** An output that takes nothing until the test opens it. */
class Door extends Actor {
  readonly kind = "output";
  readonly events: Event[] = [];
  #open = Promise.withResolvers<void>();

  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"] });
  }

  /** Lets every event through from now on. */
  open(): void {
    this.#open.resolve();
  }

  override async consume(event: Event): Promise<void> {
    await this.#open.promise;
    this.events.push(event);
  }
}

/** An input -> door pipeline whose connection has a disk buffer in `path`. */
function buffered(
  path: string,
  events: Event[],
  capacity = 10,
): { router: Router; door: Door } {
  const router = new Router();
  const door = new Door("sink");
  router.register(new ListInput("input", events));
  router.register(door);
  router.connect("input.outbox", "sink.inbox", {
    capacity,
    buffer: { type: "disk", path, fsync: "never" },
  });
  return { router, door };
}

/** The figures of the buffered queue of {@link buffered}. */
function sinkQueue(router: Router): Queue {
  const queue = router.actor("sink")?.pool.inbound.get("inbox");
  assert.ok(queue !== undefined);
  return queue;
}

/** The files of `dir`, sorted. */
async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("A disk buffer holds what does not fit in memory and delivers it in order", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sink");
    const { router, door } = buffered(path, numbered(5000));
    await router.start();
    const queue = sinkQueue(router);
    await pollUntil(
      () => queue.figures().in_total,
      (n) => n === 5000,
      "every event in the queue",
      300,
      10,
    );
    const held = queue.figures();
    assert.ok(held.depth <= 10, `depth ${held.depth} is within capacity`);
    assert.equal(held.disk_events! + held.depth, 5000);
    assert.ok(held.disk_bytes! > 0);
    door.open();
    await router.finished;
    const report = await router.stop();
    assert.deepEqual(
      door.events.map((event) => event.data),
      Array.from({ length: 5000 }, (_, i) => i + 1),
    );
    assert.equal(report.delivered, 5000);
    assert.equal(report.unaccounted, 0);
    assert.equal(report.buffered, 0);
    const figures = queue.figures();
    assert.ok(figures.disk_written_total! >= held.disk_events!);
    assert.equal(figures.disk_read_total, figures.disk_written_total);
    assert.equal(figures.disk_events, 0);
    assert.deepEqual(await files(path), []);
  });
});

Deno.test("A stop keeps what is on disk for the next run, which replays it first and in order", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sink");
    const first = buffered(path, numbered(3000));
    await first.router.start();
    const queue = sinkQueue(first.router);
    await pollUntil(
      () => queue.figures().in_total,
      (n) => n === 3000,
      "every event in the queue",
      300,
      10,
    );
    const stopping = first.router.stop();
    first.door.open();
    const report = await stopping;
    assert.equal(report.abandoned, 0);
    assert.equal(report.unaccounted, 0);
    assert.ok(report.buffered > 2900, `${report.buffered} kept on disk`);
    assert.equal(report.delivered + report.buffered, 3000);
    assert.notDeepEqual(await files(path), []);

    const kept = first.door.events.length;
    const second = buffered(path, sequenced(["new"]));
    await second.router.start();
    second.door.open();
    await second.router.finished;
    const again = await second.router.stop();
    assert.equal(again.replayed, report.buffered);
    assert.equal(again.delivered, report.buffered + 1);
    assert.equal(again.unaccounted, 0);
    assert.deepEqual(second.door.events.map((event) => event.data), [
      ...Array.from({ length: 3000 - kept }, (_, i) => kept + i + 1),
      "new",
    ]);
    assert.deepEqual(await files(path), []);
  });
});

Deno.test("An input's acknowledgement waits until the event read back from disk is written out", async () => {
  await withTempDir(async (dir) => {
    const { events, trackers } = trackedEvents(200);
    const { router, door } = buffered(join(dir, "sink"), events);
    await router.start();
    const queue = sinkQueue(router);
    await pollUntil(
      () => queue.figures().disk_events!,
      (n) => n >= 150,
      "events on disk",
      300,
      10,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(trackers.filter((tracker) => tracker.settled).length, 0);
    door.open();
    await router.finished;
    await router.stop();
    assert.deepEqual(await outcomes(trackers), trackers.map(() => true));
    assert.equal(door.events.length, 200);
  });
});

Deno.test("Events kept on disk at a stop fail their input's acknowledgement, to be sent again", async () => {
  await withTempDir(async (dir) => {
    const { events, trackers } = trackedEvents(100);
    const { router, door } = buffered(join(dir, "sink"), events);
    await router.start();
    const queue = sinkQueue(router);
    await pollUntil(
      () => queue.figures().in_total,
      (n) => n === 100,
      "every event in the queue",
      300,
      10,
    );
    const stopping = router.stop();
    door.open();
    const report = await stopping;
    const results = await outcomes(trackers);
    assert.equal(
      results.filter((result) => result === true).length,
      report.delivered,
    );
    assert.equal(
      results.filter((result) =>
        result === 'Kept in the disk buffer of "sink.inbox" for the next run'
      ).length,
      report.buffered,
    );
  });
});

/** Whether each tracker completed (true), failed (its reason) or is open. */
function outcomes(trackers: Tracker[]): Promise<(true | string)[]> {
  return Promise.all(
    trackers.map((tracker) =>
      tracker.done.then(() => true as const, (error: Error) => error.message)
    ),
  );
}

Deno.test("A disk buffer on a full disk holds the senders, says why once each time, and goes on when there is room", async () => {
  await withTinyDisk(128, async (diskDir) => {
    const router = new Router();
    const logs = router.registerLogActor(new Collector("logs")) as Collector;
    const door = new Door("sink");
    const events = numbered(4000).map((event) => ({
      ...event,
      data: `${event.data} ${"x".repeat(100)}`,
    }));
    router.register(new ListInput("input", events));
    router.register(door);
    router.connect("input.outbox", "sink.inbox", {
      capacity: 10,
      buffer: { type: "disk", path: join(diskDir, "sink"), fsync: "never" },
    });
    await router.start();
    const queue = sinkQueue(router);
    await pollUntil(
      () => queue.figures().disk_errors_total!,
      (errors) => errors > 0,
      "a failed write",
      300,
      10,
    );
    assert.ok(queue.figures().in_total < 4000);
    door.open();
    await router.finished;
    const report = await router.stop();
    assert.deepEqual(
      door.events.map((event) => event.data),
      events.map((event) => event.data),
    );
    assert.equal(report.delivered, 4000);
    assert.equal(report.dropped, 0);
    assert.equal(report.unaccounted, 0);
    const failures = logLines(logs).filter((line) =>
      line.message.startsWith('The disk buffer of "sink.inbox"')
    );
    // Once per time the disk filled up: the error, then that it writes again.
    assert.ok(failures.length >= 2 && failures.length % 2 === 0);
    failures.forEach((line, i) => {
      assert.equal(line.level, i % 2 === 0 ? "error" : "info");
      assert.match(
        line.message,
        i % 2 === 0 ? /No space left on device/ : /writes again/,
      );
    });
    assert.deepEqual(await files(join(diskDir, "sink")), []);
  });
});

Deno.test("A second pipeline cannot start on a disk buffer another one uses", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "sink");
    const first = buffered(path, numbered(100));
    await first.router.start();
    const second = buffered(path, numbered(1));
    await assert.rejects(second.router.start(), {
      message:
        `Cannot open the disk buffer of "sink.inbox" in "${path}": The disk buffer in "${path}" is in use by another process: give each pipeline its own buffer path`,
    });
    const none = await second.router.stop();
    assert.equal(none.delivered, 0);
    first.door.open();
    await first.router.finished;
    assert.equal((await first.router.stop()).delivered, 100);
    assert.deepEqual(await files(path), []);
  });
});

Deno.test("An event a disk buffer cannot hold is dropped, counted and logged; the others go on in order", async () => {
  await withTempDir(async (dir) => {
    const router = new Router();
    const logs = router.registerLogActor(new Collector("logs")) as Collector;
    const door = new Door("sink");
    const events: Event[] = [
      ...numbered(1000),
      { header: { callback: () => {} }, data: "function" },
      { header: {}, data: "y".repeat(70 * 1024) },
      ...numbered(1000).map((event) => ({ ...event, data: "after" })),
    ];
    router.register(new ListInput("input", events));
    router.register(door);
    router.connect("input.outbox", "sink.inbox", {
      capacity: 10,
      buffer: {
        type: "disk",
        path: join(dir, "sink"),
        maxBytes: 64 * 1024,
        fsync: "never",
      },
    });
    await router.start();
    door.open();
    await router.finished;
    const report = await router.stop();
    assert.equal(report.delivered, 2000);
    assert.equal(report.dropped, 2);
    assert.equal(report.unaccounted, 0);
    assert.deepEqual(
      door.events.map((event) => event.data),
      [
        ...numbered(1000).map((event) => event.data),
        ...Array(1000).fill("after"),
      ],
    );
    const dropped = logLines(logs).filter((line) =>
      line.message.startsWith("Dropped an event that cannot be written")
    );
    assert.equal(dropped.length, 2);
    assert.match(dropped[0]!.message, /cannot be written to disk/);
    assert.match(
      dropped[1]!.message,
      /more than the disk buffer's max_bytes \(65536\)/,
    );
  });
});

Deno.test("A full disk buffer with when_full drop_newest drops and counts what does not fit, and keeps the order of the rest", async () => {
  await withTempDir(async (dir) => {
    const router = new Router();
    const door = new Door("sink");
    const events = numbered(5000).map((event) => ({
      ...event,
      data: `${event.data} ${"x".repeat(100)}`,
    }));
    router.register(new ListInput("input", events));
    router.register(door);
    router.connect("input.outbox", "sink.inbox", {
      capacity: 10,
      buffer: {
        type: "disk",
        path: join(dir, "sink"),
        maxBytes: 64 * 1024,
        whenFull: "drop_newest",
        fsync: "never",
      },
    });
    await router.start();
    const queue = sinkQueue(router);
    await pollUntil(
      () => queue.figures().in_total,
      (n) => n === 5000,
      "every event taken or dropped",
      300,
      10,
    );
    door.open();
    await router.finished;
    const report = await router.stop();
    assert.ok(report.dropped > 4000, `${report.dropped} dropped`);
    assert.equal(report.delivered + report.dropped, 5000);
    assert.equal(report.unaccounted, 0);
    const seen = door.events.map((event) =>
      Number(String(event.data).split(" ")[0])
    );
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.equal(seen[0], 1);
  });
});
