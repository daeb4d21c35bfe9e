/**
 * The router's side streams: every actor's log records and the pipeline's
 * metrics, routed as events to the actors registered for them.
 *
 * @module
 */

import {
  flushLogs,
  type LogEvent,
  type Logger,
  type LogLevel,
  routeLogs,
  scopedLogger,
  unrouteLogs,
  writeToStderr,
} from "./log.ts";
import { type PipelineMetrics, toMetricEvents } from "./metrics.ts";
import type { Queue } from "./queue.ts";

/**
 * Routes one router's log records and metrics. Until a log queue is
 * attached (and after it closed), log records are written to stderr as
 * readable lines; metrics go nowhere without a metric queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Queue } from "./queue.ts";
 * import { Telemetry } from "./telemetry.ts";
 *
 * const telemetry = new Telemetry("info", () => ({ time: "", actors: {} }));
 * const logs = new Queue("logs.inbox");
 * telemetry.attach({ logs, metrics: undefined, side: new Set() });
 * telemetry.log.info("Hello");
 * assert.equal(logs.depth, 1);
 * telemetry.close();
 * ```
 */
export class Telemetry {
  /** The router's log scope (the second logtape category). */
  readonly scope: string;
  /** The router's own logger. */
  readonly log: Logger;
  #metrics: () => PipelineMetrics;
  #logs: Queue | undefined;
  #metricQueue: Queue | undefined;
  #side: ReadonlySet<string> = new Set();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Routes the records of level `level` and above of a new scope; `metrics`
   * reads the pipeline's figures when metric events are due.
   */
  constructor(level: LogLevel, metrics: () => PipelineMetrics) {
    this.#metrics = metrics;
    this.scope = routeLogs((event) => this.#route(event), level);
    this.log = scopedLogger(this.scope, "router");
  }

  /**
   * Sends log events to `logs` and metric events to `metrics` from now on.
   * `side` names the actors of the side streams: their own records go to
   * stderr, since they would come back to them.
   */
  attach(
    queues: {
      logs: Queue | undefined;
      metrics: Queue | undefined;
      side: ReadonlySet<string>;
    },
  ): void {
    this.#logs = queues.logs;
    this.#metricQueue = queues.metrics;
    this.#side = queues.side;
  }

  /** Emits metric events every `intervalMs` (none when 0 or no queue). */
  startMetrics(intervalMs: number): void {
    if (intervalMs > 0 && this.#metricQueue !== undefined) {
      this.#timer = setInterval(() => this.emitMetrics(), intervalMs);
    }
  }

  /** Emits metric events now (when there is an open metric queue). */
  emitMetrics(): void {
    const queue = this.#metricQueue;
    if (queue === undefined || queue.closed) return;
    queue.offer(toMetricEvents(this.#metrics()));
  }

  /** Stops the metric timer. */
  stopMetrics(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Closes the log and metric queues, after handing the log actor the
   * summaries of the repeated records held back: what is logged later goes
   * to stderr.
   */
  closeQueues(): void {
    flushLogs(this.scope);
    this.#logs?.close();
    this.#metricQueue?.close();
  }

  /** Stops routing: the scope's records go to stderr from now on. */
  close(): void {
    this.stopMetrics();
    unrouteLogs(this.scope);
  }

  #route(event: LogEvent): void {
    const queue = this.#logs;
    if (
      queue === undefined || queue.closed ||
      this.#side.has(event.header.log.actor)
    ) {
      writeToStderr(event);
    } else {
      queue.offer([event]);
    }
  }
}
