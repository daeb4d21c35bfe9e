/**
 * The admin options of `compysition run`: where to serve the admin API, its
 * token (from a flag, a file or the environment), the host names it answers
 * to, and the explicit flag that serves it unprotected on the network.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { allowedHostProblem, isLoopback } from "../admin/hosts.ts";
import { parseListenAddress } from "../admin/server.ts";
import { ServerTlsSchema } from "../core/tls.ts";

/** The `--admin-tls-*` flags by the `tls:` option they set. */
const ADMIN_TLS_FLAGS = {
  cert: "admin-tls-cert",
  key: "admin-tls-key",
  ca: "admin-tls-ca",
  client_auth: "admin-tls-client-auth",
} as const;

/**
 * The TLS settings of `--admin-tls-*`, read and checked, or `undefined`
 * without them; throws an {@link AdminOptionError} naming the flag at fault.
 */
function adminTls(values: AdminRunValues): ServerTlsSchema | undefined {
  const given = Object.fromEntries(
    Object.entries(ADMIN_TLS_FLAGS).flatMap(([option, flag]) =>
      values[flag] === undefined ? [] : [[option, values[flag]]]
    ),
  );
  if (Object.keys(given).length === 0) return undefined;
  const parsed = ServerTlsSchema.safeParse(given);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const option = String(
    issue.path[0] ?? "cert",
  ) as keyof typeof ADMIN_TLS_FLAGS;
  const flag = ADMIN_TLS_FLAGS[option] ?? "admin-tls-cert";
  throw new AdminOptionError(
    issue.code === "invalid_type" && given[option] === undefined
      ? `--${flag} is needed with the other --admin-tls-* options`
      : `--${flag}: ${issue.message}`,
    false,
  );
}

/** The environment variable `run` and `top`/`tap` read the admin token from. */
export const ADMIN_TOKEN_ENV = "COMPYSITION_ADMIN_TOKEN";

/** The admin options of `run`, for `parseArgs`. */
export const ADMIN_RUN_OPTIONS = {
  admin: { type: "string" },
  "admin-token": { type: "string" },
  "admin-token-file": { type: "string" },
  "admin-allow-host": { type: "string", multiple: true },
  "admin-insecure": { type: "boolean" },
  "admin-tls-cert": { type: "string" },
  "admin-tls-key": { type: "string" },
  "admin-tls-ca": { type: "string" },
  "admin-tls-client-auth": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** Their lines in the help of `run`. */
export const ADMIN_RUN_HELP =
  `  --admin [HOST:]PORT      Serve the admin API and dashboard there (off by
                           default; the host defaults to 127.0.0.1): /health,
                           /ready, /metrics, /api/pipeline, /api/tap,
                           /api/reload (POST), /api/reloads and /
  --admin-token-file PATH  Require the bearer token in PATH (its trailing
                           newline left out) on every admin route but
                           /health; or set it in ${ADMIN_TOKEN_ENV}
  --admin-token TOKEN      The same with the token itself, which every user
                           of the machine can read in the process list (ps)
  --admin-allow-host NAME  Answer to NAME or NAME:PORT as the Host of a
                           request too, e.g. behind a reverse proxy
                           (repeatable); by default the admin API answers
                           only to its own address and localhost, 127.0.0.1
                           and [::1]
  --admin-insecure         Serve it on an address other than a loopback one
                           without a token (refused otherwise)
  --admin-tls-cert PATH    Serve it with HTTPS: the PEM certificate (then its
                           intermediates); needs --admin-tls-key PATH, its
                           key. Both are read again on SIGHUP
  --admin-tls-ca PATH      The CAs client certificates must chain to
  --admin-tls-client-auth WHEN
                           none (default), request or require: ask clients
                           for a certificate (mutual TLS)
`;

/** The values `parseArgs` gives for {@link ADMIN_RUN_OPTIONS}. */
export interface AdminRunValues {
  admin?: string;
  "admin-token"?: string;
  "admin-token-file"?: string;
  "admin-allow-host"?: string[];
  "admin-insecure"?: boolean;
  "admin-tls-cert"?: string;
  "admin-tls-key"?: string;
  "admin-tls-ca"?: string;
  "admin-tls-client-auth"?: string;
}

/** What `run` gives the `AdminServer` besides the router. */
export interface AdminRunSettings {
  hostname: string;
  port: number;
  token?: string;
  allowedHosts: string[];
  insecure: boolean;
  /** Serve HTTPS with these files (`--admin-tls-*`), checked. */
  tls?: ServerTlsSchema;
}

/**
 * Why the admin options cannot be used: a usage error (`usage`, exit 2) or
 * a token that cannot be read (exit 1).
 */
export class AdminOptionError extends Error {
  override name = "AdminOptionError";
  /** Whether the options themselves are wrong (a usage error). */
  readonly usage: boolean;

  /** A problem with the admin options, saying which. */
  constructor(message: string, usage: boolean) {
    super(message);
    this.usage = usage;
  }
}

/**
 * The settings of the admin server that `values` ask for, or `undefined`
 * without `--admin`. The token comes from `--admin-token`,
 * `--admin-token-file` or the environment variable {@link ADMIN_TOKEN_ENV},
 * in that order. Throws an {@link AdminOptionError} saying what is wrong,
 * e.g. a non-loopback address without a token or `--admin-insecure`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adminRunSettings } from "./admin_options.ts";
 * assert.deepEqual(
 *   adminRunSettings({ admin: "9630" }, () => undefined),
 *   { hostname: "127.0.0.1", port: 9630, allowedHosts: [], insecure: false },
 * );
 * assert.equal(adminRunSettings({}, () => undefined), undefined);
 * ```
 */
export function adminRunSettings(
  values: AdminRunValues,
  env: (name: string) => string | undefined = readEnv,
): AdminRunSettings | undefined {
  if (values.admin === undefined) {
    for (const option of Object.keys(ADMIN_RUN_OPTIONS)) {
      if (option !== "admin" && option in values) {
        throw new AdminOptionError(`--${option} needs --admin`, true);
      }
    }
    return undefined;
  }
  let address;
  try {
    address = parseListenAddress(values.admin);
  } catch (error) {
    throw new AdminOptionError(`--admin: ${(error as Error).message}`, true);
  }
  const allowedHosts = values["admin-allow-host"] ?? [];
  for (const entry of allowedHosts) {
    const problem = allowedHostProblem(entry);
    if (problem !== undefined) {
      throw new AdminOptionError(`--admin-allow-host: ${problem}`, true);
    }
  }
  const token = adminToken(values, env);
  const insecure = values["admin-insecure"] ?? false;
  if (token === undefined && !insecure && !isLoopback(address.hostname)) {
    throw new AdminOptionError(
      `--admin "${values.admin}" is not a loopback address: refusing to serve the admin API there without a token, as anyone who can reach it could read the pipeline's events. Give one with --admin-token-file PATH or ${ADMIN_TOKEN_ENV} (or --admin-token TOKEN, visible in ps), or add --admin-insecure to serve it anyway`,
      true,
    );
  }
  const tls = adminTls(values);
  return {
    ...address,
    ...(token === undefined ? {} : { token }),
    allowedHosts,
    insecure,
    ...(tls === undefined ? {} : { tls }),
  };
}

/**
 * The admin token of `top` and `tap`: `--admin-token`, else the environment
 * variable {@link ADMIN_TOKEN_ENV} when it is set and not empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientAdminToken } from "./admin_options.ts";
 * assert.equal(clientAdminToken({}, () => "s3cret"), "s3cret");
 * assert.equal(clientAdminToken({ "admin-token": "t" }, () => "s3cret"), "t");
 * ```
 */
export function clientAdminToken(
  values: { "admin-token"?: string },
  env: (name: string) => string | undefined = readEnv,
): string | undefined {
  const token = values["admin-token"] ?? env(ADMIN_TOKEN_ENV);
  return token === "" ? undefined : token;
}

/** The token of `run`'s options, or `undefined` when none is given. */
function adminToken(
  values: AdminRunValues,
  env: (name: string) => string | undefined,
): string | undefined {
  const flag = values["admin-token"];
  const path = values["admin-token-file"];
  if (flag !== undefined && path !== undefined) {
    throw new AdminOptionError(
      "give --admin-token or --admin-token-file, not both",
      true,
    );
  }
  if (flag !== undefined) {
    if (flag === "") throw new AdminOptionError("--admin-token is empty", true);
    return flag;
  }
  if (path !== undefined) return tokenFile(path);
  const fromEnv = env(ADMIN_TOKEN_ENV);
  if (fromEnv === "") {
    throw new AdminOptionError(
      `The environment variable ${ADMIN_TOKEN_ENV} is set but empty: set it to the admin token, or unset it`,
      false,
    );
  }
  return fromEnv;
}

/** The token in the file at `path`, without its trailing line breaks. */
function tokenFile(path: string): string {
  let text;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new AdminOptionError(
      `Cannot read the admin token from "${path}" (--admin-token-file): ${
        (error as Error).message
      }`,
      false,
    );
  }
  const token = text.replace(/[\r\n]+$/, "");
  if (token.trim() === "") {
    throw new AdminOptionError(
      `The admin token file "${path}" (--admin-token-file) is empty`,
      false,
    );
  }
  return token;
}

/** An environment variable, `undefined` when unset or not permitted. */
function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}
