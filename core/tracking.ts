/**
 * Delivery tracking: an input that can acknowledge what it received (NATS
 * JetStream, say) attaches a tracker to each event it creates. The tracker
 * completes once every event derived from it has been handled — consumed by an
 * output that confirmed the write, or deliberately dropped by a filter — and
 * fails when one of them is lost: dropped by a queue, or failed with no `error`
 * queue to take it.
 *
 * Trackers live under a symbol key, so they never appear in `header`, in JSON
 * or in a `structuredClone` copy, and events from inputs that do not track
 * carry nothing and cost nothing.
 *
 * How the core keeps count: every time a tracked event is sent into a queue
 * its tracker is retained once, and released once the consumer has consumed
 * it. An event sent while consuming a tracked event (a copy, a split, a new
 * event) inherits the tracker of the event being consumed.
 *
 * @module
 */

import type { Event } from "./event.ts";

/** The symbol under which an event carries its tracker. */
export const TRACKER: unique symbol = Symbol("compysition.tracker");

/**
 * The symbol under which an event is marked as having been sent to an
 * `error` queue (it failed, or an input could not decode it): it travels on
 * an error path, so an output that consumes it counts it in `errors_total`,
 * not `delivered_total`.
 */
export const FAILED: unique symbol = Symbol("compysition.failed");

/** What the core needs of a tracker: counting and failing. */
export interface Tracked {
  /** One more event (or queue residence) to wait for. */
  retain(): void;
  /** One fewer: completes the tracker when none is left. */
  release(): void;
  /** Fails the tracker: something derived from it was lost. */
  fail(reason: string): void;
}

/** An event that may carry a tracker and the failed mark. */
export type TrackedEvent = Event & { [TRACKER]?: Tracked; [FAILED]?: true };

/**
 * Counts the events derived from one input message and settles once: `done`
 * resolves when all were handled and rejects when one was lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, Tracker } from "./tracking.ts";
 * const tracker = new Tracker();
 * const event = attachTracker({ header: {}, data: 1 }, tracker);
 * tracker.retain(); // the event is sent into a queue...
 * tracker.release(); // ...and consumed by an output that confirmed it
 * assert.equal(await tracker.done, undefined); // resolves
 * ```
 */
export class Tracker implements Tracked {
  /** Settles once: resolves when every derived event was handled. */
  readonly done: Promise<void>;
  #pending = 0;
  #settled = false;
  #resolve: () => void;
  #reject: (error: Error) => void;

  /** Makes a tracker with nothing to wait for yet. */
  constructor() {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    promise.catch(() => {}); // a failure is read from `done` when wanted
    this.done = promise;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Whether the tracker has completed or failed. */
  get settled(): boolean {
    return this.#settled;
  }

  retain(): void {
    this.#pending++;
  }

  release(): void {
    if (--this.#pending === 0 && !this.#settled) {
      this.#settled = true;
      this.#resolve();
    }
  }

  fail(reason: string): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(new Error(reason));
  }
}

/**
 * Who a {@link CountingTracker} tells how its subject ended.
 *
 * @example
 * ```ts
 * import type { TrackerOwner } from "./tracking.ts";
 * const owner: TrackerOwner<number> = {
 *   handled: (id) => console.log(`ack ${id}`),
 *   lost: (id, reason) => console.log(`nak ${id}: ${reason}`),
 * };
 * ```
 */
export interface TrackerOwner<T> {
  /**
   * Every event derived from `subject` was handled. Called synchronously
   * from the core, in the middle of its work (an output finishing a batch):
   * it must only take note (acknowledge a message, say), never send events.
   */
  handled(subject: T): void;
  /**
   * An event derived from `subject` was lost. Called in a microtask of its
   * own, so it may send events (to an `error` queue, say).
   */
  lost(subject: T, reason: string): void;
}

/**
 * A tracker for inputs that track every message they receive: a counter that
 * tells its owner how its subject (a message) ended, without a promise.
 * Costs one small object per message; a {@link Tracker} costs a promise and
 * its reactions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, CountingTracker } from "./tracking.ts";
 * const acked: string[] = [];
 * const owner = { handled: (id: string) => acked.push(id), lost: () => {} };
 * const tracker = new CountingTracker("m1", owner);
 * attachTracker({ header: {}, data: 1 }, tracker);
 * tracker.retain(); // the event is sent into a queue...
 * tracker.release(); // ...and consumed by an output that confirmed it
 * assert.deepEqual(acked, ["m1"]);
 * ```
 */
export class CountingTracker<T> implements Tracked {
  /** The message (or other thing) tracked. */
  readonly subject: T;
  #owner: TrackerOwner<T>;
  #pending = 0;
  #settled = false;

  /** Tracks `subject` for `owner`. */
  constructor(subject: T, owner: TrackerOwner<T>) {
    this.subject = subject;
    this.#owner = owner;
  }

  /** Whether the tracker has completed or failed. */
  get settled(): boolean {
    return this.#settled;
  }

  retain(): void {
    this.#pending++;
  }

  release(): void {
    if (--this.#pending === 0 && !this.#settled) {
      this.#settled = true;
      this.#owner.handled(this.subject);
    }
  }

  fail(reason: string): void {
    if (this.#settled) return;
    this.#settled = true;
    queueMicrotask(() => this.#owner.lost(this.subject, reason));
  }
}

/**
 * Several trackers acting as one, for an event made of several tracked events
 * (a batch); made by {@link combineTrackers}.
 */
class TrackerGroup implements Tracked {
  #members: readonly Tracked[];

  /** Makes a group of `members`. */
  constructor(members: readonly Tracked[]) {
    this.#members = members;
  }

  retain(): void {
    for (const member of this.#members) member.retain();
  }

  release(): void {
    for (const member of this.#members) member.release();
  }

  fail(reason: string): void {
    for (const member of this.#members) member.fail(reason);
  }
}

/**
 * Puts `tracker` on `event` (under the {@link TRACKER} symbol) and returns it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, Tracker, trackerOf } from "./tracking.ts";
 * const event = attachTracker({ header: {}, data: 1 }, new Tracker());
 * assert.ok(trackerOf(event) !== undefined);
 * assert.equal(JSON.stringify(event), '{"header":{},"data":1}');
 * ```
 */
export function attachTracker<E extends Event>(event: E, tracker: Tracked): E {
  (event as TrackedEvent)[TRACKER] = tracker;
  return event;
}

/**
 * The tracker an event carries, if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trackerOf } from "./tracking.ts";
 * assert.equal(trackerOf({ header: {}, data: 1 }), undefined);
 * ```
 */
export function trackerOf(event: Event): Tracked | undefined {
  return (event as TrackedEvent)[TRACKER];
}

/** What `hold` returns for an event without a tracker. */
const settleNothing = (): void => {};

/**
 * Keeps the trackers of `event` waiting while an actor holds it past the end
 * of `consume` (a batcher, a request still in flight). Call the returned
 * function with no argument once it is handled, or with a reason when it is
 * lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, hold, Tracker } from "./tracking.ts";
 * const tracker = new Tracker();
 * const event = attachTracker({ header: {}, data: 1 }, tracker);
 * const settle = hold(event);
 * settle(); // handled
 * assert.equal(await tracker.done, undefined); // resolves: a failure would reject
 * ```
 */
export function hold(event: Event): (failure?: string) => void {
  const tracker = trackerOf(event);
  if (tracker === undefined) return settleNothing;
  tracker.retain();
  return (failure) => {
    if (failure === undefined) tracker.release();
    else tracker.fail(failure);
  };
}

/**
 * One tracker standing for all the trackers of `events` (for an event made of
 * them), or `undefined` when none is tracked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { combineTrackers } from "./tracking.ts";
 * assert.equal(combineTrackers([{ header: {}, data: 1 }]), undefined);
 * ```
 */
export function combineTrackers(
  events: readonly Event[],
): Tracked | undefined {
  const members = new Set<Tracked>();
  for (const event of events) {
    const tracker = trackerOf(event);
    if (tracker !== undefined) members.add(tracker);
  }
  if (members.size === 0) return undefined;
  if (members.size === 1) return members.values().next().value;
  return new TrackerGroup([...members]);
}

/**
 * Fails the trackers of `events[start..end)`: they were lost (dropped by a
 * full queue, sent to a closed or unconnected queue, thrown away at a stop).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attachTracker, failTrackers, Tracker } from "./tracking.ts";
 * const tracker = new Tracker();
 * failTrackers([attachTracker({ header: {}, data: 1 }, tracker)], "dropped");
 * assert.equal(await tracker.done.catch((error) => error.message), "dropped");
 * ```
 */
export function failTrackers(
  events: readonly Event[],
  reason: string,
  start = 0,
  end: number = events.length,
): void {
  for (let i = start; i < end; i++) {
    (events[i] as TrackedEvent | undefined)?.[TRACKER]?.fail(reason);
  }
}
