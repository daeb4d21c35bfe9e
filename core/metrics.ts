/**
 * Figures of a running pipeline and the metric events made from them.
 *
 * @module
 */

import type { ActorFigures, ActorKind } from "./actor.ts";
import type { Event } from "./event.ts";
import type { QueueFigures } from "./queue.ts";

/** The figures of one actor and its queues. */
export interface ActorMetrics extends ActorFigures {
  /** The actor's kind. */
  kind: ActorKind;
  /** Figures of each of its queues by queue name. */
  queues: Record<string, QueueFigures>;
}

/** The figures of every actor of a router at one moment. */
export interface PipelineMetrics {
  /** When the figures were read, ISO 8601. */
  time: string;
  /** Figures by actor name. */
  actors: Record<string, ActorMetrics>;
}

/** The header of a metric event, under `header.metric`. */
export interface MetricHeader {
  /** When the figures were read, ISO 8601. */
  time: string;
  /** The actor the figures belong to. */
  actor: string;
  /** The queue the figures belong to; absent for the actor's own figures. */
  queue?: string;
}

/** A metric event: `header.metric` says whose figures `data` holds. */
export interface MetricEvent extends Event {
  header: { metric: MetricHeader };
  data: Record<string, number>;
}

/**
 * One metric event per actor (its own figures) and per queue.
 *
 * @example
 * ```ts
 * import { toMetricEvents } from "./metrics.ts";
 * const events = toMetricEvents({
 *   time: "2026-01-01T00:00:00.000Z",
 *   actors: {
 *     a: {
 *       kind: "output",
 *       consumed_total: 3,
 *       failed_total: 0,
 *       queues: {
 *         inbox: {
 *           in_total: 3, out_total: 3, dropped_total: 0, discarded_total: 0,
 *           depth: 0, capacity: 1000,
 *         },
 *       },
 *     },
 *   },
 * });
 * events.length; // 2
 * ```
 */
export function toMetricEvents(metrics: PipelineMetrics): MetricEvent[] {
  const events: MetricEvent[] = [];
  for (const [actor, figures] of Object.entries(metrics.actors)) {
    events.push({
      header: { metric: { time: metrics.time, actor } },
      data: {
        consumed_total: figures.consumed_total,
        failed_total: figures.failed_total,
      },
    });
    for (const [queue, queueFigures] of Object.entries(figures.queues)) {
      events.push({
        header: { metric: { time: metrics.time, actor, queue } },
        data: { ...queueFigures },
      });
    }
  }
  return events;
}
