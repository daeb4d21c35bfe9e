/**
 * Events: the one shape that travels through every queue.
 *
 * @module
 */

import { FAILED, type TrackedEvent } from "./tracking.ts";

/**
 * An event: a header of named values and a data payload.
 *
 * Actors write their own header values under `header[<actor name>]`.
 *
 * @example
 * ```ts
 * import type { Event } from "./event.ts";
 * const event: Event = { header: { input: { seq: 1 } }, data: "hello" };
 * ```
 */
export interface Event {
  /** Named values that describe the event; never `null`. */
  header: Record<string, unknown>;
  /** The payload. */
  data: unknown;
}

/**
 * Whether `value` has the shape of an {@link Event}: an object (not an
 * array) with an object `header` (not an array) and a `data` property; true
 * exactly when {@link whyNotEvent} finds nothing wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isEvent } from "./event.ts";
 * assert.equal(isEvent({ header: {}, data: 1 }), true);
 * assert.equal(isEvent({ data: 1 }), false);
 * ```
 */
export function isEvent(value: unknown): value is Event {
  if (typeof value !== "object" || value === null) return false;
  try {
    if (Array.isArray(value)) return false;
    const header = (value as Event).header;
    return typeof header === "object" && header !== null &&
      !Array.isArray(header) &&
      ((value as Event).data !== undefined || "data" in value);
  } catch {
    // A proxy whose traps throw (or a revoked one) is not an event.
    return false;
  }
}

/**
 * Why `value` is not an event, in a few words, or `undefined` when it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whyNotEvent } from "./event.ts";
 * assert.equal(whyNotEvent("text"), 'not an object (string)');
 * ```
 */
export function whyNotEvent(value: unknown): string | undefined {
  if (value === null) return "not an object (null)";
  if (typeof value !== "object") return `not an object (${typeof value})`;
  try {
    if (Array.isArray(value)) return "not an object (array)";
    const header = (value as { header?: unknown }).header;
    if (header === undefined) return 'missing "header"';
    if (
      typeof header !== "object" || header === null || Array.isArray(header)
    ) {
      return '"header" is not an object';
    }
    if (!("data" in value)) return 'missing "data"';
  } catch (error) {
    return `cannot be read (${
      error instanceof Error ? `${error.name}: ${error.message}` : "it threw"
    })`;
  }
  return undefined;
}

/**
 * Makes a new event with `data` and an optional header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createEvent } from "./event.ts";
 * const event = createEvent("hello", { input: { seq: 1 } });
 * assert.equal(event.data, "hello");
 * ```
 */
export function createEvent(
  data: unknown,
  header: Record<string, unknown> = {},
): Event {
  return { header, data };
}

/**
 * A deep copy of an event (header and data), so that two branches can change
 * their events without seeing each other's changes. The copy has no delivery
 * tracker of its own (sent from `consume`, it derives from the event
 * consumed); it keeps the mark of an event that failed before.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyEvent } from "./event.ts";
 * const a = { header: {}, data: { n: 1 } };
 * const b = copyEvent(a);
 * b.data.n = 2;
 * assert.equal(a.data.n, 1);
 * ```
 */
export function copyEvent<E extends Event>(event: E): E {
  const copy = structuredClone(event);
  if ((event as TrackedEvent)[FAILED] === true) {
    (copy as TrackedEvent)[FAILED] = true;
  }
  return copy;
}

/**
 * `key` as the JavaScript engine keeps property names (interned): the same
 * text, but an object's property read or written with it is found at once.
 * A string made at run time (read from a file, cut from a path) is not
 * interned, and V8 then looks every property access made with it up in its
 * table of names, and gives up the fast path of the code doing it: about
 * ten times the cost of a `header[name]` in a loop. Intern once the names
 * that code uses as keys per event (an actor's name, the keys of a field
 * path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { propertyKey } from "./event.ts";
 * const name = propertyKey(["in", "put"].join(""));
 * assert.equal(name, "input");
 * assert.deepEqual({ [name]: 1 }, { input: 1 });
 * ```
 */
export function propertyKey(key: string): string {
  return Object.keys({ [key]: 0 })[0]!;
}
