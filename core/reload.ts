/**
 * Changing a running pipeline: the live half of a reload. Given the actors
 * and connections a pipeline is to have, it works out what happens to each
 * running actor, queue and connection, sets up everything new while the
 * pipeline runs on untouched (so that a failure to start changes nothing),
 * then switches over without losing an event:
 *
 * - an actor kept as it is runs on with its queues and the events in them;
 * - an actor replaced stops reading at the end of its batch, finishes what
 *   it holds, flushes, and its replacement takes over the very same queue
 *   objects (events, connections and counters), then starts; a listening
 *   socket at the same address is handed over ({@link Actor.takeOver});
 * - a kept actor whose connections change in a way it cannot follow while
 *   it runs (a branch added or removed, a queue's settings, a queue that
 *   was closed) is renewed: replaced by a fresh one made the same way;
 * - a queue whose settings change is replaced by a new one, into which its
 *   events move in order, with its counters;
 * - a removed actor drains what is queued for it to its outputs; but when
 *   every connection into it now leads elsewhere, the events queued for it
 *   follow those connections instead (it only finishes its batch);
 * - a connection that moves is paused (what is sent meanwhile waits) and
 *   resumed on its new queue once the events before it are there.
 *
 * `Router.change()` runs it; `core/config/reload.ts` feeds it from a
 * bootstrap file.
 *
 * @module
 */

import { type Actor, describe, REPLACES, type Takeover } from "./actor.ts";
import { Deadline } from "./deadline.ts";
import {
  type Connection,
  graphProblems,
  type PipelineGraph,
  splitAddress,
  startOrder,
} from "./graph.ts";
import type { Logger } from "./log.ts";
import { type OutboundQueue, type Queue, queueSettings } from "./queue.ts";
import type { Supervisor } from "./supervisor.ts";

/**
 * What a running pipeline is to become.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PipelineChange } from "./reload.ts";
 * const change: PipelineChange = {
 *   actors: new Map(),
 *   connections: [],
 *   remake: (name) => {
 *     throw new Error(`Cannot remake "${name}"`);
 *   },
 * };
 * assert.equal(change.connections.length, 0);
 * ```
 */
export interface PipelineChange {
  /**
   * Every actor of the pipeline to be, by name, in order: those that run
   * on as they are (the running objects themselves), and new ones (an
   * actor with the name of a running one replaces it). Running actors not
   * named are removed.
   */
  actors: ReadonlyMap<string, Actor>;
  /** Every connection of the pipeline to be. */
  connections: readonly Connection[];
  /**
   * Makes a new actor for `name` as the pipeline to be has it, to renew an
   * actor kept whose connections change in a way it cannot follow while it
   * runs.
   */
  remake(name: string): Actor;
  /**
   * The replaced actors that listen on the address the actor they replace
   * listens on: their {@link Actor.takeOver} is asked to take its socket.
   */
  sameAddress?: ReadonlySet<string>;
}

/**
 * How long a change may take.
 *
 * @example
 * ```ts
 * import type { ChangeOptions } from "./reload.ts";
 * const options: ChangeOptions = { setupTimeoutMs: 10_000, drainTimeoutMs: 30_000 };
 * ```
 */
export interface ChangeOptions {
  /** Longest wait for the new actors' `setup()`, in ms (default 30 000). */
  setupTimeoutMs?: number;
  /**
   * Longest wait for the actors replaced or removed to finish their work
   * before the change is reported, in ms (default 30 000); what is left
   * goes on in the background, and the result says so.
   */
  drainTimeoutMs?: number;
}

/**
 * What a change did: applied, or rolled back with the reason (then the
 * pipeline runs on as before).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChangeResult } from "./reload.ts";
 * const result: ChangeResult = {
 *   applied: false,
 *   reason: 'Actor "web" failed to set up: AddrInUse: Address already in use',
 *   replaced: [],
 *   renewed: [],
 *   added: ["web"],
 *   removed: [],
 *   takenOver: [],
 *   moved: 0,
 *   warnings: [],
 * };
 * assert.equal(result.applied, false);
 * ```
 */
export interface ChangeResult {
  /** Whether the pipeline now runs as asked. */
  applied: boolean;
  /** Why the change was refused or rolled back. */
  reason?: string;
  /** Actors replaced by new ones made differently. */
  replaced: string[];
  /** Actors kept but made again, as their connections changed. */
  renewed: string[];
  /** Actors added. */
  added: string[];
  /** Actors removed. */
  removed: string[];
  /** Replaced actors whose replacement took their listening socket over. */
  takenOver: string[];
  /** Events moved from a queue to another (new settings, or following a connection). */
  moved: number;
  /** What did not finish in time and goes on in the background. */
  warnings: string[];
}

/**
 * What the router gives a change to work on, and how the change tells it
 * what becomes of its actors.
 */
export interface LiveRouter {
  /** The running actors by name. */
  readonly actors: ReadonlyMap<string, Actor>;
  /** The running connections. */
  readonly connections: readonly Connection[];
  /** The actors receiving the router's log and metric events. */
  readonly logActor: Actor | undefined;
  readonly metricActor: Actor | undefined;
  /** Where the change says what it does. */
  readonly log: Logger;
  /** The supervisor of a running actor. */
  supervisor(actor: Actor): Supervisor;
  /** Makes the supervisor of `actor`, part of the pipeline to be. */
  supervise(actor: Actor, connections: readonly Connection[]): Supervisor;
  /**
   * Takes the pipeline to be as the router's own: from now on its actors,
   * connections and supervisors are the router's.
   */
  install(
    actors: Map<string, Actor>,
    connections: readonly Connection[],
    supervisors: ReadonlyMap<Actor, Supervisor>,
  ): void;
  /**
   * `supervisor` runs an actor leaving the pipeline: the router tears it
   * down once it is done, and keeps its figures for the stop report.
   */
  retire(supervisor: Supervisor): void;
  /** Tears down a new actor set up for a change that is rolled back. */
  discard(actor: Actor): Promise<void>;
}

/** How often events move while a writer still flushes into a queue, in ms. */
const MOVE_POLL_MS = 10;

/**
 * Changes the running pipeline of `live` into `change` (see the module
 * documentation); resolves with what it did. Throws a `TypeError` when the
 * change is not one it can make (the graph has problems, the log or
 * metric actor would change): then nothing changed.
 */
export async function changePipeline(
  live: LiveRouter,
  change: PipelineChange,
  options: ChangeOptions = {},
): Promise<ChangeResult> {
  const reconfiguration = new Reconfiguration(live, change);
  const result = reconfiguration.result;
  const failure = await reconfiguration.setUp(options.setupTimeoutMs ?? 30_000);
  if (failure !== undefined) {
    await reconfiguration.rollBack();
    return { ...result, applied: false, reason: failure };
  }
  result.warnings.push(
    ...await reconfiguration.switchOver(options.drainTimeoutMs ?? 30_000),
  );
  return result;
}

/** A replaced or renewed actor: the one running and the one taking over. */
interface Replacement {
  old: Actor;
  fresh: Actor;
  /** The outbound queues `fresh` took from `old`, by name. */
  adopted: Map<string, OutboundQueue>;
}

/** Events that move from one queue into another at the switch. */
interface Move {
  from: Queue;
  to: Queue;
  /** The counters move too (the same queue with new settings). */
  counters: boolean;
}

/** One change, from its plan to the switch. */
class Reconfiguration {
  readonly result: ChangeResult = {
    applied: true,
    replaced: [],
    renewed: [],
    added: [],
    removed: [],
    takenOver: [],
    moved: 0,
    warnings: [],
  };
  #live: LiveRouter;
  #connections: readonly Connection[];
  /** The actors to be, renewed ones included. */
  #next = new Map<string, Actor>();
  #replacements = new Map<string, Replacement>();
  #added: Actor[] = [];
  #removed: Actor[] = [];
  /** Removed actors whose queued events follow the connections into them. */
  #handedOver = new Set<Actor>();
  /** The queue object of each inbound address of the pipeline to be. */
  #targets = new Map<string, Queue>();
  /** Who writes to each queue now, and who will. */
  #oldWriters = new Map<Queue, OutboundQueue>();
  #newWriters = new Map<Queue, OutboundQueue>();
  /** Outbound queues that run on but write elsewhere: paused, then resumed. */
  #moving = new Set<OutboundQueue>();
  /** The outbound queue of a retiring actor and the actor. */
  #leavingWriters = new Map<OutboundQueue, Actor>();
  #moves: Move[] = [];
  /** Queues whose remaining events nothing takes: thrown away, counted. */
  #stranded: Queue[] = [];
  #takeovers: Takeover[] = [];
  #setUp: Actor[] = [];
  /** Replacements that may take a listening socket over. */
  #sameAddress: Set<string>;
  /** The queues the router writes its log and metric events to, to be. */
  #sideQueues = new Set<Queue>();
  /** New queues whose disk buffer was opened by the setup. */
  #opened: Queue[] = [];

  constructor(live: LiveRouter, change: PipelineChange) {
    this.#live = live;
    this.#connections = change.connections;
    this.#classify(change);
    this.#check();
    this.#wire(change);
    // A renewed actor is made as before: it listens where it did.
    this.#sameAddress = new Set([
      ...change.sameAddress ?? [],
      ...this.result.renewed,
    ]);
    for (const side of [live.logActor, live.metricActor]) {
      const queue = side === undefined
        ? undefined
        : this.#next.get(side.name)?.pool.inbound.get("inbox");
      if (queue !== undefined) this.#sideQueues.add(queue);
    }
  }

  /** Sorts the actors into kept, replaced, renewed, added and removed. */
  #classify(change: PipelineChange): void {
    const live = this.#live;
    const result = this.result;
    for (const [name, actor] of change.actors) {
      const old = live.actors.get(name);
      if (old === undefined) {
        this.#added.push(actor);
        result.added.push(name);
      } else if (old !== actor) {
        if (actor.name !== name) {
          throw new TypeError(
            `Cannot replace "${name}" with an actor named "${actor.name}"`,
          );
        }
        this.#replacements.set(name, { old, fresh: actor, adopted: new Map() });
        result.replaced.push(name);
      }
      this.#next.set(name, actor);
    }
    for (const [name, actor] of live.actors) {
      if (!change.actors.has(name)) {
        this.#removed.push(actor);
        result.removed.push(name);
      }
    }
    for (const [name, actor] of change.actors) {
      if (live.actors.get(name) !== actor || !this.#mustRenew(actor)) continue;
      const fresh = change.remake(name);
      this.#replacements.set(name, { old: actor, fresh, adopted: new Map() });
      this.#next.set(name, fresh);
      result.renewed.push(name);
    }
  }

  /**
   * Whether kept `actor` cannot follow its new connections while it runs:
   * the outbound queues connected change (an actor may read them in its
   * setup), an inbound queue it is to read does not exist, is closed or
   * has other settings, or it finished and a connection of its changes.
   */
  #mustRenew(actor: Actor): boolean {
    const name = actor.name;
    const before = this.#live.connections;
    const after = this.#connections;
    const outbound = (connections: readonly Connection[]) =>
      connections.flatMap(({ from }) => {
        const [source, queue] = splitAddress(from);
        return source === name ? [queue] : [];
      }).sort().join("\n");
    if (outbound(before) !== outbound(after)) return true;
    for (const { to, options } of after) {
      const [target, queue] = splitAddress(to);
      if (target !== name) continue;
      const current = actor.pool.inbound.get(queue);
      if (current === undefined || current.closed) return true;
      const wanted = actor.pool.makeInbound(queue, queueSettings(options));
      if (!sameSettings(current, wanted)) return true;
    }
    if (!this.#live.supervisor(actor).finished) return false;
    const touching = (connections: readonly Connection[]) =>
      connections.filter(({ from, to }) =>
        splitAddress(from)[0] === name || splitAddress(to)[0] === name
      ).map(({ from, to }) => `${from} -> ${to}`).sort().join("\n");
    return touching(before) !== touching(after);
  }

  /** Refuses a change the graph checks refuse, or that moves the side streams. */
  #check(): void {
    const live = this.#live;
    const graph: PipelineGraph = {
      actors: this.#next,
      connections: this.#connections,
      logActor: this.#side(live.logActor),
      metricActor: this.#side(live.metricActor),
    };
    const problems = graphProblems(graph);
    if (problems.length > 0) {
      throw new TypeError(
        `The pipeline to be has problems: ${
          problems.map((problem) => problem.message).join("; ")
        }`,
      );
    }
  }

  /** The actor to be that takes the place of side actor `actor`. */
  #side(actor: Actor | undefined): Actor | undefined {
    if (actor === undefined) return undefined;
    const next = this.#next.get(actor.name);
    if (next === undefined) {
      throw new TypeError(
        `Cannot remove "${actor.name}": it receives the router's log or metric events (change that with a restart)`,
      );
    }
    return next;
  }

  /**
   * Decides the queue object behind every inbound address of the pipeline
   * to be, what each writer does, and which events move where.
   */
  #wire(change: PipelineChange): void {
    const live = this.#live;
    const queueAt = (actors: ReadonlyMap<string, Actor>, address: string) => {
      const [name, queue] = splitAddress(address);
      return actors.get(name)?.pool.inbound.get(queue);
    };
    const outboundAt = (
      actors: ReadonlyMap<string, Actor>,
      address: string,
    ) => {
      const [name, queue] = splitAddress(address);
      return actors.get(name)?.pool.outbound.get(queue);
    };
    for (const { from, to } of live.connections) {
      const queue = queueAt(live.actors, to);
      const writer = outboundAt(live.actors, from);
      if (queue !== undefined && writer !== undefined) {
        this.#oldWriters.set(queue, writer);
      }
    }
    const connectionTo = new Map(
      this.#connections.map((connection) => [connection.to, connection]),
    );
    // The queues of the actors to be.
    for (const [name, actor] of this.#next) {
      const replacement = this.#replacements.get(name);
      const fed = this.#connections.filter(({ to }) =>
        splitAddress(to)[0] === name
      );
      if (replacement === undefined && !this.#added.includes(actor)) {
        for (const { to } of fed) {
          this.#targets.set(to, queueAt(this.#next, to)!);
        }
        continue;
      }
      const names = new Set(fed.map(({ to }) => splitAddress(to)[1]));
      for (const queue of replacement?.old.pool.inbound.keys() ?? []) {
        if (actor.pool.acceptsInbound(queue)) names.add(queue);
      }
      for (const queue of names) {
        const address = `${name}.${queue}`;
        const options = connectionTo.get(address)?.options ?? {};
        const custom = options.capacity !== undefined ||
          options.whenFull !== undefined || options.buffer !== undefined;
        const wanted = custom || !actor.pool.inbound.has(queue)
          ? actor.pool.makeInbound(queue, queueSettings(options))
          : actor.pool.inbound.get(queue)!;
        const old = replacement?.old.pool.inbound.get(queue);
        let target = wanted;
        if (old !== undefined && !old.closed && sameSettings(old, wanted)) {
          target = old;
        } else if (old !== undefined) {
          this.#moves.push({ from: old, to: wanted, counters: true });
        }
        actor.pool.adopt(queue, target);
        this.#targets.set(address, target);
      }
      if (replacement !== undefined) {
        for (const [queue, old] of replacement.old.pool.inbound) {
          if (!names.has(queue)) this.#follow(old, change);
        }
      }
    }
    // The removed actors' queues: their events follow the connections into
    // them when every one leads elsewhere now (those with a disk buffer
    // drain to the removed actor instead).
    for (const actor of this.#removed) {
      const queues = [...actor.pool.inbound.values()].filter((queue) =>
        this.#oldWriters.has(queue)
      );
      if (
        queues.length > 0 && queues.every((queue) => this.#followed(queue)) &&
        !queues.some((queue) => queue.buffered)
      ) {
        this.#handedOver.add(actor);
        for (const queue of queues) this.#follow(queue, change);
      }
    }
    // The writers of the pipeline to be.
    for (const { from, to } of this.#connections) {
      const target = this.#targets.get(to)!;
      const [name, queue] = splitAddress(from);
      const actor = this.#next.get(name)!;
      const replacement = this.#replacements.get(name);
      let writer: OutboundQueue;
      if (replacement !== undefined) {
        const old = replacement.old.pool.outbound.get(queue);
        if (old !== undefined && old.target === target) {
          replacement.adopted.set(queue, old);
          writer = old;
        } else {
          writer = actor.pool.addOutbound(queue);
          writer.reserve(target);
        }
      } else if (this.#added.includes(actor)) {
        writer = actor.pool.addOutbound(queue);
        writer.reserve(target);
      } else {
        writer = actor.pool.outbound.get(queue)!;
        if (writer.target !== target) this.#moving.add(writer);
      }
      this.#newWriters.set(target, writer);
    }
    for (const replacement of this.#replacements.values()) {
      replacement.fresh[REPLACES](replacement.old, [
        ...replacement.adopted.values(),
      ]);
    }
    for (const [queue, writer] of this.#oldWriters) {
      if (this.#newWriters.get(queue) === writer) continue;
      const [name] = splitAddress(writer.name);
      const owner = live.actors.get(name)!;
      if (this.#next.get(name) !== owner) {
        this.#leavingWriters.set(writer, owner);
      }
    }
  }

  /** Whether the connection into `queue` now leads to another queue. */
  #followed(queue: Queue): boolean {
    const writer = this.#oldWriters.get(queue);
    if (writer === undefined) return false;
    return this.#connections.some(({ from }) => from === writer.name);
  }

  /**
   * The events of `queue`, which no actor to be reads, follow the
   * connection that fed it to where it leads now, or are thrown away.
   */
  #follow(queue: Queue, change: PipelineChange): void {
    if (queue.buffered) {
      throw new TypeError(
        `"${queue.name}" has a disk buffer and its actor is replaced by one that does not read it: its events cannot follow the connection elsewhere; keep that queue for this reload, or restart`,
      );
    }
    const writer = this.#oldWriters.get(queue);
    const connection = writer === undefined
      ? undefined
      : change.connections.find(({ from }) => from === writer.name);
    const [name, inbound] = connection === undefined
      ? []
      : splitAddress(connection.to);
    const to = name === undefined
      ? undefined
      : this.#targets.get(connection!.to) ??
        this.#next.get(name)?.pool.inbound.get(inbound!);
    if (to === undefined) this.#stranded.push(queue);
    else this.#moves.push({ from: queue, to, counters: false });
  }

  /**
   * Sets up the new actors (those taking a listening socket over take it
   * first), consumers first, each within `timeoutMs`; the reason of the
   * first failure, or `undefined`.
   */
  async setUp(timeoutMs: number): Promise<string | undefined> {
    const live = this.#live;
    const fresh = new Set<Actor>([
      ...this.#added,
      ...[...this.#replacements.values()].map(({ fresh }) => fresh),
    ]);
    for (const [name, { old, fresh: actor }] of this.#replacements) {
      if (!this.#sameAddress.has(name) || actor.takeOver === undefined) {
        continue;
      }
      const takeover = actor.takeOver(old);
      if (takeover !== undefined) {
        this.#takeovers.push(takeover);
        this.result.takenOver.push(name);
      }
    }
    const opening = await this.#openBuffers();
    if (opening !== undefined) return opening;
    const order = startOrder({
      actors: this.#next,
      connections: this.#connections,
    }).filter((actor) => fresh.has(actor));
    const deadline = new Deadline(timeoutMs);
    try {
      for (const actor of order) {
        let setup: Promise<void>;
        try {
          setup = Promise.resolve(actor.setup());
        } catch (error) {
          setup = Promise.reject(error);
        }
        if (!await deadline.race(setup)) {
          this.#setUp.push(actor);
          return `Actor "${actor.name}" did not finish its setup within ${timeoutMs} ms`;
        }
        try {
          await setup;
        } catch (error) {
          live.log.error('Actor "{actor}" failed to set up: {error}', {
            actor: actor.name,
            error: describe(error),
          });
          return `Actor "${actor.name}" failed to set up: ${describe(error)}`;
        }
        this.#setUp.push(actor);
      }
    } finally {
      deadline.cancel();
    }
    return undefined;
  }

  /**
   * Opens the disk buffers of the new queues, but those whose directory
   * the queue they replace uses (they take its buffer at the switch); the
   * reason of the first failure, or `undefined`.
   */
  async #openBuffers(): Promise<string | undefined> {
    const running = new Set<Queue>();
    for (const actor of this.#live.actors.values()) {
      for (const queue of actor.pool.inbound.values()) running.add(queue);
    }
    for (const queue of new Set(this.#targets.values())) {
      const settings = queue.bufferSettings;
      if (running.has(queue) || settings === undefined) continue;
      const taken = this.#moves.some(({ from, to }) =>
        to === queue && from.bufferPaths.includes(settings.path)
      );
      if (taken) continue;
      try {
        await queue.openBuffer(this.#live.log);
      } catch (error) {
        return describe(error);
      } finally {
        this.#opened.push(queue);
      }
    }
    return undefined;
  }

  /**
   * Undoes what {@link Reconfiguration.setUp} did: the sockets taken over
   * stay with their actors, the actors set up are torn down, and the
   * queues the replacements took are hooked back to the running actors.
   */
  async rollBack(): Promise<void> {
    for (const takeover of this.#takeovers) takeover.cancel();
    await Promise.all(this.#opened.map((queue) => queue.closeBuffer()));
    for (const actor of this.#setUp.reverse()) {
      await this.#live.discard(actor);
    }
    for (const { old, adopted } of this.#replacements.values()) {
      for (const [name, queue] of adopted) old.pool.adopt(name, queue);
    }
    this.result.takenOver = [];
  }

  /**
   * Switches the running pipeline over to the one set up; resolves once
   * everything is in place or `drainTimeoutMs` passed, with what was left
   * to finish in the background.
   */
  async switchOver(drainTimeoutMs: number): Promise<string[]> {
    const live = this.#live;
    const supervisors = new Map<Actor, Supervisor>();
    for (const actor of this.#next.values()) {
      const running = live.actors.get(actor.name);
      supervisors.set(
        actor,
        running === actor
          ? live.supervisor(actor)
          : live.supervise(actor, this.#connections),
      );
    }
    const leaving = [
      ...[...this.#replacements.values()].map(({ old }) => old),
      ...this.#removed,
    ].map((actor) => [actor, live.supervisor(actor)] as const);
    live.install(this.#next, this.#connections, supervisors);
    for (const takeover of this.#takeovers) takeover.commit();
    const deadline = new Deadline(drainTimeoutMs);
    const pending = new Map<Promise<void>, string>();
    // A task that fails is logged; the tasks after it go on.
    const track = (promise: Promise<unknown>, what: string): Promise<void> => {
      const tracked = promise.then(() => {}, (error) => {
        live.log.error("A reload failed {what}: {error}", {
          what,
          error: describe(error),
        });
      });
      pending.set(tracked, what);
      void tracked.then(() => pending.delete(tracked));
      return tracked;
    };
    try {
      this.#run(supervisors, leaving, deadline, track);
      await deadline.race(Promise.all([...pending.keys()]));
      return [...new Set(pending.values())].map((what) =>
        `Still ${what} after ${
          drainTimeoutMs / 1000
        } s: it goes on in the background`
      );
    } finally {
      deadline.cancel();
    }
  }

  /** Starts every task of the switch; `track` names what each waits for. */
  #run(
    supervisors: ReadonlyMap<Actor, Supervisor>,
    leaving: readonly (readonly [Actor, Supervisor])[],
    deadline: Deadline,
    track: (promise: Promise<unknown>, what: string) => Promise<void>,
  ): void {
    const live = this.#live;
    // The actors leaving stop taking new work.
    const released = new Map<Actor, Promise<void>>();
    const done = new Map<Actor, Promise<void>>();
    for (const [actor, supervisor] of leaving) {
      const replaced = this.#replacements.get(actor.name)?.old === actor;
      if (replaced || this.#handedOver.has(actor)) {
        released.set(actor, supervisor.handOver());
      } else {
        supervisor.retire();
        released.set(actor, supervisor.done);
      }
      done.set(
        actor,
        track(
          supervisor.done,
          `waiting for "${actor.name}" to finish its work`,
        ),
      );
      live.retire(supervisor);
    }
    // The added actors read their (new) queues at once, consumers first.
    for (const actor of this.#startOrder(this.#added)) {
      supervisors.get(actor)!.start();
    }
    // Writers let go of the queues they no longer write to.
    const freed = new Map<Queue, Promise<void>>();
    /** Writers that run on: settle once each paused. */
    const paused = new Map<OutboundQueue, Promise<void>>();
    for (const [queue, writer] of this.#oldWriters) {
      if (this.#newWriters.get(queue) === writer) continue;
      const keepOpen = this.#newWriters.has(queue) ||
        this.#moves.some(({ from }) => from === queue) ||
        this.#stranded.includes(queue);
      const owner = this.#leavingWriters.get(writer);
      const release = owner === undefined
        ? writer.pause().then(() => {
          if (!keepOpen) queue.close();
        })
        : done.get(owner)!.then(() =>
          keepOpen ? writer.pause() : writer.close()
        );
      const released = track(
        release,
        `disconnecting "${writer.name}" from "${queue.name}"`,
      );
      freed.set(queue, released);
      if (owner === undefined) paused.set(writer, released);
    }
    // Events move while the writers flush, and once more after.
    const arrived = new Map<Queue, Promise<void>[]>();
    for (const move of this.#moves) {
      // After what the queue's writer before sent, in order.
      const after = freed.get(move.to) ?? Promise.resolve();
      const moving = track(
        after.then(() => this.#move(move, freed.get(move.from))),
        `moving the events of "${move.from.name}" to "${move.to.name}"`,
      );
      arrived.set(move.to, [...arrived.get(move.to) ?? [], moving]);
    }
    for (const queue of this.#stranded) {
      void track(
        (freed.get(queue) ?? Promise.resolve()).then(() => {
          const lost = queue.clear();
          if (lost > 0) {
            live.log.warn(
              'A reload threw away {count} event(s) queued in "{queue}": the new pipeline has no queue for them',
              { count: lost, queue: queue.name },
            );
          }
        }),
        `emptying "${queue.name}"`,
      );
    }
    // New writers start once the queue is theirs and its events are in.
    for (const [queue, writer] of this.#newWriters) {
      // A writer that moves pauses once what it sent is written: not yet.
      const pausing = paused.get(writer);
      if (!writer.paused && pausing === undefined) continue;
      const old = this.#oldWriters.get(queue);
      const ready = [
        ...(old !== undefined && old !== writer ? [freed.get(queue)!] : []),
        ...(pausing === undefined ? [] : [pausing]),
        ...arrived.get(queue) ?? [],
      ];
      void track(
        Promise.all(ready).then(() => writer.resume(queue)),
        `connecting "${writer.name}" to "${queue.name}"`,
      );
    }
    // Queues of the pipeline to be that nothing writes to close, once the
    // events moving into them are in.
    for (const actor of this.#next.values()) {
      for (const queue of actor.pool.inbound.values()) {
        if (
          queue.closed || this.#newWriters.has(queue) ||
          this.#oldWriters.has(queue) || this.#sideQueues.has(queue)
        ) continue;
        void track(
          Promise.all(arrived.get(queue) ?? []).then(() => queue.close()),
          `closing "${queue.name}"`,
        );
      }
    }
    // Each replacement starts once the actor it replaces let go of its
    // queues and finished (or the time is up).
    for (
      const actor of this.#startOrder([...this.#replacements.values()].map(
        ({ fresh }) => fresh,
      ))
    ) {
      const { old } = this.#replacements.get(actor.name)!;
      void track(
        released.get(old)!.then(async () => {
          // An actor reading no queue (an input) starts at once, beside
          // the one it replaces finishing what it has in progress.
          if (old.pool.inbound.size > 0) await deadline.race(done.get(old)!);
          supervisors.get(actor)!.start();
        }),
        `starting the replacement of "${actor.name}"`,
      );
    }
  }

  /** `actors` in start order: consumers first. */
  #startOrder(actors: readonly Actor[]): Actor[] {
    const wanted = new Set(actors);
    return startOrder({ actors: this.#next, connections: this.#connections })
      .filter((actor) => wanted.has(actor));
  }

  /**
   * Moves the events of `move.from` into `move.to` until its writer let
   * go of it (`freed`), then once more, and closes it.
   */
  async #move(move: Move, freed: Promise<void> | undefined): Promise<void> {
    const { from, to, counters } = move;
    const step = () => {
      if (counters) {
        const before = to.depth;
        to.takeOver(from);
        this.result.moved += to.depth - before;
      } else {
        this.result.moved += to.takeEvents(from);
      }
    };
    // What is on disk is read back only as far as `to` has room.
    const buffered = from.buffered;
    if (buffered) void from.stopReplay();
    if (freed !== undefined) {
      let settled = false;
      void freed.finally(() => settled = true).catch(() => {});
      while (!settled) {
        step();
        if (buffered) from.readBackFor(to);
        await new Promise((resolve) => setTimeout(resolve, MOVE_POLL_MS));
      }
    }
    // What is left on disk follows: read back after the events moved.
    if (buffered) await from.stopReplay();
    step();
    const draining = to.adoptBuffer(from);
    if (draining !== undefined) {
      this.#live.log.warn(
        'The disk buffer of "{queue}" in "{path}" was removed or moved by a reload: what it holds is delivered first (kept there should the process end before)',
        { queue: to.name, path: draining },
      );
    }
    from.close();
  }
}

/** Whether two queues have the same capacity, full-queue policy and disk buffer. */
function sameSettings(a: Queue, b: Queue): boolean {
  return a.capacity === b.capacity && a.whenFull === b.whenFull &&
    JSON.stringify(a.bufferSettings) === JSON.stringify(b.bufferSettings);
}
