/**
 * The supervisor of one actor: it owns the actor's whole lifecycle (setup,
 * run, drain, abandon, teardown), reads its inbound queues, calls `consume`,
 * retries and fails events, keeps the actor's share of the one accounting,
 * restarts the actor after a crash as its policy says, and closes its
 * outbound queues whatever happens.
 *
 * Every event an actor takes is finished exactly once: consumed, failed
 * (to `error` or lost), held and finished later through its {@link Held}
 * handle, or abandoned by a stop that timed out. After the actor is
 * abandoned or its run crashed, nothing it does reaches a queue any more:
 * no `consume` is called, and what it still sends is counted in
 * `late_total` and dropped.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Actor,
  ACTOR_LOG,
  type ActorFigures,
  type ActorLog,
  type ActorRuntime,
  type Context,
  COUNTERS,
  CrashError,
  describe,
  errorMessage,
  type EventError,
  type Held,
  RUNTIME,
  sleep,
  whenAborted,
} from "./actor.ts";
import { Deadline } from "./deadline.ts";
import { type Event, isEvent } from "./event.ts";
import type { OutboundQueue, Queue } from "./queue.ts";
import {
  combineTrackers,
  FAILED,
  failTrackers,
  type Tracked,
  type TrackedEvent,
  TRACKER,
} from "./tracking.ts";

/**
 * Where an actor is in its lifecycle, as `Router.status()` and the stop
 * report show it.
 *
 * @example
 * ```ts
 * import type { ActorPhase } from "./supervisor.ts";
 * const phase: ActorPhase = "running";
 * ```
 */
export type ActorPhase =
  | "waiting"
  | "setup"
  | "running"
  | "restarting"
  | "finished"
  | "gave up"
  | "abandoned"
  | "teardown"
  | "stopped";

/**
 * One crash of an actor, as the supervisor recorded it.
 *
 * @example
 * ```ts
 * import type { Crash } from "./supervisor.ts";
 * const crash: Crash = { actor: "parse", error: "Error: boom", time: new Date().toISOString(), restarted: true };
 * ```
 */
export interface Crash {
  /** The actor that crashed. */
  actor: string;
  /** `name: message` of what it crashed with. */
  error: string;
  /** When, as an ISO 8601 date. */
  time: string;
  /** Whether it was restarted (else the pipeline was stopped). */
  restarted: boolean;
}

/**
 * What a supervisor needs from the router that runs it.
 *
 * @example
 * ```ts
 * import type { SupervisorHooks } from "./supervisor.ts";
 * const hooks: Partial<SupervisorHooks> = { closeWhenProduced: new Set(["outbox"]) };
 * ```
 */
export interface SupervisorHooks {
  /** Where lifecycle messages go (the router's log). */
  log: ActorLog;
  /**
   * For an input: the outbound queues to close as soon as `produce`
   * returns, because their events come back to its own inbound queues (a
   * request/reply cycle); the others close once its inbound queues drained.
   * `undefined`: all of them.
   */
  closeWhenProduced?: ReadonlySet<string>;
  /** Told of each crash. */
  onCrash?(crash: Crash): void;
  /** The actor crashed more often than its policy allows: stop the pipeline. */
  onGiveUp?(supervisor: Supervisor, error: unknown): void;
  /**
   * The longest a restart's teardown, and then its setup, may take, in ms
   * (default 30 000, the router's start timeout): past it, the restart
   * counts as one more crash.
   */
  restartStepMs?: number;
}

/** The store that tells `this.send` which `consume` call it is in. */
const callContext = new AsyncLocalStorage<LoopContext>();

/** What a failure carries: the error and the details for `header.error`. */
interface Failure {
  error: unknown;
  details: Record<string, unknown> | undefined;
}

/** Why the events of an actor that gave up fail. */
const GIVE_UP_MESSAGE = "it crashed more often than its restart policy allows";

/** How long the other loops of a crashed actor may finish their batch, in ms. */
const CRASH_GRACE_MS = 2000;

/** The default of {@link SupervisorHooks.restartStepMs}, in ms. */
const DEFAULT_RESTART_STEP_MS = 30_000;

/** The longest backoff before a restart, in ms. */
const MAX_RESTART_BACKOFF_MS = 30_000;

/**
 * One run of an actor, from setup to crash or end: its loops, the events
 * held past `consume`, and the signal its work sees.
 */
class Incarnation {
  readonly abort: AbortController = new AbortController();
  readonly loops: LoopContext[] = [];
  readonly held: Set<HeldEvent> = new Set();
  /** Crashed or abandoned: its contexts send nothing on any more. */
  dead = false;
  /** The run ended (finished, crashed or abandoned). */
  over = false;
  readonly ended: PromiseWithResolvers<unknown> = Promise.withResolvers();
  #heldEmpty: PromiseWithResolvers<void> | undefined;

  /**
   * Ends the run: `reason` is `undefined` when it finished, the crash, or
   * {@link ABANDONED}. The first reason counts.
   */
  end(reason: unknown): void {
    if (this.over) return;
    this.over = true;
    this.ended.resolve(reason);
  }

  /** Resolves once no event is held any more. */
  heldSettled(): Promise<void> | undefined {
    if (this.held.size === 0) return undefined;
    this.#heldEmpty ??= Promise.withResolvers();
    return this.#heldEmpty.promise;
  }

  release(held: HeldEvent): void {
    this.held.delete(held);
    if (this.held.size === 0 && this.#heldEmpty !== undefined) {
      this.#heldEmpty.resolve();
      this.#heldEmpty = undefined;
    }
  }
}

/** The reason an incarnation ends when its actor is abandoned. */
const ABANDONED = Symbol("abandoned");

/** What sends derived events: a loop's context or a held event. */
interface Sender {
  readonly inc: Incarnation;
  tracker: Tracked | undefined;
  sent: number;
  /** `sent` (an event, or events in one write) went on. */
  noteSent(sent: Event | readonly Event[]): void;
}

/**
 * The context of one inbound queue's loop, handed to every `consume` call of
 * that queue in turn (consumption of one queue is sequential, so one object
 * serves them all).
 */
class LoopContext implements Context, Sender {
  readonly queue: string;
  readonly inbound: Queue;
  readonly inc: Incarnation;
  readonly #supervisor: Supervisor;
  reader: ReadableStreamDefaultReader<Event[]> | undefined;
  /** Ends the wait of the loop for events (see `Queue.onQueued`), if it waits. */
  wake: (() => void) | undefined;
  /** Settles when the loop ended. */
  finished: Promise<void> = Promise.resolve();
  /** Set when the loop must stop at its next batch. */
  stopReading = false;
  /** The batch being consumed, from `pos` on not finished yet. */
  batch: readonly Event[] | undefined;
  pos = 0;
  /** Per-event mode: the event being consumed. */
  event: Event | undefined;
  sent = 0;
  failure: Failure | undefined;
  heldCurrent = false;
  #tracker: Tracked | undefined;
  /** Batch mode: the events whose trackers `tracker` combines, until read. */
  #trackerFrom: readonly Event[] | undefined;
  /** Per-event mode: the handle of the event being consumed, once held. */
  held: HeldEvent | undefined;
  /** Batch mode: the failures and holds of the current attempt. */
  failures: Map<Event, Failure> | undefined;
  holds: Set<Event> | undefined;
  batchMode = false;
  /**
   * Per-event mode: `consume` sent the event it consumes itself on; should
   * it throw afterwards, the event stays passed on (see
   * `Supervisor.#keptPassed`).
   */
  sentItself = false;
  /**
   * Batch mode: what the current `consumeBatch` attempt sent, other than
   * the batch passed on whole (see `passedWhole`): events and arrays of
   * them, looked at only should it throw.
   */
  sentInAttempt: (Event | readonly Event[])[] = [];
  /** Inside `consume` (for `this.send`). */
  active = false;
  /** Batch mode: `consumeBatch` has not returned yet. */
  calling = false;
  /**
   * Batch mode: the batch `sendAll` passed on whole while `consumeBatch`
   * had not returned yet. The place each event held in the inbound queue
   * passes to the outbound one, instead of being taken anew when it is sent
   * and let go of when the batch is finished: a pass over the batch fewer
   * each way, and the trackers count the same, as long as nothing is done
   * with the batch in between (`consumeBatch` returned, or waits only for
   * that send, with no event failed or held; else see
   * `Supervisor.#keepPassedOn`).
   */
  passedOn: readonly Event[] | undefined;
  /** What `sendAll` returned when it passed on `passedOn`. */
  passing: Promise<void> | undefined;
  /**
   * Batch mode: this attempt passed the batch consumed on whole (`sendAll`
   * of it). Those events are downstream's then: should `consumeBatch` throw
   * afterwards, they are not failed too (they would reach both the output
   * and `error`) nor retried (they would be sent again).
   */
  passedWhole = false;
  /**
   * The {@link CrashError} that crashes the run once the event (or batch)
   * being consumed is counted: thrown after it was sent on, or, in batch
   * mode, failing an event.
   */
  crash: unknown;

  constructor(
    supervisor: Supervisor,
    inc: Incarnation,
    queue: string,
    inbound: Queue,
  ) {
    this.#supervisor = supervisor;
    this.inc = inc;
    this.queue = queue;
    this.inbound = inbound;
  }

  get signal(): AbortSignal {
    return this.inc.abort.signal;
  }

  /** What `send` derives from when not told (combined only when needed). */
  get tracker(): Tracked | undefined {
    const from = this.#trackerFrom;
    if (from !== undefined) {
      this.#trackerFrom = undefined;
      this.#tracker = combineTrackers(from);
    }
    return this.#tracker;
  }

  set tracker(tracker: Tracked | undefined) {
    this.#trackerFrom = undefined;
    this.#tracker = tracker;
  }

  /** Batch mode: `send` derives from the trackers of `events`. */
  deriveFrom(events: readonly Event[]): void {
    this.#trackerFrom = events;
    this.#tracker = undefined;
  }

  begin(event: Event): void {
    this.event = event;
    this.#trackerFrom = undefined;
    this.#tracker = (event as TrackedEvent)[TRACKER];
    this.sent = 0;
    this.failure = undefined;
    this.heldCurrent = false;
    this.held = undefined;
    this.sentItself = false;
    this.crash = undefined;
    this.active = true;
  }

  noteSent(sent: Event | readonly Event[]): void {
    if (this.batchMode) this.sentInAttempt.push(sent);
    else if (
      sent === this.event ||
      (Array.isArray(sent) && sent.includes(this.event))
    ) this.sentItself = true;
  }

  send(
    event: Event,
    queue: string | OutboundQueue = "outbox",
    from?: Event | readonly Event[],
  ): Promise<void> | undefined {
    return this.#supervisor.sendDerived(this, event, queue, from);
  }

  sendAll(
    events: Event[],
    queue: string | OutboundQueue = "outbox",
    from?: Event | readonly Event[],
  ): Promise<void> | undefined {
    // The batch being consumed, passed on: its events derive from nothing
    // else.
    const own = this.batchMode && events === this.batch;
    return this.#supervisor.sendDerivedAll(
      this,
      events,
      queue,
      from,
      own,
      own && this.calling && this.passedOn === undefined,
    );
  }

  fail(event: Event, error: unknown, details?: Record<string, unknown>): void {
    const failure = { error, details };
    if (this.batchMode) {
      this.#ownBatchEvent(event, "fail");
      (this.failures ??= new Map()).set(event, failure);
      return;
    }
    if (event !== this.event) {
      throw new TypeError(
        `Context.fail() of actor "${this.#supervisor.actor.name}" takes the event being consumed; hold() an event to fail it later`,
      );
    }
    this.failure = failure;
  }

  hold(event: Event): Held {
    if (this.batchMode) {
      this.#ownBatchEvent(event, "hold");
      (this.holds ??= new Set()).add(event);
    } else if (event === this.event) {
      this.heldCurrent = true;
      return this.held = this.#supervisor.holdEvent(this, event);
    } else {
      throw new TypeError(
        `Context.hold() of actor "${this.#supervisor.actor.name}" takes the event being consumed`,
      );
    }
    return this.#supervisor.holdEvent(this, event);
  }

  #ownBatchEvent(event: Event, what: string): void {
    if (this.batch?.includes(event) !== true) {
      throw new TypeError(
        `Context.${what}() of actor "${this.#supervisor.actor.name}" takes an event of the batch being consumed`,
      );
    }
  }
}

/** An event kept past the end of `consume`, finished by its handle. */
class HeldEvent implements Held, Sender {
  readonly event: Event;
  readonly inc: Incarnation;
  readonly inbound: Queue;
  readonly queue: string;
  tracker: Tracked | undefined;
  sent = 0;
  settled = false;
  readonly #supervisor: Supervisor;

  constructor(
    supervisor: Supervisor,
    context: LoopContext,
    event: Event,
  ) {
    this.#supervisor = supervisor;
    this.inc = context.inc;
    this.inbound = context.inbound;
    this.queue = context.queue;
    this.event = event;
    this.tracker = (event as TrackedEvent)[TRACKER];
  }

  get signal(): AbortSignal {
    return this.inc.abort.signal;
  }

  /** A held event is finished by its handle, whatever it sent. */
  noteSent(): void {}

  send(
    event: Event,
    queue: string | OutboundQueue = "outbox",
  ): Promise<void> | undefined {
    if (this.settled) return this.#supervisor.late(event);
    return this.#supervisor.sendDerived(this, event, queue, undefined);
  }

  done(): void {
    if (this.settled || this.inc.dead) return;
    this.settled = true;
    this.inc.release(this);
    this.#supervisor.finishHeld(this, undefined);
  }

  fail(
    error: unknown,
    details?: Record<string, unknown>,
  ): Promise<void> | undefined {
    if (this.settled || this.inc.dead) return undefined;
    this.settled = true;
    this.inc.release(this);
    return this.#supervisor.finishHeld(this, { error, details });
  }
}

/**
 * What the signals of a stop abort with, made once. An abort without a
 * reason makes a DOMException whose stack trace keeps every object of the
 * calls it was made in (a reload's, with the actors it set up) as long as
 * the signal lives: through each replaced actor's signal, every reload kept
 * the one before it reachable.
 */
const STOPPED = new DOMException("The actor was stopped", "AbortError");

/**
 * Runs one actor. Made by the router for each actor it starts; usable on
 * its own for an actor outside a router (see `toTransformStream`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, type Event } from "../mod.ts";
 * import { Queue } from "./queue.ts";
 * import { scopedLogger } from "./log.ts";
 * import { Supervisor } from "./supervisor.ts";
 *
 * class Upper extends Actor {
 *   readonly kind = "transform";
 *   override consume(event: Event, context: Context): Promise<void> | undefined {
 *     event.data = String(event.data).toUpperCase();
 *     return context.send(event);
 *   }
 * }
 * const upper = new Upper("upper");
 * const out = new Queue("out");
 * upper.pool.outbound.get("outbox")!.connect(out);
 * const supervisor = new Supervisor(upper, { log: scopedLogger("-", "demo") });
 * await supervisor.setup();
 * supervisor.start();
 * const writer = upper.pool.inbound.get("inbox")!.writable.getWriter();
 * await writer.write({ header: {}, data: "hi" });
 * await writer.close();
 * await supervisor.done;
 * await supervisor.teardown();
 * const [batch] = await Array.fromAsync(out.readable);
 * assert.equal(batch![0]!.data, "HI");
 * ```
 */
export class Supervisor implements ActorRuntime {
  /** The actor supervised. */
  readonly actor: Actor;
  #hooks: SupervisorHooks;
  #phase: ActorPhase = "waiting";
  /** Aborts when the router stops: inputs stop producing. */
  #stopProducing = new AbortController();
  /** Aborts when the actor is abandoned. */
  #abandon = new AbortController();
  /**
   * `#abandon` aborted, as a plain field: `send` reads it for each event,
   * and the signal's getter costs a brand check each time.
   */
  #abandoned = false;
  #inc: Incarnation | undefined;
  #done = Promise.withResolvers<void>();
  #running = false;
  #finished = false;
  #gaveUp: unknown;
  #crashTimes: number[] = [];
  #tracksCalls: boolean;
  #delivers: boolean;
  #errors: OutboundQueue | undefined;
  #outbound: OutboundQueue[];
  /**
   * The outbound queues whose events come back to this actor's own inbound
   * queues (a request/reply cycle through an input): its loops never wait
   * for their writes, which wait for those very loops.
   */
  #cyclic: ReadonlySet<OutboundQueue>;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #lateLogged = false;
  /**
   * A reload retires the actor: `"handover"` when a replacement takes its
   * queues over, `"retire"` when it is removed. Its outbound queues are
   * then flushed at the end, never closed: the reload decides what becomes
   * of them.
   */
  #leaving: "handover" | "retire" | undefined;
  #consume: (event: Event, context: LoopContext) => void | Promise<void>;
  #consumeBatch: (
    events: Event[],
    context: LoopContext,
  ) => void | Promise<void>;

  /** Supervises `actor`; `hooks` connect it to its router. */
  constructor(actor: Actor, hooks: SupervisorHooks) {
    this.actor = actor;
    this.#hooks = hooks;
    actor[RUNTIME] = this;
    this.#tracksCalls = actor.tracksCallsForSend;
    this.#delivers = actor.kind !== "transform" && actor.kind !== "flow";
    this.#outbound = [...actor.pool.outbound.values()];
    this.#cyclic = new Set(
      [...actor.pool.outbound].flatMap(([name, queue]) =>
        hooks.closeWhenProduced?.has(name) ? [queue] : []
      ),
    );
    this.#errors = actor.pool.outbound.get("error");
    actor.pool.window.onGather = () => this.#armLinger();
    this.#consume = (event, context) => actor.consume(event, context);
    this.#consumeBatch = (events, context) =>
      actor.consumeBatch!(events, context);
  }

  /** Where the actor is in its lifecycle. */
  get phase(): ActorPhase {
    return this.#phase;
  }

  /**
   * Resolves once the actor's run ended: it drained and its outbound queues
   * closed, or it was abandoned, or it gave up after crashing too often.
   */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** Whether the run ended (see {@link Supervisor.done}). */
  get finished(): boolean {
    return this.#finished;
  }

  /** The error the actor gave up with, or `undefined`. */
  get gaveUpWith(): unknown {
    return this.#gaveUp;
  }

  /** Calls the actor's `setup()`. */
  async setup(): Promise<void> {
    this.#phase = "setup";
    await this.actor.setup();
  }

  /** Starts the run in the background; see {@link Supervisor.done}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#phase = "running";
    for (const queue of this.actor.pool.inbound.values()) {
      queue.consumeManually();
    }
    void this.#run();
  }

  /**
   * The router stops: an input's `produce` sees its signal abort (and may
   * end by throwing its abort reason); the other actors drain.
   */
  stopProducing(): void {
    this.#stopProducing.abort(STOPPED);
  }

  /**
   * Reload: the actor is replaced by one that takes its queues over. An
   * input stops producing; every loop stops reading at the end of the batch
   * it consumes (what is queued stays queued for the replacement); then, as
   * at the end of any run, the actor finishes the events it holds, its
   * `drained()` flushes what it keeps, and what it sent is written on, but
   * its outbound queues are left open. Resolves once no loop reads its
   * inbound queues any more; {@link Supervisor.done} once the run ended.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Actor, type Event } from "../mod.ts";
   * import { scopedLogger } from "./log.ts";
   * import { Supervisor } from "./supervisor.ts";
   *
   * class Sink extends Actor {
   *   readonly kind = "output";
   *   override consume(_event: Event): void {}
   * }
   * const sink = new Sink("sink");
   * const supervisor = new Supervisor(sink, { log: scopedLogger("-", "demo") });
   * await supervisor.setup();
   * supervisor.start();
   * await supervisor.handOver();
   * await supervisor.done;
   * assert.equal(sink.pool.inbound.get("inbox")!.closed, false);
   * ```
   */
  handOver(): Promise<void> {
    this.#leaving ??= "handover";
    this.#stopProducing.abort(STOPPED);
    const loops = this.#inc?.loops ?? [];
    for (const loop of loops) {
      loop.stopReading = true;
      releaseReader(loop);
      loop.inbound.detachReader();
    }
    if (!this.#running) this.#end();
    return Promise.all(loops.map((loop) => loop.finished)).then(() => {});
  }

  /**
   * Reload: the actor is removed. An input stops producing; the loops read
   * their queues until they are closed and empty, as in a stop, but the
   * outbound queues are flushed and left open at the end: the reload
   * closes them or connects them elsewhere.
   */
  retire(): void {
    this.#leaving ??= "retire";
    this.#stopProducing.abort(STOPPED);
    if (!this.#running) this.#end();
  }

  /**
   * Stops at once (a stop that timed out): no `consume` is called any more,
   * the work in progress sees its signal abort, what the actor held and what
   * its queues hold is thrown away (counted as abandoned, trackers failed),
   * and its outbound queues close.
   */
  abandon(): void {
    if (this.#finished || this.#abandon.signal.aborted) return;
    this.#phase = "abandoned";
    this.#abandoned = true;
    this.#abandon.abort(STOPPED);
    this.#stopProducing.abort(STOPPED);
    const reason = this.#abandonReason;
    const inc = this.#inc;
    if (inc !== undefined) {
      this.#kill(inc, reason);
      inc.end(ABANDONED);
    }
    for (const queue of this.actor.pool.inbound.values()) {
      queue.clear();
      void failUnread(queue, reason);
    }
    for (const queue of this.#outbound) queue.abandon();
    clearTimeout(this.#lingerTimer);
    if (!this.#running) this.#end();
  }

  /** Why the events of an abandoned actor were thrown away. */
  get #abandonReason(): string {
    return `Actor "${this.actor.name}" was stopped before it finished`;
  }

  /** Calls the actor's `teardown()`. */
  async teardown(): Promise<void> {
    const before = this.#phase;
    this.#phase = "teardown";
    try {
      await this.actor.teardown();
    } finally {
      this.#phase = before === "abandoned" || before === "gave up"
        ? before
        : "stopped";
    }
  }

  /** @internal `actor.send(event, queue)`. */
  send(event: Event, outbound: OutboundQueue): Promise<void> | undefined {
    const context = this.#tracksCalls
      ? callContext.getStore()
      : this.#soleActiveContext();
    if (context !== undefined && context.active) {
      return this.sendDerived(context, event, outbound, undefined);
    }
    if (this.#abandoned) return this.late(event);
    if (!isEvent(event)) return outbound.push(event);
    if (outbound === this.#errors) (event as TrackedEvent)[FAILED] = true;
    // Counted once the queue took it: a push that throws (a sender that did
    // not wait) sent nothing.
    const waiting = outbound.pushEvent(event);
    this.actor[COUNTERS].created_total++;
    (event as TrackedEvent)[TRACKER]?.retain();
    return waiting;
  }

  /** @internal Ends the current run with `error`, a crash. */
  crash(error: unknown): void {
    this.#inc?.end(error);
  }

  /** @internal Sends an event derived from what `sender` holds. */
  sendDerived(
    sender: Sender,
    event: Event,
    queue: string | OutboundQueue,
    from: Event | readonly Event[] | undefined,
  ): Promise<void> | undefined {
    if (sender.inc.dead) return this.late(event);
    const outbound = typeof queue === "string"
      ? this.actor.outbound(queue)
      : queue;
    if (!isEvent(event)) return outbound.push(event);
    let tracker = (event as TrackedEvent)[TRACKER];
    if (tracker === undefined) {
      tracker = from === undefined
        ? sender.tracker
        : combineTrackers(Array.isArray(from) ? from : [from as Event]);
      if (tracker !== undefined) (event as TrackedEvent)[TRACKER] = tracker;
    }
    if (outbound === this.#errors) (event as TrackedEvent)[FAILED] = true;
    // Counted once the queue took it (see `send`); only then sent on, should
    // `consume` throw (what the push threw, say).
    const waiting = outbound.pushEvent(event);
    sender.noteSent(event);
    tracker?.retain();
    sender.sent++;
    return waiting;
  }

  /**
   * @internal Sends `events` derived from what `sender` holds, as
   * `sendDerived` would one by one, in one write when they make a batch.
   * `own`: `events` is the batch `sender` consumes; `handOver`: besides,
   * `consumeBatch` has not returned and has not passed it on yet (see
   * `LoopContext.passedOn`).
   */
  sendDerivedAll(
    sender: Sender,
    events: Event[],
    queue: string | OutboundQueue,
    from: Event | readonly Event[] | undefined,
    own: boolean,
    handOver = false,
  ): Promise<void> | undefined {
    if (sender.inc.dead) {
      for (const event of events) this.late(event);
      return undefined;
    }
    const outbound = typeof queue === "string"
      ? this.actor.outbound(queue)
      : queue;
    const failed = outbound === this.#errors;
    if (own && !failed) {
      // The batch consumed, passed on as it is: its events were checked when
      // they entered the inbound queue, and carry their own trackers.
      const waiting = outbound.pushEvents(events);
      (sender as LoopContext).passedWhole = true;
      if (handOver) {
        (sender as LoopContext).passedOn = events;
        (sender as LoopContext).passing = waiting;
      } else {
        retainAll(events);
      }
      sender.sent += events.length;
      return waiting;
    }
    let accepted = events;
    let fallback: Tracked | undefined | null = null;
    let tracked = false;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Event;
      if (!isEvent(event)) {
        if (accepted === events) accepted = events.slice(0, i);
        outbound.push(event);
        continue;
      }
      if (accepted !== events) accepted.push(event);
      if (failed) (event as TrackedEvent)[FAILED] = true;
      if ((event as TrackedEvent)[TRACKER] !== undefined) {
        tracked = true;
        continue;
      }
      if (own) continue;
      fallback ??= from === undefined
        ? sender.tracker
        : combineTrackers(Array.isArray(from) ? from : [from as Event]);
      if (fallback !== undefined) {
        (event as TrackedEvent)[TRACKER] = fallback;
        tracked = true;
      }
    }
    // Counted once the queue took them (see `send`), and sent on (see
    // `sendDerived`): a push that threw part way notes none of them, which
    // fail (or are retried) rather than be lost.
    const waiting = outbound.pushEvents(accepted);
    sender.noteSent(accepted);
    if (tracked) {
      for (const event of accepted) (event as TrackedEvent)[TRACKER]?.retain();
    }
    sender.sent += accepted.length;
    return waiting;
  }

  /** @internal Counts (and drops) a send from work that outlived its run. */
  late(event: Event): undefined {
    this.actor[COUNTERS].late_total++;
    if (typeof event === "object" && event !== null) {
      (event as TrackedEvent)[TRACKER]?.fail(
        `Actor "${this.actor.name}" sent it after it was stopped`,
      );
    }
    if (!this.#lateLogged) {
      this.#lateLogged = true;
      this.#hooks.log.warn(
        'Actor "{actor}" sent an event after it was stopped or restarted; it was not sent on (counted in late_total)',
        { actor: this.actor.name },
      );
    }
    return undefined;
  }

  /** @internal Makes the handle of an event held past `consume`. */
  holdEvent(context: LoopContext, event: Event): HeldEvent {
    const held = new HeldEvent(this, context, event);
    context.inc.held.add(held);
    return held;
  }

  /** @internal Finishes a held event: handled, or failed with `failure`. */
  finishHeld(
    held: HeldEvent,
    failure: Failure | undefined,
  ): Promise<void> | undefined {
    if (failure === undefined) {
      countConsumed(
        this.actor[COUNTERS],
        this.#delivers,
        held.event,
        held.sent,
      );
      held.inbound.finish(1);
      held.tracker?.release();
      return undefined;
    }
    const waiting = this.#fail(held.queue, held.event, failure, held.sent);
    held.inbound.finishFailed(1);
    held.tracker?.release();
    return waiting;
  }

  #soleActiveContext(): LoopContext | undefined {
    const loops = this.#inc?.loops;
    return loops?.length === 1 && this.actor.produce === undefined
      ? loops[0]
      : undefined;
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        const inc = new Incarnation();
        this.#inc = inc;
        const ended = await this.#runOnce(inc);
        if (ended === undefined || ended === ABANDONED) break;
        if (!await this.#recover(inc, ended)) break;
      }
    } catch (error) {
      // A bug of the supervisor itself: say so, and end as abandoned.
      this.#hooks.log.error(
        'The supervisor of actor "{actor}" failed: {error}',
        { actor: this.actor.name, error: describe(error) },
      );
      this.abandon();
    } finally {
      if (!this.#abandon.signal.aborted) await this.#closeOutbound();
      this.#end();
    }
  }

  #end(): void {
    clearTimeout(this.#lingerTimer);
    if (this.#phase === "running" || this.#phase === "restarting") {
      this.#phase = "finished";
    }
    this.#finished = true;
    this.#done.resolve();
  }

  /**
   * One run: the loops of the inbound queues and `produce`, until they all
   * end (`undefined`), the actor crashes (the error) or is abandoned.
   */
  async #runOnce(inc: Incarnation): Promise<unknown> {
    // Handed over: a run restarted after a crash reads nothing.
    const loops = this.#leaving === "handover"
      ? []
      : [...this.actor.pool.inbound].map(([name, queue]) =>
        this.#loop(inc, name, queue)
      );
    const work = (async () => {
      if (this.actor.produce !== undefined) {
        try {
          await this.actor.produce(
            AbortSignal.any([this.#stopProducing.signal, inc.abort.signal]),
          );
        } catch (error) {
          // Giving up with the stop's abort (`signal.throwIfAborted()`) is
          // how a produce may end; anything else is a crash.
          if (!this.#stopProducing.signal.aborted || !isAbortError(error)) {
            inc.end(error);
            return;
          }
        }
        if (inc.over) return;
        await this.#closeOutbound(this.#hooks.closeWhenProduced);
      }
      await Promise.all(loops);
      if (inc.over) return;
      await inc.heldSettled();
      if (inc.over) return;
      try {
        await this.actor.drained();
      } catch (error) {
        if (inc.over) return;
        this.#hooks.log.error(
          'Actor "{actor}" failed to flush on drain: {error}',
          { actor: this.actor.name, error: describe(error) },
        );
      }
      inc.end(undefined);
    })();
    void work;
    return await inc.ended.promise;
  }

  /**
   * After a crash: ends the run, fails what it held, and restarts the actor
   * (true) or gives up (false).
   */
  async #recover(inc: Incarnation, crash: unknown): Promise<boolean> {
    // Restarted while the pipeline stops too: a stage or an output must
    // drain what is queued for it, and a restarted input ends at once.
    const restart = this.#mayRestart();
    this.#hooks.onCrash?.({
      actor: this.actor.name,
      error: describe(crash),
      time: new Date().toISOString(),
      restarted: restart,
    });
    this.#hooks.log.error(
      restart
        ? 'Actor "{actor}" crashed and will be restarted: {error}'
        : 'Actor "{actor}" crashed: {error}',
      { actor: this.actor.name, error: describe(crash) },
    );
    this.#phase = "restarting";
    await this.#endRun(inc, crash);
    if (this.#abandon.signal.aborted) return false;
    if (!restart) {
      await this.#giveUp(crash);
      return false;
    }
    try {
      await this.#restartStep("teardown", this.actor.teardown());
      // The exponent is capped: past 1,024 crashes 2 ** n is Infinity, and
      // a backoff of 0 times that is NaN.
      const backoff = Math.min(
        MAX_RESTART_BACKOFF_MS,
        this.actor.restart.backoffMs *
          2 ** Math.min(this.#crashTimes.length - 1, 30),
      );
      if (!await sleep(backoff, this.#abandon.signal)) return false;
      await this.#restartStep("setup", this.actor.setup());
    } catch (error) {
      // Counts as one more crash: try again, or give up.
      return await this.#recover(new Incarnation(), error);
    }
    if (this.#abandon.signal.aborted) return false;
    this.actor[COUNTERS].restarts_total++;
    this.#phase = "running";
    return true;
  }

  /** Whether the crash policy allows one more restart now. */
  #mayRestart(): boolean {
    const now = Date.now();
    const { max, withinMs } = this.actor.restart;
    this.#crashTimes = this.#crashTimes.filter((time) => now - time < withinMs);
    this.#crashTimes.push(now);
    return this.#crashTimes.length <= max;
  }

  /**
   * Waits for the teardown or the setup of a restart, or until the actor is
   * abandoned; rejects with a {@link CrashError} when it takes longer than
   * {@link SupervisorHooks.restartStepMs}, so that a setup that hangs does
   * not keep the actor restarting for ever.
   */
  async #restartStep(
    step: "teardown" | "setup",
    promise: void | Promise<void>,
  ): Promise<void> {
    if (promise === undefined) return;
    const limitMs = this.#hooks.restartStepMs ?? DEFAULT_RESTART_STEP_MS;
    const deadline = new Deadline(limitMs);
    const waiting = this.#whileNotAbandoned(promise);
    try {
      if (!await deadline.race(waiting)) {
        throw new CrashError(
          `Actor "${this.actor.name}" did not finish its ${step} within ${limitMs} ms while it restarted`,
        );
      }
    } finally {
      deadline.cancel();
    }
    await waiting;
  }

  /** Resolves with `promise`, or at once when the actor is abandoned. */
  async #whileNotAbandoned(promise: void | Promise<void>): Promise<void> {
    if (promise === undefined) return;
    const abandoned = this.#abandon.signal;
    if (abandoned.aborted) return;
    const { promise: stopped, resolve } = Promise.withResolvers<void>();
    using _ = whenAborted(abandoned, () => resolve());
    await Promise.race([promise, stopped]);
  }

  /**
   * Ends a crashed run: its loops stop reading (they may finish the batch in
   * hand, for a short grace), then what is still unfinished fails with the
   * crash.
   */
  async #endRun(inc: Incarnation, crash: unknown): Promise<void> {
    for (const loop of inc.loops) {
      loop.stopReading = true;
      releaseReader(loop);
    }
    await this.#whileNotAbandoned(
      settleWithin(
        Promise.all(inc.loops.map((loop) => loop.finished)),
        CRASH_GRACE_MS,
      ),
    );
    inc.dead = true;
    inc.abort.abort(crash);
    if (this.#abandon.signal.aborted) return;
    this.#countUnfinishedSends(inc);
    const failure: Failure = {
      error: crash instanceof CrashError ? crash : new CrashError(
        `Actor "${this.actor.name}" crashed: ${describe(crash)}`,
        { cause: crash },
      ),
      details: undefined,
    };
    for (const loop of inc.loops) {
      const batch = loop.batch;
      if (batch === undefined) continue;
      loop.batch = undefined;
      for (let i = loop.pos; i < batch.length; i++) {
        if (this.#abandon.signal.aborted) {
          // The queue counted the rest as abandoned; their trackers fail.
          failTrackers(batch, this.#abandonReason, i);
          return;
        }
        const event = batch[i]!;
        if (loop.holds?.has(event) || (loop.heldCurrent && i === loop.pos)) {
          continue;
        }
        const waiting = this.#fail(loop.queue, event, failure, 0);
        loop.inbound.finishFailed(1);
        (event as TrackedEvent)[TRACKER]?.release();
        if (waiting !== undefined) await waiting;
      }
    }
    for (const held of [...inc.held]) {
      // Abandoned meanwhile: the held ones left were failed as abandoned.
      if (this.#abandon.signal.aborted) return;
      held.settled = true;
      inc.release(held);
      const waiting = this.finishHeld(held, failure);
      if (waiting !== undefined) await waiting;
    }
    // What failed goes on now, not with the next batch the restarted run
    // consumes, which may be long in coming.
    await this.#whileNotAbandoned(this.#flushOutbound());
  }

  /**
   * Gives up on an actor that crashed too often: tells the router (which
   * stops the pipeline), then fails every event that still reaches it, so
   * that nothing upstream waits for it, until its queues close.
   */
  async #giveUp(crash: unknown): Promise<void> {
    this.#phase = "gave up";
    this.#gaveUp = crash;
    this.#hooks.onGiveUp?.(this, crash);
    const failure: Failure = {
      error: new CrashError(
        `Actor "${this.actor.name}" stopped: ${GIVE_UP_MESSAGE} (${
          describe(crash)
        })`,
      ),
      details: undefined,
    };
    const inc = new Incarnation();
    this.#inc = inc;
    await Promise.all(
      [...this.actor.pool.inbound].map(async ([name, queue]) => {
        const reader = queue.readable.getReader();
        try {
          for (;;) {
            const next = await reader.read().catch(() => DONE);
            if (next.done) return;
            const events = next.value;
            for (let i = 0; i < events.length; i++) {
              if (this.#abandon.signal.aborted) {
                // The queue counted the rest as abandoned.
                failTrackers(events, this.#abandonReason, i);
                break;
              }
              const event = events[i]!;
              const waiting = this.#fail(name, event, failure, 0);
              queue.finishFailed(1);
              (event as TrackedEvent)[TRACKER]?.release();
              if (waiting !== undefined) await waiting;
            }
          }
        } finally {
          releaseReaderLock(reader);
        }
      }),
    );
  }

  /**
   * What the work in progress of a run that ends sent so far counts as
   * copies: the event it came from ends abandoned or failed, and what it
   * sent is in the queues downstream.
   */
  #countUnfinishedSends(inc: Incarnation): void {
    const counters = this.actor[COUNTERS];
    for (const loop of inc.loops) {
      counters.copies_total += loop.sent;
      loop.sent = 0;
    }
    for (const held of inc.held) {
      counters.copies_total += held.sent;
      held.sent = 0;
    }
  }

  /** Stops a run at once: its work is failed as abandoned. */
  #kill(inc: Incarnation, reason: string): void {
    inc.dead = true;
    inc.abort.abort(new Error(reason));
    this.#countUnfinishedSends(inc);
    for (const loop of inc.loops) {
      loop.stopReading = true;
      const batch = loop.batch;
      loop.batch = undefined;
      if (batch !== undefined) failTrackers(batch, reason, loop.pos);
      releaseReader(loop);
    }
    for (const held of inc.held) {
      held.settled = true;
      held.tracker?.fail(reason);
    }
    inc.held.clear();
  }

  /** Reads one inbound queue until it ends, consuming batch by batch. */
  #loop(inc: Incarnation, name: string, queue: Queue): Promise<void> {
    const context = new LoopContext(this, inc, name, queue);
    inc.loops.push(context);
    const finished = (async () => {
      const reader = queue.readable.getReader();
      context.reader = reader;
      const window = this.actor.pool.window;
      // When the batch before ended, while the loop has not waited since:
      // the next batch's time starts there, one clock read a batch instead
      // of two under load (the loop's bookkeeping in between counts with
      // it, not the observers of a queue, such as a live tap).
      let ended: number | undefined;
      try {
        for (;;) {
          if (context.stopReading) return;
          // What is queued is taken at once; the stream's read waits.
          let batch = queue.takeQueued();
          if (batch === undefined && queue.waitsInMemory) {
            // Woken as soon as events are queued, without a read's promises.
            await new Promise<void>((resolve) => {
              context.wake = resolve;
              queue.onQueued(resolve);
            });
            context.wake = undefined;
            ended = undefined;
            continue;
          }
          if (batch === undefined) {
            ended = undefined;
            let next: ReadableStreamReadResult<Event[]>;
            try {
              next = await reader.read();
            } catch (error) {
              if (context.stopReading || inc.dead) return;
              throw error;
            }
            if (next.done) return;
            batch = next.value;
          }
          context.batch = batch;
          context.pos = 0;
          if (inc.dead) return;
          const started = ended !== undefined && !queue.observed
            ? ended
            : performance.now();
          window.open();
          let alive: boolean;
          try {
            const consumed = this.actor.consumeBatch === undefined
              ? this.#consumeEach(context, batch)
              : this.#consumeAll(context, batch);
            alive = typeof consumed === "boolean" ? consumed : await consumed;
          } finally {
            window.close();
          }
          if (!alive) return;
          context.batch = undefined;
          ended = performance.now();
          this.actor.observeConsume((ended - started) / 1000, batch.length);
          const flushing = this.#flushOutbound();
          if (flushing !== undefined) {
            await flushing;
            ended = undefined;
          }
        }
      } catch (error) {
        inc.end(error);
      } finally {
        releaseReaderLock(reader);
      }
    })();
    context.finished = finished;
    return finished;
  }

  /**
   * Consumes a batch one event at a time. Before waiting, the events
   * finished so far are told to the queue, so that a stop that times out
   * counts exactly the events not finished. An event whose `consume` threw
   * a {@link CrashError} fails at once (no retry), then the run crashes.
   */
  async #consumeEach(context: LoopContext, batch: Event[]): Promise<boolean> {
    const inc = context.inc;
    const inbound = context.inbound;
    const actor = this.actor;
    const counters = actor[COUNTERS];
    const delivers = this.#delivers;
    let ok = 0;
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i]!;
      context.begin(event);
      try {
        const result = this.#tracksCalls
          ? callContext.run(context, this.#consume, event, context)
          : actor.consume(event, context);
        if (result !== undefined) {
          if (ok > 0) inbound.finish(ok);
          ok = 0;
          this.#lingerWhileWaiting();
          try {
            await result;
          } finally {
            this.actor.pool.window.resume();
          }
        }
      } catch (error) {
        if (!this.#keptPassed(context, error)) {
          context.failure ??= { error, details: undefined };
        }
      }
      if (inc.dead) return false;
      if (
        context.failure !== undefined && actor.retry !== undefined &&
        !isCrash(context.failure)
      ) {
        if (ok > 0) inbound.finish(ok);
        ok = 0;
        if (!await this.#retry(context, event)) return false;
      }
      context.active = false;
      context.pos = i + 1;
      const failure = context.failure;
      if (context.heldCurrent) this.#countSentBesideHeld(context);
      if (context.heldCurrent || failure === undefined) {
        if (!context.heldCurrent) {
          countConsumed(counters, delivers, event, context.sent);
          context.sent = 0;
          ok++;
          context.tracker?.release();
        }
        const crashed = failure !== undefined && isCrash(failure);
        if (!crashed && context.crash === undefined) continue;
      } else {
        if (ok > 0) inbound.finish(ok);
        ok = 0;
        const waiting = this.#fail(context.queue, event, failure, context.sent);
        context.sent = 0;
        inbound.finishFailed(1);
        context.tracker?.release();
        if (waiting !== undefined) {
          await waiting;
          if (inc.dead) return false;
        }
        if (!isCrash(failure)) continue;
      }
      // A CrashError: the rest of the batch fails with the crash.
      if (ok > 0) inbound.finish(ok);
      inc.end(failure?.error ?? context.crash);
      return false;
    }
    if (ok > 0) inbound.finish(ok);
    context.event = undefined;
    context.tracker = undefined;
    return true;
  }

  /**
   * What a `consume` that held its event sent through its context counts
   * with the held event, or as copies when that was finished already.
   */
  #countSentBesideHeld(context: LoopContext): void {
    const held = context.held!;
    if (held.settled) this.actor[COUNTERS].copies_total += context.sent;
    else held.sent += context.sent;
    context.sent = 0;
  }

  /**
   * Runs `consume` again after the backoff while it fails and retries are
   * left (not after a {@link CrashError}).
   */
  async #retry(context: LoopContext, event: Event): Promise<boolean> {
    const { max, backoffMs } = this.actor.retry!;
    const inc = context.inc;
    for (let attempt = 1; attempt <= max; attempt++) {
      if (!await sleep(backoffMs * 2 ** (attempt - 1), inc.abort.signal)) {
        return false;
      }
      if (inc.dead) return false;
      context.failure = undefined;
      context.active = true;
      try {
        const result = this.#tracksCalls
          ? callContext.run(context, this.#consume, event, context)
          : this.actor.consume(event, context);
        if (result !== undefined) {
          this.#lingerWhileWaiting();
          try {
            await result;
          } finally {
            this.actor.pool.window.resume();
          }
        }
      } catch (error) {
        if (!this.#keptPassed(context, error)) {
          context.failure ??= { error, details: undefined };
        }
      }
      if (inc.dead) return false;
      if (context.failure === undefined || isCrash(context.failure)) {
        return true;
      }
    }
    return true;
  }

  /**
   * Whether `error`, thrown by `consume` after it sent the very event it
   * consumes on (not explicitly failed before), leaves that event passed
   * on: it is downstream's then, so it is neither failed too (it would
   * reach both the output and `error`) nor retried (it would be sent
   * again). Logged; a {@link CrashError} still crashes the run once the
   * event is counted.
   */
  #keptPassed(context: LoopContext, error: unknown): boolean {
    if (!context.sentItself || context.failure !== undefined) return false;
    this.actor[ACTOR_LOG].error(
      'Actor "{actor}" threw after sending on the event it consumes, which stays sent on: {error}',
      { actor: this.actor.name, error: describe(error) },
    );
    if (error instanceof CrashError) context.crash = error;
    return true;
  }

  /**
   * Consumes a batch with `consumeBatch`. After each attempt the events it
   * neither failed nor held are finished; those it failed (or all it did
   * not fail or hold, when it throws) are retried together as `retry` says,
   * then fail. A {@link CrashError} fails them at once and crashes the run.
   * While it runs, `context.batch` holds the events not finished yet.
   *
   * The usual batch of a stage (consumed at once, no event failed) is
   * finished at once and the result returned as it is: no promise is made
   * for it, and the loop reads on in the same turn.
   */
  #consumeAll(
    context: LoopContext,
    batch: Event[],
  ): boolean | Promise<boolean> {
    context.batchMode = true;
    context.failures = undefined;
    context.holds = undefined;
    context.crash = undefined;
    const waiting = this.#attemptBatch(context, batch);
    if (
      waiting !== undefined || context.failures !== undefined ||
      context.crash !== undefined
    ) return this.#consumeAllAfter(context, batch, waiting);
    if (context.inc.dead) return false;
    this.#finishBatch(context, batch);
    this.#endBatchMode(context);
    return true;
  }

  /**
   * {@link Supervisor.#consumeAll} once the first attempt was made, when it
   * must wait (`waiting`), or some events failed.
   */
  async #consumeAllAfter(
    context: LoopContext,
    batch: Event[],
    waiting: Promise<void> | undefined,
  ): Promise<boolean> {
    const inc = context.inc;
    const actor = this.actor;
    let events = batch;
    for (let attempt = 0;; attempt++) {
      if (attempt > 0) waiting = this.#attemptBatch(context, events);
      if (waiting !== undefined) await waiting;
      if (inc.dead) return false;
      this.#finishBatch(context, events);
      const failures = context.failures as Map<Event, Failure> | undefined;
      if (failures === undefined) break;
      events = [...failures.keys()];
      context.batch = events;
      for (const failure of failures.values()) {
        if (isCrash(failure)) context.crash ??= failure.error;
      }
      const retry = actor.retry;
      if (
        context.crash !== undefined || retry === undefined ||
        attempt >= retry.max
      ) break;
      context.failures = undefined;
      if (!await sleep(retry.backoffMs * 2 ** attempt, inc.abort.signal)) {
        return false;
      }
      if (inc.dead) return false;
    }
    const failures = context.failures as Map<Event, Failure> | undefined;
    const crash = context.crash;
    this.#endBatchMode(context);
    if (failures !== undefined) {
      let i = 0;
      for (const [event, failure] of failures) {
        context.pos = ++i;
        const waiting = this.#fail(context.queue, event, failure, 0);
        context.inbound.finishFailed(1);
        (event as TrackedEvent)[TRACKER]?.release();
        if (waiting !== undefined) {
          await waiting;
          if (inc.dead) return false;
        }
      }
    }
    context.batch = undefined;
    if (crash === undefined) return true;
    inc.end(crash);
    return false;
  }

  /**
   * One attempt of `consumeBatch` on `events`: `undefined` when it settled
   * at once, else a promise (that never rejects) of when it settled. A
   * throw or a rejection fails the events it neither failed nor held (see
   * {@link Supervisor.#batchThrew}).
   */
  #attemptBatch(
    context: LoopContext,
    events: Event[],
  ): Promise<void> | undefined {
    context.batch = events;
    context.pos = 0;
    context.sent = 0;
    // What `send` derives from when not told.
    context.deriveFrom(events);
    context.active = true;
    context.passedOn = undefined;
    context.passing = undefined;
    context.passedWhole = false;
    context.sentInAttempt.length = 0;
    context.calling = true;
    let result: void | Promise<void>;
    try {
      result = this.#tracksCalls
        ? callContext.run(context, this.#consumeBatch, events, context)
        : this.actor.consumeBatch!(events, context);
    } catch (error) {
      context.calling = false;
      this.#batchThrew(context, events, error);
      endAttempt(context);
      return undefined;
    }
    context.calling = false;
    if (result === undefined) {
      endAttempt(context);
      return undefined;
    }
    // What it passed on may be consumed downstream meanwhile, unless that
    // send is all it still waits for.
    if (
      result !== context.passing || context.failures !== undefined ||
      context.holds !== undefined
    ) this.#keepPassedOn(context);
    this.#lingerWhileWaiting();
    const window = this.actor.pool.window;
    return Promise.resolve(result).then(
      () => {
        window.resume();
        endAttempt(context);
      },
      (error) => {
        window.resume();
        this.#batchThrew(context, events, error);
        endAttempt(context);
      },
    );
  }

  /**
   * `consumeBatch` threw (or rejected) on `events`: those it neither failed,
   * held nor sent on itself fail with the error, unless it passed them all
   * on first (see `LoopContext.passedWhole`) or the actor was stopped
   * meanwhile (they are abandoned).
   */
  #batchThrew(context: LoopContext, events: Event[], error: unknown): void {
    if (context.inc.dead) {
      // Stopped: the events are abandoned.
    } else if (context.passedWhole) {
      // Its events went on: see `LoopContext.passedWhole`.
      this.actor[ACTOR_LOG].error(
        'Actor "{actor}" threw after passing its whole batch on, which stays passed on: {error}',
        { actor: this.actor.name, error: describe(error) },
      );
      if (error instanceof CrashError) context.crash ??= error;
    } else {
      const sent = this.#sentOfBatch(context, events, error);
      for (const event of events) {
        // Made only when some event fails: a batch all sent on is not
        // retried (as an empty batch).
        if (
          context.failures?.has(event) !== true && !isHeld(context, event) &&
          sent?.has(event) !== true
        ) {
          (context.failures ??= new Map()).set(event, {
            error,
            details: undefined,
          });
        }
      }
      if (sent !== undefined && error instanceof CrashError) {
        context.crash ??= error;
      }
    }
  }

  /** A batch was consumed: the context is back in per-event mode. */
  #endBatchMode(context: LoopContext): void {
    context.batchMode = false;
    context.failures = undefined;
    context.holds = undefined;
    context.tracker = undefined;
    context.crash = undefined;
  }

  /**
   * The events of `events` that a `consumeBatch` attempt, which threw
   * `error`, sent on itself (with `send`, or `sendAll` of other arrays):
   * they stay passed on, as a batch passed on whole does (see
   * `LoopContext.passedWhole`), and the rest fails or is retried. Logged;
   * `undefined` when it sent none of them.
   */
  #sentOfBatch(
    context: LoopContext,
    events: readonly Event[],
    error: unknown,
  ): Set<Event> | undefined {
    if (context.sentInAttempt.length === 0) return undefined;
    const own = new Set(events);
    const sent = new Set<Event>();
    for (const item of context.sentInAttempt) {
      for (const event of Array.isArray(item) ? item : [item]) {
        if (own.has(event) && !context.failures?.has(event)) sent.add(event);
      }
    }
    context.sentInAttempt.length = 0;
    if (sent.size === 0) return undefined;
    this.actor[ACTOR_LOG].error(
      'Actor "{actor}" threw after sending on {count} event(s) of its batch, which stay sent on: {error}',
      { actor: this.actor.name, count: sent.size, error: describe(error) },
    );
    return sent;
  }

  /**
   * Finishes the events of one `consumeBatch` attempt that it neither
   * failed nor held, counting them with what the attempt sent.
   */
  #finishBatch(context: LoopContext, events: readonly Event[]): void {
    const failures = context.failures;
    const holds = context.holds;
    const counters = this.actor[COUNTERS];
    let succeeded = 0;
    if (failures === undefined && holds === undefined && !this.#delivers) {
      // The usual batch of a stage: every event succeeded. Passed on whole,
      // the places its events held here moved downstream.
      succeeded = events.length;
      if (context.passedOn === events) {
        context.passedOn = undefined;
        context.passing = undefined;
      } else {
        this.#keepPassedOn(context);
        for (let i = 0; i < events.length; i++) {
          (events[i] as TrackedEvent)[TRACKER]?.release();
        }
      }
    } else if (failures === undefined && holds === undefined) {
      // The usual batch of an output: every event delivered.
      this.#keepPassedOn(context);
      succeeded = events.length;
      let errors = 0;
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as TrackedEvent;
        if (event[FAILED] === true) errors++;
        event[TRACKER]?.release();
      }
      counters.errors_total += errors;
      counters.delivered_total += succeeded - errors;
    } else {
      this.#keepPassedOn(context);
      for (const event of events) {
        if (failures?.has(event) || holds?.has(event)) continue;
        succeeded++;
        if (this.#delivers) {
          if ((event as TrackedEvent)[FAILED] === true) counters.errors_total++;
          else counters.delivered_total++;
        }
        (event as TrackedEvent)[TRACKER]?.release();
      }
    }
    counters.consumed_total += succeeded;
    const sent = context.sent;
    if (this.#delivers) counters.copies_total += sent;
    else if (sent >= succeeded) counters.copies_total += sent - succeeded;
    else counters.filtered_total += succeeded - sent;
    context.sent = 0;
    context.inbound.finish(succeeded);
  }

  /**
   * The events `consumeBatch` passed on whole (see `LoopContext.passedOn`)
   * keep their trackers waiting for their place downstream after all, as
   * `sendAll` does for events it does not hand over.
   */
  #keepPassedOn(context: LoopContext): void {
    const passedOn = context.passedOn;
    if (passedOn === undefined) return;
    context.passedOn = undefined;
    context.passing = undefined;
    retainAll(passedOn);
  }

  /**
   * Fails one event for good: counts it, sets `header.error` and sends it to
   * the `error` queue, or logs it and counts it as lost. `sent` events were
   * derived from it before it failed.
   */
  #fail(
    queue: string,
    event: Event,
    failure: Failure,
    sent: number,
  ): Promise<void> | undefined {
    const counters = this.actor[COUNTERS];
    counters.failed_total++;
    counters.copies_total += sent;
    const { error, details } = failure;
    const header: EventError = {
      actor: this.actor.name,
      queue,
      name: error instanceof Error ? error.name : "Error",
      message: errorMessage(error),
      time: new Date().toISOString(),
      ...details,
    };
    const failed = withError(event, header);
    const tracker = (failed as TrackedEvent)[TRACKER];
    const errors = this.#errors;
    if (errors !== undefined && errors.target !== null && !errors.closed) {
      (failed as TrackedEvent)[FAILED] = true;
      tracker?.retain();
      return errors.push(failed);
    }
    counters.lost_total++;
    tracker?.fail(`${header.name}: ${header.message}`);
    this.actor[ACTOR_LOG].error(
      'Failed to consume an event from "{queue}": {name}: {message}',
      {
        queue: `${this.actor.name}.${queue}`,
        name: header.name,
        message: header.message,
      },
    );
    return undefined;
  }

  /**
   * While an asynchronous `consume` is awaited, what the batch sent so far
   * waits at most `lingerMs` before it is written on: the timer starts now
   * when something is gathered, else once something is (the window tells),
   * so that a consume that only waits for its write costs no timer.
   */
  #lingerWhileWaiting(): void {
    const window = this.actor.pool.window;
    window.wait();
    for (const outbound of this.#outbound) {
      if (outbound.gathered > 0) {
        this.#armLinger();
        return;
      }
    }
  }

  /** Starts the linger timer, unless it runs. */
  #armLinger(): void {
    if (this.#lingerTimer !== undefined) return;
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      for (const outbound of this.#outbound) outbound.flush();
    }, this.actor.lingerMs);
  }

  /**
   * Writes what the outbound queues gathered; returns a promise only when
   * one must be waited for (a promise per batch costs the loop its turns).
   */
  #flushOutbound(): Promise<void> | undefined {
    if (!this.actor.pool.window.isOpen && this.#lingerTimer !== undefined) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    return this.#flushFrom(0);
  }

  /** Flushes the outbound queues from the `first` on, in turn. */
  #flushFrom(first: number): Promise<void> | undefined {
    const queues = this.#outbound;
    for (let i = first; i < queues.length; i++) {
      const flushing = queues[i]!.flush();
      if (flushing !== undefined && !this.#cyclic.has(queues[i]!)) {
        return flushing.then(() => this.#flushFrom(i + 1));
      }
    }
    return undefined;
  }

  /**
   * Closes the outbound queues named in `only` (all when `undefined`);
   * only flushes them when a reload retires the actor.
   */
  async #closeOutbound(only?: ReadonlySet<string>): Promise<void> {
    const leaving = this.#leaving !== undefined;
    await Promise.all(
      [...this.actor.pool.outbound].flatMap(([name, queue]) =>
        only === undefined || only.has(name)
          ? [leaving ? queue.flush() : queue.close()]
          : []
      ),
    );
  }
}

/** What `reader.read()` resolves with at the end. */
const DONE = { done: true } as ReadableStreamReadDoneResult<Event[]>;

/** Whether `error` says that a signal aborted (a `DOMException` "AbortError"). */
function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === "AbortError";
}

/** Whether `failure` is a crash of the actor, not just of its event. */
function isCrash(failure: Failure): boolean {
  return failure.error instanceof CrashError;
}

/** Whether a batch's `consumeBatch` held `event`. */
function isHeld(context: LoopContext, event: Event): boolean {
  return context.holds?.has(event) === true;
}

/**
 * Fails the trackers of the batches `queue` handed to a read that was given
 * up on (a crashed run's), which no reader took since: the queue counted
 * them as abandoned when it was cleared. Only while no one reads it.
 */
async function failUnread(queue: Queue, reason: string): Promise<void> {
  if (queue.readable.locked) return;
  const reader = queue.readable.getReader();
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) return;
      failTrackers(next.value, reason);
    }
  } catch {
    // Cancelled or errored: nothing more to read.
  } finally {
    releaseReaderLock(reader);
  }
}

/**
 * Counts one event consumed, which sent `sent` events on, in `counters` of
 * an actor that `delivers` (an output or input) or passes events on.
 */
function countConsumed(
  counters: ActorFigures,
  delivers: boolean,
  event: Event,
  sent: number,
): void {
  counters.consumed_total++;
  if (delivers) {
    if ((event as TrackedEvent)[FAILED] === true) counters.errors_total++;
    else counters.delivered_total++;
    counters.copies_total += sent;
  } else if (sent === 0) {
    counters.filtered_total++;
  } else {
    counters.copies_total += sent - 1;
  }
}

/** Keeps the tracker of each of `events` waiting once more. */
function retainAll(events: readonly Event[]): void {
  for (let i = 0; i < events.length; i++) {
    (events[i] as TrackedEvent)[TRACKER]?.retain();
  }
}

/** A `consumeBatch` attempt settled: what it sent is no longer looked at. */
function endAttempt(context: LoopContext): void {
  context.active = false;
  context.sentInAttempt.length = 0;
}

/** Lets go of a loop's reader, which ends a read or a wait it is in. */
function releaseReader(loop: LoopContext): void {
  const reader = loop.reader;
  loop.reader = undefined;
  if (reader !== undefined) releaseReaderLock(reader);
  loop.wake?.();
}

function releaseReaderLock(reader: ReadableStreamDefaultReader<Event[]>) {
  try {
    reader.releaseLock();
  } catch {
    // Released already.
  }
}

/** Resolves once `promise` settles or `ms` passed, leaving no timer. */
async function settleWithin(promise: Promise<unknown>, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `event` with `header.error` set; a copy (keeping its tracker) when its
 * header cannot be changed (frozen, say).
 */
function withError(event: Event, error: EventError): Event {
  try {
    event.header.error = error;
    if (event.header.error === error) return event;
  } catch {
    // A frozen or sealed header: copy below.
  }
  const copy: TrackedEvent = {
    header: { ...event.header, error },
    data: event.data,
  };
  const tracker = (event as TrackedEvent)[TRACKER];
  if (tracker !== undefined) copy[TRACKER] = tracker;
  return copy;
}
