/**
 * Reopening the files a pipeline writes, after an outside program rotated
 * them: `compysition run` calls {@link reopenFiles} on SIGHUP, as
 * logrotate's `postrotate` step expects (`kill -HUP <pid>`).
 *
 * @module
 */

import type { Actor } from "./actor.ts";
import type { Router } from "./router.ts";

/**
 * An actor that writes files and can open them again: `reopen()` closes
 * them, and the path is opened again (made when missing) before the next
 * write. `file_out` and `log_file` are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor } from "./actor.ts";
 * import { isReopenable } from "./reopen.ts";
 * class Sink extends Actor {
 *   readonly kind = "output";
 *   override consume(): void {}
 * }
 * assert.equal(isReopenable(new Sink("sink")), false);
 * ```
 */
export interface Reopenable {
  /** Closes the actor's files; they are opened again before the next write. */
  reopen(): void;
}

/**
 * Whether `actor` has a `reopen()` method (see {@link Reopenable}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileOut } from "../actors/output/file_out.ts";
 * import { isReopenable } from "./reopen.ts";
 * assert.equal(isReopenable(new FileOut("file", { path: "out.log" })), true);
 * ```
 */
export function isReopenable(actor: Actor): actor is Actor & Reopenable {
  return typeof (actor as Partial<Reopenable>).reopen === "function";
}

/**
 * Asks every actor of `router` that writes files ({@link Reopenable}: the
 * log actor included) to open them again before its next write, after they
 * were moved away by logrotate or another program. Returns the names of
 * those actors. `compysition run` calls it on SIGHUP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { fileOut } from "../actors/output/file_out.ts";
 * import { reopenFiles } from "./reopen.ts";
 *
 * const router = new Router();
 * router.register(fileOut, "file", { path: "out.log" });
 * assert.deepEqual(reopenFiles(router), ["file"]);
 * ```
 */
export function reopenFiles(router: Router): string[] {
  const reopened: string[] = [];
  for (const actor of router.actors()) {
    if (!isReopenable(actor)) continue;
    actor.reopen();
    reopened.push(actor.name);
  }
  return reopened;
}
