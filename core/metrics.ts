/**
 * Figures of a running pipeline and the metric events made from them.
 *
 * @module
 */

import type { ActorFigures, ActorKind } from "./actor.ts";
import type { Event } from "./event.ts";
import type { QueueFigures } from "./queue.ts";

/**
 * Upper bounds, in seconds, of the consume-time histogram's buckets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONSUME_SECONDS_BUCKETS, Histogram } from "./metrics.ts";
 * assert.ok(new Histogram().figures().bounds === CONSUME_SECONDS_BUCKETS);
 * ```
 */
export const CONSUME_SECONDS_BUCKETS: readonly number[] = [
  0.000001,
  0.00001,
  0.0001,
  0.001,
  0.01,
  0.1,
  1,
  10,
];

/**
 * A cumulative histogram: `buckets[i]` counts observations `<= bounds[i]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Histogram, type HistogramFigures } from "./metrics.ts";
 * const histogram = new Histogram([0.1, 1]);
 * histogram.observe(0.5);
 * const figures: HistogramFigures = histogram.figures();
 * assert.deepEqual(figures.buckets, [0, 1]);
 * ```
 */
export interface HistogramFigures {
  /** Upper bounds of the buckets, ascending; `+Inf` is implied by `count`. */
  bounds: readonly number[];
  /** Cumulative counts per bound. */
  buckets: number[];
  /** Sum of all observations. */
  sum: number;
  /** Number of observations. */
  count: number;
}

/**
 * A histogram of durations that records a whole batch in one call: the
 * batch's mean time per event, counted once per event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Histogram } from "./metrics.ts";
 * const histogram = new Histogram([0.001, 0.01]);
 * histogram.observe(0.005, 2);
 * assert.deepEqual(histogram.figures().buckets, [0, 2]);
 * ```
 */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** Makes an empty histogram with buckets up to each of `bounds`. */
  constructor(bounds: readonly number[] = CONSUME_SECONDS_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  /** Records `times` observations of `value`. */
  observe(value: number, times = 1): void {
    this.#sum += value * times;
    this.#count += times;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.#counts[i]! += times;
        return;
      }
    }
  }

  /** The histogram's figures, cumulative. */
  figures(): HistogramFigures {
    let running = 0;
    const buckets = this.#counts.map((count) => running += count);
    return {
      bounds: this.#bounds,
      buckets,
      sum: this.#sum,
      count: this.#count,
    };
  }
}

/**
 * The figures of one actor and its queues.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 *
 * const router = new Router();
 * router.register(new Registry(BUILTIN_ACTORS).create("null", "sink"));
 * const sink = router.metrics().actors.sink!; // ActorMetrics
 * assert.equal(sink.queues.inbox!.capacity, 1024);
 * await router.stop();
 * ```
 */
export interface ActorMetrics extends ActorFigures {
  /** The actor's kind. */
  kind: ActorKind;
  /** Time spent in `consume` per event, in seconds. */
  consume_seconds: HistogramFigures;
  /** Figures of each of its queues by queue name. */
  queues: Record<string, QueueFigures>;
}

/**
 * The figures of every actor of a router at one moment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * const router = new Router();
 * const metrics = router.metrics(); // PipelineMetrics
 * assert.equal(Object.keys(metrics.actors).length, 0);
 * await router.stop();
 * ```
 */
export interface PipelineMetrics {
  /** When the figures were read, ISO 8601. */
  time: string;
  /** Figures by actor name. */
  actors: Record<string, ActorMetrics>;
}

/**
 * The header of a metric event, under `header.metric`.
 *
 * @example
 * ```ts
 * import type { MetricHeader } from "./metrics.ts";
 * const header: MetricHeader = {
 *   time: new Date().toISOString(),
 *   actor: "sink",
 *   queue: "inbox",
 * };
 * ```
 */
export interface MetricHeader {
  /** When the figures were read, ISO 8601. */
  time: string;
  /** The actor the figures belong to. */
  actor: string;
  /** The queue the figures belong to; absent for the actor's own figures. */
  queue?: string;
  /** The actor's kind, on the event of its own figures. */
  kind?: ActorKind;
  /**
   * The histogram the figures belong to (e.g. `"consume_seconds"`): `data`
   * then holds `sum`, `count` and cumulative `le_<bound>` counts.
   */
  histogram?: string;
}

/**
 * A metric event: `header.metric` says whose figures `data` holds.
 *
 * @example
 * ```ts
 * import type { MetricEvent } from "./metrics.ts";
 * const event: MetricEvent = {
 *   header: { metric: { time: new Date().toISOString(), actor: "sink" } },
 *   data: { consumed_total: 3, failed_total: 0 },
 * };
 * ```
 */
export interface MetricEvent extends Event {
  /** `metric` says whose figures `data` holds. */
  header: { metric: MetricHeader };
  /** The figures by name. */
  data: Record<string, number>;
}

/**
 * One metric event per actor (its own counters: `consumed_total`,
 * `failed_total`, the rest of {@link ActorFigures} and any an actor adds), one for its consume-time histogram,
 * and one per queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyFigures } from "./actor.ts";
 * import { toMetricEvents } from "./metrics.ts";
 * const events = toMetricEvents({
 *   time: "2026-01-01T00:00:00.000Z",
 *   actors: {
 *     a: {
 *       kind: "output",
 *       ...emptyFigures(),
 *       consumed_total: 3,
 *       consume_seconds: { bounds: [0.001], buckets: [3], sum: 0.0006, count: 3 },
 *       queues: {
 *         inbox: {
 *           in_total: 3, out_total: 3, dropped_total: 0, abandoned_total: 0, discarded_total: 0, failed_total: 0,
 *           depth: 0, capacity: 1000,
 *         },
 *       },
 *     },
 *   },
 * });
 * assert.equal(events.length, 3);
 * ```
 */
export function toMetricEvents(metrics: PipelineMetrics): MetricEvent[] {
  const events: MetricEvent[] = [];
  for (const [actor, figures] of Object.entries(metrics.actors)) {
    // The actor's own counters, with those a subclass adds.
    const { kind, queues, consume_seconds, ...own } = figures;
    events.push({
      header: { metric: { time: metrics.time, actor, kind } },
      data: { ...own },
    });
    const histogram: Record<string, number> = {
      sum: consume_seconds.sum,
      count: consume_seconds.count,
    };
    consume_seconds.bounds.forEach((bound, i) =>
      histogram[`le_${bound}`] = consume_seconds.buckets[i]!
    );
    events.push({
      header: {
        metric: { time: metrics.time, actor, histogram: "consume_seconds" },
      },
      data: histogram,
    });
    for (const [queue, queueFigures] of Object.entries(queues)) {
      events.push({
        header: { metric: { time: metrics.time, actor, queue } },
        data: { ...queueFigures },
      });
    }
  }
  return events;
}

/**
 * The histogram in the `data` of a histogram's metric event: the inverse of
 * the `sum`, `count` and `le_<bound>` counts {@link toMetricEvents} writes.
 * Bounds that are not finite numbers are left out; a missing `sum` or
 * `count` is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { histogramFromData } from "./metrics.ts";
 * assert.deepEqual(
 *   histogramFromData({ sum: 0.5, count: 2, le_1: 2, "le_0.1": 1 }),
 *   { bounds: [0.1, 1], buckets: [1, 2], sum: 0.5, count: 2 },
 * );
 * ```
 */
export function histogramFromData(
  data: Record<string, number>,
): HistogramFigures {
  const buckets = Object.entries(data)
    .filter(([key]) => key.startsWith("le_"))
    .map(([key, value]) => [Number(key.slice(3)), value] as const)
    .filter(([bound]) => Number.isFinite(bound))
    .sort((a, b) => a[0] - b[0]);
  return {
    bounds: buckets.map(([bound]) => bound),
    buckets: buckets.map(([, count]) => count),
    sum: data.sum ?? 0,
    count: data.count ?? 0,
  };
}

/**
 * Whether `event` is a metric event: `header.metric` names an actor and
 * `data` holds only numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isMetricEvent } from "./metrics.ts";
 * assert.equal(isMetricEvent({ header: { metric: { time: "", actor: "a" } }, data: { depth: 1 } }), true);
 * assert.equal(isMetricEvent({ header: {}, data: 1 }), false);
 * ```
 */
export function isMetricEvent(event: Event): event is MetricEvent {
  const metric = event.header.metric as Partial<MetricHeader> | undefined;
  if (
    typeof metric !== "object" || metric === null ||
    typeof metric.actor !== "string" || metric.actor === "" ||
    (metric.queue !== undefined && typeof metric.queue !== "string") ||
    (metric.histogram !== undefined && typeof metric.histogram !== "string")
  ) {
    return false;
  }
  const data = event.data;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return false;
  }
  return Object.values(data).every((value) => typeof value === "number");
}

/**
 * Throws unless `event` is a metric event (see {@link isMetricEvent}), with
 * the message metric actors fail such events with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertMetricEvent } from "./metrics.ts";
 * const event = { header: { metric: { time: "", actor: "a" } }, data: { depth: 1 } };
 * assertMetricEvent(event);
 * assert.equal(event.header.metric.actor, "a");
 * ```
 */
export function assertMetricEvent(event: Event): asserts event is MetricEvent {
  if (!isMetricEvent(event)) {
    throw new TypeError(
      'Not a metric event: it needs "header.metric.actor" and data of numbers',
    );
  }
}
