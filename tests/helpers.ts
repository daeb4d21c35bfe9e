/**
 * Test helpers shared by the suite: an actor that collects what reaches it,
 * an input that sends a fixed list of values, and a temporary directory.
 *
 * @module
 */

import { Actor, type ActorSettings } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { attachTracker, Tracker } from "../core/tracking.ts";

/**
 * An output that keeps every event it consumes, per inbound queue, and lets a
 * test wait until a number of them has arrived.
 *
 * @example
 * ```ts ignore
 * const sink = new Collector("sink");
 * // ... connect, start ...
 * await sink.waitFor(10);
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

  override consume(event: Event, queue: string): void {
    this.events.push(event);
    this.queues.push(queue);
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
 * const input = new ListInput("input", [{ header: {}, data: 1 }]);
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
 * `count` events whose data is 1..count and whose header names the sequence.
 *
 * @example
 * ```ts
 * numbered(3).map((event) => event.data); // [1, 2, 3]
 * ```
 */
export function numbered(count: number): Event[] {
  return Array.from({ length: count }, (_, i) => ({
    header: { seq: i + 1 },
    data: i + 1,
  }));
}

/**
 * `count` events whose data is 1..count, each with a delivery tracker of its
 * own (as an input that acknowledges its messages makes them).
 *
 * @example
 * ```ts ignore
 * const { events, trackers } = trackedEvents(3);
 * // ... send the events through a pipeline ...
 * await Promise.all(trackers.map((tracker) => tracker.done));
 * ```
 */
export function trackedEvents(
  count: number,
): { events: Event[]; trackers: Tracker[] } {
  const trackers = Array.from({ length: count }, () => new Tracker());
  const events = trackers.map((tracker, i) =>
    attachTracker({ header: {}, data: i + 1 }, tracker)
  );
  return { events, trackers };
}

/**
 * Runs `body` with a new temporary directory, and removes the directory and
 * all it holds afterwards, whether `body` succeeded or not.
 *
 * @example
 * ```ts ignore
 * await withTempDir(async (dir) => {
 *   await Deno.writeTextFile(`${dir}/a.yaml`, "actors: {}\n");
 * });
 * ```
 */
export async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
