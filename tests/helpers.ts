/**
 * Test helpers shared by the suite: an actor that collects what reaches it,
 * an input that sends a fixed list of values, one fed while it runs, events
 * to feed, a temporary directory, a free port, and bounded waits that fail
 * clearly instead of hanging.
 *
 * @module
 */

import v8 from "node:v8";
import type { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  yieldToEventLoop,
} from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { attachTracker, Tracker } from "../core/tracking.ts";

/**
 * The two counters most tests check of an actor: events consumed and
 * failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyFigures } from "../core/actor.ts";
 * import { counted } from "./helpers.ts";
 * assert.deepEqual(counted({ ...emptyFigures(), consumed_total: 2 }), { consumed_total: 2, failed_total: 0 });
 * ```
 */
export function counted(
  figures: { consumed_total: number; failed_total: number },
): { consumed_total: number; failed_total: number } {
  return {
    consumed_total: figures.consumed_total,
    failed_total: figures.failed_total,
  };
}

/**
 * An output that keeps every event it consumes, per inbound queue, and lets a
 * test wait until a number of them has arrived.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * const router = new Router();
 * router.register(new ListInput("input", sequenced([1, 2])));
 * const sink = router.register(new Collector("sink")) as Collector;
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await sink.waitFor(2);
 * await router.stop();
 * assert.deepEqual(sink.data(), [1, 2]);
 * ```
 */
export class Collector extends Actor {
  readonly kind = "output";
  /** Every event consumed, in arrival order. */
  readonly events: Event[] = [];
  /** The inbound queue each event of `events` came from. */
  readonly queues: string[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Makes a collector; `inbound` lists its queues (default `["inbox"]`). */
  constructor(
    name: string,
    settings: ActorSettings = {},
    inbound: string[] = ["inbox"],
  ) {
    super(name, settings, { inbound, outbound: ["error"] });
  }

  override consume(event: Event, context: Context): void {
    this.events.push(event);
    this.queues.push(context.queue);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.events.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once at least `count` events have arrived. */
  waitFor(count: number): Promise<void> {
    if (this.events.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return promise;
  }

  /** The data of every event collected. */
  data(): unknown[] {
    return this.events.map((event) => event.data);
  }
}

/**
 * An input that sends each of `values` once (events as they are, anything
 * else too, so that malformed values can be tested), then finishes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const input = new ListInput("input", [{ header: {}, data: 1 }]);
 * assert.equal(input.kind, "input");
 * ```
 */
export class ListInput extends Actor {
  readonly kind = "input";
  #values: unknown[];

  /** Makes an input that sends `values` in order. */
  constructor(name: string, values: unknown[], settings: ActorSettings = {}) {
    super(name, settings, { inbound: [] });
    this.#values = values;
  }

  override async produce(signal: AbortSignal): Promise<void> {
    for (const value of this.#values) {
      if (signal.aborted) return;
      const waiting = this.send(value as Event);
      if (waiting !== undefined) await waiting;
    }
  }
}

/**
 * An input the test feeds while the pipeline runs ({@link PushInput.push}),
 * then ends ({@link PushInput.end}).
 *
 * @example
 * ```ts
 * const input = new PushInput("input");
 * input.push([{ header: {}, data: 1 }]);
 * input.end();
 * ```
 */
export class PushInput extends Actor {
  readonly kind = "input";
  #pending: Event[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  /** Makes an input with nothing to send yet. */
  constructor(name: string) {
    super(name, {}, { inbound: [] });
  }

  /** Sends `values`, in order, after those pushed before. */
  push(values: Event[]): void {
    this.#pending.push(...values);
    this.#wake?.();
  }

  /** Ends the input once what was pushed is sent. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  override async produce(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const batch = this.#pending;
      this.#pending = [];
      for (const event of batch) {
        const waiting = this.send(event);
        if (waiting !== undefined) await waiting;
      }
      if (this.#pending.length > 0) continue;
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
  }
}

/**
 * An event per value of `values`, in order: the value as data, the header
 * naming the sequence (`seq`, from 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(sequenced(["a", "b"]), [{ header: { seq: 1 }, data: "a" }, { header: { seq: 2 }, data: "b" }]);
 * ```
 */
export function sequenced(values: readonly unknown[]): Event[] {
  return values.map((data, i) => ({ header: { seq: i + 1 }, data }));
}

/**
 * `count` events whose data is 1..count and whose header names the sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(numbered(3).map((event) => event.data), [1, 2, 3]);
 * ```
 */
export function numbered(count: number): Event[] {
  return sequenced(Array.from({ length: count }, (_, i) => i + 1));
}

/**
 * `count` events whose data is 1..count, each with a delivery tracker of its
 * own (as an input that acknowledges its messages makes them).
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * const { events, trackers } = trackedEvents(3);
 * // ... send the events through a pipeline ...
 * await Promise.all(trackers.map((tracker) => tracker.done));
 * assert.equal(events.length, 3);
 * ```
 */
export function trackedEvents<T extends Tracker = Tracker>(
  count: number,
  make: () => T = () => new Tracker() as T,
): { events: Event[]; trackers: T[] } {
  const trackers = Array.from({ length: count }, make);
  const events = trackers.map((tracker, i) =>
    attachTracker({ header: {}, data: i + 1 }, tracker)
  );
  return { events, trackers };
}

/**
 * Runs `body` with a new temporary directory, and removes the directory and
 * all it holds afterwards, whether `body` succeeded or not. Returns what
 * `body` returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = await withTempDir(async (dir) => {
 *   await Deno.writeTextFile(`${dir}/a.yaml`, "actors: {}\n");
 *   return await Deno.readTextFile(`${dir}/a.yaml`);
 * });
 * assert.equal(text, "actors: {}\n");
 * ```
 */
export async function withTempDir<T>(
  body: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_test_" });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The files of `dir` that an output rotates (`<file>.<ext>` and its rotated
 * copies `<file>.<ext>.<n>`), oldest first, and their text joined in that
 * order.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * const { names, text } = await readRotated(dir);
 * assert.deepEqual(names, ["out.log.2", "out.log.1", "out.log"]);
 * ```
 */
export async function readRotated(
  dir: string,
): Promise<{ names: string[]; text: string }> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  // Oldest first: out.log.N … out.log.1, then out.log.
  const order = (name: string) => -Number(name.split(".")[2] ?? 0);
  names.sort((a, b) => order(a) - order(b));
  let text = "";
  for (const name of names) {
    text += await Deno.readTextFile(`${dir}/${name}`);
  }
  return { names, text };
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1: bound with port 0 and
 * closed again, for a server to listen on or for a peer that is down.
 *
 * @example
 * ```ts
 * const port = freePort();
 * Deno.listen({ hostname: "127.0.0.1", port }).close(); // nothing else holds it
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/**
 * How many objects made by the class named `className` are still reachable
 * in this process: writes a heap snapshot (which collects garbage first)
 * and counts them. Shows that what a long-running actor handled is not
 * held on to, for example connections it accepted and closed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * class Kept {}
 * const kept = [new Kept(), new Kept()];
 * assert.equal(await reachableObjects("Kept"), 2);
 * kept.length = 0;
 * assert.equal(await reachableObjects("Kept"), 0);
 * ```
 */
export async function reachableObjects(className: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_heap_" });
  try {
    const file = v8.writeHeapSnapshot(`${dir}/heap.heapsnapshot`);
    const snapshot = JSON.parse(await Deno.readTextFile(file)) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const fields = snapshot.snapshot.meta.node_fields;
    const type = fields.indexOf("type");
    const name = fields.indexOf("name");
    const objectType = snapshot.snapshot.meta.node_types[0].indexOf("object");
    const nameIndex = snapshot.strings.indexOf(className);
    let count = 0;
    for (let at = 0; at < snapshot.nodes.length; at += fields.length) {
      if (
        snapshot.nodes[at + type] === objectType &&
        snapshot.nodes[at + name] === nameIndex
      ) count++;
    }
    return count;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `promise`, or a rejection saying `what` did not happen within `ms`: keeps a
 * test that would hang bounded. Leaves no timer behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await within(Promise.resolve(1), 1000, "the answer"), 1);
 * ```
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Gave up after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `read` every `everyMs` until `done` holds for what it returned, at
 * most `attempts` times; returns the last value read, or throws saying `what`
 * did not happen, with that value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await pollUntil(() => 2, (n) => n > 1, "a number above 1"), 2);
 * ```
 */
export async function pollUntil<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  what: string,
  attempts = 300,
  everyMs = 50,
): Promise<T> {
  let value = await read();
  for (let i = 1; i < attempts && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    value = await read();
  }
  if (!done(value)) {
    throw new Error(
      `Gave up after ${attempts} attempts waiting for ${what}; last: ${
        Deno.inspect(value, { depth: 4 })
      }`,
    );
  }
  return value;
}

/**
 * Resolves with `check()`'s value once it is not `undefined`, calling it
 * again after each `everyMs`; fails after `tries` calls instead of hanging
 * (a {@link pollUntil} for a value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await eventually(() => "ready", "the answer"), "ready");
 * ```
 */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  { tries = 200, everyMs = 50 } = {},
): Promise<T> {
  const value = await pollUntil(
    check,
    (value) => value !== undefined,
    what,
    tries,
    everyMs,
  );
  return value!;
}

/**
 * Lets the event loop run until `condition` holds; fails after 10,000 turns
 * instead of hanging.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * let answered = false;
 * Promise.resolve().then(() => answered = true);
 * await until(() => answered, "the answer");
 * assert.equal(answered, true);
 * ```
 */
export async function until(
  condition: () => boolean,
  what: string,
): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await yieldToEventLoop();
  }
  throw new Error(`Gave up waiting for ${what}`);
}

/**
 * What `schema` finds wrong with `options`, one `path: message` per issue;
 * `undefined` when it accepts them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * assert.equal(schemaProblems(z.strictObject({}), {}), undefined);
 * ```
 */
export function schemaProblems(
  schema: z.ZodType,
  options: unknown,
): string[] | undefined {
  return schema.safeParse(options).error?.issues.map((issue) =>
    `${issue.path.join(".")}: ${issue.message}`
  );
}

/**
 * Runs `body` with a directory on a tmpfs of `kib` KiB (a disk that fills up
 * on demand), then unmounts and removes it. Where a tmpfs cannot be mounted
 * (not root, no mount permission in this container) it prints why and skips
 * `body`: the test passes without it.
 *
 * @example
 * ```ts ignore
 * await withTinyDisk(256, async (dir) => {
 *   await Deno.writeFile(`${dir}/big`, new Uint8Array(1 << 20)); // throws: full
 * });
 * ```
 */
export async function withTinyDisk(
  kib: number,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  if (Deno.uid() !== 0) {
    console.log("Skipped: mounting a tmpfs needs root");
    return;
  }
  const dir = Deno.makeTempDirSync({ prefix: "compysition_full_" });
  const mounted = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!mounted.success) {
    Deno.removeSync(dir);
    console.log(
      `Skipped: ${new TextDecoder().decode(mounted.stderr).trim()}`,
    );
    return;
  }
  try {
    await body(dir);
  } finally {
    new Deno.Command("umount", { args: [dir] }).outputSync();
    Deno.removeSync(dir);
  }
}
