#!/usr/bin/env -S deno run --allow-all
/**
 * The `compysition` command: runs, checks, draws and documents pipelines
 * described by YAML bootstrap files. This is the entry: it parses the command
 * line and dispatches to `cli/commands/<name>.ts`; it is the only module that
 * exits.
 *
 * ```sh
 * deno task cli run examples/hello.yaml
 * deno task cli validate examples/*.yaml
 * deno task cli graph examples/hello.yaml --format mermaid
 * deno task cli actors show generator
 * ```
 *
 * Exit codes: 0 ok; 1 invalid input (a bad bootstrap file, an unknown actor
 * type, an actor that failed to set up); 2 usage error; 3 `run` stopped but
 * the drain timed out, so events still queued were lost; 4 `plan
 * --detailed-exitcode` found changes; 130 (SIGINT) or 143 (SIGTERM) `run`
 * exited at once on a second signal, without draining.
 *
 * @module
 */

import { didYouMean } from "./core/errors.ts";
import { UsageError } from "./cli/args.ts";
import { type Command, EXIT_CODES, NAME } from "./cli/command.ts";
import { actorsCommand } from "./cli/commands/actors.ts";
import { graphCommand } from "./cli/commands/graph.ts";
import { planCommand } from "./cli/commands/plan.ts";
import { runCommand } from "./cli/commands/run.ts";
import { schemaCommand } from "./cli/commands/schema.ts";
import { serviceCommand } from "./cli/commands/service.ts";
import { tapCommand } from "./cli/commands/tap.ts";
import { topCommand } from "./cli/commands/top.ts";
import { validateCommand } from "./cli/commands/validate.ts";
import { versionCommand } from "./cli/commands/version.ts";
import { err, out } from "./cli/output.ts";

export { EXIT_CODES } from "./cli/command.ts";

const COMMANDS: Record<string, Command> = {
  run: runCommand,
  validate: validateCommand,
  plan: planCommand,
  graph: graphCommand,
  actors: actorsCommand,
  schema: schemaCommand,
  top: topCommand,
  tap: tapCommand,
  service: serviceCommand,
  version: versionCommand,
};

const OVERVIEW =
  `${NAME}: run event-processing pipelines of actors from YAML bootstrap files

Usage: ${NAME} COMMAND [options]

Commands:
${
    Object.entries(COMMANDS).map(([name, command]) =>
      `  ${name.padEnd(10)} ${command.summary}`
    ).join("\n")
  }

Run "${NAME} COMMAND --help" for the options of a command.

Exit codes: 0 ok, 1 invalid input, 2 usage error; "run" also uses 3 (drain
timed out) and 130/143 (exited at once on a second SIGINT/SIGTERM), "plan
--detailed-exitcode" 4 (something changes).
`;

/**
 * Runs the command line `args` (without the program name); resolves to the
 * exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./cli.ts";
 * assert.equal(await main(["validate", "examples/hello.yaml"]), 0);
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined) {
    err(OVERVIEW);
    return EXIT_CODES.usage;
  }
  if (name === "-h" || name === "--help" || name === "help") {
    const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    out(topic?.help ?? OVERVIEW);
    return EXIT_CODES.ok;
  }
  if (name === "-V" || name === "--version") {
    return await COMMANDS.version!.main([], Deno.exit);
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    err(
      `${NAME}: unknown command "${name}"${
        didYouMean(name, Object.keys(COMMANDS))
      }\nRun "${NAME} --help" for the list of commands.\n`,
    );
    return EXIT_CODES.usage;
  }
  const end = rest.indexOf("--");
  const options = end < 0 ? rest : rest.slice(0, end);
  if (options.includes("--help") || options.includes("-h")) {
    out(command.help);
    return EXIT_CODES.ok;
  }
  try {
    return await command.main(rest, Deno.exit);
  } catch (error) {
    if (error instanceof UsageError) {
      err(
        `${NAME} ${name}: ${error.message}\nRun "${NAME} ${name} --help" for usage.\n`,
      );
      return EXIT_CODES.usage;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
