/**
 * Reading the command line's arguments: options, positionals, and the
 * values they take, each mistake a {@link UsageError} (exit code 2).
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { AdminTarget } from "../admin/client.ts";
import { DEFAULT_ADMIN_PORT } from "../admin/server.ts";
import { errorMessage } from "../core/actor.ts";
import { clientAdminToken } from "./admin_options.ts";
import { didYouMean, quoteList } from "../core/errors.ts";
import { LOG_LEVELS, type LogLevel } from "../core/log.ts";

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses `args` with `options` (strict, positionals allowed); an unknown or
 * incomplete option is a {@link UsageError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parse } from "./args.ts";
 * const { values, positionals } = parse(["a.yaml", "--json"], {
 *   json: { type: "boolean" },
 * });
 * assert.deepEqual([values.json, positionals], [true, ["a.yaml"]]);
 * ```
 */
export function parse<T extends ParseArgsOptionsConfig>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(errorMessage(error).split(/\.\s/)[0]!);
  }
}

/**
 * The one positional argument, called `name` in messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onePositional } from "./args.ts";
 * assert.equal(onePositional(["a.yaml"], "FILE"), "a.yaml");
 * ```
 */
export function onePositional(positionals: string[], name: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${name}`);
  if (positionals.length > 1) {
    throw new UsageError(
      `expected one ${name}, got ${positionals.length}: ${
        positionals.map((p) => `"${p}"`).join(" ")
      }`,
    );
  }
  return positionals[0]!;
}

/**
 * `value` of `option` when it is one of `choices`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { choice } from "./args.ts";
 * assert.equal(choice("dot", "--format", ["dot", "mermaid"]), "dot");
 * ```
 */
export function choice<T extends string>(
  value: string,
  option: string,
  choices: readonly T[],
): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(
    `${option} must be one of ${quoteList(choices)}, not "${value}"${
      didYouMean(value, choices)
    }`,
  );
}

/**
 * A number of seconds (0 or more) given to `option`, in milliseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seconds } from "./args.ts";
 * assert.equal(seconds("1.5", "--interval"), 1500);
 * ```
 */
export function seconds(value: string, option: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    throw new UsageError(
      `${option} must be a number of seconds (0 or more), not "${value}"`,
    );
  }
  return number * 1000;
}

/**
 * A whole number of at least 1 given to `option`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wholeNumber } from "./args.ts";
 * assert.equal(wholeNumber("20", "--limit"), 20);
 * ```
 */
export function wholeNumber(value: string, option: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) {
    throw new UsageError(
      `${option} must be a whole number of at least 1, not "${value}"`,
    );
  }
  return number;
}

/**
 * The log level given to `--log-level` (`warn` is taken for `warning`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { level } from "./args.ts";
 * assert.equal(level("warn"), "warning");
 * ```
 */
export function level(value: string): LogLevel {
  return choice(
    value === "warn" ? "warning" : value,
    "--log-level",
    LOG_LEVELS,
  );
}

/**
 * The admin server that `--admin URL` and `--admin-token TOKEN` name
 * (default: this machine's default admin port).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adminTarget } from "./args.ts";
 * const signal = new AbortController().signal;
 * assert.equal(adminTarget({ admin: "127.0.0.1:9000" }, signal).url, "http://127.0.0.1:9000");
 * ```
 */
export function adminTarget(
  values: { admin?: string; "admin-token"?: string },
  signal: AbortSignal,
): AdminTarget {
  let url = values.admin ?? `http://127.0.0.1:${DEFAULT_ADMIN_PORT}`;
  if (!url.includes("://")) url = `http://${url}`;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--admin must be a URL, not "${values.admin}"`);
  }
  const token = clientAdminToken(values);
  return { url, signal, ...(token === undefined ? {} : { token }) };
}
