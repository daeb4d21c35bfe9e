/**
 * `json_decode`: parses JSON text (a string or UTF-8 bytes) in one field of
 * each event.
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
import {
  type FieldTarget,
  fieldTarget,
  fieldTargetFields,
  kindOf,
} from "../field.ts";

/** Options of the `json_decode` actor. */
export const JsonDecodeOptions = z.strictObject({
  ...fieldTargetFields({
    field:
      'The field holding the JSON text (a string or UTF-8 bytes): "data", "data.<key>..." or "header.<key>...".',
    result: "the decoded value",
  }),
});

/** Parsed options of the `json_decode` actor. */
export type JsonDecodeOptions = z.infer<typeof JsonDecodeOptions>;

/**
 * Replaces the JSON text in `field` with the value it encodes (or writes that
 * value to `target`). Text that is not JSON, or a field that is neither a
 * string nor bytes, sends the event to the `error` queue with the reason in
 * `header.error.message`, e.g. `Field "data" is not valid JSON: Unexpected
 * token 'o', "not json" is not valid JSON`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { nullOutput } from "../output/null.ts";
 * import { jsonDecode } from "./json_decode.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 3, data: '{"n":{{seq}}}' });
 * router.register(jsonDecode, "decode");
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "decode.inbox");
 * router.connect("decode.outbox", "sink.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 3);
 * ```
 */
export const jsonDecode: ActorSpec<JsonDecodeOptions> = {
  type: "json_decode",
  kind: "transform",
  stateless: true,
  summary: "Parses the JSON text in a field of each event.",
  options: JsonDecodeOptions,
  example: { field: "data" },
  create: (name, options, settings) => new JsonDecode(name, options, settings),
};

/** The `json_decode` transform actor. */
export class JsonDecode extends Actor {
  readonly kind = "transform";
  #io: FieldTarget;
  #decoder = new TextDecoder("utf-8", { fatal: true });

  /** Makes a JSON decoder; see {@link JsonDecodeOptions}. */
  constructor(
    name: string,
    options: Partial<JsonDecodeOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    this.#io = fieldTarget(JsonDecodeOptions.parse(options));
  }

  /**
   * Decodes each event of the batch in place and sends the batch on in one
   * write; an event that does not decode fails alone.
   */
  override consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> | undefined {
    return changeEach(events, context, this.#decode);
  }

  #decode = (event: Event): void => {
    const { field, get, set } = this.#io;
    let text = get(event);
    if (text instanceof Uint8Array) {
      try {
        text = this.#decoder.decode(text);
      } catch {
        throw new TypeError(`Field "${field}" is not valid UTF-8`);
      }
    } else if (typeof text !== "string") {
      throw new TypeError(
        `Field "${field}" is ${
          kindOf(text)
        }, not JSON text (a string or bytes)`,
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text as string);
    } catch (error) {
      throw new SyntaxError(
        `Field "${field}" is not valid JSON: ${(error as Error).message}`,
      );
    }
    set(event, value);
  };
}
