/**
 * Compysition for Deno: IO-driven event-processing pipelines of actors joined
 * by bounded Web Streams queues.
 *
 * @example
 * ```ts
 * import { BUILTIN_ACTORS, Registry, Router } from "./mod.ts";
 *
 * const registry = new Registry(BUILTIN_ACTORS);
 * const router = new Router();
 * router.register(registry.create("generator", "input", { interval: 0, count: 3 }));
 * router.register(registry.create("null", "sink"));
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * const report = await router.stop();
 * console.log(report.delivered); // 3
 * ```
 *
 * @module
 */

export {
  Actor,
  type ActorFigures,
  type ActorKind,
  type ActorLog,
  type ActorSettings,
  type EventError,
  type RetryOptions,
  sleep,
  yieldToEventLoop,
} from "./core/actor.ts";
export {
  copyEvent,
  createEvent,
  type Event,
  isEvent,
  whyNotEvent,
} from "./core/event.ts";
export {
  type ActorConfig,
  type BootstrapSource,
  type ConnectionConfig,
  type LoadedPipeline,
  type LoadOptions,
  loadPipeline,
  type PipelineConfig,
} from "./core/config.ts";
export {
  closest,
  ConfigError,
  type ConfigProblem,
  didYouMean,
  GraphError,
  type GraphProblem,
} from "./core/errors.ts";
export {
  formatLogLine,
  LOG_LEVELS,
  type LogEvent,
  type LogHeader,
  type LogLevel,
} from "./core/log.ts";
export {
  type ActorMetrics,
  CONSUME_SECONDS_BUCKETS,
  Histogram,
  type HistogramFigures,
  isMetricEvent,
  type MetricEvent,
  type MetricHeader,
  type PipelineMetrics,
  toMetricEvents,
} from "./core/metrics.ts";
export {
  DEFAULT_CAPACITY,
  OutboundQueue,
  Queue,
  type QueueFigures,
  type QueueNames,
  type QueueOptions,
  QueuePool,
  WHEN_FULL,
  type WhenFull,
} from "./core/queue.ts";
export {
  type ActorSpec,
  createActor,
  isActorSpec,
  type OptionsIssue,
  type OptionsSchema,
  Registry,
} from "./core/registry.ts";
export {
  type Connection,
  type ConnectionOptions,
  Router,
  type RouterOptions,
  type RouterState,
  type RouterStatus,
  type StopOptions,
  type StopReport,
} from "./core/router.ts";
export {
  bootstrapSchema,
  describeOptions,
  type JsonSchema,
  type OptionDoc,
  optionsJsonSchema,
} from "./core/schema.ts";
export { BUILTIN_ACTORS } from "./actors/mod.ts";
export {
  FACILITY_NAMES,
  formatSyslog,
  parseSyslog,
  SEVERITY_NAMES,
  type StructuredData,
  type SyslogFields,
  type SyslogFormat,
  type SyslogRecord,
} from "./actors/syslog.ts";
