/**
 * Setting a key of a plain record as data, whatever the key.
 *
 * @module
 */

/**
 * Sets `record[key]` to `value` as an own data property, even for the key
 * `"__proto__"`: assigning that one would call the prototype's setter
 * instead (under `--unsafe-proto`, or wherever `Object.prototype.__proto__`
 * exists), which changes the prototype or, for a value that is not an
 * object, does nothing, and the key is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setOwn } from "./own.ts";
 *
 * const record: Record<string, string> = {};
 * setOwn(record, "__proto__", "kept");
 * setOwn(record, "name", "ada");
 * assert.deepEqual(Object.keys(record), ["__proto__", "name"]);
 * assert.equal(Object.getPrototypeOf(record), Object.prototype);
 * ```
 */
export function setOwn<T>(
  record: Record<string, T>,
  key: string,
  value: T,
): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    record[key] = value;
  }
}
