/**
 * Telling apart the two kinds of error a listener's `accept()` gives: the
 * process ran out of something (file handles, buffers, memory), so that
 * accepting at once fails again and must wait for room; or one connection
 * failed before it was accepted (its client reset it, as port scanners and
 * load balancers' health checks do), which says nothing about the next one.
 *
 * @module
 */

/** The error codes of a process or system out of resources. */
const OUT_OF_RESOURCES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/**
 * Whether `error`, from `accept()`, means the process or system is out of
 * file handles, buffers or memory. Any other accept error concerns one
 * connection only: skip it and accept the next at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isOutOfResources } from "./accept.ts";
 * assert.equal(isOutOfResources(Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" })), true);
 * assert.equal(isOutOfResources(new Deno.errors.NotConnected("Transport endpoint is not connected (os error 107)")), false);
 * ```
 */
export function isOutOfResources(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && OUT_OF_RESOURCES.has(code);
}
