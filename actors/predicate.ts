/**
 * Predicates on event fields, shared by the `switch` and `filter` actors.
 *
 * A predicate names a field (see `field.ts`) and exactly one test:
 *
 * | test         | true when the field's value...                                  |
 * | ------------ | --------------------------------------------------------------- |
 * | `equals`     | deeply equals the given value (`5` and `"5"` differ)            |
 * | `not_equals` | does not deeply equal it                                        |
 * | `in`         | deeply equals one of the given values                           |
 * | `matches`    | is a string matched by the regular expression (with `flags`)    |
 * | `exists`     | is not `undefined` (`exists: false`: is `undefined`)            |
 * | `gt` / `gte` | is greater than (or equal to) the bound, both numbers or strings |
 * | `lt` / `lte` | is less than (or equal to) the bound, both numbers or strings    |
 *
 * Everything is checked and compiled once: a bad regular expression or a
 * predicate with no or two tests is reported at the option when the actor is
 * made, never per event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compilePredicate, Predicate } from "./predicate.ts";
 * const isError = compilePredicate(
 *   Predicate.parse({ field: "data.level", in: ["error", "fatal"] }),
 * );
 * assert.equal(isError({ header: {}, data: { level: "error" } }), true);
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Event } from "../core/event.ts";
import { fieldGetter, fieldPathSchema } from "./field.ts";

/** The names of the tests a predicate may hold, exactly one at a time. */
const PREDICATE_TESTS = [
  "equals",
  "not_equals",
  "in",
  "matches",
  "exists",
  "gt",
  "gte",
  "lt",
  "lte",
] as const;

const bound = z.union([z.number(), z.string()]);

/** The options schema of a predicate. */
export const Predicate = z.strictObject({
  field: fieldPathSchema().describe(
    'The field to test: "data", "data.<key>..." or "header.<key>...".',
  ),
  equals: z.unknown().optional().describe(
    "True when the field deeply equals this value.",
  ),
  not_equals: z.unknown().optional().describe(
    "True when the field does not deeply equal this value.",
  ),
  in: z.array(z.unknown()).optional().describe(
    "True when the field deeply equals one of these values.",
  ),
  matches: z.string().optional().describe(
    "True when the field is a string that this regular expression matches.",
  ),
  flags: z.string().optional().describe(
    'Flags of the "matches" regular expression, e.g. "i" (not "g" or "y").',
  ),
  exists: z.boolean().optional().describe(
    "True when the field is present (true) or absent (false).",
  ),
  gt: bound.optional().describe(
    "True when the field is greater than this number or string (same type).",
  ),
  gte: bound.optional().describe(
    "True when the field is greater than or equal to this (same type).",
  ),
  lt: bound.optional().describe(
    "True when the field is less than this number or string (same type).",
  ),
  lte: bound.optional().describe(
    "True when the field is less than or equal to this (same type).",
  ),
}).superRefine((predicate, ctx) => {
  const tests = PREDICATE_TESTS.filter((test) => test in predicate);
  if (tests.length !== 1) {
    ctx.addIssue({
      code: "custom",
      message: tests.length === 0
        ? `A predicate needs one test: ${PREDICATE_TESTS.join(", ")}`
        : `A predicate takes one test, got ${
          tests.map((test) => `"${test}"`).join(" and ")
        }`,
    });
  }
  if (predicate.flags !== undefined && predicate.matches === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["flags"],
      message: '"flags" only applies to "matches"',
    });
  }
  if (predicate.matches !== undefined) {
    const problem = regexProblem(predicate.matches, predicate.flags);
    if (problem !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [problem.option],
        message: problem.message,
      });
    }
  }
});

/** A parsed predicate. */
export type Predicate = z.infer<typeof Predicate>;

/** A compiled predicate: whether an event passes the test. */
export type EventTest = (event: Event) => boolean;

/**
 * Compiles a parsed predicate into a function of an event. Throws a
 * `TypeError` for a predicate the schema would refuse (no or two tests, a bad
 * regular expression).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compilePredicate } from "./predicate.ts";
 * const slow = compilePredicate({ field: "header.http.ms", gt: 500 });
 * assert.equal(slow({ header: { http: { ms: 800 } }, data: null }), true);
 * ```
 */
export function compilePredicate(predicate: Predicate): EventTest {
  const get = fieldGetter(predicate.field);
  const tests = PREDICATE_TESTS.filter((test) => test in predicate);
  if (tests.length !== 1) {
    throw new TypeError(
      `A predicate on "${predicate.field}" needs exactly one test, got ${tests.length}`,
    );
  }
  const test = tests[0]!;
  switch (test) {
    case "equals": {
      const expected = predicate.equals;
      if (isPrimitive(expected)) return (event) => get(event) === expected;
      return (event) => deepEqual(get(event), expected);
    }
    case "not_equals": {
      const expected = predicate.not_equals;
      if (isPrimitive(expected)) return (event) => get(event) !== expected;
      return (event) => !deepEqual(get(event), expected);
    }
    case "in": {
      const values = predicate.in ?? [];
      if (values.every(isPrimitive)) {
        const set = new Set(values);
        return (event) => set.has(get(event));
      }
      return (event) => {
        const value = get(event);
        return values.some((candidate) => deepEqual(value, candidate));
      };
    }
    case "matches": {
      const problem = regexProblem(predicate.matches!, predicate.flags);
      if (problem !== undefined) {
        throw new TypeError(`Option "${problem.option}": ${problem.message}`);
      }
      const regex = new RegExp(predicate.matches!, predicate.flags);
      return (event) => {
        const value = get(event);
        return typeof value === "string" && regex.test(value);
      };
    }
    case "exists": {
      const exists = predicate.exists!;
      return (event) => (get(event) !== undefined) === exists;
    }
    case "gt":
      return compare(get, predicate.gt!, (a, b) => a > b);
    case "gte":
      return compare(get, predicate.gte!, (a, b) => a >= b);
    case "lt":
      return compare(get, predicate.lt!, (a, b) => a < b);
    case "lte":
      return compare(get, predicate.lte!, (a, b) => a <= b);
  }
}

/**
 * Whether `a` and `b` are the same JSON-like value: primitives by `===` (and
 * `NaN` equals `NaN`), arrays item by item, plain objects key by key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deepEqual } from "./predicate.ts";
 * assert.equal(deepEqual({ a: [1, 2] }, { a: [1, 2] }), true);
 * assert.equal(deepEqual(5, "5"), false);
 * ```
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object") {
    return Number.isNaN(a) && Number.isNaN(b);
  }
  if (a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!deepEqual(a[i], b[i])) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  for (const key of aKeys) {
    if (!Object.hasOwn(b, key)) return false;
    if (
      !deepEqual(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
      )
    ) return false;
  }
  return true;
}

function isPrimitive(value: unknown): boolean {
  return value === null ||
    (typeof value !== "object" && typeof value !== "function" &&
      !Number.isNaN(value));
}

function compare(
  get: (event: Event) => unknown,
  bound: number | string,
  holds: (a: number | string, b: number | string) => boolean,
): EventTest {
  const type = typeof bound;
  return (event) => {
    const value = get(event);
    return typeof value === type && holds(value as number | string, bound);
  };
}

function regexProblem(
  source: string,
  flags: string | undefined,
): { option: "matches" | "flags"; message: string } | undefined {
  if (flags !== undefined && /[gy]/.test(flags)) {
    return {
      option: "flags",
      message:
        `Flags "${flags}" are not allowed: "g" and "y" make a regular expression remember where it stopped`,
    };
  }
  try {
    new RegExp(source, flags);
    return undefined;
  } catch (error) {
    const option = flags !== undefined &&
        String(error).includes("Invalid flags")
      ? "flags"
      : "matches";
    return { option, message: (error as Error).message };
  }
}
