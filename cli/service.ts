/**
 * The systemd unit printed by `compysition service FILE`: it runs the
 * pipeline of FILE as a permanent service.
 *
 * @module
 */

import { basename, dirname, extname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isStandalone } from "./standalone.ts";

/** What {@link systemdUnit} makes a unit of. */
export interface ServiceOptions {
  /** The bootstrap file (made absolute). */
  file: string;
  /**
   * The program and the arguments before `run` that start the command, e.g.
   * `["/usr/local/bin/compysition"]`; the program must be an absolute path.
   */
  command: readonly string[];
  /** Longest wait for the queues to drain on stop, in seconds. */
  drainTimeoutSeconds: number;
  /** The user the service runs as (default: root, systemd's default). */
  user?: string;
}

/** Seconds systemd waits past the drain timeout before it kills. */
export const STOP_MARGIN_SECONDS = 15;

/** The permissions the service gets when it runs the script with `deno`. */
export const SERVICE_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
];

/**
 * Whether `name` can be written as the unit's `User=`: letters, digits and
 * `_.@-`, not starting with `.`, `@` or `-`, with an optional final `$`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isUserName } from "./service.ts";
 * assert.equal(isUserName("compysition"), true);
 * assert.equal(isUserName("bad user"), false);
 * ```
 */
export function isUserName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/.test(name);
}

/**
 * The command that runs this very program: the executable itself when it is
 * the standalone executable, else `deno run` with the service's permissions
 * and this copy's deno.json on this copy's cli.ts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thisCommand } from "./service.ts";
 * assert.ok(thisCommand()[0] === Deno.execPath());
 * ```
 */
export function thisCommand(): string[] {
  if (isStandalone()) return [Deno.execPath()];
  const cli = new URL("../cli.ts", import.meta.url);
  if (cli.protocol !== "file:") {
    return [Deno.execPath(), "run", ...SERVICE_PERMISSIONS, cli.href];
  }
  return [
    Deno.execPath(),
    "run",
    ...SERVICE_PERMISSIONS,
    "--config",
    fileURLToPath(new URL("../deno.json", import.meta.url)),
    fileURLToPath(cli),
  ];
}

/**
 * The unit's name: `compysition-` and the file's name without its extension,
 * reduced to the characters systemd allows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitName } from "./service.ts";
 * assert.equal(unitName("/srv/pipelines/orders in.yaml"), "compysition-orders-in");
 * ```
 */
export function unitName(file: string): string {
  const stem = basename(file, extname(file)).replace(/[^A-Za-z0-9:_.-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return `compysition-${stem === "" ? "pipeline" : stem}`;
}

/**
 * The text of a systemd service unit that runs `options.file`:
 * `ExecStart` runs it in the foreground, `ExecReload` sends it SIGHUP (which
 * reloads the pipeline from its file and reopens output files),
 * `Restart=on-failure` starts it again when it fails (not after a usage
 * error), `KillSignal=SIGTERM` stops it by draining, `TimeoutStopSec` waits {@link STOP_MARGIN_SECONDS} longer than the
 * drain timeout before killing it, and its output goes to the journal.
 * Throws a `TypeError` for a relative program or a value that cannot be
 * written in a unit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemdUnit } from "./service.ts";
 * const unit = systemdUnit({
 *   file: "/srv/orders.yaml",
 *   command: ["/usr/local/bin/compysition"],
 *   drainTimeoutSeconds: 30,
 *   user: "compysition",
 * });
 * assert.equal(unit.includes("\nExecStart=/usr/local/bin/compysition run /srv/orders.yaml --drain-timeout 30 --status never\n"), true);
 * assert.equal(unit.includes("\nTimeoutStopSec=45\n"), true);
 * assert.equal(unit.includes("\nExecReload=/bin/kill -HUP $MAINPID\n"), true);
 * ```
 */
export function systemdUnit(options: ServiceOptions): string {
  const file = resolve(options.file);
  const [program] = options.command;
  if (program === undefined || !isAbsolute(program)) {
    throw new TypeError(
      `The program of a service must be an absolute path, not "${
        program ?? ""
      }"`,
    );
  }
  if (options.user !== undefined && !isUserName(options.user)) {
    throw new TypeError(`"${options.user}" is not a valid user name`);
  }
  const drain = options.drainTimeoutSeconds;
  const name = unitName(file);
  const exec = [
    ...options.command,
    "run",
    file,
    "--drain-timeout",
    String(drain),
    "--status",
    "never",
  ];
  const stopTimeout = Math.ceil(drain) + STOP_MARGIN_SECONDS;
  const lines = [
    `# ${name}.service: runs the Compysition pipeline ${file}`,
    '# Made by "compysition service". Install and start it with:',
    `#   sudo cp ${name}.service /etc/systemd/system/`,
    "#   sudo systemctl daemon-reload",
    `#   sudo systemctl enable --now ${name}`,
    `# "systemctl stop ${name}" sends SIGTERM: the pipeline drains its queues`,
    `# (up to ${drain} s) and exits 0, or 3 when the drain timed out and queued`,
    '# events were lost. "systemctl reload" sends SIGHUP: the pipeline is',
    "# reloaded from the file without stopping (or runs on unchanged when the",
    "# file is invalid or its new actors fail to start: see the journal), and",
    `# output files are reopened. "systemctl restart ${name}" drains, stops`,
    "# and starts again with the file as it is now.",
    `# Logs and the stop report: journalctl -u ${name}`,
    "",
    "[Unit]",
    `Description=Compysition pipeline ${unitValue(basename(file))}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${exec.map(execArgument).join(" ")}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    `WorkingDirectory=${unitValue(dirname(file))}`,
    ...(options.user === undefined ? [] : [`User=${options.user}`]),
    "Restart=on-failure",
    "RestartSec=5",
    "RestartPreventExitStatus=2",
    "KillSignal=SIGTERM",
    "KillMode=mixed",
    `TimeoutStopSec=${stopTimeout}`,
    "StandardOutput=journal",
    "StandardError=journal",
    `SyslogIdentifier=${name}`,
    "Environment=NO_COLOR=1",
    "NoNewPrivileges=yes",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return lines.join("\n") + "\n";
}

/** `text` with `%` written as `%%` (systemd's specifiers); no newlines. */
function unitValue(text: string): string {
  if (/[\n\r]/.test(text)) {
    throw new TypeError(
      `A systemd unit cannot hold a line break, as in "${text}"`,
    );
  }
  return text.replace(/%/g, "%%");
}

/** One word of `ExecStart`, quoted when it has to be. */
function execArgument(word: string): string {
  const escaped = unitValue(word).replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/[\\"]/g, "\\$&")}"`;
}
