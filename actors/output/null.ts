/**
 * `null`: an output that discards every event, counting them.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";

/** Options of the `null` actor: none. */
export const NullOptions = z.strictObject({});

/** Parsed options of the `null` actor. */
export type NullOptions = z.infer<typeof NullOptions>;

/**
 * Discards every event; `consumed_total` counts them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "./null.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 100 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 100);
 * ```
 */
export const nullOutput: ActorSpec<NullOptions> = {
  type: "null",
  kind: "output",
  summary: "Discards every event, counting them.",
  options: NullOptions,
  example: {},
  create: (name, _options, settings) => new Null(name, settings),
};

/** The `null` output actor. */
export class Null extends Actor {
  readonly kind = "output";

  /** Makes a null output. */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"] });
  }

  override consumeBatch(_events: Event[]): void {}
}
