/**
 * `funnel`: merges every inbound queue into `outbox`.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";

/** Options of the `funnel` actor: none. */
export const FunnelOptions = z.strictObject({});

/** Parsed options of the `funnel` actor. */
export type FunnelOptions = z.infer<typeof FunnelOptions>;

/**
 * Sends the events of every inbound queue (any name) to `outbox`, keeping the
 * order of each inbound queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { funnel } from "./funnel.ts";
 *
 * const router = new Router();
 * router.register(generator, "one", { interval: 0, count: 2 });
 * router.register(generator, "two", { interval: 0, count: 3 });
 * router.register(funnel, "merge");
 * router.register(nullOutput, "sink");
 * router.connect("one.outbox", "merge.one");
 * router.connect("two.outbox", "merge.two");
 * router.connect("merge.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 5);
 * ```
 */
export const funnel: ActorSpec<FunnelOptions> = {
  type: "funnel",
  kind: "flow",
  summary: "Merges every inbound queue into one outbound queue.",
  options: FunnelOptions,
  example: {},
  create: (name, _options, settings) => new Funnel(name, settings),
};

/** The `funnel` flow actor. */
export class Funnel extends Actor {
  readonly kind = "flow";
  protected override readonly implicitSend = false;

  /** Makes a funnel; its inbound queues are made as they are connected. */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { inbound: [], anyInbound: true });
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    return context.send(event);
  }
}
