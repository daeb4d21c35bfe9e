/**
 * Text templates filled from event fields, such as the URL
 * `https://api.example/users/{data.user.id}?trace={header.http.trace}`.
 *
 * A placeholder `{path}` names a field of the event with a field path (see
 * `field.ts`): `data`, `data.user.id`, `header.x.y`, array indexes as keys
 * (`data.items.0`). Write `{{` and `}}` for literal braces. Templates are
 * compiled once, when an actor is made: a bad placeholder is an error then,
 * with its position, not later for each event.
 *
 * Values are written as text: strings as they are; numbers, booleans and
 * bigints with `String`; objects and arrays as JSON. A field that is absent,
 * `undefined` or `null` is an error by default (`TypeError`, so the event goes
 * to the `error` queue), or an empty string with `missing: "empty"`. With
 * `encode: "url"`, each value (not the literal text around it) is encoded with
 * `encodeURIComponent`, so that it cannot add a `/`, `?` or `#`; and a value
 * that would make a whole path segment `.` or `..` (which URL parsing removes,
 * `%2E` included, changing the path) or an empty one is a `TypeError` too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileTemplate } from "./template.ts";
 * const url = compileTemplate("http://127.0.0.1/users/{data.name}", { encode: "url" });
 * assert.equal(url({ header: {}, data: { name: "Ada L" } }), "http://127.0.0.1/users/Ada%20L");
 * ```
 *
 * @module
 */

import { z } from "zod";
import type { Event } from "../core/event.ts";
import { type FieldGetter, fieldGetter, fieldPathProblem } from "./field.ts";

/** A compiled template: the text for one event. */
export type Template = (event: Event) => string;

/** How a template writes the values it substitutes. */
export interface TemplateOptions {
  /**
   * How each substituted value is encoded: `"none"` (the default), `"url"`
   * (`encodeURIComponent`, and a value may not make a path segment `.`, `..`
   * or empty: see {@link pathSegmentProblem}) or any function of the value's
   * text.
   */
  encode?: "none" | "url" | ((value: string) => string);
  /**
   * What an absent, `undefined` or `null` field becomes: `"error"` (the
   * default) throws a `TypeError`; `"empty"` writes nothing.
   */
  missing?: "error" | "empty";
}

/** One part of a parsed template: literal text or a field path. */
export type TemplatePart =
  | { readonly text: string }
  | { readonly field: string };

/**
 * The parts of `text`, or a `TypeError` saying what is wrong and where
 * (1-based character position).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTemplate } from "./template.ts";
 * assert.deepEqual(parseTemplate("id={data.id}"), [{ text: "id=" }, { field: "data.id" }]);
 * ```
 */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (char === "{" && text[i + 1] === "{") {
      literal += "{";
      i += 2;
    } else if (char === "}" && text[i + 1] === "}") {
      literal += "}";
      i += 2;
    } else if (char === "}") {
      throw new TypeError(
        `Unmatched "}" at character ${
          i + 1
        } of template "${text}": write "}}" for a literal "}"`,
      );
    } else if (char === "{") {
      const end = text.indexOf("}", i + 1);
      const open = text.indexOf("{", i + 1);
      if (end === -1 || (open !== -1 && open < end)) {
        throw new TypeError(
          `Unclosed placeholder at character ${
            i + 1
          } of template "${text}": close it with "}" or write "{{" for a literal "{"`,
        );
      }
      const field = text.slice(i + 1, end);
      const problem = field === ""
        ? "it is empty"
        : /\s/.test(field)
        ? "it contains white space"
        : fieldPathProblem(field);
      if (problem !== undefined) {
        throw new TypeError(
          `Bad placeholder "{${field}}" at character ${
            i + 1
          } of template "${text}": ${problem}`,
        );
      }
      if (literal !== "") parts.push({ text: literal });
      literal = "";
      parts.push({ field });
      i = end + 1;
    } else {
      literal += char;
      i++;
    }
  }
  if (literal !== "") parts.push({ text: literal });
  return parts;
}

/**
 * Why `text` is not a valid template, or `undefined` when it is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { templateProblem } from "./template.ts";
 * assert.equal(templateProblem("{data.id}"), undefined);
 * assert.equal(templateProblem("{body.id}")?.startsWith('Bad placeholder "{body.id}"'), true);
 * ```
 */
export function templateProblem(text: string): string | undefined {
  try {
    parseTemplate(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Whether `text` has at least one placeholder (otherwise it is constant).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasPlaceholders } from "./template.ts";
 * assert.equal(hasPlaceholders("/static/{{x}}"), false);
 * assert.equal(hasPlaceholders("/users/{data.id}"), true);
 * ```
 */
export function hasPlaceholders(text: string): boolean {
  return parseTemplate(text).some((part) => "field" in part);
}

/**
 * A zod schema for an option holding a template, so that a bad placeholder is
 * reported at the option when the options are parsed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { templateSchema } from "./template.ts";
 * assert.equal(templateSchema().safeParse("/users/{data.id}").success, true);
 * assert.equal(templateSchema().safeParse("/users/{id}").success, false);
 * ```
 */
export function templateSchema(): z.ZodString {
  return z.string().superRefine((text, ctx) => {
    const problem = templateProblem(text);
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem });
    }
  });
}

/**
 * Compiles `text` into a function that fills it from an event. Throws a
 * `TypeError` naming the bad placeholder and its position.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileTemplate } from "./template.ts";
 * const subject = compileTemplate("orders.{header.order.region}");
 * assert.equal(subject({ header: { order: { region: "eu" } }, data: null }), "orders.eu");
 * const label = compileTemplate("n={data.n}", { missing: "empty" });
 * assert.equal(label({ header: {}, data: {} }), "n=");
 * ```
 */
export function compileTemplate(
  text: string,
  options: TemplateOptions = {},
): Template {
  const parts = parseTemplate(text);
  const encode = options.encode === "url"
    ? encodeURIComponent
    : options.encode === "none" || options.encode === undefined
    ? undefined
    : options.encode;
  const strict = (options.missing ?? "error") === "error";
  const literals: string[] = [""];
  const getters: FieldGetter[] = [];
  const fields: string[] = [];
  for (const part of parts) {
    if ("text" in part) {
      literals[literals.length - 1] += part.text;
    } else {
      getters.push(fieldGetter(part.field));
      fields.push(part.field);
      literals.push("");
    }
  }
  const head = literals[0]!;
  if (getters.length === 0) return () => head;
  const value = (event: Event, i: number): string => {
    const raw = getters[i]!(event);
    if (raw === undefined || raw === null) {
      if (!strict) return "";
      throw new TypeError(
        `Template "${text}": "${fields[i]}" has no value in this event`,
      );
    }
    const written = valueText(raw);
    return encode === undefined ? written : encode(written);
  };
  if (options.encode === "url") {
    return (event) => {
      let result = head;
      const starts: number[] = [];
      for (let i = 0; i < getters.length; i++) {
        starts.push(result.length);
        result += value(event, i);
        starts.push(result.length);
        result += literals[i + 1]!;
      }
      const problem = pathSegmentProblem(result, starts, fields);
      if (problem !== undefined) {
        throw new TypeError(`Template "${text}": ${problem}`);
      }
      return result;
    };
  }
  if (getters.length === 1) {
    const tail = literals[1]!;
    return (event) => head + value(event, 0) + tail;
  }
  return (event) => {
    let result = head;
    for (let i = 0; i < getters.length; i++) {
      result += value(event, i) + literals[i + 1]!;
    }
    return result;
  };
}

/**
 * A value as template text: strings as they are, numbers, booleans and
 * bigints with `String`, anything else as JSON.
 */
function valueText(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
    case "bigint":
      return String(value);
    default:
      return JSON.stringify(value) ?? String(value);
  }
}

/** A path segment WHATWG URL parsing removes: `.` or `..`, `%2e` included. */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Why the values substituted into `url` change the structure of its path,
 * or `undefined` when they do not: a whole path segment that is `.` or `..`
 * (URL parsing removes it, with the segment before for `..`) or empty, made
 * with a value's text. `bounds` holds where each value starts and ends in
 * `url` (two numbers per value), `fields` their field paths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathSegmentProblem } from "./template.ts";
 * // "http://h/users/" + ".." + "/profile"
 * assert.equal(
 *   pathSegmentProblem("http://h/users/../profile", [15, 17], ["data.id"]),
 *   'the value of "data.id" makes the path segment "..", which URL parsing removes: it would change the path',
 * );
 * assert.equal(pathSegmentProblem("http://h/users/7/profile", [15, 16], ["data.id"]), undefined);
 * ```
 */
export function pathSegmentProblem(
  url: string,
  bounds: readonly number[],
  fields: readonly string[],
): string | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].length ?? 0;
  let segment = scheme;
  if (url.startsWith("//", scheme)) {
    segment = scheme + 2;
    while (segment < url.length && !"/\\?#".includes(url[segment]!)) segment++;
    if (url[segment] !== "/" && url[segment] !== "\\") return undefined;
    segment++;
  }
  for (let i = segment; i <= url.length; i++) {
    const char = url[i];
    if (char !== undefined && !"/\\?#".includes(char)) continue;
    const text = url.slice(segment, i);
    if (text === "" || DOT_SEGMENT.test(text)) {
      for (let k = 0; k < fields.length; k++) {
        const start = bounds[2 * k]!;
        const end = bounds[2 * k + 1]!;
        const inside = text === ""
          ? start === segment && end === segment
          : start < i && end > segment;
        if (!inside) continue;
        const value = `the value of "${fields[k]}"`;
        return text === ""
          ? `${value} makes an empty path segment, which would change the path`
          : `${value} makes the path segment "${text}", which URL parsing removes: it would change the path`;
      }
    }
    if (char !== "/" && char !== "\\") return undefined;
    segment = i + 1;
  }
  return undefined;
}
