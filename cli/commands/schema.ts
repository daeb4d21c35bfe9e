/**
 * `compysition schema`: the JSON Schema of bootstrap files.
 *
 * @module
 */

import { BUILTIN_ACTORS } from "../../actors/mod.ts";
import { Registry } from "../../core/registry.ts";
import { bootstrapSchema } from "../../core/schema.ts";
import { parse, UsageError } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { out } from "../output.ts";

/** `schema`: prints the JSON Schema of bootstrap files. */
export const schemaCommand: Command = {
  summary: "Print the JSON Schema of bootstrap files",
  help: `Usage: ${NAME} schema

Prints the JSON Schema (draft 2020-12) of bootstrap files, made from every
actor type's options, so that editors complete and check them. With the YAML
language server, start a bootstrap file with:

  # yaml-language-server: $schema=PATH/TO/bootstrap.schema.json
`,
  main,
};

function main(args: string[]): number {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  const schema = bootstrapSchema(new Registry(BUILTIN_ACTORS));
  out(JSON.stringify(schema, null, 2) + "\n");
  return EXIT_CODES.ok;
}
