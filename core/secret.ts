/**
 * Comparing secrets without leaking where they differ.
 *
 * @module
 */

/**
 * Whether `a` and `b` are the same text, compared in time that does not
 * depend on where they differ (only on the length of `b`), so that a token
 * cannot be guessed one character at a time. Allocates nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sameText } from "./secret.ts";
 * assert.equal(sameText("Bearer s3cret", "Bearer s3cret"), true);
 * assert.equal(sameText("Bearer guess", "Bearer s3cret"), false);
 * ```
 */
export function sameText(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) {
    difference |= (a.charCodeAt(i) || 0) ^ b.charCodeAt(i);
  }
  return difference === 0;
}
