/**
 * The view of a running pipeline that the admin API serves as JSON: its
 * topology (actors laid out in columns by topological depth, connections),
 * live counters and rates.
 *
 * @module
 */

import type { ActorKind } from "../core/actor.ts";
import type { PipelineMetrics } from "../core/metrics.ts";
import type { QueueFigures } from "../core/queue.ts";
import {
  type ActorPhase,
  type Router,
  type RouterStatus,
  splitAddress,
} from "../core/router.ts";
import { type EndDirection, endDirection } from "../core/router_ends.ts";
import { ownEntry, type PipelineRates, type QueueRates } from "./rates.ts";

/** One queue of an actor, with its figures and rates. */
export interface QueueView extends QueueFigures, QueueRates {
  /** The queue's name in its actor, e.g. `"outbox"`. */
  name: string;
  /** `actor.queue`, e.g. `"a.outbox"`. */
  address: string;
  /** Whether the actor consumes from it or sends to it. */
  direction: "inbound" | "outbound";
  /** The queue at the other end of its connection, when connected. */
  connected?: string;
}

/** One actor, with its state, counters, rates and queues. */
export interface ActorView {
  /** The actor's name. */
  name: string;
  /** What the actor does. */
  kind: ActorKind;
  /** The registry type it was made from, when known. */
  type?: string;
  /**
   * Set for an external end of the pipeline (see `Router.expose`): a program
   * writes to it (`"writable"`) or reads from it (`"readable"`).
   */
  end?: EndDirection;
  /** Its column in a drawing: the longest path from an input, 0-based. */
  column: number;
  /** `waiting` before it runs, `running`, then `finished`. */
  state: "waiting" | "running" | "finished";
  /** Where its supervisor is: `running`, `restarting`, `gave up`... */
  phase: ActorPhase;
  /** Times it was restarted after a crash. */
  restarts_total: number;
  /** Whether it can do its work now. */
  ready: boolean;
  /** Why it is not ready, when it says. */
  reason?: string;
  /** Events consumed successfully. */
  consumed_total: number;
  /** Events whose consume failed. */
  failed_total: number;
  /**
   * The stop report's accounting, as far as this actor goes: events it made
   * (an input), delivered (an output), consumed after an `error` queue (an
   * output), consumed without sending anything on, and lost (failed with no
   * error queue). Their sums over the actors are the report's `created`,
   * `delivered`, `errors`, `filtered` and `failed`.
   */
  created_total: number;
  /** See `created_total`. */
  delivered_total: number;
  /** See `created_total`. */
  errors_total: number;
  /** See `created_total`. */
  filtered_total: number;
  /** See `created_total`. */
  lost_total: number;
  /** Events consumed per second over the rate window. */
  consumed_rate: number;
  /** Events failed per second over the rate window. */
  failed_rate: number;
  /** Mean time spent in consume per event, in seconds (0 before any). */
  consume_mean_seconds: number;
  /** Its queues, inbound first. */
  queues: QueueView[];
}

/** One connection: the figures of the inbound queue it feeds. */
export interface ConnectionView extends QueueRates {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Events held by the receiving queue now. */
  depth: number;
  /** Most events it holds. */
  capacity: number;
  /** `depth / capacity`, from 0 to 1. */
  fill: number;
  /** Events it accepted. */
  in_total: number;
  /** Events its consumer finished. */
  out_total: number;
  /** Events it dropped. */
  dropped_total: number;
  /** With a disk buffer: events on disk waiting to be read back. */
  disk_events?: number;
  /** With a disk buffer: bytes of its files. */
  disk_bytes?: number;
}

/** What `GET /api/pipeline` returns. */
export interface PipelineView {
  /** When the figures were read, ISO 8601. */
  time: string;
  /** The router's state. */
  state: RouterStatus["state"];
  /** Seconds the rates were computed over (0: no rates yet). */
  rate_seconds: number;
  /** Every actor in registration order. */
  actors: ActorView[];
  /** Every connection in the order made. */
  connections: ConnectionView[];
}

/**
 * The view of `router` from its figures `metrics` and `rates`; `types` names
 * the registry type of each actor, when known.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { pipelineView } from "./pipeline.ts";
 * const router = new Router();
 * const view = pipelineView(router, router.metrics(), { seconds: 0, actors: {} });
 * assert.equal(view.state, "new");
 * await router.stop();
 * ```
 */
export function pipelineView(
  router: Router,
  metrics: PipelineMetrics,
  rates: PipelineRates,
  types: Readonly<Record<string, string>> = {},
): PipelineView {
  const status = router.status();
  const columns = layoutColumns(router);
  const connectedTo = new Map<string, string>();
  for (const { from, to } of router.connections()) {
    connectedTo.set(from, to);
    connectedTo.set(to, from);
  }
  const noRates: QueueRates = { in_rate: 0, out_rate: 0, dropped_rate: 0 };
  const actors: ActorView[] = [];
  for (const actor of router.actors()) {
    const figures = metrics.actors[actor.name];
    const actorRates = ownEntry(rates.actors, actor.name);
    const actorStatus = status.actors[actor.name];
    const queues: QueueView[] = [];
    const add = (
      name: string,
      direction: QueueView["direction"],
      queueFigures: QueueFigures,
    ) => {
      const address = `${actor.name}.${name}`;
      const view: QueueView = {
        name,
        address,
        direction,
        ...queueFigures,
        ...((actorRates && ownEntry(actorRates.queues, name)) ?? noRates),
      };
      const other = connectedTo.get(address);
      if (other !== undefined) view.connected = other;
      queues.push(view);
    };
    for (const [name, queue] of actor.pool.inbound) {
      add(name, "inbound", figures?.queues[name] ?? queue.figures());
    }
    for (const [name, queue] of actor.pool.outbound) {
      add(
        name,
        "outbound",
        actor.pool.inbound.has(name) ? queue.figures() : (
          figures?.queues[name] ?? queue.figures()
        ),
      );
    }
    const histogram = figures?.consume_seconds ?? actor.consumeSeconds();
    const view: ActorView = {
      name: actor.name,
      kind: actor.kind,
      column: columns.get(actor.name) ?? 0,
      state: actorStatus?.state ?? "waiting",
      phase: actorStatus?.phase ?? "waiting",
      restarts_total: figures?.restarts_total ?? 0,
      ready: actorStatus?.ready ?? false,
      consumed_total: figures?.consumed_total ?? 0,
      failed_total: figures?.failed_total ?? 0,
      created_total: figures?.created_total ?? 0,
      delivered_total: figures?.delivered_total ?? 0,
      errors_total: figures?.errors_total ?? 0,
      filtered_total: figures?.filtered_total ?? 0,
      lost_total: figures?.lost_total ?? 0,
      consumed_rate: actorRates?.consumed_rate ?? 0,
      failed_rate: actorRates?.failed_rate ?? 0,
      consume_mean_seconds: histogram.count > 0
        ? histogram.sum / histogram.count
        : 0,
      queues,
    };
    const type = ownEntry(types, actor.name);
    if (type !== undefined) view.type = type;
    const end = endDirection(actor);
    if (end !== undefined) view.end = end;
    if (actorStatus?.reason !== undefined) view.reason = actorStatus.reason;
    actors.push(view);
  }
  const connections: ConnectionView[] = [];
  for (const { from, to } of router.connections()) {
    const [targetName, queueName] = splitAddress(to);
    const target = router.actor(targetName);
    const queue = target?.pool.inbound.get(queueName);
    if (target === undefined || queue === undefined) continue;
    const figures = queue.figures();
    const targetRates = ownEntry(rates.actors, target.name);
    const queueRates =
      (targetRates && ownEntry(targetRates.queues, queueName)) ??
        noRates;
    const view: ConnectionView = {
      from,
      to,
      depth: figures.depth,
      capacity: figures.capacity,
      fill: figures.capacity > 0 ? figures.depth / figures.capacity : 0,
      in_total: figures.in_total,
      out_total: figures.out_total,
      dropped_total: figures.dropped_total,
      ...queueRates,
    };
    if (figures.disk_events !== undefined) {
      view.disk_events = figures.disk_events;
      view.disk_bytes = figures.disk_bytes ?? 0;
    }
    connections.push(view);
  }
  return {
    time: metrics.time,
    state: status.state,
    rate_seconds: rates.seconds,
    actors,
    connections,
  };
}

/**
 * The column of each actor in a drawing: the longest path to it from an
 * actor nothing feeds (edges closing a cycle are left out). The log and
 * metric actors, fed by the router rather than by connections, and what
 * they feed, come after the pipeline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../core/router.ts";
 * import { layoutColumns } from "./pipeline.ts";
 * const router = new Router();
 * assert.equal(layoutColumns(router).size, 0);
 * await router.stop();
 * ```
 */
export function layoutColumns(router: Router): Map<string, number> {
  const names = router.actors().map((actor) => actor.name);
  const next = new Map<string, string[]>(names.map((name) => [name, []]));
  const fed = new Set<string>();
  for (const { from, to } of router.connections()) {
    const [source] = splitAddress(from);
    const [target] = splitAddress(to);
    next.get(source)?.push(target);
    fed.add(target);
  }
  // A topological order of the graph without the edges that close cycles.
  const order: string[] = [];
  const state = new Map<string, "open" | "done">();
  const kept = new Map<string, string[]>(names.map((name) => [name, []]));
  const visit = (name: string): void => {
    state.set(name, "open");
    for (const successor of next.get(name) ?? []) {
      const seen = state.get(successor);
      if (seen === "open") continue;
      kept.get(name)!.push(successor);
      if (seen === undefined) visit(successor);
    }
    state.set(name, "done");
    order.push(name);
  };
  const isSide = (name: string) => {
    const kind = router.actor(name)?.kind;
    return !fed.has(name) && (kind === "log" || kind === "metric");
  };
  const roots = names.filter((name) => !fed.has(name));
  for (const name of [...roots, ...names]) {
    if (!state.has(name)) visit(name);
  }
  order.reverse();
  // Longest paths, first from the pipeline's roots, then from the side ones.
  const column = new Map<string, number>();
  const relax = (from: Iterable<string>, start: number): void => {
    const reach = new Map<string, number>();
    for (const name of from) reach.set(name, start);
    for (const name of order) {
      const at = reach.get(name);
      if (at === undefined || column.has(name)) continue;
      for (const successor of kept.get(name) ?? []) {
        if (column.has(successor)) continue;
        reach.set(successor, Math.max(reach.get(successor) ?? 0, at + 1));
      }
    }
    for (const [name, at] of reach) if (!column.has(name)) column.set(name, at);
  };
  relax(roots.filter((name) => !isSide(name)), 0);
  const last = Math.max(-1, ...column.values());
  relax(roots.filter(isSide), last + 1);
  // Actors only on cycles with no way in.
  relax(names.filter((name) => !column.has(name)), 0);
  return column;
}
