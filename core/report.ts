/**
 * The stop report: one accounting of every event, read from the counters
 * the supervisors and queues keep.
 *
 * @module
 */

import { type Actor, COUNTERS } from "./actor.ts";
import type { QueueFigures } from "./queue.ts";
import type { Crash } from "./supervisor.ts";

/**
 * An actor that did not finish a phase of its lifecycle in time: `setup`
 * (during a start), `draining` (it still held or was sent events when the
 * stop's time ran out) or `teardown`.
 *
 * @example
 * ```ts
 * import type { HungActor } from "./report.ts";
 * const hung: HungActor = { actor: "sink", phase: "draining" };
 * ```
 */
export interface HungActor {
  /** The actor's name. */
  actor: string;
  /** The phase it hung in. */
  phase: "setup" | "draining" | "teardown";
}

/**
 * What `Router.stop()` found: where every event went. The figures add up:
 *
 * `created + copies + replayed = delivered + errors + filtered + failed + dropped + abandoned + buffered + unaccounted`
 *
 * where `unaccounted` is 0 unless events were still in flight (a stop that
 * gave up on an actor that still runs, say). `replayed` and `buffered` are
 * 0 without disk buffers: the events a previous run left in them, and
 * those left there for the next run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.equal(report.created, 3);
 * assert.equal(report.delivered, 3);
 * assert.equal(report.queues["sink.inbox"]!.in_total, 3);
 * ```
 */
export interface StopReport {
  /** Events made by inputs (and by actors outside `consume`, e.g. on a timer). */
  created: number;
  /** Events sent beyond one per event consumed (fanout copies, splits). */
  copies: number;
  /**
   * Events a previous run left in disk buffers, found at start and replayed
   * (those still on disk at the stop count in `buffered` again).
   */
  replayed: number;
  /**
   * Events consumed by outputs, and replies consumed by inputs that answer
   * requests (`http_server` in request/response mode).
   */
  delivered: number;
  /** Events consumed by outputs after they had failed (from an `error` queue). */
  errors: number;
  /** Events an actor consumed and sent nothing on for (a filter, an aggregator). */
  filtered: number;
  /** Events that failed with no `error` queue to take them: lost, and logged. */
  failed: number;
  /** Events lost to full-queue policies, unconnected or closed queues. */
  dropped: number;
  /**
   * Events thrown away because the stop timed out. Those that had been read
   * back from a disk buffer are still on disk: the next run replays them.
   */
  abandoned: number;
  /**
   * Events left in disk buffers at the stop, neither delivered nor lost:
   * the next run replays them.
   */
  buffered: number;
  /** Values discarded because they were not events (not counted above). */
  discarded: number;
  /** Events sent by work that outlived its actor's run (not counted above). */
  late: number;
  /** Events neither delivered nor lost: 0 after a stop that drained. */
  unaccounted: number;
  /** Whether the stop's time ran out. */
  timedOut: boolean;
  /**
   * Events not delivered when the time ran out, by queue: for an inbound
   * queue those it held (queued or with the consumer); for an outbound queue
   * those gathered or waiting for room in the queue it writes to. They were
   * thrown away (`abandoned`).
   */
  queued: Record<string, number>;
  /** Actors that did not finish a phase in time, and which. */
  hung: HungActor[];
  /**
   * The crashes: every one that stopped an actor, and the last of those
   * after which the actor was restarted (a router keeps 1,000).
   */
  crashed: Crash[];
  /** Restarts after a crash, all of them (`crashed` may list fewer). */
  restarts: number;
  /** The actors that crashed more often than their policy allows. */
  gaveUp: string[];
  /** Final figures of every queue, by `actor.queue`. */
  queues: Record<string, QueueFigures>;
}

/** What the router adds to the counters to make a report. */
export interface ReportContext {
  /** Whether the stop's time ran out. */
  timedOut: boolean;
  /** See {@link StopReport.queued}. */
  queued: Record<string, number>;
  /** See {@link StopReport.hung}. */
  hung: HungActor[];
  /** See {@link StopReport.crashed}. */
  crashed: Crash[];
  /**
   * See {@link StopReport.restarts}; by default, those `crashed` lists.
   */
  restarts?: number;
  /** See {@link StopReport.gaveUp}. */
  gaveUp: string[];
}

/**
 * The report of a pipeline made of `actors` (not its log and metric side
 * streams), and of the actors a reload removed or replaced (`retired`).
 * Counters and queues that several actors share (an actor and its
 * replacement) count once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopReport } from "./report.ts";
 * const report = stopReport([], { timedOut: false, queued: {}, hung: [], crashed: [], gaveUp: [] });
 * assert.equal(report.unaccounted, 0);
 * ```
 */
export function stopReport(
  actors: Iterable<Actor>,
  context: ReportContext,
  retired?: RetiredFigures,
): StopReport {
  const report: StopReport = {
    created: 0,
    copies: 0,
    replayed: 0,
    delivered: 0,
    errors: 0,
    filtered: 0,
    failed: 0,
    dropped: 0,
    abandoned: 0,
    buffered: 0,
    discarded: 0,
    late: 0,
    unaccounted: 0,
    ...context,
    restarts: context.restarts ??
      context.crashed.filter((crash) => crash.restarted).length,
    queues: {},
  };
  const seen = new Set<object>();
  for (const actor of actors) addActor(report, actor, seen);
  retired?.addTo(report);
  report.unaccounted = report.created + report.copies + report.replayed -
    report.delivered - report.errors - report.filtered - report.failed -
    report.dropped - report.abandoned - report.buffered;
  return report;
}

/** The figures of a report that actors add up to. */
type Totals = Pick<
  StopReport,
  | "created"
  | "copies"
  | "delivered"
  | "errors"
  | "filtered"
  | "failed"
  | "dropped"
  | "abandoned"
  | "discarded"
  | "late"
  | "replayed"
  | "buffered"
  | "queues"
>;

const TOTALS = [
  "created",
  "copies",
  "delivered",
  "errors",
  "filtered",
  "failed",
  "dropped",
  "abandoned",
  "discarded",
  "late",
  "replayed",
  "buffered",
] as const;

/**
 * Adds `actor`'s counters and queues to `totals`, except those in `seen`
 * (counted already, as shared with another actor), which it adds to.
 */
function addActor(
  totals: Totals,
  actor: Actor,
  seen: Set<object>,
  disks = true,
): void {
  const counters = actor[COUNTERS];
  if (!seen.has(counters)) {
    seen.add(counters);
    totals.created += counters.created_total;
    totals.copies += counters.copies_total;
    totals.delivered += counters.delivered_total;
    totals.errors += counters.errors_total;
    totals.filtered += counters.filtered_total;
    totals.failed += counters.lost_total;
    totals.late += counters.late_total;
  }
  for (const [name, queue] of actor.pool.queues()) {
    if (seen.has(queue)) continue;
    seen.add(queue);
    const figures = queue.figures();
    addQueue(totals.queues, `${actor.name}.${name}`, figures);
    totals.dropped += figures.dropped_total - figures.abandoned_total;
    totals.abandoned += figures.abandoned_total;
    totals.discarded += figures.discarded_total;
    if (!disks) continue;
    totals.replayed += figures.disk_recovered_total ?? 0;
    totals.buffered += figures.disk_events ?? 0;
  }
}

/** Adds a queue's figures under `name`, summed with those there already. */
function addQueue(
  queues: Record<string, QueueFigures>,
  name: string,
  figures: QueueFigures,
): void {
  const before = queues[name];
  if (before === undefined) {
    queues[name] = figures;
    return;
  }
  queues[name] = {
    ...figures,
    in_total: before.in_total + figures.in_total,
    out_total: before.out_total + figures.out_total,
    dropped_total: before.dropped_total + figures.dropped_total,
    abandoned_total: before.abandoned_total + figures.abandoned_total,
    discarded_total: before.discarded_total + figures.discarded_total,
    failed_total: before.failed_total + figures.failed_total,
    depth: before.depth + figures.depth,
    capacity: Math.max(before.capacity, figures.capacity),
  };
}

/**
 * What the actors a reload removed or replaced leave to the stop report
 * once they finished: their counters and queues, except those that actors
 * still running share (which those count). Keeping sums rather than the
 * actors keeps memory flat however many reloads a process sees.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RetiredFigures, stopReport } from "./report.ts";
 * const retired = new RetiredFigures();
 * const report = stopReport([], { timedOut: false, queued: {}, hung: [], crashed: [], gaveUp: [] }, retired);
 * assert.equal(report.created, 0);
 * ```
 */
export class RetiredFigures {
  #totals: Totals = {
    created: 0,
    copies: 0,
    delivered: 0,
    errors: 0,
    filtered: 0,
    failed: 0,
    dropped: 0,
    abandoned: 0,
    discarded: 0,
    late: 0,
    replayed: 0,
    buffered: 0,
    queues: {},
  };

  /**
   * Adds the figures of `actor`, which finished, leaving out its counters
   * and queues that `running` (the actors running now) share.
   */
  add(actor: Actor, running: Iterable<Actor>): void {
    const shared = new Set<object>();
    for (const other of running) {
      shared.add(other[COUNTERS]);
      for (const [, queue] of other.pool.queues()) shared.add(queue);
    }
    // A disk buffer of its queues goes on in the queue that takes them
    // over (a reload), which counts what it holds and replayed.
    addActor(this.#totals, actor, shared, false);
  }

  /** Adds what it holds to `totals`. */
  addTo(totals: Totals): void {
    for (const key of TOTALS) totals[key] += this.#totals[key];
    for (const [name, figures] of Object.entries(this.#totals.queues)) {
      addQueue(totals.queues, name, figures);
    }
  }
}
