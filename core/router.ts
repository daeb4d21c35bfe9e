/**
 * The router: registers actors, connects their queues 1:1, starts them
 * consumers first, and stops them by draining every queue downstream.
 *
 * @module
 */

import { Actor, type ActorSettings, ATTACH_LOGS, describe } from "./actor.ts";
import {
  didYouMean,
  GraphError,
  type GraphProblem,
  quoteList,
} from "./errors.ts";
import {
  LOG_LEVELS,
  type LogEvent,
  type Logger,
  type LogLevel,
  routeLogs,
  scopedLogger,
  unrouteLogs,
  writeToStderr,
} from "./log.ts";
import { type PipelineMetrics, toMetricEvents } from "./metrics.ts";
import {
  type Queue,
  type QueueFigures,
  queueOptionProblems,
  type QueueOptions,
  queueSettings,
} from "./queue.ts";
import { type ActorSpec, createActor } from "./registry.ts";

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
}

/**
 * Per-connection queue settings.
 *
 * @example
 * ```ts
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { Router } from "./router.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { interval: 0, count: 3 }));
 * router.register(registry.create("null", "sink"));
 * import type { ConnectionOptions } from "./router.ts";
 * const options: ConnectionOptions = { capacity: 10, whenFull: "drop_oldest" };
 * router.connect("input.outbox", "sink.inbox", options);
 * router.connections()[0]!.options.capacity; // 10
 * await router.stop();
 * ```
 */
export type ConnectionOptions = Pick<QueueOptions, "capacity" | "whenFull">;

/**
 * One `from -> to` connection as made by `connect`.
 *
 * @example
 * ```ts
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { Router } from "./router.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { interval: 0, count: 3 }));
 * router.register(registry.create("null", "sink"));
 * router.connect("input.outbox", "sink.inbox");
 * const [connection] = router.connections();
 * connection!.from; // "input.outbox"
 * await router.stop();
 * ```
 */
export interface Connection {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Queue settings for this connection. */
  options: ConnectionOptions;
}

/**
 * How `stop` behaves.
 *
 * @example
 * ```ts
 * import { Router, type StopOptions } from "./router.ts";
 * const options: StopOptions = { timeoutMs: 5000 };
 * (await new Router().stop(options)).timedOut; // false
 * ```
 */
export interface StopOptions {
  /** Longest wait for the queues to drain, in ms (default 30 000). */
  timeoutMs?: number;
}

/**
 * What `stop` found.
 *
 * @example
 * ```ts
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { Router, type StopReport } from "./router.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { interval: 0, count: 3 }));
 * router.register(registry.create("null", "sink"));
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * const report: StopReport = await router.stop();
 * report.delivered; // 3
 * report.queues["sink.inbox"]!.in_total; // 3
 * ```
 */
export interface StopReport {
  /**
   * Events consumed successfully by output actors, and replies consumed by
   * inputs that answer requests (`http_server` in request/response mode).
   */
  delivered: number;
  /** Events lost to full-queue policies, unconnected queues or the timeout. */
  dropped: number;
  /** Events whose `consume` failed after all retries. */
  failed: number;
  /** Values discarded because they were not events. */
  discarded: number;
  /** Whether the drain timed out. */
  timedOut: boolean;
  /**
   * Events accepted but not delivered when the drain timed out, by queue:
   * for an inbound queue those it held (queued or with the consumer) or that
   * a blocked write was still waiting to add; for an outbound queue those
   * gathered but not written. They are thrown away and counted as dropped.
   */
  queued: Record<string, number>;
  /** Final figures of every queue, by `actor.queue`. */
  queues: Record<string, QueueFigures>;
}

/**
 * A router's lifecycle state: `"new"` while actors are registered and
 * connected, `"starting"` during `start()`, `"running"` until `stop()`,
 * `"stopping"` while it drains, then `"stopped"` for good.
 *
 * @example
 * ```ts
 * import { Router, type RouterState } from "./router.ts";
 * const router = new Router();
 * const state: RouterState = router.status().state; // "new"
 * await router.stop();
 * router.status().state; // "stopped"
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
 * status.state; // "new"
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
      state: "waiting" | "running" | "finished";
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
 * report.delivered; // 3
 * ```
 */
export class Router {
  #actors = new Map<string, Actor>();
  #connections: Connection[] = [];
  #logActor: Actor | undefined;
  #metricActor: Actor | undefined;
  #logQueue: Queue | undefined;
  #metricQueue: Queue | undefined;
  #state: RouterState = "new";
  #starting: Promise<void> | undefined;
  #stopping: Promise<StopReport> | undefined;
  /** The log and metric actors and every actor they feed, by name. */
  #side = new Map<string, Actor>();
  #stopSignal = new AbortController();
  #sideSignal = new AbortController();
  #runs = new Map<Actor, Promise<void>>();
  #finishedActors = new Set<Actor>();
  #order: Actor[] = [];
  #metricsTimer: ReturnType<typeof setInterval> | undefined;
  #finished = Promise.withResolvers<void>();
  #metricsIntervalMs: number;
  #scope: string;
  #log: Logger;

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
    this.#metricsIntervalMs = options.metricsIntervalMs ?? 10_000;
    if (
      !Number.isFinite(this.#metricsIntervalMs) || this.#metricsIntervalMs < 0
    ) {
      throw new RangeError(
        `Router: metricsIntervalMs must be a number of at least 0, got ${this.#metricsIntervalMs}`,
      );
    }
    this.#scope = routeLogs(
      (event) => this.#routeLog(event),
      logLevel,
    );
    this.#log = scopedLogger(this.#scope, "router");
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
    actor[ATTACH_LOGS](this.#scope);
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
    const problems = this.#graphProblems();
    if (problems.length > 0) throw new GraphError(problems);
  }

  /**
   * Starts the pipeline: checks the graph, connects the queues, calls every
   * actor's `setup()` consumers before producers, then runs them. Resolves
   * once everything runs.
   */
  start(): Promise<void> {
    if (this.#state !== "new") {
      return Promise.reject(new TypeError("The router can be started once"));
    }
    try {
      this.check();
    } catch (error) {
      return Promise.reject(error);
    }
    this.#state = "starting";
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#side = this.#sideActors();
    this.#wire();
    this.#order = this.#startOrder();
    const ready: Actor[] = [];
    for (const actor of this.#order) {
      try {
        await actor.setup();
        ready.push(actor);
      } catch (error) {
        this.#log.error('Actor "{actor}" failed to set up: {error}', {
          actor: actor.name,
          error: describe(error),
        });
        await this.#abandonStart(ready);
        this.#state = "stopped";
        unrouteLogs(this.#scope);
        throw new Error(
          `Actor "${actor.name}" failed to set up: ${describe(error)}`,
          { cause: error },
        );
      }
    }
    for (const actor of this.#order) {
      this.#run(
        actor,
        this.#isSide(actor) ? this.#sideSignal.signal : this.#stopSignal.signal,
      );
    }
    Promise.all(this.#pipelineRuns()).then(() => this.#finished.resolve());
    if (this.#metricsIntervalMs > 0 && this.#metricQueue !== undefined) {
      this.#metricsTimer = setInterval(
        () => this.#emitMetrics(),
        this.#metricsIntervalMs,
      );
    }
    this.#state = "running";
    this.#log.debug("Started {count} actors", { count: this.#order.length });
  }

  /**
   * Resolves when every actor of the pipeline (not counting the log and
   * metric actors) has finished by itself: its inputs produced all they had
   * and every queue drained. Call `stop()` afterwards to tear down.
   */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /**
   * Stops by draining: inputs stop producing, every queue drains downstream in
   * order, outputs flush, then every actor's `teardown()` runs. What is still
   * queued after `timeoutMs` is counted in the report and thrown away.
   * Calling it again returns the same report.
   */
  stop(options: StopOptions = {}): Promise<StopReport> {
    this.#stopping ??= this.#stop(options.timeoutMs ?? 30_000);
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
   * `finished` once it drained, with its own health (e.g. a lost connection).
   * The admin server's `/ready` reads this.
   */
  status(): RouterStatus {
    const actors: RouterStatus["actors"] = {};
    for (const actor of this.#actors.values()) {
      const state = this.#finishedActors.has(actor)
        ? "finished"
        : this.#runs.has(actor)
        ? "running"
        : "waiting";
      actors[actor.name] = { state, ...actor.health() };
    }
    return { state: this.#state, actors };
  }

  async #stop(timeoutMs: number): Promise<StopReport> {
    if (this.#state === "starting") await this.#starting?.catch(() => {});
    if (this.#state !== "running") {
      // Never started, or its start failed (and tore down what it set up).
      this.#state = "stopped";
      unrouteLogs(this.#scope);
      return this.#report(false, {});
    }
    this.#state = "stopping";
    const deadline = Date.now() + timeoutMs;
    this.#stopSignal.abort();
    const drained = await settlesWithin(
      Promise.all(this.#pipelineRuns()),
      timeoutMs,
    );
    const queued: Record<string, number> = {};
    if (!drained) {
      for (const actor of this.#actors.values()) {
        if (this.#isSide(actor)) continue;
        for (const queue of actor.pool.inbound.values()) {
          const held = queue.depth + queue.waiting;
          if (held > 0) queued[queue.name] = held;
        }
        for (const queue of actor.pool.outbound.values()) {
          const held = queue.figures().depth;
          if (held > 0) queued[queue.name] = held;
        }
      }
      this.#log.warn(
        "Stop timed out after {timeoutMs} ms; {count} events were still queued",
        { timeoutMs, count: sum(Object.values(queued)) },
      );
      for (const actor of this.#order) {
        if (!this.#isSide(actor)) abandon(actor);
      }
    }
    clearInterval(this.#metricsTimer);
    for (const actor of [...this.#order].reverse()) {
      if (!this.#isSide(actor)) await this.#teardown(actor);
    }
    this.#emitMetrics();
    await this.#stopSide(deadline);
    this.#state = "stopped";
    unrouteLogs(this.#scope);
    return this.#report(!drained, queued);
  }

  #run(actor: Actor, signal: AbortSignal): void {
    this.#runs.set(
      actor,
      actor.run(signal).catch((error) =>
        this.#log.error('Actor "{actor}" stopped after an error: {error}', {
          actor: actor.name,
          error: describe(error),
        })
      ).finally(() => this.#finishedActors.add(actor)),
    );
  }

  /**
   * Ends the log and metric actors (and those they feed): their queues
   * close, they drain within the time left (at least a second), then they
   * are torn down.
   */
  async #stopSide(deadline: number): Promise<void> {
    this.#logQueue?.close();
    this.#metricQueue?.close();
    this.#sideSignal.abort();
    const sideRuns = [...this.#side.values()].map((actor) =>
      this.#runs.get(actor)
    );
    const drained = await settlesWithin(
      Promise.all(sideRuns),
      Math.max(1000, deadline - Date.now()),
    );
    if (!drained) {
      for (const actor of this.#order) {
        if (this.#isSide(actor)) abandon(actor);
      }
    }
    for (const actor of [...this.#order].reverse()) {
      if (this.#isSide(actor)) await this.#teardown(actor);
    }
  }

  /**
   * Undoes a start whose setup failed: tears down the pipeline actors set
   * up, then lets the log actor take the records logged so far (the failure
   * among them) when it and the actors it feeds were set up, or writes them
   * on stderr.
   */
  async #abandonStart(ready: readonly Actor[]): Promise<void> {
    for (const actor of [...ready].reverse()) {
      if (!this.#isSide(actor)) await this.#teardown(actor);
    }
    const side = [...this.#side.values()];
    if (side.every((actor) => ready.includes(actor))) {
      // The pipeline never ran: nothing more comes from it.
      for (const { from, to } of this.#connections) {
        const [source] = splitAddress(from);
        const [target, queue] = splitAddress(to);
        if (this.#side.has(target) && !this.#side.has(source)) {
          this.#actors.get(target)!.pool.inbound.get(queue)?.close();
        }
      }
      for (const actor of side) this.#run(actor, this.#sideSignal.signal);
      await this.#stopSide(Date.now());
      return;
    }
    for (const actor of [...ready].reverse()) {
      if (this.#isSide(actor)) await this.#teardown(actor);
    }
    const logs = this.#logQueue;
    if (logs !== undefined) {
      logs.close();
      for await (const batch of logs.readable) {
        for (const event of batch) writeToStderr(event as LogEvent);
      }
    }
  }

  #report(timedOut: boolean, queued: Record<string, number>): StopReport {
    const report: StopReport = {
      delivered: 0,
      dropped: 0,
      failed: 0,
      discarded: 0,
      timedOut,
      queued,
      queues: {},
    };
    for (const actor of this.#actors.values()) {
      if (this.#isSide(actor)) continue;
      const figures = actor.figures();
      // Outputs deliver; an input that consumes (http_server) takes replies.
      if (actor.kind === "output" || actor.kind === "input") {
        report.delivered += figures.consumed_total;
      }
      report.failed += figures.failed_total;
      for (const [name, queue] of Object.entries(actor.pool.figures())) {
        report.queues[`${actor.name}.${name}`] = queue;
        report.dropped += queue.dropped_total;
        report.discarded += queue.discarded_total;
      }
    }
    return report;
  }

  async #teardown(actor: Actor): Promise<void> {
    try {
      await actor.teardown();
    } catch (error) {
      this.#log.error('Actor "{actor}" failed to tear down: {error}', {
        actor: actor.name,
        error: describe(error),
      });
    }
  }

  #routeLog(event: LogEvent): void {
    const queue = this.#logQueue;
    // What the log actor (or an actor it feeds) logs would come back to it.
    if (
      queue === undefined || queue.closed ||
      this.#side.has(event.header.log.actor)
    ) {
      writeToStderr(event);
    } else {
      queue.offer([event]);
    }
  }

  #emitMetrics(): void {
    const queue = this.#metricQueue;
    if (queue === undefined || queue.closed) return;
    queue.offer(toMetricEvents(this.metrics()));
  }

  #isSide(actor: Actor): boolean {
    return this.#side.get(actor.name) === actor;
  }

  /** The log and metric actors and every actor downstream of them. */
  #sideActors(): Map<string, Actor> {
    const side = new Map<string, Actor>();
    const next = this.#successors(this.#connections);
    const visit = (actor: Actor | undefined): void => {
      if (actor === undefined || side.has(actor.name)) return;
      side.set(actor.name, actor);
      for (const name of next.get(actor.name) ?? []) {
        visit(this.#actors.get(name));
      }
    };
    visit(this.#logActor);
    visit(this.#metricActor);
    return side;
  }

  /** Every problem of the graph: bad addresses, 1:1 breaches, cycles. */
  #graphProblems(): GraphProblem[] {
    const problems: GraphProblem[] = [];
    const valid: Connection[] = [];
    const fromSeen = new Map<string, Connection>();
    const toSeen = new Map<string, Connection>();
    for (const [index, connection] of this.#connections.entries()) {
      const { from, to, options } = connection;
      const problem = (message: string) =>
        problems.push({ message, connection: index });
      const count = problems.length;
      const source = this.#endpoint(from, "outbound", problem);
      const target = this.#endpoint(to, "inbound", problem);
      if (source !== undefined) {
        const earlier = fromSeen.get(from);
        if (earlier === undefined) fromSeen.set(from, connection);
        else {
          problem(
            `Cannot connect "${from}": it is already connected to "${earlier.to}"`,
          );
        }
      }
      if (target !== undefined) {
        const earlier = toSeen.get(to);
        if (earlier === undefined) toSeen.set(to, connection);
        else {
          problem(
            `Cannot connect "${to}": it is already connected from "${earlier.from}"`,
          );
        }
        const side = [this.#logActor, this.#metricActor].find((actor) =>
          actor?.name === target.actor && target.queue === "inbox"
        );
        if (side !== undefined) {
          problem(
            `Cannot connect "${to}": it receives the router's ${
              side === this.#logActor ? "log" : "metric"
            } events`,
          );
        }
      }
      for (const message of queueOptionProblems(options)) {
        problem(`Cannot connect "${from}" to "${to}": ${message}`);
      }
      if (problems.length === count) valid.push(connection);
    }
    return [...problems, ...this.#cycleProblems(valid)];
  }

  #pipelineRuns(): Promise<void>[] {
    return [...this.#runs].flatMap(([actor, run]) =>
      this.#isSide(actor) ? [] : [run]
    );
  }

  /** Resolves `actor.queue` for one side of a connection. */
  #endpoint(
    address: string,
    direction: "inbound" | "outbound",
    problem: (message: string) => void,
  ): { actor: string; queue: string } | undefined {
    const dot = address.lastIndexOf(".");
    if (dot <= 0 || dot === address.length - 1) {
      problem(
        `Cannot connect "${address}": write the queue as "actor.queue"`,
      );
      return undefined;
    }
    const name = address.slice(0, dot);
    const queue = address.slice(dot + 1);
    const actor = this.#actors.get(name);
    if (actor === undefined) {
      problem(
        `Cannot connect "${address}": actor "${name}" is not registered${
          didYouMean(name, this.#actors.keys())
        }`,
      );
      return undefined;
    }
    const accepts = direction === "inbound"
      ? actor.pool.acceptsInbound(queue)
      : actor.pool.acceptsOutbound(queue);
    if (!accepts) {
      const known = direction === "inbound"
        ? actor.pool.inbound.keys()
        : actor.pool.outbound.keys();
      problem(
        `Cannot connect "${address}": actor "${name}" has no ${direction} queue "${queue}"${
          didYouMean(queue, known)
        }`,
      );
      return undefined;
    }
    return { actor: name, queue };
  }

  /** Cycles without an input on them never drain: report each once. */
  #cycleProblems(connections: readonly Connection[]): GraphProblem[] {
    const next = this.#successors(connections);
    const problems: GraphProblem[] = [];
    const state = new Map<string, "open" | "done">();
    const path: string[] = [];
    const visit = (name: string): void => {
      state.set(name, "open");
      path.push(name);
      for (const successor of next.get(name) ?? []) {
        const seen = state.get(successor);
        if (seen === "open") {
          const cycle = path.slice(path.indexOf(successor));
          const drains = cycle.some((member) =>
            this.#actors.get(member)?.produce !== undefined
          );
          if (!drains) {
            problems.push({
              message: `Cycle "${
                [...cycle, successor].join(" -> ")
              }" can never drain: none of its actors is an input`,
            });
          }
        } else if (seen === undefined) {
          visit(successor);
        }
      }
      path.pop();
      state.set(name, "done");
    };
    for (const name of this.#actors.keys()) {
      if (!state.has(name)) visit(name);
    }
    return problems;
  }

  #successors(
    connections: readonly Connection[],
  ): Map<string, string[]> {
    const next = new Map<string, string[]>();
    for (const { from, to } of connections) {
      const [source] = splitAddress(from);
      const [target] = splitAddress(to);
      const targets = next.get(source);
      if (targets === undefined) next.set(source, [target]);
      else targets.push(target);
    }
    return next;
  }

  /** Connects the queues, closes inbound queues nobody writes to. */
  #wire(): void {
    const fed = new Set<Queue>();
    for (const { from, to, options } of this.#connections) {
      const [source, outName] = splitAddress(from);
      const [target, inName] = splitAddress(to);
      const sourceActor = this.#actors.get(source)!;
      const targetActor = this.#actors.get(target)!;
      const custom = options.capacity !== undefined ||
        options.whenFull !== undefined;
      const inbound = custom || !targetActor.pool.inbound.has(inName)
        ? targetActor.pool.addInbound(inName, queueSettings(options))
        : targetActor.pool.inbound.get(inName)!;
      sourceActor.pool.addOutbound(outName).connect(inbound);
      fed.add(inbound);
    }
    this.#logQueue = this.#logActor?.pool.inbound.get("inbox");
    this.#metricQueue = this.#metricActor?.pool.inbound.get("inbox");
    for (const side of [this.#logQueue, this.#metricQueue]) {
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
          this.#log.warn(
            'Queue "{queue}" is not connected: events sent there are dropped and counted',
            { queue: queue.name },
          );
        }
      }
    }
  }

  /**
   * Log and metric actors first, then every other actor after the actors it
   * sends to (consumers before producers); actors on cycles in any order.
   */
  #startOrder(): Actor[] {
    const next = this.#successors(this.#connections);
    const order: Actor[] = [];
    const placed = new Set<string>();
    const place = (name: string, visiting: Set<string>): void => {
      if (placed.has(name) || visiting.has(name)) return;
      visiting.add(name);
      for (const successor of next.get(name) ?? []) place(successor, visiting);
      placed.add(name);
      order.push(this.#actors.get(name)!);
    };
    for (const side of [this.#logActor, this.#metricActor]) {
      if (side !== undefined) place(side.name, new Set());
    }
    for (const name of this.#actors.keys()) place(name, new Set());
    return order;
  }
}

/** Stops `actor` at once and throws away what its inbound queues hold. */
function abandon(actor: Actor): void {
  actor.abort();
  for (const queue of actor.pool.inbound.values()) queue.clear();
}

/**
 * The actor and queue names of an `"actor.queue"` address (split at the last
 * dot, so actor names may hold dots).
 *
 * @example
 * ```ts
 * import { splitAddress } from "./router.ts";
 * splitAddress("input.outbox"); // ["input", "outbox"]
 * ```
 */
export function splitAddress(address: string): [string, string] {
  const dot = address.lastIndexOf(".");
  return [address.slice(0, dot), address.slice(dot + 1)];
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Whether `promise` settles within `ms`; never leaves a timer behind. */
async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
