/**
 * `switch`: routes each event to the queue of the first case whose predicate
 * it matches, or to the default queue.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { OutboundQueue } from "../../core/queue.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { compilePredicate, type EventTest, Predicate } from "../predicate.ts";

/** A queue name: letters, digits, `_` and `-`. */
const QueueName = z.string().regex(
  /^[A-Za-z0-9_-]+$/,
  "A queue name has letters, digits, _ and - only",
);

/** Options of the `switch` actor. */
export const SwitchOptions = z.strictObject({
  cases: z.array(z.strictObject({
    queue: QueueName.describe("The outbound queue of events this case takes."),
    when: Predicate.describe(
      'The test, e.g. { field: "data.level", equals: "error" }; see predicate.ts for every test.',
    ),
  })).min(1).describe(
    "The cases in order; an event goes to the queue of the first case it matches.",
  ),
  default: QueueName.default("default").describe(
    "The outbound queue of events that match no case.",
  ),
});

/** Parsed options of the `switch` actor. */
export type SwitchOptions = z.infer<typeof SwitchOptions>;

/**
 * Sends each event to the queue of the first case whose `when` predicate it
 * matches, else to `default`. Its outbound queues are those the cases and
 * `default` name (plus `error`); an event routed to one that is not connected
 * is dropped and counted in that queue's `dropped_total`, and the router warns
 * about such queues at start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { switchFlow } from "./switch.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 4, data: { level: "error" } });
 * router.register(switchFlow, "route", {
 *   cases: [{ queue: "alerts", when: { field: "data.level", in: ["error", "fatal"] } }],
 *   default: "rest",
 * });
 * router.register(nullOutput, "alerts");
 * router.register(nullOutput, "rest");
 * router.connect("input.outbox", "route.inbox");
 * router.connect("route.alerts", "alerts.inbox");
 * router.connect("route.rest", "rest.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 4);
 * ```
 */
export const switchFlow: ActorSpec<SwitchOptions> = {
  type: "switch",
  kind: "flow",
  summary:
    "Routes each event to the queue of the first case it matches, or to a default queue.",
  options: SwitchOptions,
  example: {
    cases: [
      { queue: "errors", when: { field: "data.level", equals: "error" } },
      { queue: "slow", when: { field: "header.http.ms", gt: 500 } },
    ],
    default: "default",
  },
  create: (name, options, settings) => new Switch(name, options, settings),
};

/** The `switch` flow actor. */
export class Switch extends Actor {
  readonly kind = "flow";
  #tests: EventTest[];
  #queues: OutboundQueue[];
  #default: OutboundQueue;

  /** Makes a switch; see {@link SwitchOptions}. */
  constructor(
    name: string,
    options: Partial<SwitchOptions> & Pick<SwitchOptions, "cases">,
    settings: ActorSettings = {},
  ) {
    const parsed = SwitchOptions.parse(options);
    super(name, settings, { outbound: outboundQueues(parsed) });
    // The schema refused every predicate that would not compile.
    this.#tests = parsed.cases.map((entry) => compilePredicate(entry.when));
    this.#queues = parsed.cases.map((entry) =>
      this.pool.addOutbound(entry.queue)
    );
    this.#default = this.pool.addOutbound(parsed.default);
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const tests = this.#tests;
    for (let i = 0; i < tests.length; i++) {
      if (tests[i]!(event)) return context.send(event, this.#queues[i]!);
    }
    return context.send(event, this.#default);
  }
}

/** The queues the cases and the default name, then `error`, each once. */
function outboundQueues(options: SwitchOptions): string[] {
  const queues = options.cases.map((entry) => entry.queue);
  return [...new Set([...queues, options.default, "error"])];
}
