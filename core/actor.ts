/**
 * The actor base class: an isolated unit of work that consumes events from
 * its inbound queues and sends events to its outbound queues, and the
 * {@link Context} through which it does so.
 *
 * An actor only says what to do with an event; its {@link Supervisor} (see
 * `supervisor.ts`) runs it: reads its queues, calls `consume`, retries,
 * fails, counts, restarts it after a crash and stops it.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { type Event, propertyKey } from "./event.ts";
import { type Logger, scopedLogger } from "./log.ts";
import { Histogram, type HistogramFigures } from "./metrics.ts";
import {
  type DropReason,
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
 * import assert from "node:assert/strict";
 * import { Actor, type ActorKind } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind: ActorKind = "output";
 *   override consume(_event: Event): void {}
 * }
 * assert.equal(new Sink("sink").kind, "output");
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
 * Retry a failed `consume` (or the failed part of a `consumeBatch`) before
 * the event goes to the `error` queue.
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
 * What happens when an actor crashes (its run fails outside `consume`: a
 * `produce` that throws, a `CrashError`, a bug): it is restarted (teardown,
 * then setup, then run again on the same queues) after a backoff, at most
 * `max` times within `withinMs`; one crash more and the pipeline stops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_RESTART, type RestartOptions } from "./actor.ts";
 * const restart: RestartOptions = { ...DEFAULT_RESTART, max: 5 };
 * assert.equal(restart.withinMs, 60000);
 * ```
 */
export interface RestartOptions {
  /** Most restarts within `withinMs` (0: the first crash stops the pipeline). */
  max: number;
  /** The window in which restarts are counted, in ms. */
  withinMs: number;
  /** Wait before the first restart, doubled for each restart in the window (at most 30 s). */
  backoffMs: number;
}

/**
 * The crash policy of an actor that has no `restart` setting: 3 restarts
 * within a minute, the first after 100 ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_RESTART } from "./actor.ts";
 * assert.equal(DEFAULT_RESTART.max, 3);
 * ```
 */
export const DEFAULT_RESTART: Readonly<RestartOptions> = Object.freeze({
  max: 3,
  withinMs: 60_000,
  backoffMs: 100,
});

/**
 * How long, by default, the outbound queues of an actor busy with a batch
 * gather what it sends before writing it on, in ms (see
 * {@link ActorSettings.lingerMs}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_LINGER_MS } from "./actor.ts";
 * assert.equal(DEFAULT_LINGER_MS, 5);
 * ```
 */
export const DEFAULT_LINGER_MS = 5;

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
 *   restart: { max: 5, withinMs: 60_000, backoffMs: 200 },
 * };
 * ```
 */
export interface ActorSettings {
  /** Capacity of each inbound queue, in events (default 1024). */
  capacity?: number;
  /** Policy of each inbound queue when full (default `"block"`). */
  whenFull?: WhenFull;
  /** Retries of a failed `consume`. */
  retry?: RetryOptions;
  /** The crash policy (default {@link DEFAULT_RESTART}). */
  restart?: RestartOptions;
  /**
   * While the actor works through a batch, what it sends is written on when
   * the batch is done, or once this many ms passed since the first event
   * was gathered (default {@link DEFAULT_LINGER_MS}): the results of an
   * asynchronous stage then travel as batches, not one by one.
   */
  lingerMs?: number;
  /**
   * Copies of a stateless actor to run in Web Workers (default 1): see
   * `ThreadedActor` (core/threads.ts). Only an actor whose spec says
   * `stateless: true` takes more than 1.
   */
  threads?: number;
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
 * Thrown by `consume` (or `produce`) when the actor itself is broken, not
 * just the event: the event fails as with any error, and the actor is then
 * restarted as its crash policy says ({@link RestartOptions}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CrashError } from "./actor.ts";
 * const crash = new CrashError("The connection pool is corrupt");
 * assert.equal(crash.name, "CrashError");
 * ```
 */
export class CrashError extends Error {
  /** Makes a crash with `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CrashError";
  }
}

/**
 * Per-actor counters, all from the one accounting of the supervisor.
 *
 * Every event an actor finishes is counted once: `consumed_total` or
 * `failed_total`. Where it went is counted once too: an output (or an input
 * that takes replies) `delivered_total` it, or counts it in `errors_total`
 * when it reached the output by way of an `error` queue; another actor that
 * sent nothing on for it `filtered_total` it (a filter, an aggregator); one
 * that sent more than one event for it made `copies_total` more (a fanout, a
 * split); a failed event that no `error` queue took is `lost_total`. Events
 * sent outside any `consume` (an input's, a timer's) are `created_total`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type ActorFigures } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind = "output";
 *   override consume(_event: Event): void {}
 * }
 * const figures: ActorFigures = new Sink("sink").figures();
 * assert.equal(figures.consumed_total, 0);
 * ```
 */
export interface ActorFigures {
  /** Events whose `consume` succeeded. */
  consumed_total: number;
  /** Events whose `consume` failed after all retries. */
  failed_total: number;
  /** Events an output consumed (not by way of an `error` queue). */
  delivered_total: number;
  /** Events an output consumed that had failed before (from an `error` queue). */
  errors_total: number;
  /** Events a non-output consumed and sent nothing on for. */
  filtered_total: number;
  /** Events sent beyond one per event consumed. */
  copies_total: number;
  /** Events sent outside any `consume`: made by the actor. */
  created_total: number;
  /** Failed events with no `error` queue to take them. */
  lost_total: number;
  /** Events sent by work that went on after the actor was stopped or restarted; not sent on. */
  late_total: number;
  /** Times the actor was restarted after a crash. */
  restarts_total: number;
}

/**
 * Actor counters all at 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyFigures } from "./actor.ts";
 * assert.equal(emptyFigures().consumed_total, 0);
 * ```
 */
export function emptyFigures(): ActorFigures {
  return {
    consumed_total: 0,
    failed_total: 0,
    delivered_total: 0,
    errors_total: 0,
    filtered_total: 0,
    copies_total: 0,
    created_total: 0,
    lost_total: 0,
    late_total: 0,
    restarts_total: 0,
  };
}

/**
 * How an actor logs (its `log`): one method per level. `message` may name
 * values of `properties` in braces, `"Sent {count} events"`, which are filled
 * in; the other properties travel with the record as structured values. The
 * records reach the router's log actor, or stderr when there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type ActorLog } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Sink extends Actor {
 *   readonly kind = "output";
 *   override consume(event: Event): void {
 *     const log: ActorLog = this.log;
 *     log.debug("Got {data}", { data: event.data });
 *   }
 * }
 * assert.equal(new Sink("sink").kind, "output");
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
 * What `consume` and `consumeBatch` are handed beside the event(s): where
 * they came from, and how to send, fail and keep events. A derived event
 * sent with `send` carries the delivery tracker of the event being consumed
 * (or of `from`), so an input that acknowledges (NATS) does so only once
 * every event derived from its message was handled.
 *
 * The context is valid until the `consume` call it was given to settles;
 * to finish an event later, `hold` it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, type Event } from "../mod.ts";
 *
 * class Split extends Actor {
 *   readonly kind = "transform";
 *   override async consume(event: Event, context: Context): Promise<void> {
 *     for (const part of String(event.data).split(",")) {
 *       await context.send({ header: { ...event.header }, data: part });
 *     }
 *   }
 * }
 * assert.equal(new Split("split").pool.inbound.has("inbox"), true);
 * ```
 */
export interface Context {
  /** The inbound queue the event(s) came from, e.g. `"inbox"`. */
  readonly queue: string;
  /**
   * Aborts when the actor must stop at once (a stop that timed out, a
   * crash): give up what is in progress.
   */
  readonly signal: AbortSignal;
  /**
   * Sends `event` to outbound queue `queue` (a name, default `outbox`, or an
   * outbound queue of this actor). It derives from the event being consumed,
   * or from `from` (one event or several) in `consumeBatch`. Returns a
   * promise when the caller must wait: await it.
   */
  send(
    event: Event,
    queue?: string | OutboundQueue,
    from?: Event | readonly Event[],
  ): Promise<void> | undefined;
  /**
   * Sends every event of `events` to outbound queue `queue`, as `send` would
   * one by one, but in one write when they make a whole batch: the way for
   * a stage that changes the events of a batch in place (`consumeBatch`) to
   * pass them on. Each event keeps the delivery tracker it carries; one
   * without derives as with `send`. The array is handed on as it is: do not
   * change it afterwards. Passing on the very array being consumed (in
   * `consumeBatch`) costs no check per event: its events were checked as
   * they entered the queue. Returns a promise when the caller must wait.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Actor, type Context, type Event } from "../mod.ts";
   *
   * class Stamp extends Actor {
   *   readonly kind = "transform";
   *   override consumeBatch(events: Event[], context: Context) {
   *     for (const event of events) event.header.stamped = true;
   *     return context.sendAll(events);
   *   }
   * }
   * assert.equal(new Stamp("stamp").pool.outbound.has("outbox"), true);
   * ```
   */
  sendAll(
    events: Event[],
    queue?: string | OutboundQueue,
    from?: Event | readonly Event[],
  ): Promise<void> | undefined;
  /**
   * Fails `event` (one of those being consumed) with `error`, as a throw
   * from `consume` would: it is retried as `retry` says, then sent to the
   * `error` queue with `header.error` (and `details` merged in), or counted
   * as lost when `error` is not connected.
   */
  fail(event: Event, error: unknown, details?: Record<string, unknown>): void;
  /**
   * Keeps `event` (one of those being consumed) past the end of `consume`:
   * it stays counted in its queue's depth until the returned handle says it
   * is done or failed.
   */
  hold(event: Event): Held;
}

/**
 * An event an actor keeps past the end of `consume` ({@link Context.hold}):
 * a request still in flight, an event waiting in a bucket. Exactly one of
 * `done` and `fail` finishes it; later calls do nothing. If the actor is
 * stopped or restarted first, the supervisor finishes it (as abandoned or
 * failed) and `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, type Event } from "../mod.ts";
 *
 * class Later extends Actor {
 *   readonly kind = "output";
 *   override consume(event: Event, context: Context): void {
 *     const held = context.hold(event);
 *     setTimeout(() => held.done(), 10);
 *   }
 * }
 * assert.equal(new Later("later").kind, "output");
 * ```
 */
export interface Held {
  /** The event held. */
  readonly event: Event;
  /** Aborts when the actor is stopped at once or restarted. */
  readonly signal: AbortSignal;
  /** Sends an event derived from the held one (as {@link Context.send}). */
  send(event: Event, queue?: string | OutboundQueue): Promise<void> | undefined;
  /** The held event was handled. */
  done(): void;
  /**
   * The held event failed for good (no retry): it goes to the `error` queue
   * with `header.error`, or is counted as lost.
   */
  fail(
    error: unknown,
    details?: Record<string, unknown>,
  ): Promise<void> | undefined;
}

/**
 * What the replacement of an actor took over from it in a reload (see
 * {@link Actor.takeOver}): the reload commits it when the replacement is
 * about to run, or cancels it when the reload is rolled back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Takeover } from "./actor.ts";
 * let owner = "previous";
 * const takeover: Takeover = {
 *   commit: () => owner = "replacement",
 *   cancel: () => {},
 * };
 * takeover.commit();
 * assert.equal(owner, "replacement");
 * ```
 */
export interface Takeover {
  /**
   * The replacement serves from now on (it is about to run: what it sends
   * waits in its queues until it does); the actor replaced gives up what
   * was taken, finishing only the work it has in flight.
   */
  commit(): void;
  /** The reload was rolled back: the actor replaced keeps it all. */
  cancel(): void;
}

/**
 * What a supervisor gives the actor it runs: where `send` goes when called
 * outside a context. Not part of the public API.
 * @internal
 */
export interface ActorRuntime {
  /** `actor.send(event, queue)`. */
  send(event: Event, queue: OutboundQueue): Promise<void> | undefined;
  /**
   * The actor crashed outside any `consume` (a thread of it died): its run
   * ends with `error` as if `produce` had thrown it.
   */
  crash(error: unknown): void;
}

/**
 * Attaches an actor to a router's log scope. Not part of the public API.
 * @internal
 */
export const ATTACH_LOGS: unique symbol = Symbol("compysition.attachLogs");

/**
 * Where a supervisor plugs into the actor it runs. Not part of the public
 * API.
 * @internal
 */
export const RUNTIME: unique symbol = Symbol("compysition.runtime");

/**
 * The actor's own logger, for its supervisor. Not part of the public API.
 * @internal
 */
export const ACTOR_LOG: unique symbol = Symbol("compysition.actorLog");

/**
 * The actor's counters, kept by its supervisor. Not part of the public API.
 * @internal
 */
export const COUNTERS: unique symbol = Symbol("compysition.counters");

/**
 * Makes an actor the continuation of the one it replaces in a reload. Not
 * part of the public API.
 * @internal
 */
export const REPLACES: unique symbol = Symbol("compysition.replaces");

/**
 * The base of every actor. Subclasses implement `consume(event, context)`
 * (or `consumeBatch(events, context)`) to handle events and, for inputs,
 * `produce(signal)` to create them with `send(event, queue)`.
 *
 * When `consume` throws or rejects, the event is retried as `settings.retry`
 * says, then sent to the `error` queue with `header.error` set; when `error`
 * is not connected the failure is logged at error level and counted as lost.
 * Either way it is counted in `failed_total` and the actor goes on.
 *
 * Inside `consume`, send derived events with `context.send`. `this.send`
 * works there too for an actor with one inbound queue and no `produce`, and
 * in any actor of your own (the supervisor then tracks each `consume` call
 * separately); the built-in actors with several inbound queues use
 * `context.send`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, type Event } from "../mod.ts";
 *
 * class Upper extends Actor {
 *   readonly kind = "transform";
 *   override consume(event: Event, context: Context): Promise<void> | undefined {
 *     event.data = String(event.data).toUpperCase();
 *     return context.send(event);
 *   }
 * }
 * const upper = new Upper("upper");
 * assert.equal(upper.pool.inbound.has("inbox"), true);
 * ```
 */
export abstract class Actor {
  /** The actor's unique name in its router. */
  readonly name: string;
  /** The actor's queues. */
  readonly pool: QueuePool;
  /** What the actor does; decides start and stop order. */
  abstract readonly kind: ActorKind;
  /** Retries of a failed `consume`, when set. */
  readonly retry: RetryOptions | undefined;
  /** The crash policy. */
  readonly restart: RestartOptions;
  /** How long a batch's sends may gather, in ms. */
  readonly lingerMs: number;
  /**
   * Whether `this.send` inside `consume` may derive from the event being
   * consumed in an actor with several inbound queues or a `produce`. The
   * supervisor then tracks each `consume` call on its own, which costs a
   * little per event; built-in actors that always use `context.send` turn
   * it off.
   */
  protected readonly implicitSend: boolean = true;

  /** @internal The supervisor running the actor, when one does. */
  [RUNTIME]: ActorRuntime | undefined;
  /**
   * @internal The counters its supervisor keeps (shared with the actor it
   * replaced in a reload, if any).
   */
  [COUNTERS]: ActorFigures = emptyFigures();

  #log: Logger;
  #outbox: OutboundQueue | undefined;
  #sentAfterClose = new Set<string>();
  #consumeSeconds = new Histogram();

  /**
   * Makes an actor named `name` with its queues.
   *
   * @param name unique name in the router
   * @param settings queue capacity and policy, retries, crash policy, linger
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
    if (name === "__proto__") {
      throw new TypeError(
        'An actor cannot be named "__proto__": inputs write header.<their name> on each event, and that name would set the header\'s prototype instead',
      );
    }
    // Interned: actors write `header[name]` for each event.
    this.name = propertyKey(name);
    this.#log = scopedLogger("-", name);
    this.retry = settings.retry;
    this.restart = settings.restart ?? DEFAULT_RESTART;
    this.lingerMs = settings.lingerMs ?? DEFAULT_LINGER_MS;
    this.pool = new QueuePool(
      name,
      {
        inbound: queues.inbound ?? ["inbox"],
        outbound: queues.outbound ?? ["outbox", "error"],
        anyInbound: queues.anyInbound ?? false,
        anyOutbound: queues.anyOutbound ?? false,
        optional: queues.optional ?? [],
      },
      {
        inbound: {
          ...queueSettings(settings),
          onDiscard: (value, reason, queue) =>
            this.#log.warn(
              'Discarded a value that is not an event written to "{queue}": {reason}',
              { queue, reason, value: preview(value) },
            ),
        },
        onDrop: (queue, count, reason) => this.#dropped(queue, count, reason),
        onDiscardSent: (value, reason, queue) =>
          this.#log.warn(
            'Discarded a value that is not an event sent to "{queue}": {reason}',
            { queue, reason, value: preview(value) },
          ),
      },
    );
    this.#outbox = this.pool.outbound.get("outbox");
  }

  /**
   * The actor's logger (logtape category `compysition.<router>.<actor>`).
   */
  protected get log(): ActorLog {
    return this.#log;
  }

  /** @internal The actor's logger, for its supervisor. */
  get [ACTOR_LOG](): Logger {
    return this.#log;
  }

  /**
   * @internal A reload made this actor to replace `previous` (same name):
   * it goes on with its counters and takes its queues named in `queues`
   * (with their events, connections and counters), so that the figures and
   * the stop report go on as one actor's.
   */
  [REPLACES](
    previous: Actor,
    queues: Iterable<Queue | OutboundQueue>,
  ): void {
    this[COUNTERS] = previous[COUNTERS];
    this.#consumeSeconds = previous.#consumeSeconds;
    const owned = new Map<Queue | OutboundQueue, string>();
    for (const [name, queue] of previous.pool.queues()) owned.set(queue, name);
    for (const queue of queues) {
      const name = owned.get(queue);
      if (name !== undefined) this.pool.adopt(name, queue);
    }
    this.#outbox = this.pool.outbound.get("outbox");
  }

  /** @internal Moves the actor's logs into a router's scope. */
  [ATTACH_LOGS](scope: string): void {
    this.#log = scopedLogger(scope, this.name);
  }

  /**
   * @internal Whether the supervisor must track each `consume` call on its
   * own for `this.send` (see {@link Actor.implicitSend}).
   */
  get tracksCallsForSend(): boolean {
    const inbound = this.pool.inbound.size;
    // An input without inbound queues never consumes: nothing to track.
    return this.implicitSend &&
      (inbound > 1 || this.pool.names.anyInbound ||
        (this.produce !== undefined && inbound > 0));
  }

  /** The actor's counters. */
  figures(): ActorFigures {
    return { ...this[COUNTERS] };
  }

  /** Time spent in `consume` per event, in seconds, as a histogram. */
  consumeSeconds(): HistogramFigures {
    return this.#consumeSeconds.figures();
  }

  /** @internal Records `count` events consumed in `seconds` in all. */
  observeConsume(seconds: number, count: number): void {
    this.#consumeSeconds.observe(seconds / count, count);
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

  /**
   * Reload: called on an actor made to replace `previous` (same name, both
   * listening on the same address) before its `setup()`, while `previous`
   * still runs. An actor that can serve with what `previous` holds (its
   * listening socket, and at the commit its open connections) instead of
   * opening its own takes a reference to it and returns how the reload
   * commits or cancels that; its `setup()` then opens no socket. The default takes nothing (`undefined`): `setup()`
   * opens its own, and fails while `previous` holds the address.
   */
  takeOver?(previous: Actor): Takeover | undefined;

  /** Releases resources after the pipeline drained. */
  teardown(): void | Promise<void> {}

  /**
   * Called once every inbound queue is closed and empty and every event it
   * held is finished, before the outbound queues close: the place to flush
   * what an actor still keeps.
   */
  drained(): void | Promise<void> {}

  /**
   * Handles one event that arrived on inbound queue `context.queue`. Return
   * the promise of `send` (or your own) so that back-pressure and failures
   * are seen.
   */
  consume(_event: Event, context: Context): void | Promise<void> {
    throw new TypeError(
      `Actor "${this.name}" does not consume events (queue "${context.queue}")`,
    );
  }

  /**
   * Opt-in: handles a whole batch of events from `context.queue` at once
   * instead of `consume`. When it throws, each event of the batch not failed
   * already with `context.fail` fails with that error; to fail single
   * events and keep the rest, call `context.fail` for each of them. The
   * failed ones are retried together as `retry` says. A batch it already
   * passed on whole (`context.sendAll(events)`) stays passed on: the error
   * is logged, and none of its events is failed or retried.
   */
  consumeBatch?(events: Event[], context: Context): void | Promise<void>;

  /**
   * Inputs implement this: create events with `send` until `signal` aborts
   * (the router is stopping) or there is nothing more to produce. When it
   * throws, the actor crashed: it is restarted as its crash policy says.
   */
  produce?(signal: AbortSignal): Promise<void>;

  /**
   * Sends `event` to outbound queue `queue` (default `outbox`). Returns a
   * promise when the caller must wait (a full batch is being written to the
   * connected queue, which may be full): await it.
   *
   * Called from `produce`, a timer or a callback, the event is new: made by
   * this actor. Called from `consume`, it derives from the event consumed
   * (see the class documentation).
   */
  send(event: Event, queue = "outbox"): Promise<void> | undefined {
    const outbound = (queue === "outbox" ? this.#outbox : undefined) ??
      this.pool.outbound.get(queue);
    if (outbound === undefined) {
      throw new TypeError(
        `Actor "${this.name}" has no outbound queue "${queue}"`,
      );
    }
    const runtime = this[RUNTIME];
    if (runtime !== undefined) return runtime.send(event, outbound);
    return outbound.push(event);
  }

  /**
   * The outbound queue called `queue`; throws a `TypeError` naming the actor
   * when it has none.
   */
  outbound(queue: string): OutboundQueue {
    const outbound = (queue === "outbox" ? this.#outbox : undefined) ??
      this.pool.outbound.get(queue);
    if (outbound === undefined) {
      throw new TypeError(
        `Actor "${this.name}" has no outbound queue "${queue}"`,
      );
    }
    return outbound;
  }

  /**
   * Counts `count` events the actor made but dropped before sending them to
   * outbound queue `queue` (default `outbox`): an input without flow
   * control (UDP) that had no room left to keep what it received. They
   * count as created, and as dropped by that queue (its `dropped_total`), so
   * that `/metrics` and the stop report show them as they happen. Nothing is
   * logged here: the actor says what it dropped, at most once a second.
   */
  protected dropCreated(count: number, queue = "outbox"): void {
    this[COUNTERS].created_total += count;
    this.outbound(queue).countDropped(count);
  }

  #dropped(queue: string, count: number, reason: DropReason): void {
    // Unconnected queues are reported once by the router at start; a stop
    // that timed out reports what it threw away.
    if (reason === "not connected" || reason === "abandoned") return;
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
}

/**
 * A {@link Context} for calling an actor's `consume` or `consumeBatch`
 * directly, outside a router (in a unit test, say): `send` sends with
 * `actor.send` (no delivery tracking), `fail` records the failure in
 * `failures`, and `hold` returns a handle whose `done` and `fail` record
 * into `failures` too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, directContext } from "./actor.ts";
 * import type { Event } from "./event.ts";
 * class Picky extends Actor {
 *   readonly kind = "output";
 *   override consume(event: Event, context: Context): void {
 *     if (event.data !== 1) context.fail(event, new RangeError("not 1"));
 *   }
 * }
 * const picky = new Picky("picky");
 * const context = directContext(picky);
 * picky.consume({ header: {}, data: 2 }, context);
 * assert.equal(context.failures.length, 1);
 * ```
 */
export function directContext(
  actor: Actor,
  queue = "inbox",
): Context & { readonly failures: [Event, unknown][] } {
  const failures: [Event, unknown][] = [];
  const signal = new AbortController().signal;
  const send = (event: Event, to: string | OutboundQueue = "outbox") =>
    typeof to === "string" ? actor.send(event, to) : to.push(event);
  return {
    queue,
    signal,
    failures,
    send,
    sendAll: (events, to) => {
      let waiting: Promise<void> | undefined;
      for (const event of events) waiting = send(event, to) ?? waiting;
      return waiting;
    },
    fail: (event, error) => void failures.push([event, error]),
    hold: (event) => ({
      event,
      signal,
      send,
      done: () => {},
      fail: (error) => void failures.push([event, error]),
    }),
  };
}

/**
 * For a stage's `consumeBatch`: changes each event of `events` in place with
 * `change`, fails (with `context.fail`) each event whose change throws, and
 * sends the others on to `outbox` in one write (`context.sendAll`): per
 * event, what a `consume` that changes its event and sends it does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, changeEach, type Context, directContext } from "./actor.ts";
 * import type { Event } from "./event.ts";
 *
 * class Double extends Actor {
 *   readonly kind = "transform";
 *   override consumeBatch(events: Event[], context: Context) {
 *     return changeEach(events, context, (event) => {
 *       if (typeof event.data !== "number") throw new TypeError("Not a number");
 *       event.data *= 2;
 *     });
 *   }
 * }
 * const double = new Double("double");
 * const context = directContext(double);
 * const events: Event[] = [{ header: {}, data: 1 }, { header: {}, data: "a" }];
 * await double.consumeBatch(events, context);
 * assert.equal(events[0]!.data, 2);
 * assert.equal(context.failures.length, 1);
 * assert.equal(double.pool.outbound.get("outbox")!.figures().in_total, 1);
 * ```
 */
export function changeEach(
  events: Event[],
  context: Context,
  change: (event: Event) => void,
): Promise<void> | undefined {
  let passed = events;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    try {
      change(event);
    } catch (error) {
      context.fail(event, error);
      if (passed === events) passed = events.slice(0, i);
      continue;
    }
    if (passed !== events) passed.push(event);
  }
  return context.sendAll(passed);
}

/**
 * Resolves `true` after `ms`, or `false` at once when `signal` aborts; leaves
 * no timer behind either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./actor.ts";
 * assert.equal(await sleep(1, new AbortController().signal), true);
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
 * import assert from "node:assert/strict";
 * import { preview } from "./actor.ts";
 * assert.equal(preview({ a: 1 }), "{ a: 1 }");
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
 * `name: message` of an error, or the value as text; never throws, even for
 * a value that cannot be turned into text (an object without prototype, a
 * `toString` that throws), which stream aborts and cancels may carry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describe } from "./actor.ts";
 * assert.equal(describe(new RangeError("too big")), "RangeError: too big");
 * assert.equal(describe(Object.create(null)), "[object Object]");
 * ```
 */
export function describe(error: unknown): string {
  try {
    return error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/**
 * Lets timers, I/O and signals run before going on: a producer that never
 * waits calls this every few thousand events so that the process stays
 * responsive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yieldToEventLoop } from "./actor.ts";
 * let ran = false;
 * setImmediate(() => ran = true);
 * await yieldToEventLoop();
 * assert.equal(ran, true);
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Calls `fn` when `signal` aborts (at once when it has), until the returned
 * handle is disposed: `using _ = whenAborted(context.signal, () => ...)`
 * gives up a wait on a connection when the actor is stopped at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whenAborted } from "./actor.ts";
 * const controller = new AbortController();
 * let calls = 0;
 * {
 *   using _ = whenAborted(controller.signal, () => calls++);
 * }
 * controller.abort();
 * assert.equal(calls, 0);
 * ```
 */
export function whenAborted(signal: AbortSignal, fn: () => void): Disposable {
  if (signal.aborted) {
    fn();
    return { [Symbol.dispose]() {} };
  }
  signal.addEventListener("abort", fn, { once: true });
  return { [Symbol.dispose]: () => signal.removeEventListener("abort", fn) };
}

/**
 * The message of an error, or the value as text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorMessage } from "./actor.ts";
 * assert.equal(errorMessage(new RangeError("too big")), "too big");
 * assert.equal(errorMessage("plain"), "plain");
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : describe(error);
}
