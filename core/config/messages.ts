/**
 * The words of bootstrap file problems: values in a few words, zod issues as
 * sentences, did-you-mean suggestions.
 *
 * @module
 */

import type { z } from "zod";
import { didYouMean, quoteList } from "../errors.ts";
import { missingSpecMembers } from "../registry.ts";

/**
 * A value in a few words: `the string "x"`, `a list`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeValue } from "./messages.ts";
 * assert.equal(describeValue("fast"), 'the string "fast"');
 * assert.equal(describeValue([1]), "a list");
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `the string "${shown}"`;
  }
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value === "boolean") return `${value}`;
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  map: "a mapping",
  array: "a list",
  tuple: "a list",
  null: "empty",
  bigint: "a whole number",
  date: "a date",
};

/**
 * One zod issue as a sentence about `subject`, whose value is `value`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { describeIssue } from "./messages.ts";
 * const issue = z.number().safeParse("fast").error!.issues[0]!;
 * assert.equal(
 *   describeIssue(issue, 'Option "interval"', "fast"),
 *   'Option "interval" must be a number, not the string "fast"',
 * );
 * ```
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  subject: string,
  value: unknown,
): string {
  switch (issue.code) {
    case "invalid_type": {
      const expected = EXPECTED[issue.expected] ?? `"${issue.expected}"`;
      if (value === undefined) return `${subject} is missing (${expected})`;
      if (issue.expected === "int" && typeof value === "number") {
        return `${subject} must be a whole number, not the number ${value}`;
      }
      return `${subject} must be ${expected}, not ${describeValue(value)}`;
    }
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const suggestion = typeof value === "string"
        ? didYouMean(value, issue.values.map(String))
        : "";
      return values.length === 1
        ? `${subject} must be ${values[0]}, not ${describeValue(value)}`
        : `${subject} must be one of ${values.join(", ")}, not ${
          describeValue(value)
        }${suggestion}`;
    }
    case "too_small": {
      const limit = String(issue.minimum);
      if (issue.origin === "string") {
        return limit === "1"
          ? `${subject} must not be empty`
          : `${subject} must have at least ${limit} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return `${subject} must have at least ${limit} items`;
      }
      return issue.inclusive === false
        ? `${subject} must be greater than ${limit}, not ${
          describeValue(value)
        }`
        : `${subject} must be at least ${limit}, not ${describeValue(value)}`;
    }
    case "too_big": {
      const limit = String(issue.maximum);
      if (issue.origin === "string") {
        return `${subject} must have at most ${limit} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return `${subject} must have at most ${limit} items`;
      }
      return issue.inclusive === false
        ? `${subject} must be less than ${limit}, not ${describeValue(value)}`
        : `${subject} must be at most ${limit}, not ${describeValue(value)}`;
    }
    case "not_multiple_of":
      return `${subject} must be a multiple of ${issue.divisor}`;
    case "invalid_format":
      return `${subject} must be a valid ${issue.format}: ${issue.message}`;
    default:
      return `${subject} is invalid: ${issue.message}`;
  }
}

/**
 * `; did you mean "x"?` for the closest of `known` to `name`, or else the
 * list of them: `; the keys are "a", "b"` (`listed` names them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { suggest } from "./messages.ts";
 * assert.equal(suggest("conections", ["actors", "connections"]), '; did you mean "connections"?');
 * assert.equal(suggest("zzz", ["a", "b"], "the options"), '; the options are "a", "b"');
 * ```
 */
export function suggest(
  name: string,
  known: readonly string[],
  listed = "the keys",
): string {
  return didYouMean(name, known) || `; ${listed} are ${quoteList(known)}`;
}

/**
 * Why `value` is not an actor spec, in a few words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whyNotSpec } from "./messages.ts";
 * assert.equal(whyNotSpec(1), "is the number 1, not an actor spec");
 * ```
 */
export function whyNotSpec(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    return `is ${describeValue(value)}, not an actor spec`;
  }
  return `lacks ${quoteList(missingSpecMembers(value))}`;
}
