/**
 * `json_encode`: turns one field of each event into JSON text.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  type FieldTarget,
  fieldTarget,
  fieldTargetFields,
  kindOf,
} from "../field.ts";

/** Options of the `json_encode` actor. */
export const JsonEncodeOptions = z.strictObject({
  ...fieldTargetFields({
    field:
      'The field to encode: "data", "data.<key>...", "header" or "header.<key>...".',
    result: "the JSON text",
  }),
  indent: z.number().int().min(0).max(10).default(0).describe(
    "Spaces of indentation; 0 writes the JSON on one line.",
  ),
});

/** Parsed options of the `json_encode` actor. */
export type JsonEncodeOptions = z.infer<typeof JsonEncodeOptions>;

/**
 * Replaces the value in `field` with its JSON text (or writes the text to
 * `target`). A value JSON cannot hold (`undefined`, a function, a `BigInt`, a
 * cycle) sends the event to the `error` queue with the reason in
 * `header.error.message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { jsonEncode } from "./json_encode.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3, data: { n: 1 } });
 * router.register(jsonEncode, "encode", { indent: 2 });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "encode.inbox");
 * router.connect("encode.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 3);
 * ```
 */
export const jsonEncode: ActorSpec<JsonEncodeOptions> = {
  type: "json_encode",
  kind: "transform",
  stateless: true,
  summary: "Turns a field of each event into JSON text.",
  options: JsonEncodeOptions,
  example: { field: "data", indent: 0 },
  create: (name, options, settings) => new JsonEncode(name, options, settings),
};

/** The `json_encode` transform actor. */
export class JsonEncode extends Actor {
  readonly kind = "transform";
  #io: FieldTarget;
  #indent: number | undefined;

  /** Makes a JSON encoder; see {@link JsonEncodeOptions}. */
  constructor(
    name: string,
    options: Partial<JsonEncodeOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    const parsed = JsonEncodeOptions.parse(options);
    this.#io = fieldTarget(parsed);
    this.#indent = parsed.indent === 0 ? undefined : parsed.indent;
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const { field, get, set } = this.#io;
    const value = get(event);
    let text: string | undefined;
    try {
      text = JSON.stringify(value, null, this.#indent);
    } catch (error) {
      throw new TypeError(
        `Field "${field}" cannot be encoded as JSON: ${
          (error as Error).message
        }`,
      );
    }
    if (text === undefined) {
      throw new TypeError(
        `Field "${field}" cannot be encoded as JSON: it is ${kindOf(value)}`,
      );
    }
    set(event, text);
    return context.send(event);
  }
}
