/**
 * `compysition top`: a running pipeline's actors and queues, refreshed.
 *
 * @module
 */

import { AdminError, fetchPipeline, formatTop } from "../../admin/client.ts";
import { DEFAULT_ADMIN_PORT } from "../../admin/server.ts";
import { sleep } from "../../core/actor.ts";
import { adminTarget, parse, seconds, UsageError } from "../args.ts";
import { ADMIN_TOKEN_ENV } from "../admin_options.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { err, out } from "../output.ts";
import { abortOnSignal } from "../signals.ts";

/** `top`: shows a running pipeline's actors and queues, refreshed. */
export const topCommand: Command = {
  summary: "Show a running pipeline's actors and queues, refreshed",
  help: `Usage: ${NAME} top [--admin URL] [--admin-token TOKEN]
                       [--interval SECONDS] [--once]

Shows the actors (state, events in and out per second, totals) and the
queues (fill bar, depth/capacity, events per second, drops) of a pipeline
started with "run --admin", read from its admin API, refreshed every
--interval seconds until Ctrl+C.

Options:
  --admin URL          The admin server (default http://127.0.0.1:${DEFAULT_ADMIN_PORT})
  --admin-token TOKEN  Its bearer token, when it requires one (default:
                       \$${ADMIN_TOKEN_ENV}, which ps does not show)
  --interval SECONDS   Seconds between two refreshes (default 1)
  --once               Print one table and exit
  -h, --help           Show this help

Exit codes: 0 ok, 1 the admin server cannot be reached or refused, 2 usage
error.
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    admin: { type: "string" },
    "admin-token": { type: "string" },
    interval: { type: "string" },
    once: { type: "boolean" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  const intervalMs = seconds(values.interval ?? "1", "--interval");
  using stop = abortOnSignal();
  const target = adminTarget(values, stop.signal);
  const onTerminal = Deno.stdout.isTerminal();
  try {
    do {
      const view = await fetchPipeline(target);
      const width = onTerminal ? Deno.consoleSize().columns : 200;
      const text = formatTop(view, width);
      out(onTerminal && values.once !== true ? `\x1b[H\x1b[2J${text}` : text);
    } while (values.once !== true && await sleep(intervalMs, stop.signal));
    return EXIT_CODES.ok;
  } catch (error) {
    if (stop.signal.aborted) return EXIT_CODES.ok;
    if (!(error instanceof AdminError)) throw error;
    err(`${error.message}\n`);
    return EXIT_CODES.invalid;
  }
}
