/**
 * The named ends of a router: an inbound queue that no actor feeds, written
 * to from a `WritableStream`, and an outbound queue that is not connected,
 * read from a `ReadableStream` (see `Router.expose`, `Router.writable`,
 * `Router.readable` and `Router.stream`).
 *
 * Each end is a small actor of its own, registered under the address it
 * opens (`"parse.inbox"`) and connected to it, so that the graph check, the
 * start and stop order, the accounting, `/metrics` and the dashboard treat
 * it as any other actor: a {@link WritableEnd} is an input (what is written
 * counts as `created`), a {@link ReadableEnd} an output (what its consumer
 * read counts as `delivered`).
 *
 * @module
 */

import { Actor, type Context, describe, whenAborted } from "./actor.ts";
import { didYouMean } from "./errors.ts";
import { type Event, isEvent } from "./event.ts";
import { addressedActor, type ConnectionOptions } from "./graph.ts";
import { DEFAULT_CAPACITY } from "./queue.ts";
import {
  EventReadable,
  gatherThisTurn,
  LATE_WRITE,
  WrittenEvents,
} from "./stream.ts";
import { type TrackedEvent, TRACKER } from "./tracking.ts";

/**
 * Which way an external end goes: `"writable"` feeds an inbound queue,
 * `"readable"` takes what an outbound queue sends.
 *
 * @example
 * ```ts
 * import type { EndDirection } from "./router_ends.ts";
 * const direction: EndDirection = "writable";
 * ```
 */
export type EndDirection = "writable" | "readable";

/**
 * Whether `actor` is an external end of a router, and which way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { endDirection, WritableEnd } from "./router_ends.ts";
 * assert.equal(endDirection(new WritableEnd("parse.inbox", 10, false)), "writable");
 * ```
 */
export function endDirection(actor: Actor): EndDirection | undefined {
  if (actor instanceof WritableEnd) return "writable";
  if (actor instanceof ReadableEnd) return "readable";
  return undefined;
}

/**
 * The writable end of a router's inbound queue: an input whose events are
 * written to {@link WritableEnd.writable}. Writes wait until the router runs;
 * closing the writable ends the input (the pipeline then drains as when any
 * input ends). When the router stops, the writable errors: it takes no more
 * events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { Collector } from "../tests/helpers.ts";
 *
 * const router = new Router();
 * const sink = router.register(new Collector("sink"));
 * router.expose("sink.inbox");
 * await router.start();
 * await ReadableStream.from([{ header: {}, data: 1 }])
 *   .pipeTo(router.writable("sink.inbox"));
 * await router.finished;
 * assert.equal((await router.stop()).created, 1);
 * assert.deepEqual(sink.data(), [1]);
 * ```
 */
export class WritableEnd extends Actor {
  readonly kind = "input";
  /** Where events are written. */
  readonly writable: WritableStream<Event | Event[]>;
  protected override readonly implicitSend = false;
  #controller: WritableStreamDefaultController | undefined;
  #running = Promise.withResolvers<void>();
  #ended = Promise.withResolvers<void>();
  #over = false;
  #written: WrittenEvents;
  /** Told when the writable is aborted (by `Router.stream`). */
  onAbort: (reason: unknown) => void = () => {};

  /**
   * The end of inbound queue `address`, whose capacity is `capacity`;
   * `batch`: the writer writes arrays of events (see `WrittenEvents`).
   */
  constructor(address: string, capacity: number, batch: boolean) {
    super(address, {}, { inbound: [], outbound: ["outbox"] });
    this.#running.promise.catch(() => {});
    const written = new WrittenEvents(capacity, batch, (error) => {
      this.fail(error);
      this.onAbort(error);
    });
    this.#written = written;
    this.writable = new WritableStream<Event | Event[]>({
      start: (controller) => {
        this.#controller = controller;
        return this.#running.promise;
      },
      write: (chunk) => {
        written.take();
        if (Array.isArray(chunk)) return this.#sendAll(chunk);
        gatherThisTurn(this.pool.window, this.#flush);
        return this.#send(chunk);
      },
      close: () => {
        written.fail(LATE_WRITE);
        this.#end();
      },
      abort: (reason) => {
        written.fail(describe(reason));
        this.#end();
        this.onAbort(reason);
      },
    }, written.strategy);
  }

  override async produce(signal: AbortSignal): Promise<void> {
    this.#running.resolve();
    using _ = whenAborted(
      signal,
      () =>
        this.fail(
          new Error(
            `"${this.name}" takes no more events: the router is stopping`,
          ),
        ),
    );
    await this.#ended.promise;
  }

  override teardown(): void {
    this.stopped();
  }

  /** The router stopped: unless it was closed, the writable errors. */
  stopped(): void {
    this.fail(
      new Error(`"${this.name}" takes no more events: the router stopped`),
    );
  }

  /**
   * Errors the writable with `reason` (unless it is closed already) and
   * ends the input.
   */
  fail(reason: unknown): void {
    if (this.#over) return;
    this.#controller?.error(reason);
    this.#written.fail(describe(reason));
    this.#running.reject(reason);
    this.#end();
  }

  #end(): void {
    this.#over = true;
    this.#ended.resolve();
  }

  #flush = (): void => void this.outbound("outbox").flush();

  async #sendAll(events: readonly Event[]): Promise<void> {
    for (const event of events) {
      const waiting = this.#send(event);
      if (waiting !== undefined) await waiting;
    }
  }

  /**
   * Sends an event as this input's: `send` keeps its tracker waiting once
   * more, so the hold taken when it was written is let go.
   */
  #send(event: Event): Promise<void> | undefined {
    const tracker = isEvent(event)
      ? (event as TrackedEvent)[TRACKER]
      : undefined;
    const waiting = this.send(event);
    tracker?.release();
    return waiting;
  }
}

/**
 * The readable end of a router's outbound queue: an output that hands what
 * it consumes to the reader of {@link ReadableEnd.readable} (one event per
 * chunk, or arrays of events with `batch`). A batch counts as delivered, and
 * the delivery trackers of its events are released, once the reader read
 * all of it and asks for more (for `pipeTo`, once the destination is ready
 * for more). The readable closes when the end drained (the pipeline ended
 * or stopped by draining), and errors when the router stopped before that.
 *
 * Once the reader cancels the readable, the batch it was reading and what
 * the end still holds fail (counted as `failed` in the stop report, and
 * logged), and the outbound queue is disconnected: what is sent to it
 * afterwards is dropped and counted, as for a queue that is not connected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { ListInput } from "../tests/helpers.ts";
 *
 * const router = new Router();
 * router.register(new ListInput("input", [{ header: {}, data: 1 }]));
 * router.expose("input.outbox");
 * const readable = router.readable("input.outbox");
 * await router.start();
 * assert.deepEqual((await Array.fromAsync(readable)).map((event) => event.data), [1]);
 * assert.equal((await router.stop()).delivered, 1);
 * ```
 */
export class ReadableEnd extends Actor {
  readonly kind = "output";
  /** Told when the readable is cancelled (by `Router.stream`). */
  onCancel: (reason: unknown) => void = () => {};
  #reader: EventReadable | undefined;
  /** The batch offered to the reader, and how to tell it was delivered. */
  #offer: { events: Event[]; delivered: (read: boolean) => void } | undefined;
  /** The batch the reader reads now. */
  #handed: { events: Event[]; delivered: (read: boolean) => void } | undefined;
  /** A reader waiting for the next batch. */
  #waiting: ((events: Event[] | undefined) => void) | undefined;
  #batch = false;
  #drained = false;
  #gone: Error | undefined;

  #disconnect: () => Promise<void> | undefined;

  /**
   * The end of outbound queue `address`, holding `capacity` events;
   * `disconnect` lets go of the outbound queue once the reader is gone.
   */
  constructor(
    address: string,
    capacity: number,
    disconnect: () => Promise<void> | undefined = () => undefined,
  ) {
    super(address, { capacity }, { inbound: ["inbox"], outbound: [] });
    this.#disconnect = disconnect;
  }

  /**
   * The stream to read; made by the first call (`batch`: arrays of events
   * per chunk). Later calls must ask for the same kind of chunks.
   */
  readable(batch: boolean): ReadableStream<Event | Event[]> {
    if (this.#reader === undefined) {
      const reader = new EventReadable(batch, false);
      reader.next = () => this.#next();
      reader.onCancel = (reason) => {
        this.#leave(
          new Error(
            `The readable of "${this.name}" was cancelled: ${describe(reason)}`,
          ),
        );
        this.onCancel(reason);
      };
      this.#reader = reader;
      this.#batch = batch;
    } else if (this.#batch !== batch) {
      throw new TypeError(
        `The readable of "${this.name}" gives ${
          this.#batch ? "arrays of events" : "single events"
        }: ask for it with batch: ${this.#batch}`,
      );
    }
    return this.#reader.stream;
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    if (this.#gone === undefined) {
      const { promise, resolve } = Promise.withResolvers<boolean>();
      const offer = { events, delivered: resolve };
      this.#offer = offer;
      this.#handOver();
      let read: boolean;
      {
        using _ = whenAborted(context.signal, () => {
          if (this.#offer === offer) this.#offer = undefined;
          resolve(false);
        });
        read = await promise;
      }
      if (read || context.signal.aborted) return;
    }
    const error = this.#gone ??
      new Error(`"${this.name}" was stopped before its reader took the events`);
    for (const event of events) context.fail(event, error);
  }

  override drained(): void {
    this.#drained = true;
    this.#handOver();
  }

  override teardown(): void {
    this.stopped();
  }

  /** The router stopped: unless it drained, the readable errors. */
  stopped(): void {
    if (this.#drained) return;
    this.fail(
      new Error(`The router stopped before "${this.name}" drained`),
    );
  }

  /** Errors the readable with `reason`; what reaches the end then fails. */
  fail(reason: unknown): void {
    this.#reader?.error(reason);
    this.#leave(
      new Error(`The readable of "${this.name}" failed: ${describe(reason)}`),
    );
  }

  /** No reader any more: what the end holds fails, what comes is dropped. */
  #leave(error: Error): void {
    if (this.#gone !== undefined) return;
    this.#gone = error;
    this.#settle(false);
    // Once nothing more can reach the inbox, the end drains what it holds.
    const inbox = this.pool.inbound.get("inbox")!;
    const disconnecting = this.#disconnect();
    if (disconnecting === undefined) inbox.close();
    else void disconnecting.finally(() => inbox.close());
  }

  /** The reader asks for more: what it read before was delivered. */
  #next(): Promise<Event[] | undefined> {
    this.#settleHanded(true);
    const { promise, resolve } = Promise.withResolvers<Event[] | undefined>();
    this.#waiting = resolve;
    this.#handOver();
    return promise;
  }

  #handOver(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    const offer = this.#offer;
    if (offer !== undefined) {
      this.#waiting = undefined;
      this.#offer = undefined;
      this.#handed = offer;
      waiting(offer.events);
    } else if (this.#drained) {
      this.#waiting = undefined;
      waiting(undefined);
    }
  }

  #settleHanded(read: boolean): void {
    const handed = this.#handed;
    this.#handed = undefined;
    handed?.delivered(read);
  }

  #settle(read: boolean): void {
    this.#settleHanded(read);
    const offer = this.#offer;
    this.#offer = undefined;
    offer?.delivered(read);
  }
}

/**
 * How an external end is made (`Router.expose`): the settings of its
 * connection, and whether its side works in arrays of events.
 *
 * @example
 * ```ts
 * import type { EndOptions } from "./router_ends.ts";
 * const options: EndOptions = { capacity: 5000, batch: true };
 * ```
 */
export interface EndOptions extends ConnectionOptions {
  /**
   * Whether chunks are arrays of events (default `false`): a readable end
   * then gives arrays of up to 512 events, and a writable end lets
   * `capacity` events wait in its queue instead of 16 single events (it
   * takes both kinds of chunk either way).
   */
  batch?: boolean;
}

/**
 * Makes the external end of `address` in a router whose actors are
 * `actors`: a {@link WritableEnd} for an inbound queue, a
 * {@link ReadableEnd} for an outbound queue. Its capacity is that of the
 * connection (default: the inbound queue's, or 1000). Throws a `TypeError`
 * naming the address when it names no queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Collector } from "../tests/helpers.ts";
 * import { makeEnd } from "./router_ends.ts";
 * const actors = new Map([["sink", new Collector("sink")]]);
 * assert.equal(makeEnd(actors, "sink.inbox").name, "sink.inbox");
 * ```
 */
export function makeEnd(
  actors: ReadonlyMap<string, Actor>,
  address: string,
  options: EndOptions = {},
): WritableEnd | ReadableEnd {
  const capacity = options.capacity;
  const [actor, queue] = addressedActor(actors, address, "expose", TypeError);
  const name = actor.name;
  const pool = actor.pool;
  const inbound = pool.inbound.has(queue) ||
    (!pool.outbound.has(queue) && pool.names.anyInbound);
  const outbound = pool.outbound.has(queue) ||
    (!pool.inbound.has(queue) && pool.names.anyOutbound);
  if (inbound && !outbound) {
    return new WritableEnd(
      address,
      capacity ?? pool.inbound.get(queue)?.capacity ?? DEFAULT_CAPACITY,
      options.batch === true,
    );
  }
  if (outbound && !inbound) {
    return new ReadableEnd(
      address,
      capacity ?? DEFAULT_CAPACITY,
      () => pool.outbound.get(queue)?.disconnect(),
    );
  }
  const known = [...pool.inbound.keys(), ...pool.outbound.keys()];
  throw new TypeError(
    inbound
      ? `Cannot expose "${address}": "${queue}" of actor "${name}" could be an inbound or an outbound queue`
      : `Cannot expose "${address}": actor "${name}" has no queue "${queue}"${
        didYouMean(queue, known)
      }`,
  );
}
