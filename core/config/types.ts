/**
 * What a loaded bootstrap file is: its actors, connections and side streams,
 * checked, with their positions in the file. Nothing here runs: a router is
 * built from it by `buildRouter`, and two of them are compared by
 * `planReload`.
 *
 * @module
 */

import type { ActorSettings } from "../actor.ts";
import type { ActorSpec } from "../registry.ts";
import type { ConnectionOptions } from "../router.ts";
import type { EndDirection } from "../router_ends.ts";

/**
 * One actor of a loaded bootstrap file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ActorConfig, loadPipeline } from "./mod.ts";
 * const { config, router } = await loadPipeline({
 *   text: "actors:\n  sink: { type: \"null\", capacity: 10 }\n",
 * });
 * const sink: ActorConfig = config.actors[0]!;
 * assert.equal(sink.settings.capacity, 10);
 * await router.stop();
 * ```
 */
export interface ActorConfig {
  /** Its name. */
  name: string;
  /** Its spec's type name. */
  type: string;
  /** The `module:` it came from, as written, if any. */
  module?: string;
  /** Its spec. */
  spec: ActorSpec;
  /** Its options, parsed (defaults filled in). */
  options: unknown;
  /** Its queue settings and retries. */
  settings: ActorSettings;
  /** 1-based line of its name. */
  line: number;
  /** 1-based column of its name. */
  column: number;
}

/**
 * One connection of a loaded bootstrap file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConnectionConfig, loadPipeline } from "./mod.ts";
 * const source = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const { config, router } = await loadPipeline(source);
 * const connection: ConnectionConfig = config.connections[0]!;
 * assert.equal(connection.to, "sink.inbox");
 * assert.equal(connection.line, 6);
 * await router.stop();
 * ```
 */
export interface ConnectionConfig {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Queue settings of the connection. */
  options: ConnectionOptions;
  /** 1-based line of the connection. */
  line: number;
  /** 1-based column of the connection. */
  column: number;
}

/**
 * A loaded bootstrap file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPipeline, type PipelineConfig } from "./mod.ts";
 * const source = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const { config, router } = await loadPipeline(source);
 * const pipeline: PipelineConfig = config;
 * assert.deepEqual(pipeline.actors.map((actor) => actor.type), ["generator", "null"]);
 * await router.stop();
 * ```
 */
export interface PipelineConfig {
  /** The file name used in messages. */
  file: string;
  /** The actors in file order. */
  actors: ActorConfig[];
  /** The connections in file order. */
  connections: ConnectionConfig[];
  /** The actor receiving log events, or `null`. */
  logs: string | null;
  /** The actor receiving metric events, or `null`. */
  metrics: string | null;
  /** The queues a program opens as Web Streams (`expose:`). */
  expose?: ExposedQueue[];
}

/**
 * A queue of a bootstrap file's `expose:`: an external end of the pipeline
 * that a program opens as a Web Stream (see `Router.expose`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig, type ExposedQueue } from "./mod.ts";
 * const config = await loadConfig({
 *   text: "actors:\n  sink: { type: \"null\" }\nexpose: [sink.inbox]\n",
 * });
 * const end: ExposedQueue = config.expose![0]!;
 * assert.equal(end.direction, "writable");
 * ```
 */
export interface ExposedQueue {
  /** The queue, `"actor.queue"`. */
  address: string;
  /** `"writable"` for an inbound queue, `"readable"` for an outbound one. */
  direction: EndDirection;
}
