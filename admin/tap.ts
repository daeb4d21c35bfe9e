/**
 * Taps: a sample of the events passing one queue, as a stream of
 * server-sent events, that never slows or blocks the pipeline.
 *
 * @module
 */

import { errorMessage } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import type { Queue } from "../core/queue.ts";
import type { Router } from "../core/router.ts";
import { didYouMean } from "../core/errors.ts";
import { addressedActor } from "../core/graph.ts";

/** Settings of one tap. */
export interface TapOptions {
  /** Stop after this many events (default: no end). */
  limit?: number;
  /** Most events taken per second (default 100). */
  rate?: number;
  /** Most events held for a slow listener before dropping (default 256). */
  buffer?: number;
}

/** Events of a tap that is larger than this are sent with their data cut. */
const MAX_EVENT_CHARS = 65_536;

/**
 * The inbound {@link Queue} behind `address`: `b.inbox` names an inbound
 * queue; `a.outbox` names an outbound queue, whose events pass through the
 * inbound queue it is connected to. Throws a `RangeError` saying what is
 * wrong otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { resolveTapQueue } from "./tap.ts";
 * const router = new Router();
 * try {
 *   resolveTapQueue(router, "a.outbox");
 * } catch (error) {
 *   assert.equal((error as Error).message, 'Cannot tap "a.outbox": actor "a" is not registered');
 * }
 * await router.stop();
 * ```
 */
export function resolveTapQueue(router: Router, address: string): Queue {
  const [actor, queueName] = addressedActor(
    new Map(router.actors().map((actor) => [actor.name, actor])),
    address,
    "tap",
    RangeError,
  );
  const name = actor.name;
  const inbound = actor.pool.inbound.get(queueName);
  if (inbound !== undefined) return inbound;
  const outbound = actor.pool.outbound.get(queueName);
  if (outbound !== undefined) {
    if (outbound.target === null) {
      throw new RangeError(
        `Cannot tap "${address}": it is not connected, so no event passes it`,
      );
    }
    return outbound.target;
  }
  throw new RangeError(
    `Cannot tap "${address}": actor "${name}" has no queue "${queueName}"${
      didYouMean(queueName, [
        ...actor.pool.inbound.keys(),
        ...actor.pool.outbound.keys(),
      ])
    }`,
  );
}

/**
 * An event as one line of JSON: values JSON cannot hold are written as text
 * (a BigInt as its digits, an Error as its name and message, a cycle as
 * `"[cycle]"`), and data too large is replaced by a note.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventJson } from "./tap.ts";
 * assert.equal(eventJson({ header: { n: 1n }, data: "x" }), '{"header":{"n":"1"},"data":"x"}');
 * ```
 */
export function eventJson(event: Event): string {
  let text: string;
  try {
    text = toJson(event, false);
  } catch {
    try {
      text = toJson(event, true);
    } catch (error) {
      text = JSON.stringify({
        header: {},
        data: `[cannot be written as JSON: ${errorMessage(error)}]`,
      });
    }
  }
  if (text.length <= MAX_EVENT_CHARS) return text;
  let header: string;
  try {
    header = toJson(event.header, true);
  } catch {
    header = "{}";
  }
  if (header.length > MAX_EVENT_CHARS / 2) header = "{}";
  return `{"header":${header},"data":${
    JSON.stringify(`[${text.length} characters, not shown]`)
  }}`;
}

/**
 * `value` (an event: its header and data only) as JSON; with `cycles`, an
 * object met again is written `"[cycle]"` (after a first try without, since
 * that also catches an object merely met twice).
 */
function toJson(
  value: Event | Record<string, unknown>,
  cycles: boolean,
): string {
  const body = "header" in value && "data" in value
    ? { header: value.header, data: value.data }
    : value;
  return JSON.stringify(body, cycles ? cycleMarker() : jsonValue) ?? "null";
}

/** The replacer of {@link toJson}: bigints as text, errors as name and message. */
function jsonValue(_key: string, item: unknown): unknown {
  if (typeof item === "bigint") return item.toString();
  if (item instanceof Error) return { name: item.name, message: item.message };
  return item;
}

/** {@link jsonValue}, writing an object met again as `"[cycle]"`. */
function cycleMarker(): (key: string, item: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (key, item) => {
    if (typeof item !== "object" || item === null || item instanceof Error) {
      return jsonValue(key, item);
    }
    if (seen.has(item)) return "[cycle]";
    seen.add(item);
    return item;
  };
}

const encoder = new TextEncoder();

/**
 * One listener of one queue: observes the queue's batches, keeps a sample of
 * them (at most `rate` per second) in a bounded buffer and streams them as
 * server-sent events. When the listener reads slower than events come, what
 * does not fit in the buffer is dropped and counted: the pipeline never
 * waits. It stops observing once `limit` events were sent, or when the
 * stream is cancelled (the client went away) or closed.
 *
 * The stream starts with `event: open` (`{"queue", "rate", "limit"}`), then
 * sends each event as a message with an `id`, and `event: dropped`
 * (`{"dropped"}`, the total so far) before the next message whenever events
 * were dropped since.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue } from "../core/queue.ts";
 * import { Tap } from "./tap.ts";
 * const queue = new Queue("b.inbox");
 * const tap = new Tap(queue, "b.inbox", { limit: 1 });
 * const reader = tap.readable.getReader();
 * await queue.writable.getWriter().write([{ header: {}, data: 1 }]);
 * await queue.readable.getReader().read();
 * const text = new TextDecoder();
 * assert.match(text.decode((await reader.read()).value), /^event: open\n/);
 * assert.equal(text.decode((await reader.read()).value), 'id: 1\ndata: {"header":{},"data":1}\n\n');
 * ```
 */
export class Tap {
  /** The server-sent events. */
  readonly readable: ReadableStream<Uint8Array>;
  /** The address the listener asked for. */
  readonly address: string;
  #limit: number;
  #rate: number;
  #capacity: number;
  #buffer: string[] = [];
  #sent = 0;
  #taken = 0;
  #dropped = 0;
  #droppedSent = 0;
  #tokens: number;
  #refilled = performance.now();
  #unobserve: (() => void) | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #onEnd: (() => void) | undefined;

  /**
   * Starts observing `queue`; `address` is what the listener asked for;
   * `onEnd` is called once the stream has ended (closed, cancelled by the
   * listener, or done after `limit` events).
   */
  constructor(
    queue: Queue,
    address: string,
    options: TapOptions = {},
    onEnd?: () => void,
  ) {
    this.address = address;
    this.#limit = options.limit ?? Infinity;
    this.#rate = options.rate ?? 100;
    this.#capacity = options.buffer ?? 256;
    this.#tokens = this.#rate;
    this.#onEnd = onEnd;
    const opening = `event: open\ndata: ${
      JSON.stringify({
        queue: queue.name,
        rate: this.#rate,
        limit: this.#limit === Infinity ? null : this.#limit,
      })
    }\n\n`;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        controller.enqueue(encoder.encode(opening));
      },
      pull: () => this.#pull(),
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
    this.#unobserve = queue.observe(this.#observe);
  }

  /** Events dropped so far because the listener was slow. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events sent so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Whether it still observes its queue. */
  get observing(): boolean {
    return this.#unobserve !== undefined;
  }

  /** Stops observing and ends the stream (what is buffered is not sent). */
  close(): void {
    this.#stopObserving();
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer = [];
    try {
      this.#controller?.close();
    } catch {
      // Already cancelled by the reader.
    }
    this.#wakeNow();
    this.#onEnd?.();
  }

  #observe = (events: readonly Event[]): void => {
    const now = performance.now();
    this.#tokens = Math.min(
      this.#rate,
      this.#tokens + (now - this.#refilled) / 1000 * this.#rate,
    );
    this.#refilled = now;
    const room = this.#limit - this.#taken;
    let take = Math.min(events.length, Math.floor(this.#tokens), room);
    if (take <= 0) return;
    this.#tokens -= take;
    const free = this.#capacity - this.#buffer.length;
    if (take > free) {
      this.#dropped += take - free;
      take = free;
    }
    for (let i = 0; i < take; i++) this.#buffer.push(eventJson(events[i]!));
    this.#taken += take;
    if (this.#taken >= this.#limit) this.#stopObserving();
    if (take > 0) this.#wakeNow();
  };

  #pull(): Promise<void> | void {
    if (this.#closed) return;
    const controller = this.#controller!;
    if (this.#buffer.length > 0) {
      let text = "";
      if (this.#dropped > this.#droppedSent) {
        this.#droppedSent = this.#dropped;
        text += `event: dropped\ndata: {"dropped":${this.#dropped}}\n\n`;
      }
      for (const json of this.#buffer) {
        text += `id: ${++this.#sent}\ndata: ${json}\n\n`;
      }
      this.#buffer = [];
      controller.enqueue(encoder.encode(text));
      if (this.#sent >= this.#limit) this.close();
      return;
    }
    return new Promise<void>((resolve) => this.#wake = resolve).then(() =>
      this.#pull()
    );
  }

  #wakeNow(): void {
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake();
    }
  }

  #stopObserving(): void {
    const unobserve = this.#unobserve;
    if (unobserve === undefined) return;
    this.#unobserve = undefined;
    unobserve();
  }
}
