/**
 * `header`: sets (and removes) header values of each event, from constants or
 * from templates on the event's fields.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  changeEach,
  type Context,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { fieldPathProblem, fieldRemover, fieldSetter } from "../field.ts";
import { compileTemplate, templateProblem } from "../template.ts";

/** Options of the `header` actor. */
export const HeaderOptions = z.strictObject({
  set: z.record(z.string(), z.unknown()).default({}).describe(
    'Values to set, by path under the header ("http.status" sets header.http.status). Strings are templates: "{data.id}" and "{header.a.b}" are replaced by those fields of the event; other values are set as they are.',
  ),
  remove: z.array(z.string()).default([]).describe(
    'Paths under the header to delete ("http.headers.cookie"); removed before "set" applies.',
  ),
  missing: z.enum(["error", "empty"]).default("error").describe(
    'What a template field that is absent or null becomes: "error" sends the event to the error queue, "empty" writes nothing.',
  ),
}).superRefine((options, ctx) => {
  for (const [key, value] of Object.entries(options.set)) {
    const problem = fieldPathProblem(`header.${key}`, true) ??
      (typeof value === "string" ? templateProblem(value) : undefined);
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", path: ["set", key], message: problem });
    }
  }
  for (const [index, key] of options.remove.entries()) {
    const problem = fieldPathProblem(`header.${key}`, true);
    if (problem !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["remove", index],
        message: problem,
      });
    }
  }
});

/** Parsed options of the `header` actor. */
export type HeaderOptions = z.infer<typeof HeaderOptions>;

/**
 * Sets header values on each event. With `set: { "route.user":
 * "user-{data.id}", "route.version": 2 }`, an event whose data is `{ id: 7 }`
 * leaves with `header.route = { user: "user-7", version: 2 }`. Objects on the
 * way are made when missing. A header value on the way that is not an object,
 * or a template field the event lacks (unless `missing: "empty"`), sends the
 * event to the `error` queue with the reason. Templates are checked when the
 * actor is made: a bad placeholder is reported at its option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { header } from "./header.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3 });
 * router.register(header, "tag", {
 *   set: { "route.queue": "jobs", "route.text": "got {data}" },
 * });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "tag.inbox");
 * router.connect("tag.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 3);
 * ```
 */
export const header: ActorSpec<HeaderOptions> = {
  type: "header",
  kind: "transform",
  stateless: true,
  summary: "Sets header values of each event, from constants or templates.",
  options: HeaderOptions,
  example: { set: { "route.source": "{header.input.seq}", "route.kind": 1 } },
  create: (name, options, settings) => new Header(name, options, settings),
};

/** One compiled change of the header. */
type Change = (event: Event) => void;

/** The `header` transform actor. */
export class Header extends Actor {
  readonly kind = "transform";
  #changes: Change[];

  /** Makes a header setter; see {@link HeaderOptions}. */
  constructor(
    name: string,
    options: Partial<HeaderOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const parsed = HeaderOptions.parse(options);
    this.#changes = [
      ...parsed.remove.map((key) => fieldRemover(`header.${key}`)),
      ...Object.entries(parsed.set).map(([key, value]) =>
        compileChange(key, value, parsed.missing)
      ),
    ];
  }

  /**
   * Changes each event of the batch in place and sends the batch on in one
   * write; an event whose change fails (a template's missing field) fails
   * alone.
   */
  override consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> | undefined {
    const changes = this.#changes;
    return changeEach(events, context, (event) => {
      for (let i = 0; i < changes.length; i++) changes[i]!(event);
    });
  }
}

function compileChange(
  key: string,
  value: unknown,
  missing: "error" | "empty",
): Change {
  const set = fieldSetter(`header.${key}`);
  if (typeof value === "string") {
    const render = compileTemplate(value, { missing });
    return (event) => set(event, render(event));
  }
  if (typeof value === "object" && value !== null) {
    return (event) => set(event, structuredClone(value));
  }
  return (event) => set(event, value);
}
