/**
 * `roundrobin`: spreads events over its connected outbound queues in turn.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { OutboundQueue } from "../../core/queue.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { connectedBranches } from "./branches.ts";

/** Options of the `roundrobin` actor: none. */
export const RoundRobinOptions = z.strictObject({});

/** Parsed options of the `roundrobin` actor. */
export type RoundRobinOptions = z.infer<typeof RoundRobinOptions>;

/**
 * Sends each event from `inbox` to the next connected outbound queue (any
 * name but `error`), in the order the queues were connected, then starts over.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { roundrobin } from "./roundrobin.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 6 });
 * router.register(roundrobin, "mix");
 * router.register(nullOutput, "one");
 * router.register(nullOutput, "two");
 * router.connect("input.outbox", "mix.inbox");
 * router.connect("mix.one", "one.inbox");
 * router.connect("mix.two", "two.inbox");
 * await router.start();
 * await router.finished;
 * const { consumed_total: one } = router.metrics().actors.one!;
 * const { consumed_total: two } = router.metrics().actors.two!;
 * assert.deepEqual([(await router.stop()).delivered, one, two], [6, 3, 3]);
 * ```
 */
export const roundrobin: ActorSpec<RoundRobinOptions> = {
  type: "roundrobin",
  kind: "flow",
  summary: "Spreads events over its connected outbound queues in turn.",
  options: RoundRobinOptions,
  example: {},
  create: (name, _options, settings) => new RoundRobin(name, settings),
};

/** The `roundrobin` flow actor. */
export class RoundRobin extends Actor {
  readonly kind = "flow";
  #branches: OutboundQueue[] = [];
  #next = 0;

  /** Makes a round robin. */
  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"], anyOutbound: true });
  }

  /** The connected outbound queues are known once the router has wired them. */
  override setup(): void {
    this.#branches = connectedBranches(this.pool, this.log, this.name);
    this.#next = 0;
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const branch = this.#branches[this.#next]!;
    if (++this.#next === this.#branches.length) this.#next = 0;
    return context.send(event, branch);
  }
}
