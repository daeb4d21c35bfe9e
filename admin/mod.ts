/**
 * The admin server of a running pipeline and what it is made of: health and
 * readiness, Prometheus metrics, the topology with live counters and rates,
 * taps on queues, the dashboard page, and a client for terminal views.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdminServer } from "./mod.ts";
 * import { Router } from "../core/router.ts";
 * const router = new Router();
 * const admin = new AdminServer({ router, port: 0 });
 * const health = await fetch(new URL("/health", admin.url));
 * assert.deepEqual(await health.json(), { status: "alive" });
 * await admin.close();
 * await router.stop();
 * ```
 *
 * @module
 */

export {
  AdminError,
  type AdminTarget,
  fetchPipeline,
  formatTop,
  type ServerSentEvent,
  serverSentEvents,
  tapEvents,
} from "./client.ts";
export { DASHBOARD_HTML } from "./dashboard.ts";
export { allowedHostProblem, HostCheck, isLoopback } from "./hosts.ts";
export {
  type ActorView,
  type ConnectionView,
  layoutColumns,
  type PipelineView,
  pipelineView,
  type QueueView,
} from "./pipeline.ts";
export {
  PROMETHEUS_CONTENT_TYPE,
  type PrometheusActor,
  type PrometheusFigures,
  toPrometheusText,
} from "./prometheus.ts";
export {
  type ActorRates,
  type PipelineRates,
  type QueueRates,
  rate,
  ratesBetween,
  RateWindow,
} from "./rates.ts";
export {
  AdminServer,
  type AdminServerOptions,
  DEFAULT_ADMIN_PORT,
  parseListenAddress,
} from "./server.ts";
export { eventJson, resolveTapQueue, Tap, type TapOptions } from "./tap.ts";
