/**
 * The actor base class: an isolated unit of work that consumes events from
 * its inbound queues and sends events to its outbound queues.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { Event } from "./event.ts";
import { type Logger, scopedLogger } from "./log.ts";
import { Histogram, type HistogramFigures } from "./metrics.ts";
import {
  failTrackers,
  type Tracked,
  type TrackedEvent,
  TRACKER,
} from "./tracking.ts";
import {
  type OutboundQueue,
  type Queue,
  type QueueNames,
  QueuePool,
  queueSettings,
  type WhenFull,
} from "./queue.ts";

/**
 * What an actor does in a pipeline.
 *
 * @example
 * ```ts
 * import { Actor, type ActorKind } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind: ActorKind = "output";
 *   override consume(_event: Event): void {}
 * }
 * new Sink("sink").kind; // "output"
 * ```
 */
export type ActorKind =
  | "input"
  | "output"
  | "flow"
  | "transform"
  | "log"
  | "metric";

/**
 * Retry a failed `consume` before the event goes to the `error` queue.
 *
 * @example
 * ```ts
 * import type { RetryOptions } from "./actor.ts";
 * // Up to 3 more attempts, after 50, 100 and 200 ms.
 * const retry: RetryOptions = { max: 3, backoffMs: 50 };
 * ```
 */
export interface RetryOptions {
  /** Extra attempts after the first failure. */
  max: number;
  /** Wait before the first retry; doubled before each next one. */
  backoffMs: number;
}

/**
 * Settings every actor takes besides its own options.
 *
 * @example
 * ```ts
 * import type { ActorSettings } from "./actor.ts";
 * const settings: ActorSettings = {
 *   capacity: 100,
 *   whenFull: "drop_oldest",
 *   retry: { max: 2, backoffMs: 10 },
 * };
 * ```
 */
export interface ActorSettings {
  /** Capacity of each inbound queue, in events (default 1000). */
  capacity?: number;
  /** Policy of each inbound queue when full (default `"block"`). */
  whenFull?: WhenFull;
  /** Retries of a failed `consume`. */
  retry?: RetryOptions;
}

/**
 * The header value an actor sets on an event whose `consume` failed. `queue`
 * is `""` for an error event made by an input. Actors may add details (an
 * HTTP status, say).
 *
 * @example
 * ```ts
 * import type { EventError } from "./actor.ts";
 * const error: EventError = {
 *   actor: "parse",
 *   queue: "inbox",
 *   name: "SyntaxError",
 *   message: "Unexpected token",
 *   time: new Date().toISOString(),
 * };
 * ```
 */
export interface EventError {
  /** The actor whose `consume` failed. */
  actor: string;
  /** The inbound queue the event came from (`""` for an input). */
  queue: string;
  /** The error's name, e.g. `"TypeError"`. */
  name: string;
  /** The error's message. */
  message: string;
  /** When it failed, as an ISO 8601 date. */
  time: string;
  /** Details the actor adds. */
  [detail: string]: unknown;
}

/**
 * Per-actor counters.
 *
 * @example
 * ```ts
 * import { Actor, type ActorFigures } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind = "output";
 *   override consume(_event: Event): void {}
 * }
 * const figures: ActorFigures = new Sink("sink").figures();
 * figures.consumed_total; // 0
 * ```
 */
export interface ActorFigures {
  /** Events whose `consume` succeeded. */
  consumed_total: number;
  /** Events whose `consume` failed after all retries. */
  failed_total: number;
}

/**
 * How an actor logs (its `log`): one method per level. `message` may name
 * values of `properties` in braces, `"Sent {count} events"`, which are filled
 * in; the other properties travel with the record as structured values. The
 * records reach the router's log actor, or stderr when there is none.
 *
 * @example
 * ```ts
 * import { Actor, type ActorLog } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind = "output";
 *   override consume(event: Event): void {
 *     const log: ActorLog = this.log;
 *     log.debug("Got {data}", { data: event.data });
 *   }
 * }
 * new Sink("sink").kind; // "output"
 * ```
 */
export interface ActorLog {
  /** Logs at `"trace"` level. */
  trace(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"debug"` level. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"info"` level. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"warning"` level (the same as `warning`). */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"warning"` level. */
  warning(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"error"` level. */
  error(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `"fatal"` level. */
  fatal(message: string, properties?: Record<string, unknown>): void;
}

/**
 * Attaches an actor to a router's log scope. Not part of the public API.
 * @internal
 */
export const ATTACH_LOGS: unique symbol = Symbol("compysition.attachLogs");

/**
 * The base of every actor. Subclasses implement `consume(event, queue)` (or
 * `consumeBatch`) to handle events and, for inputs, `produce(signal)` to
 * create them; both send with `send(event, queue)`.
 *
 * When `consume` throws or rejects, the event is retried as `settings.retry`
 * says, then sent to the `error` queue with `header.error` set; when `error`
 * is not connected the failure is logged at error level. Either way it is
 * counted in `failed_total` and the actor goes on.
 *
 * @example
 * ```ts
 * import { Actor, type Event } from "../mod.ts";
 *
 * class Upper extends Actor {
 *   readonly kind = "transform";
 *   override consume(event: Event): Promise<void> | undefined {
 *     event.data = String(event.data).toUpperCase();
 *     return this.send(event);
 *   }
 * }
 * const upper = new Upper("upper");
 * upper.pool.inbound.has("inbox"); // true
 * ```
 */
export abstract class Actor {
  /** The actor's unique name in its router. */
  readonly name: string;
  /** The actor's queues. */
  readonly pool: QueuePool;
  /** What the actor does; decides start and stop order. */
  abstract readonly kind: ActorKind;

  #log: Logger;
  #retry: RetryOptions | undefined;
  #outbox: OutboundQueue | undefined;
  #consumed = 0;
  #failed = 0;
  #readers = new Set<ReadableStreamDefaultReader<Event[]>>();
  #abort = new AbortController();
  #sentAfterClose = new Set<string>();
  #consumeSeconds = new Histogram();
  /** Batches being consumed, from the first event not finished yet. */
  #inHand = new Set<InHand>();
  /** The tracker of the event being consumed, inherited by what it sends. */
  #current: Tracked | undefined;

  /**
   * Makes an actor named `name` with its queues.
   *
   * @param name unique name in the router
   * @param settings queue capacity and policy, retries
   * @param queues the inbound and outbound queue names; defaults are
   * `inbox` in, `outbox` and `error` out
   */
  constructor(
    name: string,
    settings: ActorSettings = {},
    queues: Partial<QueueNames> = {},
  ) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError("An actor needs a non-empty name");
    }
    this.name = name;
    this.#log = scopedLogger("-", name);
    this.#retry = settings.retry;
    const queueOptions = {
      ...queueSettings(settings),
      onDiscard: (
        value: unknown,
        reason: string,
        queue: string,
        source: string | undefined,
      ) =>
        this.#log.warn(
          source === undefined
            ? 'Discarded a value that is not an event in "{queue}": {reason}'
            : 'Discarded a value that is not an event sent by "{source}" to "{queue}": {reason}',
          { queue, source, reason, value: preview(value) },
        ),
    };
    this.pool = new QueuePool(
      name,
      {
        inbound: queues.inbound ?? ["inbox"],
        outbound: queues.outbound ?? ["outbox", "error"],
        anyInbound: queues.anyInbound ?? false,
        anyOutbound: queues.anyOutbound ?? false,
        optional: queues.optional ?? [],
      },
      queueOptions,
      (queue, count, reason) => this.#dropped(queue, count, reason),
    );
    this.#outbox = this.pool.outbound.get("outbox");
  }

  /**
   * The actor's logger (logtape category `compysition.<router>.<actor>`).
   */
  protected get log(): ActorLog {
    return this.#log;
  }

  /** @internal Moves the actor's logs into a router's scope. */
  [ATTACH_LOGS](scope: string): void {
    this.#log = scopedLogger(scope, this.name);
  }

  /** The actor's counters. */
  figures(): ActorFigures {
    return { consumed_total: this.#consumed, failed_total: this.#failed };
  }

  /** Time spent in `consume` per event, in seconds, as a histogram. */
  consumeSeconds(): HistogramFigures {
    return this.#consumeSeconds.figures();
  }

  /**
   * Whether the actor can do its work now (e.g. its connection is up); shown
   * by the admin server's `/ready`. The default is always ready.
   */
  health(): { ready: boolean; reason?: string } {
    return { ready: true };
  }

  /** Prepares resources before the pipeline starts (open files, sockets). */
  setup(): void | Promise<void> {}

  /** Releases resources after the pipeline drained. */
  teardown(): void | Promise<void> {}

  /**
   * Called once every inbound queue is closed and empty, before the outbound
   * queues close: the place to flush what an actor still holds. Not called
   * for inputs (actors with `produce`): their outbound queues close when
   * `produce` returns, so they flush there.
   */
  drained(): void | Promise<void> {}

  /**
   * Handles one event that arrived on inbound queue `queue`. Return the
   * promise of `send` (or your own) so that back-pressure and failures are
   * seen.
   */
  consume(_event: Event, queue: string): void | Promise<void> {
    throw new TypeError(
      `Actor "${this.name}" does not consume events (queue "${queue}")`,
    );
  }

  /**
   * Opt-in: handles a whole batch of events from `queue` at once instead of
   * `consume`. When it throws, each event of the batch is treated as failed;
   * to fail single events and keep the rest, call `fail` for each of them.
   * Events sent from here do not inherit delivery trackers: attach
   * `combineTrackers(events)` yourself when a sent event derives from some.
   */
  consumeBatch?(events: Event[], queue: string): void | Promise<void>;

  /**
   * Inputs implement this: create events with `send` until `signal` aborts
   * (the router is stopping) or there is nothing more to produce.
   */
  produce?(signal: AbortSignal): Promise<void>;

  /**
   * Sends `event` to outbound queue `queue` (default `outbox`). Returns a
   * promise when the caller must wait (a full batch is being written to the
   * connected queue, which may be full): await it.
   *
   * An event sent while a tracked event is consumed inherits its delivery
   * tracker (see `core/tracking.ts`); in an actor with several inbound queues
   * and an asynchronous `consume`, send before the first `await` or attach
   * the tracker yourself.
   */
  send(event: Event, queue = "outbox"): Promise<void> | undefined {
    const outbound = (queue === "outbox" ? this.#outbox : undefined) ??
      this.pool.outbound.get(queue);
    if (outbound === undefined) {
      throw new TypeError(
        `Actor "${this.name}" has no outbound queue "${queue}"`,
      );
    }
    return this.sendTo(outbound, event);
  }

  /**
   * Sends `event` to `outbound`, one of this actor's outbound queues, as
   * `send` does once it found the queue by name. For actors that send many
   * events to queues they look up once, e.g. a flow actor's branches
   * (`this.pool.addOutbound(name)` returns the queue).
   */
  protected sendTo(
    outbound: OutboundQueue,
    event: Event,
  ): Promise<void> | undefined {
    // `event` may be anything here: the queue discards what is not an event.
    const tracker = (event as TrackedEvent | null)?.[TRACKER];
    if (tracker !== undefined) {
      tracker.retain();
    } else if (
      this.#current !== undefined && typeof event === "object" && event !== null
    ) {
      (event as TrackedEvent)[TRACKER] = this.#current;
      this.#current.retain();
    }
    return outbound.push(event);
  }

  /**
   * Runs the actor until it is finished: consumes every inbound queue until it
   * closes, runs `produce` until it returns, then closes the outbound queues.
   * The router calls this after `setup()`; `signal` aborts when it stops.
   */
  async run(signal: AbortSignal): Promise<void> {
    const consuming = [...this.pool.inbound].map(([name, queue]) =>
      this.#consumeQueue(name, queue)
    );
    if (this.produce !== undefined) {
      try {
        await this.produce(signal);
      } catch (error) {
        this.#log.error("Stopped producing after an error: {error}", {
          error: describe(error),
        });
      }
      await this.#closeOutbound();
      await Promise.all(consuming);
    } else {
      await Promise.all(consuming);
      if (!this.#abort.signal.aborted) {
        try {
          await this.drained();
        } catch (error) {
          this.#log.error("Failed to flush on drain: {error}", {
            error: describe(error),
          });
        }
      }
      await this.#closeOutbound();
    }
  }

  /**
   * Stops at once: stops reading the inbound queues and throws away what they
   * hold. Used when a stop times out.
   */
  abort(): void {
    this.#abort.abort();
    for (const reader of this.#readers) reader.cancel().catch(() => {});
    for (const { batch, from } of this.#inHand) {
      failTrackers(
        batch,
        `Actor "${this.name}" stopped before it finished the event`,
        from,
      );
    }
  }

  async #consumeQueue(name: string, queue: Queue): Promise<void> {
    const reader = queue.readable.getReader();
    this.#readers.add(reader);
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        const started = performance.now();
        if (this.consumeBatch === undefined) {
          await this.#consumeEach(next.value, name, queue);
        } else {
          await this.#consumeAll(next.value, name, queue);
        }
        this.#consumeSeconds.observe(
          (performance.now() - started) / 1000 / next.value.length,
          next.value.length,
        );
        await this.#flushOutbound();
      }
    } finally {
      this.#readers.delete(reader);
      reader.releaseLock();
    }
  }

  /**
   * Consumes a batch one event at a time. Before waiting on an event, the
   * events finished so far are settled in `inbound`, so that a stop that
   * times out counts exactly the events not consumed.
   */
  async #consumeEach(
    batch: Event[],
    queue: string,
    inbound: Queue,
  ): Promise<void> {
    const hand: InHand = { batch, from: 0 };
    this.#inHand.add(hand);
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i]!;
      const tracker = (event as TrackedEvent)[TRACKER];
      this.#current = tracker;
      try {
        const result = this.consume(event, queue);
        if (result !== undefined) {
          settleBefore(inbound, hand, i);
          await result;
        }
        this.#consumed++;
      } catch (error) {
        settleBefore(inbound, hand, i);
        await this.#recover(event, queue, error);
      }
      if (tracker !== undefined) tracker.release();
    }
    this.#current = undefined;
    this.#inHand.delete(hand);
    inbound.settle(batch.length - hand.from);
  }

  async #consumeAll(
    batch: Event[],
    queue: string,
    inbound: Queue,
  ): Promise<void> {
    const failedBefore = this.#failed;
    const hand: InHand = { batch, from: 0 };
    this.#inHand.add(hand);
    try {
      await this.consumeBatch!(batch, queue);
      this.#consumed += batch.length - (this.#failed - failedBefore);
    } catch (error) {
      for (const event of batch) await this.fail(event, queue, error);
    }
    this.#inHand.delete(hand);
    for (const event of batch) (event as TrackedEvent)[TRACKER]?.release();
    inbound.settle(batch.length);
  }

  /** Retries a failed event as configured, then fails it. */
  async #recover(event: Event, queue: string, error: unknown): Promise<void> {
    const retry = this.#retry;
    if (retry !== undefined) {
      for (let attempt = 1; attempt <= retry.max; attempt++) {
        const waited = await sleep(
          retry.backoffMs * 2 ** (attempt - 1),
          this.#abort.signal,
        );
        if (!waited) break;
        try {
          await this.consume(event, queue);
          this.#consumed++;
          return;
        } catch (again) {
          error = again;
        }
      }
    }
    await this.fail(event, queue, error);
  }

  /**
   * Fails one event as the core does when `consume` throws: counts it in
   * `failed_total`, sets `header.error` (with `details` merged in) and sends
   * it to the `error` queue, or logs it at error level when `error` is not
   * connected (failing its delivery tracker). For actors that consume in
   * batches or finish events after `consume` returned: pass
   * `{ afterConsume: true }` for an event whose `consume` had already
   * returned, so that it stops counting as consumed.
   */
  protected async fail(
    event: Event,
    queue: string,
    error: unknown,
    details: Record<string, unknown> = {},
    options: { afterConsume?: boolean } = {},
  ): Promise<void> {
    this.#failed++;
    this.pool.inbound.get(queue)?.countFailed();
    if (options.afterConsume === true) this.#consumed--;
    const failure: EventError = {
      actor: this.name,
      queue,
      name: error instanceof Error ? error.name : "Error",
      message: errorMessage(error),
      time: new Date().toISOString(),
      ...details,
    };
    event.header.error = failure;
    const errors = this.pool.outbound.get("error");
    const tracker = (event as TrackedEvent)[TRACKER];
    if (errors?.target != null && !errors.closed) {
      tracker?.retain();
      const waiting = errors.push(event);
      if (waiting !== undefined) await waiting;
      return;
    }
    tracker?.fail(`${failure.name}: ${failure.message}`);
    this.#log.error(
      'Failed to consume an event from "{queue}": {name}: {message}',
      {
        queue: `${this.name}.${queue}`,
        name: failure.name,
        message: failure.message,
      },
    );
  }

  /**
   * Fails each `[event, error]` pair of `failed` in turn as `fail` does (no
   * details); does nothing when `failed` is `undefined`. For outputs that
   * learn which events of a batch failed.
   */
  protected async failEach(
    failed: Iterable<readonly [Event, unknown]> | undefined,
    queue: string,
  ): Promise<void> {
    if (failed === undefined) return;
    for (const [event, error] of failed) await this.fail(event, queue, error);
  }

  #dropped(queue: string, count: number, reason: string): void {
    // Unconnected queues are reported once by the router at start.
    if (reason === "not connected") return;
    if (reason === "closed") {
      if (this.#sentAfterClose.has(queue)) return;
      this.#sentAfterClose.add(queue);
      this.#log.error(
        'Dropped {count} event(s) sent to "{queue}" after it closed; later ones are only counted',
        { count, queue: `${this.name}.${queue}` },
      );
      return;
    }
    this.#log.error('Dropped {count} event(s) sent to "{queue}": {reason}', {
      count,
      queue: `${this.name}.${queue}`,
      reason,
    });
  }

  async #flushOutbound(): Promise<void> {
    for (const outbound of this.pool.outbound.values()) {
      const flushing = outbound.flush();
      if (flushing !== undefined) await flushing;
    }
  }

  async #closeOutbound(): Promise<void> {
    await Promise.all(
      [...this.pool.outbound.values()].map((queue) => queue.close()),
    );
  }
}

/** A batch being consumed; `from` is its first event not settled yet. */
interface InHand {
  batch: readonly Event[];
  from: number;
}

/** Settles in `inbound` the events of `hand` before `index`. */
function settleBefore(inbound: Queue, hand: InHand, index: number): void {
  if (index > hand.from) {
    inbound.settle(index - hand.from);
    hand.from = index;
  }
}

/**
 * Resolves `true` after `ms`, or `false` at once when `signal` aborts; leaves
 * no timer behind either way.
 *
 * @example
 * ```ts
 * import { sleep } from "./actor.ts";
 * await sleep(1, new AbortController().signal); // true
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A short, printable form of any value for log lines.
 *
 * @example
 * ```ts
 * import { preview } from "./actor.ts";
 * preview({ a: 1 }); // "{ a: 1 }"
 * ```
 */
export function preview(value: unknown): string {
  const text = Deno.inspect(value, {
    colors: false,
    compact: true,
    breakLength: Infinity,
    depth: 2,
  });
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * `name: message` of an error, or the value as text.
 *
 * @example
 * ```ts
 * import { describe } from "./actor.ts";
 * describe(new RangeError("too big")); // "RangeError: too big"
 * ```
 */
export function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

/**
 * Lets timers, I/O and signals run before going on: a producer that never
 * waits calls this every few thousand events so that the process stays
 * responsive.
 *
 * @example
 * ```ts
 * import { yieldToEventLoop } from "./actor.ts";
 * await yieldToEventLoop();
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The message of an error, or the value as text.
 *
 * @example
 * ```ts
 * import { errorMessage } from "./actor.ts";
 * errorMessage(new RangeError("too big")); // "too big"
 * errorMessage("plain"); // "plain"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
