/**
 * `compysition plan OLD NEW`: what a reload from one bootstrap file to
 * another would do, without changing anything.
 *
 * @module
 */

import { planReload } from "../../core/config/mod.ts";
import { parse, UsageError } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { checkFile, out } from "../output.ts";
import { formatPlan } from "../plan_text.ts";

/** `plan`: prints what a reload from one file to another would do. */
export const planCommand: Command = {
  summary: "Print what a reload from one bootstrap file to another would do",
  help: `Usage: ${NAME} plan OLD NEW [--json] [--detailed-exitcode]

Loads and checks the bootstrap files OLD and NEW as "validate" does (\${VAR}
read from this environment), starts nothing, and prints what a reload of a
pipeline running OLD to NEW would do, one line per actor:

  = keep     same type, options and settings: it would run on untouched
  ~ replace  its type, module, options, capacity, when_full or retry change:
             it would be drained and made again; the fields that change are
             listed (old -> new), with its connections, and for an input
             listening on the same address in both, that its socket can be
             kept
  + add      an actor of NEW only
  - remove   an actor of OLD only

then the connections added (+) and removed (-), the connections whose queue
settings change (~ queue), the changes of "logs:" and "metrics:", the queues
"expose:" adds (+) and removes (-), and a summary such as "Plan: 1 to add,
2 to replace, 0 to remove, 5 unchanged.";
or that nothing changes. Options whose name says they hold a secret (token,
password, key...) and passwords in URLs show as (secret). A "module:" actor
is compared by its "module:" as written, not by the module's code.

Options:
  --json               Print the plan as JSON: "actors" (keep, replace, add,
                       remove), "connections" (keep, add, remove), "queues",
                       "logs", "metrics" and "expose" when they change,
                       "changed"
  --detailed-exitcode  Exit with 4 when something changes, 0 when nothing
                       does (as "terraform plan -detailed-exitcode", whose 2
                       is a usage error here)
  -h, --help           Show this help

Exit codes:
  0  the plan is printed (with --detailed-exitcode: and nothing changes)
  1  OLD or NEW is invalid: each problem is printed as FILE:LINE:COL: message
  2  usage error
  4  with --detailed-exitcode: something changes
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: "boolean" },
    "detailed-exitcode": { type: "boolean" },
  });
  if (positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2
        ? `missing ${positionals.length === 0 ? "OLD and NEW" : "NEW"}`
        : `expected OLD and NEW, got ${positionals.length} files`,
    );
  }
  const [before, after] = [
    await checkFile(positionals[0]!),
    await checkFile(positionals[1]!),
  ];
  if (before === undefined || after === undefined) return EXIT_CODES.invalid;
  const plan = planReload(before, after);
  out(
    values.json === true
      ? JSON.stringify(plan, null, 2) + "\n"
      : formatPlan(plan),
  );
  return values["detailed-exitcode"] === true && plan.changed
    ? EXIT_CODES.changes
    : EXIT_CODES.ok;
}
