/**
 * From a loaded bootstrap file to a router: make each actor with its spec,
 * register it, name the log and metric actors, connect the queues, check
 * the graph. Nothing is started.
 *
 * @module
 */

import { Actor, describe } from "../actor.ts";
import { Router, type RouterOptions } from "../router.ts";
import { createMaybeThreaded } from "../threads.ts";
import type { ActorConfig, PipelineConfig } from "./types.ts";

/**
 * Makes the actor of `config` with its spec and parsed options; throws a
 * `TypeError` that says why when the spec throws or makes something else
 * than an {@link Actor}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generator as spec } from "../../actors/input/generator.ts";
 * import { makeActor } from "./build.ts";
 * const options = spec.options.safeParse({ count: 1 }).data;
 * assert.equal(makeActor({ name: "input", spec, options, settings: {} }).name, "input");
 * ```
 */
export function makeActor(
  config: Pick<ActorConfig, "name" | "spec" | "options" | "settings">,
): Actor {
  const { name, spec } = config;
  let actor: unknown;
  try {
    actor = createMaybeThreaded(spec, name, config.options, config.settings);
  } catch (error) {
    throw new TypeError(
      `Cannot make actor "${name}" (type "${spec.type}"): ${describe(error)}`,
      { cause: error },
    );
  }
  if (!(actor instanceof Actor)) {
    throw new TypeError(
      `Actor type "${spec.type}" made something that is not an Actor for actor "${name}"; a module must import "Actor" from the same copy of Compysition`,
    );
  }
  return actor;
}

/**
 * How {@link buildRouter} works.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildOptions } from "./build.ts";
 * const options: BuildOptions = { routerOptions: { logLevel: "warning" } };
 * assert.equal(options.routerOptions?.logLevel, "warning");
 * ```
 */
export interface BuildOptions {
  /** Settings of the router made. */
  routerOptions?: RouterOptions;
  /**
   * Actors already made of some of the config's actors, by name: they are
   * registered instead of new ones.
   */
  actors?: ReadonlyMap<string, Actor>;
}

/**
 * Builds a router, not started, from a loaded bootstrap file: makes every
 * actor (see {@link makeActor}), registers it, registers the `logs:` and
 * `metrics:` actors, connects the queues, exposes the `expose:` queues (see
 * `Router.expose`) and checks the graph (throwing its `GraphError`). On any error, the router made is stopped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRouter, loadConfig } from "./mod.ts";
 * const config = await loadConfig({
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * });
 * const router = await buildRouter(config);
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 3);
 * ```
 */
export async function buildRouter(
  config: PipelineConfig,
  options: BuildOptions = {},
): Promise<Router> {
  const router = new Router(options.routerOptions ?? {});
  try {
    for (const actor of config.actors) {
      router.register(options.actors?.get(actor.name) ?? makeActor(actor));
    }
    for (const key of ["logs", "metrics"] as const) {
      const name = config[key];
      if (name === null) continue;
      const actor = router.actor(name);
      if (actor === undefined) {
        throw new TypeError(`Unknown actor "${name}" in "${key}"`);
      }
      if (key === "logs") router.registerLogActor(actor);
      else router.registerMetricActor(actor);
    }
    for (const connection of config.connections) {
      router.connect(connection.from, connection.to, connection.options);
    }
    for (const { address } of config.expose ?? []) router.expose(address);
    router.check();
    return router;
  } catch (error) {
    await router.stop();
    throw error;
  }
}
