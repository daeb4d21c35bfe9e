/**
 * `compysition version`: the package name and version.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { out } from "../output.ts";

/** `version`: prints the name and version. */
export const versionCommand: Command = {
  summary: "Print the name and version",
  help: `Usage: ${NAME} version\n\nPrints the package name and version.\n`,
  main: () => {
    out(`${denoJson.name} ${denoJson.version}\n`);
    return EXIT_CODES.ok;
  },
};
