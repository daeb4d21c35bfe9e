/**
 * `jsonata`: transforms one field of each event with a JSONata expression
 * (https://jsonata.org), using the `jsonata` package.
 *
 * @module
 */

import jsonataCompile from "jsonata";
import { z } from "zod";
import { Actor, type ActorSettings, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { type FieldTarget, fieldTarget, fieldTargetFields } from "../field.ts";
import { setOwn } from "../../core/own.ts";

/** Options of the `jsonata` actor. */
export const JsonataOptions = z.strictObject({
  expression: z.string().min(1).superRefine((text, ctx) => {
    try {
      compileExpression(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  }).describe(
    'The JSONata expression, e.g. "{ \\"user\\": name, \\"total\\": $sum(items.price) }". The field is its input; $header is the event header.',
  ),
  ...fieldTargetFields({
    field:
      'The input of the expression: "data", "data.<key>...", "header" or "header.<key>...".',
    result: "the result",
  }),
  bindings: z.record(
    z.string().regex(
      /^[A-Za-z_][A-Za-z0-9_]*$/,
      "Use a name made of letters, digits and _",
    ),
    z.unknown(),
  ).default({}).describe(
    'Values the expression reads as variables: { "rate": 1.2 } is $rate.',
  ),
});

/** Parsed options of the `jsonata` actor. */
export type JsonataOptions = z.infer<typeof JsonataOptions>;

/** A compiled JSONata expression. */
type Expression = ReturnType<typeof jsonataCompile>;

/** What the `jsonata` package throws: an object, not an `Error`. */
interface JsonataFailure {
  code?: string;
  position?: number;
  message?: string;
}

/**
 * Replaces `field` with the result of `expression` evaluated on it (or writes
 * the result to `target`); `$header` is the event's header and each of
 * `bindings` is a variable. The expression is compiled once, when the actor is
 * made: a syntax error is reported then, at the `expression` option, with the
 * JSONata error code and position (`JSONata error S0207 at position 5:
 * Unexpected end of expression`). An error while evaluating sends the event to
 * the `error` queue with the same kind of message. An expression that matches
 * nothing sets the target to `undefined`. Results are made of plain objects
 * and arrays (JSONata's own have no prototype or carry extra flags).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { jsonata } from "./jsonata.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", {
 *   interval: 0,
 *   count: 2,
 *   data: { items: [{ price: 2 }, { price: 3 }] },
 * });
 * router.register(jsonata, "total", {
 *   expression: "{ 'total': $sum(items.price) * $rate }",
 *   bindings: { rate: 2 },
 * });
 * router.connect("input.outbox", "total.inbox");
 * const totals = router.readable("total.outbox");
 * await router.start();
 * const events = await Array.fromAsync(totals);
 * await router.stop();
 * assert.deepEqual(events.map((event) => event.data), [{ total: 10 }, { total: 10 }]);
 * ```
 */
export const jsonata: ActorSpec<JsonataOptions> = {
  type: "jsonata",
  kind: "transform",
  stateless: true,
  summary: "Transforms a field of each event with a JSONata expression.",
  options: JsonataOptions,
  example: { expression: "$", field: "data" },
  create: (name, options, settings) => new Jsonata(name, options, settings),
};

/** The `jsonata` transform actor. */
export class Jsonata extends Actor {
  readonly kind = "transform";
  #expression: Expression;
  #io: FieldTarget;

  /** Makes a JSONata transform; see {@link JsonataOptions}. */
  constructor(
    name: string,
    options: Partial<JsonataOptions> & Pick<JsonataOptions, "expression">,
    settings: ActorSettings = {},
  ) {
    super(name, settings);
    try {
      this.#expression = compileExpression(options.expression);
    } catch (error) {
      throw new TypeError(
        `Invalid option "expression" of actor "${name}": ${
          (error as Error).message
        }`,
      );
    }
    const parsed = JsonataOptions.parse(options);
    for (const [key, value] of Object.entries(parsed.bindings)) {
      this.#expression.assign(key, value);
    }
    this.#io = fieldTarget(parsed);
  }

  /**
   * Transforms the events of a batch in order and sends the results on as one
   * batch (JSONata evaluates asynchronously: one event at a time, each
   * result would travel alone). An event whose expression fails, or whose
   * result cannot be written where `target` says, goes to `error`; the
   * others go on.
   */
  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    const io = this.#io;
    for (const event of events) {
      try {
        const result = await this.#expression.evaluate(io.get(event), {
          header: event.header,
        });
        // A target that cannot be written (a number on its path) fails
        // this event alone, not the rest of the batch.
        io.set(event, plain(result));
      } catch (error) {
        context.fail(event, toError(error));
        continue;
      }
      const waiting = context.send(event, undefined, event);
      if (waiting !== undefined) await waiting;
    }
  }
}

/**
 * Compiles `text`; throws a `TypeError` with the JSONata error code and the
 * position in the expression when it is not valid.
 */
function compileExpression(text: string): Expression {
  try {
    return jsonataCompile(text);
  } catch (error) {
    throw new TypeError(toError(error).message);
  }
}

/** A JSONata failure as an `Error` whose message has its code and position. */
function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  const failure =
    (typeof error === "object" && error !== null
      ? error
      : { message: String(error) }) as JsonataFailure;
  const code = failure.code === undefined ? "" : ` ${failure.code}`;
  const at = failure.position === undefined
    ? ""
    : ` at position ${failure.position}`;
  const wrapped = new Error(
    `JSONata error${code}${at}: ${failure.message ?? String(error)}`,
  );
  wrapped.name = "JsonataError";
  return wrapped;
}

/**
 * A copy of a JSONata result made of plain objects and arrays: JSONata makes
 * objects without a prototype and marks arrays with flags such as `sequence`.
 * Values of other classes (dates, bytes, functions) are kept as they are.
 */
function plain(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = plain(value[i]);
    return copy;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== null && prototype !== Object.prototype) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    setOwn(copy, key, plain((value as Record<string, unknown>)[key]));
  }
  return copy;
}
