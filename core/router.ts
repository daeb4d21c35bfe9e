/**
 * The router: registers actors, connects their queues 1:1, starts them
 * consumers first, and stops them by draining every queue downstream. It
 * composes the graph checks (`graph.ts`), one supervisor per actor
 * (`supervisor.ts`), the log and metric side streams (`telemetry.ts`) and
 * the stop report (`report.ts`).
 *
 * @module
 */

import {
  Actor,
  type ActorLog,
  type ActorSettings,
  ATTACH_LOGS,
  describe,
} from "./actor.ts";
import { Deadline } from "./deadline.ts";
import { GraphError, quoteList } from "./errors.ts";
import type { Event } from "./event.ts";
import {
  closedWhenProduced,
  type Connection,
  type ConnectionOptions,
  graphProblems,
  isInput,
  type PipelineGraph,
  sideActors,
  splitAddress,
  startOrder,
} from "./graph.ts";
import {
  LOG_LEVELS,
  type LogEvent,
  type LogLevel,
  scopedLogger,
  writeToStderr,
} from "./log.ts";
import type { PipelineMetrics } from "./metrics.ts";
import { type Queue, queueSettings } from "./queue.ts";
import { type ActorSpec, createActor } from "./registry.ts";
import {
  type ChangeOptions,
  changePipeline,
  type ChangeResult,
  type LiveRouter,
  type PipelineChange,
} from "./reload.ts";
import {
  type HungActor,
  RetiredFigures,
  type StopReport,
  stopReport,
} from "./report.ts";
import {
  type EndDirection,
  type EndOptions,
  makeEnd,
  ReadableEnd,
  type WritableEnd,
} from "./router_ends.ts";
import type { StreamChunk } from "./stream.ts";
import { type ActorPhase, type Crash, Supervisor } from "./supervisor.ts";
import { Telemetry } from "./telemetry.ts";

export type { Connection, ConnectionOptions } from "./graph.ts";
export { splitAddress } from "./graph.ts";
export type { ChangeOptions, ChangeResult, PipelineChange } from "./reload.ts";
export type { HungActor, StopReport } from "./report.ts";
export type { ActorPhase, Crash } from "./supervisor.ts";

/**
 * Router settings.
 *
 * @example
 * ```ts
 * import { Router, type RouterOptions } from "./router.ts";
 * const options: RouterOptions = { logLevel: "warning", metricsIntervalMs: 0 };
 * const router = new Router(options);
 * await router.stop();
 * ```
 */
export interface RouterOptions {
  /** Lowest level of log records routed (default `"info"`). */
  logLevel?: LogLevel;
  /** How often metric events are emitted, in ms (default 10 000; 0: never). */
  metricsIntervalMs?: number;
  /**
   * How long the router waits for the queues to drain when it stops by
   * itself because an actor crashed too often, in ms (default 30 000).
   */
  crashStopTimeoutMs?: number;
}

/**
 * How `start` behaves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router, type StartOptions } from "./router.ts";
 * const options: StartOptions = { timeoutMs: 10_000 };
 * const router = new Router();
 * await router.start(options);
 * assert.equal(router.status().state, "running");
 * await router.stop();
 * ```
 */
export interface StartOptions {
  /**
   * Longest wait for every actor's `setup()`, in ms (default 30 000); also
   * the longest a restart's teardown, and then its setup, may take before
   * the restart counts as one more crash.
   */
  timeoutMs?: number;
}

/**
 * How `stop` behaves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router, type StopOptions } from "./router.ts";
 * const options: StopOptions = { timeoutMs: 5000 };
 * assert.equal((await new Router().stop(options)).timedOut, false);
 * ```
 */
export interface StopOptions {
  /**
   * Longest wait for the queues to drain, in ms (default 30 000). Teardown
   * and the log and metric actors get at most {@link STOP_GRACE_MS} more:
   * `stop()` returns within `timeoutMs + STOP_GRACE_MS` whatever hangs.
   */
  timeoutMs?: number;
}

/**
 * What `stop()` may take beyond its `timeoutMs`, in ms: teardown and the
 * log and metric actors' drain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STOP_GRACE_MS } from "./router.ts";
 * assert.equal(STOP_GRACE_MS, 1000);
 * ```
 */
export const STOP_GRACE_MS = 1000;

/**
 * A router's lifecycle state: `"new"` while actors are registered and
 * connected, `"starting"` during `start()`, `"running"` until `stop()`,
 * `"stopping"` while it drains, then `"stopped"` for good.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router, type RouterState } from "./router.ts";
 * const router = new Router();
 * const state: RouterState = router.status().state;
 * assert.equal(state, "new");
 * await router.stop();
 * assert.equal(router.status().state, "stopped");
 * ```
 */
export type RouterState =
  | "new"
  | "starting"
  | "running"
  | "stopping"
  | "stopped";

/**
 * What `Router.status()` returns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { Router, type RouterStatus } from "./router.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { interval: 0, count: 3 }));
 * router.register(registry.create("null", "sink"));
 * router.connect("input.outbox", "sink.inbox");
 * const status: RouterStatus = router.status();
 * assert.equal(status.state, "new");
 * await router.stop();
 * ```
 */
export interface RouterStatus {
  /** The router's lifecycle state. */
  state: RouterState;
  /** Each actor's run state and health, by name. */
  actors: Record<
    string,
    {
      /** `waiting` until it runs, `running` (restarts included), then `finished`. */
      state: "waiting" | "running" | "finished";
      /** Where its supervisor is in its lifecycle. */
      phase: ActorPhase;
      /** Times it was restarted after a crash. */
      restarts: number;
      ready: boolean;
      reason?: string;
    }
  >;
}

/**
 * Registers actors, connects them and runs the pipeline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS, Registry, Router } from "../mod.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { count: 3 }));
 * router.register(registry.create("null", "sink"));
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * const report = await router.stop();
 * assert.equal(report.delivered, 3);
 * ```
 */
export class Router {
  #actors = new Map<string, Actor>();
  #connections: Connection[] = [];
  #logActor: Actor | undefined;
  #metricActor: Actor | undefined;
  #state: RouterState = "new";
  #starting: Promise<void> | undefined;
  #stopping: Promise<StopReport> | undefined;
  #deadline: Deadline | undefined;
  /** The deadline of the setups during `start()`, which a stop brings forward. */
  #startDeadline: Deadline | undefined;
  /** The log and metric actors and every actor they feed, by name. */
  #side = new Map<string, Actor>();
  #supervisors = new Map<Actor, Supervisor>();
  /** Supervisors whose actor was set up, in start order. */
  #setUp: Supervisor[] = [];
  #order: Actor[] = [];
  #finished = Promise.withResolvers<void>();
  #metricsIntervalMs: number;
  #crashStopTimeoutMs: number;
  #telemetry: Telemetry;
  /** The crashes for the stop report (see `#noteCrash`). */
  #crashes: Crash[] = [];
  /** Restarts after a crash so far, also those `#crashes` forgot. */
  #restarts = 0;
  #gaveUp: string[] = [];
  #hung: HungActor[] = [];
  /** The external ends, by address (see `router_ends.ts`). */
  #ends = new Map<string, WritableEnd | ReadableEnd>();
  /**
   * The inbound queues with a disk buffer, and, after a change, every
   * inbound queue of the pipeline (a change may hand one a disk buffer).
   */
  #buffered = new Set<Queue>();
  /** The change in progress (see `change()`), if any. */
  #changing: Promise<ChangeResult> | undefined;
  /**
   * Supervisors of actors a change removed or replaced that have not
   * finished yet, and whether each fed the side streams.
   */
  #retiring = new Map<Supervisor, boolean>();
  /** Settle once each retiring actor is torn down and its figures kept. */
  #retirements = new Set<Promise<void>>();
  /** What the actors retired left to the stop report. */
  #retired = new RetiredFigures();
  /**
   * Whether `finished` may resolve: once started, except while a change is
   * in progress (it then waits for the actors of the change).
   */
  #watching = false;
  /** The start's timeout: the longest setup of a restart (see Supervisor). */
  #restartStepMs = 30_000;

  /** Makes an empty router. */
  constructor(options: RouterOptions = {}) {
    const logLevel = options.logLevel ?? "info";
    if (!LOG_LEVELS.includes(logLevel)) {
      throw new RangeError(
        `Router: logLevel must be one of ${
          quoteList(LOG_LEVELS)
        }, got "${logLevel}"`,
      );
    }
    this.#metricsIntervalMs = checkMs(
      "metricsIntervalMs",
      options.metricsIntervalMs ?? 10_000,
    );
    this.#crashStopTimeoutMs = checkMs(
      "crashStopTimeoutMs",
      options.crashStopTimeoutMs ?? 30_000,
    );
    this.#telemetry = new Telemetry(logLevel, () => this.metrics());
  }

  /**
   * Registers an actor, or makes one from a spec and raw options (validated
   * by the spec's schema). Names are unique.
   */
  register<A extends Actor>(actor: A): A;
  /** Makes an actor from `spec` and raw `options`, and registers it. */
  register(
    spec: ActorSpec,
    name: string,
    options?: unknown,
    settings?: ActorSettings,
  ): Actor;
  register(
    actorOrSpec: Actor | ActorSpec,
    name?: string,
    options?: unknown,
    settings?: ActorSettings,
  ): Actor {
    const actor = actorOrSpec instanceof Actor
      ? actorOrSpec
      : createActor(actorOrSpec, name ?? "", options, settings);
    if (this.#state !== "new") {
      throw new TypeError(
        `Cannot register "${actor.name}": the router has already started`,
      );
    }
    if (this.#actors.has(actor.name)) {
      throw new TypeError(
        `An actor named "${actor.name}" is already registered`,
      );
    }
    this.#actors.set(actor.name, actor);
    actor[ATTACH_LOGS](this.#telemetry.scope);
    return actor;
  }

  /**
   * Routes every log record, as a log event, to `actor`'s `inbox` (registering
   * the actor if needed). Without one, readable lines go to stderr.
   */
  registerLogActor(actor: Actor): Actor {
    this.#registerSide(actor, "log");
    this.#logActor = actor;
    return actor;
  }

  /**
   * Routes metric events, every `metricsIntervalMs` and once at stop, to
   * `actor`'s `inbox` (registering the actor if needed).
   */
  registerMetricActor(actor: Actor): Actor {
    this.#registerSide(actor, "metric");
    this.#metricActor = actor;
    return actor;
  }

  #registerSide(actor: Actor, side: "log" | "metric"): void {
    if (this.#state !== "new") {
      throw new TypeError(
        `Cannot make "${actor.name}" the ${side} actor: the router has already started`,
      );
    }
    if (!actor.pool.inbound.has("inbox")) {
      throw new TypeError(
        `Cannot make "${actor.name}" the ${side} actor: it has no inbound queue "inbox"`,
      );
    }
    // Registers it, or throws when another actor has its name.
    if (this.#actors.get(actor.name) !== actor) this.register(actor);
  }

  /** The registered actor called `name`. */
  actor(name: string): Actor | undefined {
    return this.#actors.get(name);
  }

  /**
   * A logger in this router's log scope for a part of the program that is
   * not an actor (the admin server, say): its records go where the actors'
   * go (the log actor, or stderr), as `name`.
   *
   * @example
   * ```ts
   * import { Router } from "./router.ts";
   * const router = new Router();
   * router.logger("admin").info("Listening");
   * await router.stop();
   * ```
   */
  logger(name: string): ActorLog {
    return scopedLogger(this.#telemetry.scope, name);
  }

  /** Every registered actor in registration order. */
  actors(): Actor[] {
    return [...this.#actors.values()];
  }

  /** Every connection in the order made. */
  connections(): readonly Connection[] {
    return this.#connections;
  }

  /**
   * Connects outbound queue `from` (`"actor.queue"`) to inbound queue `to`,
   * strictly one to one. Problems are collected and thrown together as one
   * `GraphError` by `check()` and `start()`.
   */
  connect(from: string, to: string, options: ConnectionOptions = {}): void {
    if (this.#state !== "new") {
      throw new TypeError(
        `Cannot connect "${from}" to "${to}": the router has already started`,
      );
    }
    this.#connections.push({ from, to, options: { ...options } });
  }

  /** Throws a `GraphError` listing every problem of the graph, if any. */
  check(): void {
    const problems = graphProblems(this.#graph());
    if (problems.length > 0) throw new GraphError(problems);
  }

  /**
   * Starts the pipeline: checks the graph, connects the queues, calls every
   * actor's `setup()` consumers before producers (each within the start's
   * `timeoutMs`), then runs them. Resolves once everything runs.
   */
  start(options: StartOptions = {}): Promise<void> {
    if (this.#state !== "new") {
      return Promise.reject(new TypeError("The router can be started once"));
    }
    try {
      this.check();
    } catch (error) {
      return Promise.reject(error);
    }
    this.#state = "starting";
    this.#starting = this.#start(options.timeoutMs ?? 30_000);
    return this.#starting;
  }

  /**
   * Resolves when every actor of the pipeline (not counting the log and
   * metric actors) has finished: its inputs produced all they had and every
   * queue drained. It also resolves once the router stopped, whatever the
   * path (a failed start, a stop, a crash that stopped the pipeline). Call
   * `stop()` afterwards to tear down and get the report.
   */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Stops by draining: inputs stop producing, every queue drains downstream in
   * order, outputs flush, then every actor's `teardown()` runs. What is still
   * queued after `timeoutMs` is counted in the report and thrown away; the
   * actors that hung are named. Calling it again returns the same report; a
   * call with a shorter `timeoutMs` brings the deadline forward.
   */
  stop(options: StopOptions = {}): Promise<StopReport> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    if (this.#deadline === undefined) this.#deadline = new Deadline(timeoutMs);
    else this.#deadline.shorten(timeoutMs);
    // A start still setting up gives up by the stop's deadline.
    this.#startDeadline?.shorten(timeoutMs);
    this.#stopping ??= this.#stop(this.#deadline);
    return this.#stopping;
  }

  /** The figures of every actor and queue now. */
  metrics(): PipelineMetrics {
    const metrics: PipelineMetrics = {
      time: new Date().toISOString(),
      actors: {},
    };
    for (const actor of this.#actors.values()) {
      metrics.actors[actor.name] = {
        kind: actor.kind,
        ...actor.figures(),
        consume_seconds: actor.consumeSeconds(),
        queues: actor.pool.figures(),
      };
    }
    return metrics;
  }

  /**
   * The router's state and each actor's: `waiting` before it runs, `running`,
   * `finished` once it drained, with its phase, restarts and own health
   * (e.g. a lost connection). The admin server's `/ready` reads this.
   */
  status(): RouterStatus {
    const actors: RouterStatus["actors"] = {};
    for (const actor of this.#actors.values()) {
      const supervisor = this.#supervisors.get(actor);
      const phase = supervisor?.phase ?? "waiting";
      const state = phase === "waiting" || phase === "setup"
        ? "waiting"
        : phase === "running" || phase === "restarting"
        ? "running"
        : "finished";
      actors[actor.name] = {
        state,
        phase,
        restarts: actor.figures().restarts_total,
        ...(phase === "restarting"
          ? { ready: false, reason: "It is restarting after a crash" }
          : phase === "gave up"
          ? {
            ready: false,
            reason: "It crashed more often than its restart policy allows",
          }
          : actor.health()),
      };
    }
    return { state: this.#state, actors };
  }

  // External ends (router_ends.ts): the one place the router knows them.

  /**
   * Makes `address` an external end of the pipeline, before `start()`: an
   * inbound queue no actor feeds (`"parse.inbox"`), written to through
   * {@link Router.writable}, or an outbound queue not connected
   * (`"format.outbox"`), read through {@link Router.readable}. The end is an
   * actor of its own, named `address` and connected to it (with `options`),
   * so the graph check counts the queue as connected, and the stop report,
   * `/metrics` and the dashboard count and show what passes it: events
   * written count as `created`, events read as `delivered`. Exposing the
   * same address again does nothing.
   *
   * `writable`, `readable` and `stream` expose their addresses by
   * themselves when called before `start()`; after it, only exposed
   * addresses can be opened.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Router } from "./router.ts";
   * import { nullOutput } from "../actors/output/null.ts";
   * const router = new Router();
   * router.register(nullOutput, "sink");
   * router.expose("sink.inbox");
   * assert.equal(router.actor("sink.inbox")?.kind, "input");
   * await router.stop();
   * ```
   */
  expose(address: string, options: EndOptions = {}): void {
    if (this.#ends.has(address)) return;
    if (this.#state !== "new") {
      throw new TypeError(
        `Cannot expose "${address}": the router has already started`,
      );
    }
    const end = makeEnd(this.#actors, address, options);
    this.register(end);
    this.#ends.set(address, end);
    const { batch: _, ...connection } = options;
    if (end instanceof ReadableEnd) {
      this.connect(address, `${address}.inbox`, connection);
    } else this.connect(`${address}.outbox`, address, connection);
    void this.finished.then(() => end.stopped());
  }

  /**
   * The `WritableStream` of exposed inbound queue `address` (exposed now,
   * with `options`, when the router has not started): each chunk is an
   * event or an array of events (say `batch: true` when you write arrays:
   * it lets `capacity` events queue instead of 16 single ones). Writes wait
   * until the router runs; closing it ends that input (the pipeline drains
   * as when any input ends); it errors once the router stops.
   */
  writable(
    address: string,
    options?: EndOptions,
  ): WritableStream<Event | Event[]> {
    return (this.#openEnd(address, "writable", options) as WritableEnd)
      .writable;
  }

  /**
   * The `ReadableStream` of exposed outbound queue `address` (exposed now,
   * with `options`, when the router has not started): one event per chunk,
   * or arrays of up to 512 events with `batch: true`. A batch counts as
   * delivered once the reader read it and asked for more. It closes once
   * the pipeline drained into it, and errors when the router stopped before.
   */
  readable<const S extends EndOptions = { batch?: false }>(
    address: string,
    options?: S,
  ): ReadableStream<StreamChunk<S>> {
    const end = this.#openEnd(address, "readable", options) as ReadableEnd;
    return end.readable(options?.batch === true) as ReadableStream<
      StreamChunk<S>
    >;
  }

  /**
   * The pipeline between exposed inbound queue `from` and exposed outbound
   * queue `to` as one `TransformStream` stage (both exposed now, with
   * `options`, when the router has not started): `writable(from)` and
   * `readable(to)`, with the propagation a Web Streams developer expects:
   * aborting the writable errors the readable, cancelling the readable
   * errors the writable. Start the router for events to flow; closing the
   * writable drains the pipeline and then closes the readable, unless other
   * inputs keep the pipeline running.
   */
  stream<const S extends EndOptions = { batch?: false }>(
    from: string,
    to: string,
    options?: S,
  ): TransformStream<Event | Event[], StreamChunk<S>> {
    const writable = this.#openEnd(from, "writable", options) as WritableEnd;
    const readable = this.#openEnd(to, "readable", options) as ReadableEnd;
    writable.onAbort = (reason) => readable.fail(reason);
    readable.onCancel = (reason) => writable.fail(reason);
    return {
      writable: writable.writable,
      readable: readable.readable(options?.batch === true) as ReadableStream<
        StreamChunk<S>
      >,
    };
  }

  #openEnd(
    address: string,
    direction: EndDirection,
    options: EndOptions | undefined,
  ): WritableEnd | ReadableEnd {
    if (!this.#ends.has(address) && this.#state === "new") {
      this.expose(address, options);
    }
    const end = this.#ends.get(address);
    if (end === undefined) {
      throw new TypeError(
        `Cannot open "${address}": expose it before the router starts (router.expose("${address}"))`,
      );
    }
    const readable = end instanceof ReadableEnd;
    if (readable !== (direction === "readable")) {
      throw new TypeError(
        `"${address}" is an ${
          readable ? "outbound" : "inbound"
        } queue: open it with router.${readable ? "readable" : "writable"}()`,
      );
    }
    return end;
  }

  #graph(): PipelineGraph {
    return {
      actors: this.#actors,
      connections: this.#connections,
      logActor: this.#logActor,
      metricActor: this.#metricActor,
    };
  }

  async #start(timeoutMs: number): Promise<void> {
    this.#restartStepMs = timeoutMs;
    const graph = this.#graph();
    this.#side = sideActors(graph);
    this.#wire();
    this.#order = startOrder(graph);
    for (const actor of this.#order) {
      this.#supervisors.set(actor, this.#supervise(actor, this.#connections));
    }
    const deadline = new Deadline(timeoutMs);
    this.#startDeadline = deadline;
    try {
      // What a previous run left on disk goes first.
      await Promise.all(
        [...this.#buffered].map((queue) =>
          queue.openBuffer(this.#telemetry.log)
        ),
      );
      for (const actor of this.#order) {
        if (this.#stopping !== undefined) {
          throw new Error("The router was stopped while it started");
        }
        const supervisor = this.#supervisors.get(actor)!;
        const setup = supervisor.setup();
        if (!await deadline.race(setup)) {
          this.#hung.push({ actor: actor.name, phase: "setup" });
          throw new Error(
            this.#stopping === undefined
              ? `Actor "${actor.name}" did not finish its setup within ${timeoutMs} ms`
              : `The router was stopped while actor "${actor.name}" was still setting up`,
          );
        }
        try {
          await setup;
        } catch (error) {
          this.#telemetry.log.error(
            'Actor "{actor}" failed to set up: {error}',
            { actor: actor.name, error: describe(error) },
          );
          throw new Error(
            `Actor "${actor.name}" failed to set up: ${describe(error)}`,
            { cause: error },
          );
        }
        this.#setUp.push(supervisor);
        if (this.#stopping !== undefined) {
          throw new Error("The router was stopped while it started");
        }
      }
    } catch (error) {
      // Tearing down what was set up gets what a stop's teardown gets.
      await this.#abandonStart(deadline.at + STOP_GRACE_MS);
      throw error;
    } finally {
      deadline.cancel();
      this.#startDeadline = undefined;
    }
    // Only a failed start needs them: kept, they would keep the actors that
    // reloads replace.
    this.#setUp = [];
    for (const actor of this.#order) this.#supervisors.get(actor)!.start();
    this.#watching = true;
    this.#checkFinished();
    this.#telemetry.startMetrics(this.#metricsIntervalMs);
    this.#state = "running";
    this.#telemetry.log.debug("Started {count} actors", {
      count: this.#order.length,
    });
  }

  /**
   * Keeps `crash` for the stop report. Every crash that stopped an actor is
   * kept, and the last {@link CRASHES_KEPT} of the others: an actor that
   * crashes and restarts for months would make the list grow without end.
   */
  #noteCrash(crash: Crash): void {
    if (crash.restarted) this.#restarts++;
    this.#crashes.push(crash);
    if (this.#crashes.length <= CRASHES_KEPT) return;
    const oldest = this.#crashes.findIndex((each) => each.restarted);
    if (oldest !== -1) this.#crashes.splice(oldest, 1);
  }

  /** Makes the supervisor of `actor`, connected by `connections`. */
  #supervise(actor: Actor, connections: readonly Connection[]): Supervisor {
    const supervisor = new Supervisor(actor, {
      log: this.#telemetry.log,
      ...(isInput(actor)
        ? { closeWhenProduced: closedWhenProduced(actor.name, connections) }
        : {}),
      onCrash: (crash) => this.#noteCrash(crash),
      restartStepMs: this.#restartStepMs,
      onGiveUp: (supervisor, error) => this.#onGiveUp(supervisor, error),
    });
    void supervisor.done.then(() => this.#checkFinished());
    return supervisor;
  }

  /**
   * Resolves `finished` once every actor of the pipeline as it is now (and
   * every actor retiring from it) has finished, unless a change is in
   * progress. Each supervisor's `done` calls it once (see `#supervise`): a
   * wait on every actor's `done` made anew at each change would leave one
   * more reaction on the `done` of each actor that runs on, each reload.
   */
  #checkFinished(): void {
    if (!this.#watching) return;
    const supervisors = [...this.#pipeline(), ...this.#retiringOf(false)];
    if (supervisors.every((supervisor) => supervisor.finished)) {
      this.#finished.resolve();
    }
  }

  /**
   * Changes the running pipeline into `change` without losing an event: a
   * reload (see `core/reload.ts` for what happens to each actor, queue and
   * connection). New actors are set up first, while the pipeline runs on;
   * when one fails to, the change is rolled back and the pipeline runs on
   * unchanged (`applied: false` and the reason). Changes run one at a
   * time: one asked for during another waits for it. Rejects with a
   * `TypeError`, changing nothing, when the router is not running or the
   * change cannot be made (its graph has problems, it removes the log or
   * metric actor).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BUILTIN_ACTORS, Registry, Router } from "../mod.ts";
   *
   * const registry = new Registry(BUILTIN_ACTORS);
   * const router = new Router();
   * const input = router.register(registry.create("generator", "input", { interval: 0.01 }));
   * router.register(registry.create("null", "sink"));
   * router.connect("input.outbox", "sink.inbox");
   * await router.start();
   * const result = await router.change({
   *   actors: new Map([
   *     ["input", input],
   *     ["sink", registry.create("null", "sink", {}, { capacity: 10 })],
   *   ]),
   *   connections: router.connections(),
   *   remake: (name) => registry.create("null", name),
   * });
   * assert.deepEqual(result.replaced, ["sink"]);
   * assert.equal((await router.stop()).unaccounted, 0);
   * ```
   */
  change(
    change: PipelineChange,
    options: ChangeOptions = {},
  ): Promise<ChangeResult> {
    const previous = this.#changing ?? Promise.resolve();
    const changing = previous.catch(() => {}).then(() =>
      this.#change(change, options)
    );
    this.#changing = changing;
    void changing.catch(() => {}).finally(() => {
      if (this.#changing === changing) this.#changing = undefined;
    });
    return changing;
  }

  async #change(
    change: PipelineChange,
    options: ChangeOptions,
  ): Promise<ChangeResult> {
    if (this.#state !== "running") {
      throw new TypeError(
        `Cannot change the pipeline: the router is ${this.#state}`,
      );
    }
    const scope = this.#telemetry.scope;
    for (const [name, actor] of change.actors) {
      if (this.#actors.get(name) !== actor) actor[ATTACH_LOGS](scope);
    }
    const side = new Set(this.#side.values());
    const live: LiveRouter = {
      actors: this.#actors,
      connections: this.#connections,
      logActor: this.#logActor,
      metricActor: this.#metricActor,
      log: this.#telemetry.log,
      supervisor: (actor) => this.#supervisors.get(actor)!,
      supervise: (actor, connections) => this.#supervise(actor, connections),
      install: (actors, connections, supervisors) =>
        this.#install(actors, connections, supervisors),
      retire: (supervisor) => this.#retire(supervisor, side),
      discard: async (actor) => {
        const teardown = Promise.resolve().then(() => actor.teardown()).catch(
          (error) =>
            this.#telemetry.log.error(
              'Actor "{actor}" failed to tear down: {error}',
              { actor: actor.name, error: describe(error) },
            ),
        );
        await settlesBy(teardown, Date.now() + RETIRE_TEARDOWN_MS);
      },
    };
    // No `finished` from the pipeline being changed.
    this.#watching = false;
    try {
      return await changePipeline(live, {
        ...change,
        remake: (name) => {
          const actor = change.remake(name);
          actor[ATTACH_LOGS](scope);
          return actor;
        },
      }, options);
    } finally {
      this.#watching = true;
      this.#checkFinished();
    }
  }

  /** Makes the pipeline to be of a change the router's own. */
  #install(
    actors: Map<string, Actor>,
    connections: readonly Connection[],
    supervisors: ReadonlyMap<Actor, Supervisor>,
  ): void {
    for (const actor of this.#actors.values()) {
      if (actors.get(actor.name) !== actor) this.#supervisors.delete(actor);
    }
    for (const [actor, supervisor] of supervisors) {
      this.#supervisors.set(actor, supervisor);
    }
    this.#actors = actors;
    this.#connections = [...connections];
    for (const actor of actors.values()) {
      for (const queue of actor.pool.inbound.values()) {
        this.#buffered.add(queue);
      }
    }
    if (this.#logActor !== undefined) {
      this.#logActor = actors.get(this.#logActor.name);
    }
    if (this.#metricActor !== undefined) {
      this.#metricActor = actors.get(this.#metricActor.name);
    }
    const graph = this.#graph();
    this.#side = sideActors(graph);
    this.#order = startOrder(graph);
    this.#telemetry.attach({
      logs: this.#logActor?.pool.inbound.get("inbox"),
      metrics: this.#metricActor?.pool.inbound.get("inbox"),
      side: new Set(this.#side.keys()),
    });
  }

  /**
   * An actor leaves the pipeline: once it finished it is torn down, and its
   * figures are kept for the stop report (unless it fed the side streams,
   * which the report leaves out, as `side` says).
   */
  #retire(supervisor: Supervisor, side: ReadonlySet<Actor>): void {
    const actor = supervisor.actor;
    const isSide = side.has(actor);
    this.#retiring.set(supervisor, isSide);
    const retirement = supervisor.done.then(async () => {
      const teardown = supervisor.teardown().catch((error) =>
        this.#telemetry.log.error(
          'Actor "{actor}" failed to tear down: {error}',
          { actor: actor.name, error: describe(error) },
        )
      );
      if (!await settlesBy(teardown, Date.now() + RETIRE_TEARDOWN_MS)) {
        this.#telemetry.log.warn(
          'Actor "{actor}" did not finish its teardown in time',
          { actor: actor.name },
        );
      }
      if (!isSide) this.#retired.add(actor, this.#actors.values());
      this.#retiring.delete(supervisor);
    });
    this.#retirements.add(retirement);
    void retirement.then(() => this.#retirements.delete(retirement));
  }

  /** The supervisors of retiring actors, of the pipeline or the side streams. */
  #retiringOf(side: boolean): Supervisor[] {
    return [...this.#retiring].flatMap(([supervisor, isSide]) =>
      isSide === side ? [supervisor] : []
    );
  }

  async #stop(deadline: Deadline): Promise<StopReport> {
    if (this.#changing !== undefined) {
      // A change in progress finishes first (within the stop's time).
      await deadline.race(this.#changing);
    }
    if (this.#state === "starting") {
      // The start gives up by this stop's deadline (see `stop()`) and tears
      // down what it set up within the grace.
      await this.#starting!.catch(() => {});
    }
    if (this.#state !== "running") {
      // Never started, or its start failed (and tore down what it set up).
      return this.#end(deadline, Date.now() >= deadline.at, {});
    }
    this.#state = "stopping";
    const pipeline = [...this.#pipeline(), ...this.#retiringOf(false)];
    for (const supervisor of pipeline) supervisor.stopProducing();
    // What disk buffers hold stays there for the next run.
    for (const queue of this.#buffered) queue.keepOnDisk();
    const drained = await deadline.race(
      Promise.all(pipeline.map((supervisor) => supervisor.done)),
    );
    const queued: Record<string, number> = {};
    if (!drained) {
      for (const supervisor of pipeline) {
        if (supervisor.finished) continue;
        this.#hung.push({ actor: supervisor.actor.name, phase: "draining" });
        Object.assign(queued, heldBy(supervisor.actor));
      }
      const count = Object.values(queued).reduce((a, b) => a + b, 0);
      this.#telemetry.log.warn(
        "Stop timed out: {actors} had not finished; {count} events were still queued",
        {
          actors: this.#hung.map(({ actor }) => `"${actor}"`).join(", "),
          count,
        },
      );
      for (const supervisor of pipeline) supervisor.abandon();
    }
    const closing = this.#closeBuffers();
    this.#telemetry.stopMetrics();
    const hardAt = deadline.at + STOP_GRACE_MS;
    await this.#teardown(
      [...pipeline].reverse().filter((supervisor) =>
        !this.#retiring.has(supervisor)
      ),
      hardAt,
    );
    this.#telemetry.emitMetrics();
    await this.#stopSide(hardAt);
    // Retiring actors are torn down as they finish.
    await settlesBy(Promise.all([closing, ...this.#retirements]), hardAt);
    return this.#end(deadline, !drained, queued);
  }

  #end(
    deadline: Deadline,
    timedOut: boolean,
    queued: Record<string, number>,
  ): StopReport {
    this.#state = "stopped";
    deadline.cancel();
    this.#telemetry.close();
    this.#finished.resolve();
    return stopReport(
      [
        ...[...this.#actors.values()].filter((actor) => !this.#isSide(actor)),
        ...this.#retiringOf(false).map((supervisor) => supervisor.actor),
      ],
      {
        timedOut,
        queued,
        hung: [...this.#hung],
        crashed: [...this.#crashes],
        restarts: this.#restarts,
        gaveUp: [...this.#gaveUp],
      },
      this.#retired,
    );
  }

  /** An actor crashed too often: the pipeline stops and drains the rest. */
  #onGiveUp(supervisor: Supervisor, error: unknown): void {
    this.#gaveUp.push(supervisor.actor.name);
    this.#telemetry.log.error(
      'Stopping the pipeline: actor "{actor}" crashed more often than its restart policy allows ({error})',
      { actor: supervisor.actor.name, error: describe(error) },
    );
    if (this.#isSide(supervisor.actor)) return;
    void this.stop({ timeoutMs: this.#crashStopTimeoutMs });
  }

  /**
   * Tears down `supervisors` in turn, each within what is left until
   * `hardAt` (started anyway when nothing is left, so that fast teardowns
   * still release their resources); names those that hang.
   */
  async #teardown(
    supervisors: readonly Supervisor[],
    hardAt: number,
  ): Promise<void> {
    for (const supervisor of supervisors) {
      const teardown = supervisor.teardown().catch((error) =>
        this.#telemetry.log.error(
          'Actor "{actor}" failed to tear down: {error}',
          { actor: supervisor.actor.name, error: describe(error) },
        )
      );
      if (!await settlesBy(teardown, hardAt)) {
        this.#hung.push({ actor: supervisor.actor.name, phase: "teardown" });
        this.#telemetry.log.warn(
          'Actor "{actor}" did not finish its teardown in time',
          { actor: supervisor.actor.name },
        );
      }
    }
  }

  /**
   * Ends the log and metric actors (and those they feed): their queues
   * close, they drain until `hardAt`, then they are torn down.
   */
  async #stopSide(hardAt: number): Promise<void> {
    this.#telemetry.closeQueues();
    const side = [
      ...this.#order.flatMap((actor) =>
        this.#isSide(actor) ? [this.#supervisors.get(actor)!] : []
      ),
      ...this.#retiringOf(true),
    ];
    for (const supervisor of side) supervisor.stopProducing();
    const drained = await settlesBy(
      Promise.all(side.map((supervisor) => supervisor.done)),
      hardAt,
    );
    if (!drained) {
      for (const supervisor of side) {
        if (supervisor.finished) continue;
        this.#hung.push({ actor: supervisor.actor.name, phase: "draining" });
        supervisor.abandon();
      }
    }
    await this.#teardown(
      [...side].reverse().filter((supervisor) =>
        !this.#retiring.has(supervisor)
      ),
      hardAt,
    );
  }

  /**
   * Undoes a start that failed or hangs: tears down the pipeline actors set
   * up (until `hardAt`), then lets the log actor take the records logged so
   * far (the failure among them) when it and the actors it feeds were set
   * up, or writes them on stderr.
   */
  async #abandonStart(hardAt: number): Promise<void> {
    const ready = this.#setUp;
    this.#setUp = [];
    await this.#teardown(
      ready.filter((supervisor) => !this.#isSide(supervisor.actor)).reverse(),
      hardAt,
    );
    const side = [...this.#side.values()];
    const readySide = side.flatMap((actor) => {
      const supervisor = this.#supervisors.get(actor)!;
      return ready.includes(supervisor) ? [supervisor] : [];
    });
    if (side.length > 0 && readySide.length === side.length) {
      // The pipeline never ran: nothing more comes from it.
      for (const { from, to } of this.#connections) {
        const [source] = splitAddress(from);
        const [target, queue] = splitAddress(to);
        if (this.#side.has(target) && !this.#side.has(source)) {
          this.#actors.get(target)!.pool.inbound.get(queue)?.close();
        }
      }
      for (const supervisor of readySide) supervisor.start();
      await this.#stopSide(Math.min(hardAt, Date.now() + STOP_GRACE_MS));
    } else {
      await this.#teardown([...readySide].reverse(), hardAt);
      const logs = this.#logActor?.pool.inbound.get("inbox");
      if (logs !== undefined) {
        logs.close();
        for await (const batch of logs.readable) {
          for (const event of batch) writeToStderr(event as LogEvent);
        }
      }
    }
    await settlesBy(this.#closeBuffers(), hardAt);
    this.#state = "stopped";
    this.#telemetry.close();
    this.#finished.resolve();
  }

  /** Closes the disk buffers (their queues ended); never rejects. */
  #closeBuffers(): Promise<unknown> {
    return Promise.all(
      [...this.#buffered].map((queue) =>
        queue.closeBuffer().catch((error) =>
          this.#telemetry.log.error(
            'Cannot close the disk buffer of "{queue}": {error}',
            { queue: queue.name, error: describe(error) },
          )
        )
      ),
    );
  }

  #isSide(actor: Actor): boolean {
    return this.#side.get(actor.name) === actor;
  }

  /** The supervisors of the pipeline's actors (not the side streams'), in start order. */
  #pipeline(): Supervisor[] {
    return this.#order.flatMap((actor) =>
      this.#isSide(actor) ? [] : [this.#supervisors.get(actor)!]
    );
  }

  /** Connects the queues, closes inbound queues nobody writes to. */
  #wire(): void {
    const fed = new Set<Queue>();
    for (const { from, to, options } of this.#connections) {
      const [source, outName] = splitAddress(from);
      const [target, inName] = splitAddress(to);
      const sourceActor = this.#actors.get(source)!;
      const targetActor = this.#actors.get(target)!;
      const settings = queueSettings(options);
      const custom = Object.keys(settings).length > 0;
      const inbound = custom || !targetActor.pool.inbound.has(inName)
        ? targetActor.pool.addInbound(inName, settings)
        : targetActor.pool.inbound.get(inName)!;
      sourceActor.pool.addOutbound(outName).connect(inbound);
      fed.add(inbound);
      if (inbound.buffered) this.#buffered.add(inbound);
    }
    const logs = this.#logActor?.pool.inbound.get("inbox");
    const metrics = this.#metricActor?.pool.inbound.get("inbox");
    this.#telemetry.attach({
      logs,
      metrics,
      side: new Set(this.#side.keys()),
    });
    for (const side of [logs, metrics]) {
      if (side !== undefined) fed.add(side);
    }
    for (const actor of this.#actors.values()) {
      for (const queue of actor.pool.inbound.values()) {
        if (!fed.has(queue)) queue.close();
      }
      for (const [name, queue] of actor.pool.outbound) {
        if (
          queue.target === null && name !== "error" &&
          !actor.pool.names.optional?.includes(name)
        ) {
          this.#telemetry.log.warn(
            'Queue "{queue}" is not connected: events sent there are dropped and counted',
            { queue: queue.name },
          );
        }
      }
    }
  }
}

/** Longest wait for the teardown of an actor a change retired, in ms. */
const RETIRE_TEARDOWN_MS = 30_000;

/** Crashes after which the actor was restarted that a stop report lists. */
const CRASHES_KEPT = 1000;

/**
 * What `actor`'s queues hold now, by queue name (only those holding some).
 * Events of a write waiting for room count where they wait: in the outbound
 * queue that writes them.
 */
function heldBy(actor: Actor): Record<string, number> {
  const held: Record<string, number> = {};
  for (const queue of actor.pool.inbound.values()) {
    if (queue.depth > 0) held[queue.name] = queue.depth;
  }
  for (const queue of actor.pool.outbound.values()) {
    const count = queue.figures().depth;
    if (count > 0) held[queue.name] = count;
  }
  return held;
}

/** `value` when it is a number of ms of at least 0; a `RangeError` otherwise. */
function checkMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Router: ${name} must be a number of at least 0, got ${value}`,
    );
  }
  return value;
}

/** Whether `promise` settles by `at` (ms since the epoch); leaves no timer. */
async function settlesBy(
  promise: Promise<unknown>,
  at: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, at - Date.now()));
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
