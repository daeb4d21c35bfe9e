/**
 * Bootstrap files: load a YAML pipeline description and check all of it
 * ({@link loadConfig}), build a router of it ({@link buildRouter}), or both
 * ({@link loadPipeline}); compare two of them ({@link planReload}); reload a
 * running router from its file ({@link Reloader}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPipeline } from "./mod.ts";
 * const { config, router } = await loadPipeline({
 *   text: "actors:\n  input: { type: generator, options: { count: 1 } }\n",
 * });
 * assert.deepEqual(config.actors.map((actor) => actor.name), ["input"]);
 * await router.stop();
 * ```
 *
 * @module
 */

export { type BuildOptions, buildRouter, makeActor } from "./build.ts";
export {
  loadConfig,
  type LoadedPipeline,
  type LoadOptions,
  loadPipeline,
} from "./load.ts";
export {
  type AddedOrRemovedActor,
  type FieldChange,
  type KeptActor,
  type PlannedConnection,
  planReload,
  type QueueChange,
  type ReloadPlan,
  type ReplacedActor,
} from "./plan.ts";
export {
  RELOAD_HISTORY,
  Reloader,
  type ReloaderOptions,
  type ReloadOutcome,
} from "./reload.ts";
export { type BootstrapSource } from "./source.ts";
export type {
  ActorConfig,
  ConnectionConfig,
  ExposedQueue,
  PipelineConfig,
} from "./types.ts";
