/**
 * The Prometheus text exposition format (version 0.0.4) of a pipeline's
 * figures, shared by the admin server's `/metrics` and the `prometheus`
 * metric actor.
 *
 * @module
 */

import type { ActorKind } from "../core/actor.ts";
import type { HistogramFigures } from "../core/metrics.ts";

/**
 * The figures of one actor as far as they are known: its own figures
 * (`consumed_total`, `failed_total`, any it adds) as numeric properties, its
 * queues' figures, and its consume-time histogram. `ActorMetrics` is one.
 */
export interface PrometheusActor {
  /** The actor's kind, when known. */
  kind?: ActorKind;
  /** Time spent in consume per event, when known. */
  consume_seconds?: HistogramFigures;
  /** The numeric figures of each queue by queue name. */
  queues: Record<string, object>;
}

/** Figures by actor name; `PipelineMetrics` is one. */
export interface PrometheusFigures {
  /** Figures by actor name. */
  actors: Record<string, PrometheusActor>;
}

/** The `Content-Type` of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

/** The prefix of every metric name. */
const PREFIX = "compysition";

/** Help and type of the queue figures every queue has. */
const QUEUE_FAMILIES: Record<
  string,
  { help: string; type: "counter" | "gauge" }
> = {
  in_total: { help: "Events accepted by the queue.", type: "counter" },
  out_total: {
    help:
      "Events the queue passed on: taken and finished by the consumer (inbound) or written to the connected queue (outbound).",
    type: "counter",
  },
  dropped_total: {
    help:
      "Events lost to the full-queue policy, to closing, to a stop that timed out, or sent while not connected.",
    type: "counter",
  },
  abandoned_total: {
    help: "The part of dropped_total thrown away by a stop that timed out.",
    type: "counter",
  },
  discarded_total: {
    help: "Values written or sent to the queue that were not events.",
    type: "counter",
  },
  failed_total: {
    help: "Events of this inbound queue whose consume failed after retries.",
    type: "counter",
  },
  depth: { help: "Events held by the queue now.", type: "gauge" },
  capacity: { help: "Most events the queue holds at once.", type: "gauge" },
  disk_events: {
    help: "Events in the queue's disk buffer, waiting to be read back.",
    type: "gauge",
  },
  disk_bytes: { help: "Bytes of the disk buffer's files.", type: "gauge" },
  disk_max_bytes: {
    help: "Most bytes the disk buffer's files may take.",
    type: "gauge",
  },
  disk_written_total: {
    help: "Events written to the disk buffer.",
    type: "counter",
  },
  disk_read_total: {
    help: "Events read back from the disk buffer.",
    type: "counter",
  },
  disk_recovered_total: {
    help: "Events a previous run left in the disk buffer, found at start.",
    type: "counter",
  },
  disk_corrupt_total: {
    help: "Corrupt records skipped in the disk buffer.",
    type: "counter",
  },
  disk_errors_total: {
    help: "Failed reads and writes of the disk buffer's files.",
    type: "counter",
  },
};

/** Help of the actor figures every actor has. */
const ACTOR_FAMILIES: Record<string, string> = {
  consumed_total: "Events the actor consumed successfully.",
  failed_total: "Events whose consume failed after all retries.",
  delivered_total:
    "Events an output consumed (not by way of an error queue), or replies an input took.",
  errors_total:
    "Events an output consumed after they went through an error queue.",
  filtered_total: "Events the actor consumed and sent nothing on for.",
  copies_total: "Events the actor sent beyond one per event consumed.",
  created_total:
    "Events the actor made (sent outside consume: an input's events).",
  lost_total: "Failed events with no error queue to take them.",
  late_total: "Events sent by work that outlived the actor's run; not sent on.",
  restarts_total: "Times the actor was restarted after a crash.",
};

/**
 * The figures of `metrics` in the Prometheus text format 0.0.4: per queue
 * `compysition_queue_<figure>{actor,queue}` (counters `in_total`,
 * `out_total`, `dropped_total`, `discarded_total`, `failed_total`;
 * gauges `depth`, `capacity`), per actor `compysition_actor_consumed_total`,
 * `compysition_actor_failed_total`, any figure an actor adds (a counter when
 * its name ends in `_total`, else a gauge), and the histogram
 * `compysition_actor_consume_seconds` with `_bucket{le}`, `_sum` and
 * `_count`.
 *
 * Figures of `metrics` that are missing are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toPrometheusText } from "./prometheus.ts";
 * import { Router } from "../core/router.ts";
 * const router = new Router();
 * assert.equal(toPrometheusText(router.metrics()).startsWith("# HELP"), true);
 * await router.stop();
 * ```
 */
export function toPrometheusText(metrics: PrometheusFigures): string {
  const lines: string[] = [];
  const actors = Object.entries(metrics.actors);

  lines.push(
    `# HELP ${PREFIX}_actor_info The kind of each actor (always 1).`,
    `# TYPE ${PREFIX}_actor_info gauge`,
  );
  for (const [actor, figures] of actors) {
    if (figures.kind === undefined) continue;
    lines.push(
      sample(`${PREFIX}_actor_info`, { actor, kind: figures.kind }, 1),
    );
  }

  // The queue figures, one family each, known ones first.
  const queueFigures = new Set(Object.keys(QUEUE_FAMILIES));
  for (const [, figures] of actors) {
    for (const queue of Object.values(figures.queues)) {
      for (const [key, value] of Object.entries(queue)) {
        if (typeof value === "number") queueFigures.add(key);
      }
    }
  }
  for (const figure of queueFigures) {
    const samples: string[] = [];
    const name = `${PREFIX}_queue_${metricName(figure)}`;
    for (const [actor, figures] of actors) {
      for (const [queue, values] of Object.entries(figures.queues)) {
        const value = (values as unknown as Record<string, unknown>)[figure];
        if (typeof value === "number") {
          samples.push(sample(name, { actor, queue }, value));
        }
      }
    }
    if (samples.length === 0) continue;
    const known = QUEUE_FAMILIES[figure];
    lines.push(
      `# HELP ${name} ${known?.help ?? `Queue figure "${figure}".`}`,
      `# TYPE ${name} ${known?.type ?? typeOf(figure)}`,
      ...samples,
    );
  }

  // The actors' own figures.
  const actorFigures = new Set(Object.keys(ACTOR_FAMILIES));
  for (const [, figures] of actors) {
    for (const [key, value] of Object.entries(figures)) {
      if (typeof value === "number") actorFigures.add(key);
    }
  }
  for (const figure of actorFigures) {
    const name = `${PREFIX}_actor_${metricName(figure)}`;
    const samples: string[] = [];
    for (const [actor, figures] of actors) {
      const value = (figures as unknown as Record<string, unknown>)[figure];
      if (typeof value === "number") {
        samples.push(sample(name, { actor }, value));
      }
    }
    if (samples.length === 0) continue;
    lines.push(
      `# HELP ${name} ${ACTOR_FAMILIES[figure] ?? `Actor figure "${figure}".`}`,
      `# TYPE ${name} ${typeOf(figure)}`,
      ...samples,
    );
  }

  const histogram = `${PREFIX}_actor_consume_seconds`;
  lines.push(
    `# HELP ${histogram} Time spent in consume per event, in seconds.`,
    `# TYPE ${histogram} histogram`,
  );
  for (const [actor, figures] of actors) {
    if (figures.consume_seconds === undefined) continue;
    lines.push(...histogramSamples(histogram, actor, figures.consume_seconds));
  }
  return lines.join("\n") + "\n";
}

function histogramSamples(
  name: string,
  actor: string,
  figures: HistogramFigures,
): string[] {
  const lines = figures.bounds.map((bound, i) =>
    sample(
      `${name}_bucket`,
      { actor, le: formatNumber(bound) },
      figures.buckets[i] ?? 0,
    )
  );
  lines.push(
    sample(`${name}_bucket`, { actor, le: "+Inf" }, figures.count),
    sample(`${name}_sum`, { actor }, figures.sum),
    sample(`${name}_count`, { actor }, figures.count),
  );
  return lines;
}

function typeOf(figure: string): "counter" | "gauge" {
  return figure.endsWith("_total") ? "counter" : "gauge";
}

/** A metric name part: letters, digits and underscores only. */
function metricName(text: string): string {
  const name = text.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

function sample(
  name: string,
  labels: Record<string, string>,
  value: number,
): string {
  const pairs = Object.entries(labels).map(([key, label]) =>
    `${key}="${escapeLabel(label)}"`
  );
  return `${name}{${pairs.join(",")}} ${formatNumber(value)}`;
}

/** Label values escape backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(
    /\n/g,
    "\\n",
  );
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
