/**
 * Compysition for Deno: IO-driven event-processing pipelines of actors joined
 * by bounded Web Streams queues.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.equal(report.delivered, 3);
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
  changeEach,
  type Context,
  CrashError,
  DEFAULT_LINGER_MS,
  DEFAULT_RESTART,
  directContext,
  emptyFigures,
  type EventError,
  type Held,
  type RestartOptions,
  type RetryOptions,
  sleep,
  type Takeover,
  whenAborted,
  yieldToEventLoop,
} from "./core/actor.ts";
export {
  DEFAULT_BUFFER_FSYNC,
  DEFAULT_BUFFER_MAX_BYTES,
  DISK_WHEN_FULL,
  type DiskBufferFigures,
  type DiskBufferOptions,
  type DiskWhenFull,
  type FsyncPolicy,
} from "./core/disk_buffer.ts";
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
  type ExposedQueue,
  type LoadedPipeline,
  type LoadOptions,
  loadPipeline,
  type PipelineConfig,
} from "./core/config/mod.ts";
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
  BatchWindow,
  DEFAULT_CAPACITY,
  type DropReason,
  MAX_BATCH,
  OutboundQueue,
  type OutboundQueueOptions,
  Queue,
  type QueueFigures,
  type QueueNames,
  type QueueOptions,
  QueuePool,
  type QueuePoolOptions,
  type QueueSource,
  type RefusedReason,
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
  type ActorPhase,
  type ChangeOptions,
  type ChangeResult,
  type Connection,
  type ConnectionOptions,
  type Crash,
  type HungActor,
  type PipelineChange,
  Router,
  type RouterOptions,
  type RouterState,
  type RouterStatus,
  type StartOptions,
  STOP_GRACE_MS,
  type StopOptions,
  type StopReport,
} from "./core/router.ts";
export { isReopenable, type Reopenable, reopenFiles } from "./core/reopen.ts";
export {
  type CertificateHolder,
  type CertificateReload,
  reloadCertificates,
} from "./core/tls.ts";
export {
  type ActorStream,
  type ActorStreamWithErrors,
  EventFailedError,
  type StreamChunk,
  type StreamErrors,
  type StreamFigures,
  type StreamOf,
  type StreamOptions,
  type StreamSettings,
  toTransformStream,
} from "./core/stream.ts";
export {
  type BytesOptions,
  bytesToEvents,
  eventsToBytes,
  eventsToTextLines,
  type LinesOptions,
  type TextLinesOptions,
  textLinesToEvents,
  type ToEventsOptions,
} from "./core/adapters.ts";
export type { EndDirection, EndOptions } from "./core/router_ends.ts";
export { Supervisor, type SupervisorHooks } from "./core/supervisor.ts";
export { MAX_THREADS, ThreadedActor, whyNotThreaded } from "./core/threads.ts";
export {
  attachTracker,
  CountingTracker,
  type Tracked,
  Tracker,
  trackerOf,
  type TrackerOwner,
} from "./core/tracking.ts";
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
export { type Codec, CODECS } from "./actors/input/codec.ts";
