/**
 * `compysition tap QUEUE`: a sample of the events passing a queue of a
 * running pipeline, as ndjson.
 *
 * @module
 */

import { AdminError, plural, tapEvents } from "../../admin/client.ts";
import { DEFAULT_ADMIN_PORT } from "../../admin/server.ts";
import { adminTarget, onePositional, parse, wholeNumber } from "../args.ts";
import { ADMIN_TOKEN_ENV } from "../admin_options.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { err, out } from "../output.ts";
import { abortOnSignal } from "../signals.ts";

/** `tap`: prints a sample of the events passing a queue as ndjson. */
export const tapCommand: Command = {
  summary: "Print a sample of the events passing a queue as ndjson",
  help: `Usage: ${NAME} tap QUEUE [--limit N] [--rate N] [--admin URL]
                             [--admin-token TOKEN]

Prints a sample of the events passing QUEUE ("a.outbox" or "b.inbox") of a
pipeline started with "run --admin", one JSON object {"header", "data"} per
line, until --limit events or Ctrl+C. Events the tap could not keep up with
are dropped, never slowing the pipeline; their count is told on stderr.

Options:
  --limit N            Stop after N events
  --rate N             Most events per second (default 100)
  --admin URL          The admin server (default http://127.0.0.1:${DEFAULT_ADMIN_PORT})
  --admin-token TOKEN  Its bearer token, when it requires one (default:
                       \$${ADMIN_TOKEN_ENV}, which ps does not show)
  -h, --help           Show this help

Exit codes: 0 ok, 1 the admin server cannot be reached or refused (an
unknown queue, say), 2 usage error.
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    admin: { type: "string" },
    "admin-token": { type: "string" },
    limit: { type: "string" },
    rate: { type: "string" },
  });
  const queue = onePositional(positionals, "QUEUE");
  const limit = values.limit === undefined
    ? undefined
    : wholeNumber(values.limit, "--limit");
  const rate = values.rate === undefined
    ? undefined
    : wholeNumber(values.rate, "--rate");
  using stop = abortOnSignal();
  const target = adminTarget(values, stop.signal);
  let dropped = 0;
  try {
    for await (
      const json of tapEvents(target, queue, {
        ...(limit === undefined ? {} : { limit }),
        ...(rate === undefined ? {} : { rate }),
        onDropped: (total) => dropped = total,
      })
    ) {
      out(`${json}\n`);
    }
  } catch (error) {
    if (!stop.signal.aborted) {
      if (!(error instanceof AdminError)) throw error;
      err(`${error.message}\n`);
      return EXIT_CODES.invalid;
    }
  }
  if (dropped > 0) {
    err(`${plural(dropped, "event")} dropped: the tap could not keep up\n`);
  }
  return EXIT_CODES.ok;
}
