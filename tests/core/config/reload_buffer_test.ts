/**
 * Reloads that add, remove or change the disk buffer of a connection while a
 * generator sends through it to a counting output that is down (it waits
 * on a gate): every event reaches the output exactly once and in order,
 * and what is on disk stays there through the reload. A reload that would
 * move a buffer holding events is refused, naming the connection and the
 * field, and changes nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { BUILTIN_ACTORS } from "../../../actors/mod.ts";
import { Actor, type ActorSettings } from "../../../core/actor.ts";
import { loadPipeline } from "../../../core/config/mod.ts";
import { Reloader } from "../../../core/config/reload.ts";
import type { Event } from "../../../core/event.ts";
import type { Queue, QueueFigures } from "../../../core/queue.ts";
import { type ActorSpec, Registry } from "../../../core/registry.ts";
import type { Router } from "../../../core/router.ts";
import { pollUntil, withTempDir } from "../../helpers.ts";

/** How many events the generator sends. */
const EVENTS = 1500;

/** The output's way out: shut, every `count` actor waits until it opens. */
class Gate {
  #open = Promise.withResolvers<void>();
  #isOpen = false;
  get opened(): Promise<void> {
    return this.#open.promise;
  }
  get isOpen(): boolean {
    return this.#isOpen;
  }
  open(): void {
    this.#isOpen = true;
    this.#open.resolve();
  }
}

/** An output that waits for the gate, then records the data it consumes. */
class Counting extends Actor {
  readonly kind = "output";
  #gate: Gate;
  #delivered: string[];
  constructor(
    name: string,
    settings: ActorSettings,
    gate: Gate,
    delivered: string[],
  ) {
    super(name, settings);
    this.#gate = gate;
    this.#delivered = delivered;
  }
  override async consumeBatch(events: Event[]): Promise<void> {
    if (!this.#gate.isOpen) await this.#gate.opened;
    for (const event of events) this.#delivered.push(event.data as string);
  }
}

/** The test's pipeline, running, with its reloader and what it delivered. */
interface Running {
  router: Router;
  reloader: Reloader;
  gate: Gate;
  delivered: string[];
  file: string;
  /** How many events the generator sends. */
  events: number;
}

/**
 * `gen` (sending `EVENTS` events `g1`, `g2`...) -> `out` (a {@link Counting}
 * output) with `buffer` (a YAML flow mapping, or none) on the connection.
 */
function pipeline(buffer: string | undefined, events = EVENTS): string {
  const options = buffer === undefined ? "" : `, buffer: ${buffer}`;
  return [
    "actors:",
    `  gen: { type: generator, options: { interval: 0.001, count: ${events}, data: 'g{{seq}}' } }`,
    "  out: { type: count }",
    "connections:",
    `  - { from: gen.outbox, to: out.inbox, capacity: 50${options} }`,
    "",
  ].join("\n");
}

async function start(
  dir: string,
  buffer: string | undefined,
  events = EVENTS,
): Promise<Running> {
  const gate = new Gate();
  const delivered: string[] = [];
  const count: ActorSpec<Record<string, never>> = {
    type: "count",
    kind: "output",
    summary: "Records the data of every event once the gate opens.",
    options: z.strictObject({}),
    create: (name, _options, settings) =>
      new Counting(name, settings, gate, delivered),
  };
  const registry = new Registry([...BUILTIN_ACTORS, count as ActorSpec]);
  const file = join(dir, "pipeline.yaml");
  await Deno.writeTextFile(file, pipeline(buffer, events));
  const { router, config } = await loadPipeline(file, {
    registry,
    routerOptions: { logLevel: "error" },
  });
  await router.start();
  // The output is down during the reloads: the actor it renews holds its
  // batch until the gate opens, and its replacement starts meanwhile.
  const reloader = new Reloader(router, config, () => file, {
    registry,
    drainTimeoutMs: 300,
  });
  return { router, reloader, gate, delivered, file, events };
}

/** The queue `out.inbox` runs on now. */
function inbox(router: Router): Queue {
  return router.actor("out")!.pool.inbound.get("inbox")!;
}

function figures(router: Router): QueueFigures {
  return inbox(router).figures();
}

/** Waits until the disk buffer of `out.inbox` holds at least `count` events. */
function onDisk(router: Router, count: number): Promise<QueueFigures> {
  return pollUntil(
    () => figures(router),
    (figures) => (figures.disk_events ?? 0) >= count,
    `${count} events in the disk buffer`,
  );
}

/** Reloads `running` from `buffer`; asserts the reload applied. */
async function reloadTo(
  running: Running,
  buffer: string | undefined,
): Promise<void> {
  await Deno.writeTextFile(running.file, pipeline(buffer, running.events));
  const outcome = await running.reloader.reload("test");
  assert.equal(outcome.status, "applied", outcome.reason);
  assert.deepEqual(outcome.change!.renewed, ["out"]);
  for (const warning of outcome.change!.warnings) {
    // What waits for the output (or, with a full disk, the sender).
    assert.match(warning, /^Still .* goes on in the background$/);
  }
}

/**
 * Opens the gate, waits for every event at the output and stops: each
 * arrived exactly once, in order, and the stop accounts for all.
 */
async function deliverAll(running: Running): Promise<void> {
  running.gate.open();
  const events = running.events;
  await pollUntil(
    () => running.delivered.length,
    (count) => count >= events,
    `${events} events at the output`,
    600,
  );
  const report = await running.router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.dropped + report.failed + report.abandoned, 0);
  assert.deepEqual(
    running.delivered,
    Array.from({ length: events }, (_, i) => `g${i + 1}`),
  );
}

/** The files left in directory `path` (none when it is gone). */
function filesIn(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

Deno.test("a reload that adds a disk buffer: what the queue takes from then on goes through disk, every event once and in order", async () => {
  await withTempDir(async (dir) => {
    const running = await start(dir, undefined);
    const { router } = running;
    // The output is down: the queue fills up in memory.
    await pollUntil(
      () => figures(router).depth,
      (depth) => depth >= 50,
      "a full queue",
    );
    assert.equal(figures(router).disk_events, undefined);
    const path = join(dir, "buffer");
    await reloadTo(running, `{ type: disk, path: ${path}, max_bytes: 1MiB }`);
    await onDisk(router, 200);
    assert.ok(filesIn(path).some((name) => name.endsWith(".seg")));
    await deliverAll(running);
    assert.deepEqual(filesIn(path), []);
  });
});

Deno.test("a reload that removes a disk buffer delivers what it holds first, then the connection runs in memory", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "buffer");
    const running = await start(dir, `{ type: disk, path: ${path} }`);
    const { router } = running;
    const before = await onDisk(router, 300);
    await reloadTo(running, undefined);
    // What was on disk is still there, or read back into memory.
    const after = figures(router);
    assert.ok(after.disk_events! + after.depth >= before.disk_events!);
    running.gate.open();
    // Once drained, the buffer is gone: the queue holds events in memory.
    await pollUntil(
      () => inbox(router).buffered,
      (buffered) => !buffered,
      "the disk buffer drained and closed",
      600,
    );
    await pollUntil(
      () => filesIn(path),
      (files) => files.length === 0,
      "the buffer's files deleted",
    );
    await deliverAll(running);
  });
});

Deno.test("a reload that changes max_bytes, when_full and fsync of a disk buffer keeps what is on disk", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "buffer");
    const running = await start(
      dir,
      `{ type: disk, path: ${path}, max_bytes: 1MiB, fsync: 1000 }`,
    );
    const { router } = running;
    const before = await onDisk(router, 300);
    assert.equal(before.disk_max_bytes, 1024 ** 2);
    await reloadTo(
      running,
      `{ type: disk, path: ${path}, max_bytes: 2MiB, fsync: batch, when_full: drop_newest }`,
    );
    const after = figures(router);
    assert.equal(after.disk_max_bytes, 2 * 1024 ** 2);
    assert.ok(after.disk_events! >= before.disk_events!);
    assert.ok(after.disk_written_total! >= before.disk_written_total!);
    assert.equal(inbox(router).whenFull, "drop_newest");
    await deliverAll(running);
    assert.deepEqual(filesIn(path), []);
  });
});

Deno.test("a reload that moves a disk buffer holding events is refused, naming the connection and the field; an empty one moves", async () => {
  await withTempDir(async (dir) => {
    const [first, second] = [join(dir, "first"), join(dir, "second")];
    const running = await start(dir, `{ type: disk, path: ${first} }`);
    const { router, reloader } = running;
    const queue = inbox(router);
    await onDisk(router, 100);
    await Deno.writeTextFile(
      running.file,
      pipeline(`{ type: disk, path: ${second} }`),
    );
    const refused = await reloader.reload("test");
    assert.equal(refused.status, "refused");
    assert.match(
      refused.reason!,
      new RegExp(
        `^Connection gen\\.outbox -> out\\.inbox: buffer\\.path cannot change from "${first}" to "${second}" while its disk buffer holds \\d+ event\\(s\\)`,
      ),
    );
    assert.equal(inbox(router), queue);
    // The output catches up while the generator still sends: once the
    // buffer holds nothing, the same reload moves it.
    running.gate.open();
    await Deno.writeTextFile(
      running.file,
      pipeline(`{ type: disk, path: ${second} }`),
    );
    const moved = await pollUntil(
      async () => {
        await pollUntil(
          () => figures(router).disk_events,
          (events) => events === 0,
          "an empty buffer",
        );
        return await reloader.reload("test");
      },
      (outcome) => outcome.status !== "refused",
      "the move of an empty buffer",
      20,
    );
    assert.equal(moved.status, "applied", moved.reason);
    assert.ok(running.delivered.length < EVENTS, "the generator still sends");
    await pollUntil(
      () => inbox(router).bufferPaths,
      (paths) => paths.length === 1 && paths[0] === second,
      "the buffer in its new directory",
    );
    await deliverAll(running);
    assert.deepEqual(filesIn(first), []);
  });
});

Deno.test("a reload while the disk buffer is full and its sender waits completes once the output is back, nothing lost", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "buffer");
    const running = await start(
      dir,
      `{ type: disk, path: ${path}, max_bytes: 64KiB }`,
      2500,
    );
    const { router } = running;
    // The output is down and the disk full: the generator waits.
    await pollUntil(
      () => inbox(router).waiting,
      (waiting) => waiting > 0,
      "the sender waiting for room on disk",
    );
    const before = figures(router);
    assert.ok(before.disk_bytes! > 60_000, `${before.disk_bytes} bytes`);
    await reloadTo(
      running,
      `{ type: disk, path: ${path}, max_bytes: 64KiB, fsync: batch }`,
    );
    // The move finishes as the output takes the events read back.
    await deliverAll(running);
    assert.deepEqual(filesIn(path), []);
  });
});

Deno.test("reloads that add, then remove, a disk buffer while the output is up and its loop waits on an empty inbox between events: every event once and in order", async () => {
  await withTempDir(async (dir) => {
    const running = await start(dir, undefined, 600);
    const { router } = running;
    running.gate.open();
    await pollUntil(
      () => running.delivered.length,
      (count) => count >= 50,
      "the first events at the output",
    );
    const path = join(dir, "buffer");
    await reloadTo(running, `{ type: disk, path: ${path}, max_bytes: 1MiB }`);
    const added = running.delivered.length;
    await pollUntil(
      () => running.delivered.length,
      (count) => count >= added + 50,
      "events through the disk buffer",
    );
    assert.notEqual(
      figures(router).disk_events,
      undefined,
      "the queue has a disk buffer",
    );
    await reloadTo(running, undefined);
    const removed = running.delivered.length;
    await pollUntil(
      () => running.delivered.length,
      (count) => count >= removed + 50 || count >= running.events,
      "events after the buffer was removed",
    );
    assert.equal(figures(router).disk_events, undefined);
    await deliverAll(running);
  });
});
