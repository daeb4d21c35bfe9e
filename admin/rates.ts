/**
 * Rates over a window, computed from successive figures of a pipeline: the
 * one place where events per second are worked out. The admin API serves
 * them; `compysition top` and the dashboard show what it serves.
 *
 * @module
 */

import type { PipelineMetrics } from "../core/metrics.ts";

/** Events per second of one queue. */
export interface QueueRates {
  /** Events accepted per second (`in_total`). */
  in_rate: number;
  /** Events passed on per second (`out_total`). */
  out_rate: number;
  /** Events dropped per second (`dropped_total`). */
  dropped_rate: number;
}

/** Events per second of one actor and its queues. */
export interface ActorRates {
  /** Events consumed per second (`consumed_total`). */
  consumed_rate: number;
  /** Events failed per second (`failed_total`). */
  failed_rate: number;
  /** Rates of each queue by queue name. */
  queues: Record<string, QueueRates>;
}

/** Rates of every actor by name, and the span they were computed over. */
export interface PipelineRates {
  /** Seconds between the two figures the rates come from (0: no rates yet). */
  seconds: number;
  /** Rates by actor name. */
  actors: Record<string, ActorRates>;
}

/**
 * The rate of a counter that went from `before` to `after` in `seconds`:
 * 0 when no time passed or the counter went back (it was reset).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rate } from "./rates.ts";
 * assert.equal(rate(10, 40, 2), 15);
 * assert.equal(rate(40, 10, 2), 0);
 * ```
 */
export function rate(before: number, after: number, seconds: number): number {
  if (!(seconds > 0) || !(after >= before)) return 0;
  return (after - before) / seconds;
}

/**
 * The rates between two figures of the same pipeline taken `seconds` apart.
 * Actors and queues missing from `older` count from 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyFigures } from "../core/actor.ts";
 * import { ratesBetween } from "./rates.ts";
 * const figures = (n: number) => ({
 *   time: "",
 *   actors: {
 *     sink: {
 *       kind: "output" as const,
 *       ...emptyFigures(),
 *       consumed_total: n,
 *       consume_seconds: { bounds: [], buckets: [], sum: 0, count: n },
 *       queues: {
 *         inbox: { in_total: n, out_total: n, dropped_total: 0, abandoned_total: 0, discarded_total: 0, failed_total: 0, depth: 0, capacity: 10 },
 *       },
 *     },
 *   },
 * });
 * assert.equal(ratesBetween(figures(0), figures(50), 5).actors.sink?.consumed_rate, 10);
 * ```
 */
/**
 * The value `record` holds under `key` as its own property, or `undefined`:
 * an actor or queue may be named as a property every object inherits
 * (`toString`, `constructor`), which `record[key]` would find in its
 * prototype where `record` lacks the name (an actor a reload just added).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownEntry } from "./rates.ts";
 * const byName: Record<string, number> = { sink: 1 };
 * assert.equal(ownEntry(byName, "sink"), 1);
 * assert.equal(ownEntry(byName, "toString"), undefined);
 * ```
 */
export function ownEntry<T>(
  record: Readonly<Record<string, T>>,
  key: string,
): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function ratesBetween(
  older: PipelineMetrics,
  newer: PipelineMetrics,
  seconds: number,
): PipelineRates {
  const actors: Record<string, ActorRates> = {};
  for (const [name, now] of Object.entries(newer.actors)) {
    const then = ownEntry(older.actors, name);
    const queues: Record<string, QueueRates> = {};
    for (const [queue, figures] of Object.entries(now.queues)) {
      const before = then && ownEntry(then.queues, queue);
      queues[queue] = {
        in_rate: rate(before?.in_total ?? 0, figures.in_total, seconds),
        out_rate: rate(before?.out_total ?? 0, figures.out_total, seconds),
        dropped_rate: rate(
          before?.dropped_total ?? 0,
          figures.dropped_total,
          seconds,
        ),
      };
    }
    actors[name] = {
      consumed_rate: rate(
        then?.consumed_total ?? 0,
        now.consumed_total,
        seconds,
      ),
      failed_rate: rate(then?.failed_total ?? 0, now.failed_total, seconds),
      queues,
    };
  }
  return { seconds, actors };
}

/** One set of figures and when it was taken, in seconds of a steady clock. */
interface Sample {
  at: number;
  metrics: PipelineMetrics;
}

/**
 * Keeps the figures of a pipeline taken over the last `windowSeconds` and
 * gives the rates between the oldest and the newest of them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RateWindow } from "./rates.ts";
 * import { Router } from "../core/router.ts";
 * const router = new Router();
 * const window = new RateWindow(5);
 * window.add(router.metrics(), 0);
 * window.add(router.metrics(), 1);
 * assert.equal(window.rates().seconds, 1);
 * await router.stop();
 * ```
 */
export class RateWindow {
  /** The span rates are computed over, in seconds. */
  readonly windowSeconds: number;
  #samples: Sample[] = [];

  /** Makes an empty window of `windowSeconds` (default 5). */
  constructor(windowSeconds = 5) {
    if (!(windowSeconds > 0)) {
      throw new RangeError(
        `RateWindow: windowSeconds must be more than 0, got ${windowSeconds}`,
      );
    }
    this.windowSeconds = windowSeconds;
  }

  /**
   * Adds figures taken at `at` seconds (default: now, on a steady clock) and
   * forgets those older than the window, always keeping two.
   */
  add(metrics: PipelineMetrics, at: number = performance.now() / 1000): void {
    this.#samples.push({ at, metrics });
    const oldest = at - this.windowSeconds;
    let drop = 0;
    while (
      this.#samples.length - drop > 2 && this.#samples[drop + 1]!.at <= oldest
    ) drop++;
    if (drop > 0) this.#samples.splice(0, drop);
  }

  /** The rates between the oldest and the newest figures kept. */
  rates(): PipelineRates {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined || first === last) {
      return {
        seconds: 0,
        actors: last === undefined
          ? {}
          : ratesBetween(last.metrics, last.metrics, 0).actors,
      };
    }
    return ratesBetween(first.metrics, last.metrics, last.at - first.at);
  }
}
