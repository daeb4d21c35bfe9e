/**
 * Field paths: how actor options name a part of an event, such as `data`,
 * `data.user.id` or `header.http.status`, and the getters and setters compiled
 * from them once, at construction.
 *
 * A path starts with `data` or `header`; each further dot-separated key goes
 * one level down (array indexes are keys too: `data.items.0`).
 *
 * @module
 */

import { z } from "zod";
import { type Event, propertyKey } from "../core/event.ts";

/** Reads the value a field path names, or `undefined` when it is absent. */
export type FieldGetter = (event: Event) => unknown;

/** Writes a value where a field path names, making missing objects on the way. */
export type FieldSetter = (event: Event, value: unknown) => void;

/** A parsed field path. */
interface FieldPath {
  /** Which part of the event it starts from. */
  readonly root: "data" | "header";
  /** The keys below the root, outermost first. */
  readonly keys: readonly string[];
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Why `path` is not a field path, or `undefined` when it is one. With
 * `writable`, also refuses `header` alone (the header must stay an object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldPathProblem } from "./field.ts";
 * assert.equal(fieldPathProblem("data.user.id"), undefined);
 * assert.equal(fieldPathProblem("body.id"), 'Field path "body.id" must start with "data" or "header"');
 * ```
 */
export function fieldPathProblem(
  path: string,
  writable = false,
): string | undefined {
  const [root, ...keys] = path.split(".");
  if (root !== "data" && root !== "header") {
    return `Field path "${path}" must start with "data" or "header"`;
  }
  if (keys.some((key) => key === "")) {
    return `Field path "${path}" has an empty key`;
  }
  const forbidden = keys.find((key) => FORBIDDEN_KEYS.has(key));
  if (forbidden !== undefined) {
    return `Field path "${path}" uses the reserved key "${forbidden}"`;
  }
  if (writable && root === "header" && keys.length === 0) {
    return `Field path "header" cannot be written: name a key under it, such as "header.x"`;
  }
  return undefined;
}

/** Parses a field path; throws a `TypeError` saying what is wrong with it. */
function parseFieldPath(path: string, writable = false): FieldPath {
  const problem = fieldPathProblem(path, writable);
  if (problem !== undefined) throw new TypeError(problem);
  const [root, ...keys] = path.split(".");
  // Interned: the compiled getters and setters use them for each event.
  return { root: root as "data" | "header", keys: keys.map(propertyKey) };
}

/**
 * A zod schema for an option holding a field path: a string checked by
 * {@link fieldPathProblem}, so that a bad path is reported at the option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldPathSchema } from "./field.ts";
 * assert.equal(fieldPathSchema().safeParse("data.x").success, true);
 * assert.equal(fieldPathSchema().safeParse("x").success, false);
 * ```
 */
export function fieldPathSchema(writable = false): z.ZodString {
  return z.string().superRefine((path, ctx) => {
    const problem = fieldPathProblem(path, writable);
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem });
    }
  });
}

/** The zod shape of {@link fieldTargetFields}. */
export interface FieldTargetFields {
  /** The field read, default `"data"`. */
  field: z.ZodDefault<z.ZodString>;
  /** Where the result goes; without it, in place of `field`. */
  target: z.ZodOptional<z.ZodString>;
}

/**
 * The `field` and `target` options of a transform that reads one field and
 * writes what it makes of it, as a zod shape to spread into its options:
 * `field` (a field path, default `"data"`, described by `field`) and
 * `target` (a writable field path, optional, described as where `result`
 * goes; without it, in place of `field`). Compile them with
 * {@link fieldTarget}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { fieldTargetFields } from "./field.ts";
 * const Options = z.strictObject(fieldTargetFields({
 *   field: "The field to read.",
 *   result: "the result",
 * }));
 * assert.deepEqual(Options.parse({}), { field: "data" });
 * ```
 */
export function fieldTargetFields(
  descriptions: { field: string; result: string },
): FieldTargetFields {
  return {
    field: fieldPathSchema().default("data").describe(descriptions.field),
    target: fieldPathSchema(true).optional().describe(
      `Where to put ${descriptions.result}; without it, in place of "field".`,
    ),
  };
}

/** The field a transform reads and where it writes, compiled. */
export interface FieldTarget {
  /** The path of the field read, for messages. */
  readonly field: string;
  /** Reads the field. */
  readonly get: FieldGetter;
  /** Writes the result: to `target`, or in place of the field. */
  readonly set: FieldSetter;
}

/**
 * Compiles the options of {@link fieldTargetFields}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldTarget } from "./field.ts";
 * const io = fieldTarget({ field: "data.text", target: "header.length" });
 * const event = { header: {}, data: { text: "abc" } };
 * io.set(event, String(io.get(event)).length);
 * assert.deepEqual(event.header, { length: 3 });
 * ```
 */
export function fieldTarget(
  options: { field: string; target?: string | undefined },
): FieldTarget {
  return {
    field: options.field,
    get: fieldGetter(options.field),
    set: fieldSetter(options.target ?? options.field),
  };
}

/**
 * Compiles a getter for `path`. Walking stops with `undefined` at the first
 * value that is not an object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldGetter } from "./field.ts";
 * const level = fieldGetter("data.level");
 * assert.equal(level({ header: {}, data: { level: "warn" } }), "warn");
 * assert.equal(level({ header: {}, data: "text" }), undefined);
 * ```
 */
export function fieldGetter(path: string): FieldGetter {
  const { root, keys } = parseFieldPath(path);
  const start = root === "data"
    ? (event: Event): unknown => event.data
    : (event: Event): unknown => event.header;
  if (keys.length === 0) return start;
  if (keys.length === 1) {
    const key = keys[0]!;
    return (event) => {
      const value = start(event);
      return typeof value === "object" && value !== null
        ? (value as Record<string, unknown>)[key]
        : undefined;
    };
  }
  return (event) => {
    let value = start(event);
    for (let i = 0; i < keys.length; i++) {
      if (typeof value !== "object" || value === null) return undefined;
      value = (value as Record<string, unknown>)[keys[i]!];
    }
    return value;
  };
}

/**
 * Compiles a setter for `path`. Missing or `undefined` objects on the way are
 * made; a value on the way that is not an object is a `TypeError` (the event
 * then goes to the `error` queue).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldSetter } from "./field.ts";
 * const event = { header: {}, data: 1 };
 * fieldSetter("header.http.status")(event, 200);
 * assert.deepEqual(event.header, { http: { status: 200 } });
 * ```
 */
export function fieldSetter(path: string): FieldSetter {
  const { root, keys } = parseFieldPath(path, true);
  if (keys.length === 0) {
    return (event, value) => {
      event.data = value;
    };
  }
  const last = keys[keys.length - 1]!;
  const inner = keys.slice(0, -1);
  const setter: FieldSetter = (event, value) => {
    let target: unknown = root === "data" ? event.data : event.header;
    if (root === "data" && (target === undefined || target === null)) {
      target = event.data = {};
    }
    if (typeof target !== "object" || target === null) {
      throw new TypeError(
        `Cannot set "${path}": "${root}" is ${kindOf(target)}, not an object`,
      );
    }
    for (let i = 0; i < inner.length; i++) {
      const key = inner[i]!;
      const container = target as Record<string, unknown>;
      let next = container[key];
      if (next === undefined || next === null) next = container[key] = {};
      if (typeof next !== "object") {
        throw new TypeError(
          `Cannot set "${path}": "${
            [root, ...keys.slice(0, i + 1)].join(".")
          }" is ${kindOf(next)}, not an object`,
        );
      }
      target = next;
    }
    (target as Record<string, unknown>)[last] = value;
  };
  return compiledSetter(root, keys, setter) ?? setter;
}

/**
 * A setter doing what `general` does where every value on the way is an
 * object (and handing any other event to `general`, which makes what is
 * missing or throws), compiled for `root` and `keys` with `new Function`;
 * `undefined` where code cannot be made from text.
 *
 * Why: the closures `fieldSetter` makes all share the feedback V8 keeps
 * for the code they run, so with several paths in a pipeline (three
 * `header` stages, say) its property writes see several keys and go
 * megamorphic: ~25 ns a write instead of ~10. Compiled code has feedback
 * of its own, and names its keys as constants. The keys went through
 * {@link fieldPathProblem} and are written as JSON string literals, which
 * JavaScript reads as the same strings: no key can make code.
 */
function compiledSetter(
  root: "data" | "header",
  keys: readonly string[],
  general: FieldSetter,
): FieldSetter | undefined {
  const lines = [
    `let target = event.${root}, next;`,
    'if (typeof target !== "object" || target === null) return general(event, value);',
  ];
  for (const key of keys.slice(0, -1)) {
    const quoted = JSON.stringify(key);
    lines.push(
      `next = target[${quoted}];`,
      `if (next === undefined || next === null) next = target[${quoted}] = {};`,
      'else if (typeof next !== "object") return general(event, value);',
      "target = next;",
    );
  }
  lines.push(`target[${JSON.stringify(keys.at(-1))}] = value;`);
  try {
    return new Function(
      "general",
      `"use strict"; return (event, value) => {\n${lines.join("\n")}\n};`,
    )(general);
  } catch {
    return undefined;
  }
}

/**
 * Compiles a remover for `path`: deletes the key it names, if present.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fieldRemover } from "./field.ts";
 * const event = { header: { a: { b: 1, c: 2 } }, data: null };
 * fieldRemover("header.a.b")(event);
 * assert.deepEqual(event.header, { a: { c: 2 } });
 * ```
 */
export function fieldRemover(path: string): (event: Event) => void {
  const { keys } = parseFieldPath(path, true);
  if (keys.length === 0) {
    return (event) => {
      event.data = undefined;
    };
  }
  const last = keys[keys.length - 1]!;
  const parent = fieldGetter(path.slice(0, path.lastIndexOf(".")));
  return (event) => {
    const container = parent(event);
    if (typeof container === "object" && container !== null) {
      delete (container as Record<string, unknown>)[last];
    }
  };
}

/**
 * A few words for the type of a value, for messages: `"a string"`, `"null"`,
 * `"an array"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kindOf } from "./field.ts";
 * assert.equal(kindOf(3), "a number");
 * ```
 */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  const type = typeof value;
  return type === "object" ? "an object" : `a ${type}`;
}
