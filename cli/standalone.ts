/**
 * What differs when the command runs as the standalone executable made by
 * `deno task compile` (`deno compile`) rather than as a script.
 *
 * The executable holds every built-in actor and its dependencies. A
 * `module:` actor is still loaded from disk when the pipeline starts
 * (JavaScript or TypeScript), but it can import only what is built in: the
 * library as `"@compysition/compysition"` (the same copy the executable runs;
 * a path to another copy makes actors the executable does not recognise),
 * the npm packages Compysition itself uses (`"zod"`, `"yaml"`, ...), and
 * files beside it. Modules given by URL cannot be loaded.
 *
 * @module
 */

import type { ConfigError } from "../core/errors.ts";

/**
 * Whether this process is a standalone executable made by `deno compile`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStandalone } from "./standalone.ts";
 * assert.equal(isStandalone(), false); // under `deno run` and `deno test`
 * ```
 */
export function isStandalone(): boolean {
  return Deno.build.standalone === true;
}

/**
 * What to tell the user of the standalone executable about `error`, when one
 * of its problems concerns a `module:` actor: what such a module can import
 * there. `undefined` when no problem concerns a module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError } from "../core/errors.ts";
 * import { standaloneModuleHint } from "./standalone.ts";
 *
 * const error = new ConfigError([{
 *   file: "p.yaml",
 *   line: 3,
 *   column: 13,
 *   path: ["actors", "up", "module"],
 *   message: 'Cannot load module "https://example.com/up.ts" for actor "up": Module not found',
 * }]);
 * assert.equal(standaloneModuleHint(error)?.startsWith("Note: "), true);
 * ```
 */
export function standaloneModuleHint(error: ConfigError): string | undefined {
  const concernsModule = error.problems.some((problem) =>
    problem.path[0] === "actors" &&
    (problem.path[2] === "module" ||
      problem.message.includes("same copy of Compysition"))
  );
  if (!concernsModule) return undefined;
  return [
    "Note: this is the standalone executable. It loads a module: file from disk",
    "(JavaScript or TypeScript), but such a module can import only what is built",
    'in: the library as "@compysition/compysition" (not a path to another copy),',
    'the packages Compysition itself uses ("zod", "yaml", "jsonata",',
    '"@logtape/logtape", "@nats-io/..."), and files beside it. A module given by',
    "URL cannot be loaded: download it and give its path, or run the script",
    '("deno run ... cli.ts run FILE"), which can load anything Deno can.',
  ].join("\n");
}
