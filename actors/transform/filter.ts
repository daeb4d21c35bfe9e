/**
 * `filter`: passes on the events that match a predicate (or those that do
 * not), and deliberately drops the others, counting them.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { compilePredicate, type EventTest, Predicate } from "../predicate.ts";

/** Options of the `filter` actor: exactly one of `keep` and `drop`. */
export const FilterOptions = z.strictObject({
  keep: Predicate.optional().describe(
    'Pass on only the events this predicate matches, e.g. { field: "data.level", equals: "error" }.',
  ),
  drop: Predicate.optional().describe(
    "Pass on only the events this predicate does not match.",
  ),
}).superRefine((options, ctx) => {
  if ((options.keep === undefined) === (options.drop === undefined)) {
    ctx.addIssue({
      code: "custom",
      message: 'A filter takes exactly one of "keep" and "drop"',
    });
  }
});

/** Parsed options of the `filter` actor. */
export type FilterOptions = z.infer<typeof FilterOptions>;

/**
 * Passes on the events that match `keep` (or that do not match `drop`); the
 * others are dropped on purpose, never sent anywhere, and counted in
 * `filtered_total` (in `router.metrics()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { filter } from "./filter.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 5 });
 * router.register(filter, "only_two", { keep: { field: "header.input.seq", lte: 2 } });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "only_two.inbox");
 * router.connect("only_two.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 2);
 * ```
 */
export const filter: ActorSpec<FilterOptions> = {
  type: "filter",
  kind: "transform",
  stateless: true,
  summary:
    "Passes on the events that match a predicate and drops the others, counting them.",
  options: FilterOptions,
  example: { drop: { field: "data.level", equals: "debug" } },
  create: (name, options, settings) => new Filter(name, options, settings),
};

/** The `filter` transform actor. */
export class Filter extends Actor {
  readonly kind = "transform";
  #test: EventTest;
  #keep: boolean;

  /** Makes a filter; see {@link FilterOptions}. */
  constructor(
    name: string,
    options: FilterOptions,
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const parsed = FilterOptions.parse(options);
    this.#keep = parsed.keep !== undefined;
    this.#test = compilePredicate((parsed.keep ?? parsed.drop)!);
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    // Dropped on purpose when it does not pass: its supervisor counts it in
    // filtered_total and releases its tracker, so a tracked input message
    // counts it as handled.
    if (this.#test(event) === this.#keep) return context.send(event);
    return undefined;
  }
}
