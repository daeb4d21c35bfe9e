/**
 * `compysition validate FILE...`: checks bootstrap files without starting
 * anything.
 *
 * @module
 */

import { parse, UsageError } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { checkFile, out } from "../output.ts";

/** `validate`: checks bootstrap files without starting anything. */
export const validateCommand: Command = {
  summary: "Check bootstrap files without starting anything",
  help: `Usage: ${NAME} validate FILE...

Loads each FILE as "run" would (YAML, structure, actor types and options,
modules, connections) without starting anything, and prints "FILE: ok" or
every problem as "FILE:LINE:COL: message".

Exit codes: 0 every file is valid, 1 a file is invalid, 2 usage error.
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError("missing FILE");
  let code: number = EXIT_CODES.ok;
  for (const file of positionals) {
    if (await checkFile(file) === undefined) code = EXIT_CODES.invalid;
    else out(`${file}: ok\n`);
  }
  return code;
}
