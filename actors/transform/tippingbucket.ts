/**
 * `tippingbucket`: gathers events and sends them on as one batch event, by
 * count, by age or by size.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, describe } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  attachTracker,
  combineTrackers,
  hold,
  trackerOf,
} from "../../core/tracking.ts";
import { utf8Length } from "../payload.ts";

/** Options of the `tippingbucket` actor. */
export const TippingBucketOptions = z.strictObject({
  count: z.number().int().min(1).default(100).describe(
    "Send the batch once it holds this many events.",
  ),
  max_age: z.number().positive().optional().describe(
    "Send the batch this many seconds after its first event arrived, however few it holds.",
  ),
  bytes: z.number().int().min(1).optional().describe(
    "Send the batch once the JSON of its data is at least this many bytes (UTF-8).",
  ),
  keep_events: z.boolean().default(false).describe(
    "Make the batch's data the events themselves ({ header, data }) instead of their data.",
  ),
});

/** Parsed options of the `tippingbucket` actor. */
export type TippingBucketOptions = z.infer<typeof TippingBucketOptions>;

/** What a batch event carries under `header[<actor name>]`. */
export interface BatchHeader {
  /** How many events the batch holds. */
  count: number;
  /** When the first event of the batch arrived, ISO 8601. */
  first: string;
  /** When the last event of the batch arrived, ISO 8601. */
  last: string;
}

/**
 * Holds events and sends them on as one event whose data is the array of
 * their data (or of the events, with `keep_events`), in arrival order, and
 * whose header is `{ <actor name>: { count, first, last } }`. A batch leaves
 * when it holds `count` events, when its first event is `max_age` seconds
 * old, when the JSON of its data reaches `bytes`, and when the pipeline
 * stops (nothing held is lost on a drain).
 *
 * Delivery tracking: the events held keep their trackers open, and the batch
 * carries them all, so an input's message is acknowledged once the batch
 * holding it was handled downstream, and fails when the batch is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { tippingBucket } from "./tippingbucket.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 25 });
 * router.register(tippingBucket, "batch", { count: 10, max_age: 1 });
 * router.connect("input.outbox", "batch.inbox");
 * const batches = router.readable("batch.outbox");
 * await router.start();
 * const events = await Array.fromAsync(batches);
 * await router.stop();
 * assert.deepEqual(events.map((event) => (event.data as unknown[]).length), [10, 10, 5]);
 * ```
 */
export const tippingBucket: ActorSpec<TippingBucketOptions> = {
  type: "tippingbucket",
  kind: "transform",
  summary:
    "Gathers events into one batch event, sent by count, by age or by size.",
  options: TippingBucketOptions,
  example: { count: 100, max_age: 1, bytes: 65536, keep_events: false },
  create: (name, options, settings) =>
    new TippingBucket(name, options, settings),
};

/** The `tippingbucket` transform actor. */
export class TippingBucket extends Actor {
  readonly kind = "transform";
  #count: number;
  #maxAgeMs: number | undefined;
  #bytes: number | undefined;
  #keepEvents: boolean;
  /** The events held, in arrival order. */
  #held: Event[] = [];
  /** What settles the trackers of the tracked events held (see `hold`). */
  #settles: ((failure?: string) => void)[] = [];
  /** The JSON size of the batch's data so far, when `bytes` is set. */
  #size = 0;
  #first = 0;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** A batch sent by the timer that is still waiting for room. */
  #sending: Promise<void> | undefined;

  /** Makes a tipping bucket; see {@link TippingBucketOptions}. */
  constructor(
    name: string,
    options: Partial<TippingBucketOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const parsed = TippingBucketOptions.parse(options);
    this.#count = parsed.count;
    this.#maxAgeMs = parsed.max_age === undefined
      ? undefined
      : parsed.max_age * 1000;
    this.#bytes = parsed.bytes;
    this.#keepEvents = parsed.keep_events;
  }

  override consume(event: Event): Promise<void> | undefined {
    if (this.#sending !== undefined) {
      return this.#sending.then(() => this.consume(event));
    }
    const item = this.#keepEvents ? event : event.data;
    // Measure first: a value JSON cannot hold fails this event alone.
    const size = this.#bytes === undefined ? 0 : jsonBytes(item);
    const held = this.#held.push(event);
    if (trackerOf(event) !== undefined) this.#settles.push(hold(event));
    this.#last = Date.now();
    if (held === 1) {
      this.#first = this.#last;
      if (this.#maxAgeMs !== undefined) {
        this.#timer = setTimeout(this.#onTimer, this.#maxAgeMs);
      }
    }
    if (this.#bytes !== undefined) {
      // The batch's JSON: "[" item ("," item)* "]".
      this.#size += size + (held === 1 ? 2 : 1);
      if (this.#size >= this.#bytes) return this.#flush();
    }
    if (held >= this.#count) return this.#flush();
    return undefined;
  }

  override async drained(): Promise<void> {
    if (this.#sending !== undefined) await this.#sending;
    const sending = this.#flush();
    if (sending !== undefined) await sending;
  }

  /**
   * Clears the age timer; events still held (a stop that gave up before the
   * flush) are lost: their trackers fail.
   */
  override teardown(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held.length > 0) {
      const failure =
        `Actor "${this.name}" stopped holding ${this.#held.length} event(s)`;
      this.#held = [];
      this.#settle(failure);
    }
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    const sending = this.#flush();
    if (sending !== undefined) {
      const done = sending.finally(() => {
        if (this.#sending === done) this.#sending = undefined;
      });
      this.#sending = done;
    }
  };

  /**
   * The one place where held events leave: empties the bucket, stops its
   * timer and sends the batch made of them, carrying the trackers of every
   * held event; once the batch is in the outbound queue (where it holds the
   * trackers itself), the events let go of theirs.
   */
  #flush(): Promise<void> | undefined {
    const events = this.#held;
    if (events.length === 0) return undefined;
    this.#held = [];
    this.#size = 0;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const data = this.#keepEvents ? events : events.map((event) => event.data);
    const batch: BatchHeader = {
      count: events.length,
      first: new Date(this.#first).toISOString(),
      last: new Date(this.#last).toISOString(),
    };
    const event: Event = { header: { [this.name]: batch }, data };
    if (this.#settles.length === 0) return this.send(event);
    const tracker = combineTrackers(events);
    if (tracker !== undefined) attachTracker(event, tracker);
    let sending: Promise<void> | undefined;
    try {
      sending = this.send(event);
    } catch (error) {
      this.#settle(describe(error));
      throw error;
    }
    this.#settle();
    return sending;
  }

  /** Settles the trackers of the events that were held, as `hold` says. */
  #settle(failure?: string): void {
    const settles = this.#settles;
    this.#settles = [];
    for (const settle of settles) settle(failure);
  }
}

/**
 * The UTF-8 length of `value`'s JSON (`null`, 4 bytes, for what JSON leaves
 * out of an array); a `TypeError` for what JSON cannot hold.
 */
function jsonBytes(value: unknown): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(
      `Cannot measure the event as JSON: ${(error as Error).message}`,
    );
  }
  return text === undefined ? 4 : utf8Length(text);
}
