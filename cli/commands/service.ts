/**
 * `compysition service FILE`: a systemd unit that runs a pipeline as a
 * service.
 *
 * @module
 */

import { resolve } from "node:path";
import { onePositional, parse, seconds, UsageError } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { checkFile, err, out, runsAlone } from "../output.ts";
import { isUserName, systemdUnit, thisCommand, unitName } from "../service.ts";

/** `service`: prints a systemd unit that runs a pipeline as a service. */
export const serviceCommand: Command = {
  summary: "Print a systemd unit that runs a pipeline as a service",
  help: `Usage: ${NAME} service FILE [--user USER] [--binary PATH]
                           [--drain-timeout SECONDS]

Checks FILE as "validate" does, then prints a systemd service unit that runs
"${NAME} run FILE" in the foreground: started again on failure (not after a
usage error), stopped by SIGTERM, which drains the queues, and killed only
TimeoutStopSec (the drain timeout plus 15 s) later; its output and stop
report go to the journal. "systemctl reload" sends SIGHUP (ExecReload):
the pipeline is reloaded from FILE without stopping (see "${NAME} run
--help"; the outcome is in the journal), and files are reopened;
"systemctl restart" drains, stops and starts it with the file as it is then.

  ${NAME} service pipeline.yaml --user compysition \\
    | sudo tee /etc/systemd/system/compysition-pipeline.service
  sudo systemctl daemon-reload
  sudo systemctl enable --now compysition-pipeline

Options:
  --user USER              Run the service as USER (default root)
  --binary PATH            The compysition executable the unit starts
                           (default: this executable, or "deno run" on this
                           copy of cli.ts when run as a script)
  --drain-timeout SECONDS  Longest wait for the queues to drain on stop
                           (default 30)
  -h, --help               Show this help

Exit codes: 0 ok, 1 FILE is invalid, 2 usage error.
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    user: { type: "string" },
    binary: { type: "string" },
    "drain-timeout": { type: "string" },
  });
  const file = resolve(onePositional(positionals, "FILE"));
  const drainMs = seconds(values["drain-timeout"] ?? "30", "--drain-timeout");
  const user = values.user;
  if (user !== undefined && !isUserName(user)) {
    throw new UsageError(`--user must be a user name, not "${user}"`);
  }
  const config = await checkFile(file);
  if (config === undefined || !runsAlone(config)) return EXIT_CODES.invalid;
  const command = values.binary === undefined
    ? thisCommand()
    : [resolve(values.binary)];
  let unit: string;
  try {
    unit = systemdUnit({
      file,
      command,
      drainTimeoutSeconds: drainMs / 1000,
      ...(user === undefined ? {} : { user }),
    });
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new UsageError(error.message);
  }
  out(unit);
  if (Deno.stdout.isTerminal()) {
    err(
      `Save it as /etc/systemd/system/${
        unitName(file)
      }.service (see the comments at its top).\n`,
    );
  }
  return EXIT_CODES.ok;
}
