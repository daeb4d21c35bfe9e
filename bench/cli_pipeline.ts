/**
 * The pipeline run by the CLI, as a user runs it: `cli.ts run` on a
 * bootstrap file with a generator of `--events` events, three `header`
 * stages and a `null` output. The rate is taken between two runs, one of
 * `--events` and one of a single event, so that the start-up of Deno and of
 * the CLI (loading the file, checking it) is left out:
 * `(events - 1) / (time of the long run - time of the short one)`. Prints
 * one JSON result line; asserts nothing about time.
 *
 *   deno run --allow-all bench/cli_pipeline.ts --events 5000000
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { countOption, report } from "./measure.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "5000000" },
    cli: {
      type: "string",
      default: new URL("../cli.ts", import.meta.url).pathname,
    },
  },
});
const events = countOption("events", values.events!, 1);

/** The bootstrap file of a run of `count` events. */
function bootstrap(count: number): string {
  return `actors:
  input:
    type: generator
    options: { interval: 0, count: ${count}, data: "x" }
  one:
    type: header
    options: { set: { "tag.one": 1 } }
  two:
    type: header
    options: { set: { "tag.two": 2 } }
  three:
    type: header
    options: { set: { "tag.three": 3 } }
  sink:
    type: "null"
connections:
  - input.outbox -> one.inbox
  - one.outbox -> two.inbox
  - two.outbox -> three.inbox
  - three.outbox -> sink.inbox
`;
}

/**
 * Runs the CLI on a file of `count` events; returns its wall time and CPU
 * time (user and system, from the shell's `times`) in s.
 */
async function timed(dir: string, count: number): Promise<[number, number]> {
  const path = join(dir, `run_${count}.yaml`);
  await Deno.writeTextFile(path, bootstrap(count));
  const started = performance.now();
  // The CLI's stderr (its report) to our stdout, then the shell's `times`.
  const output = await new Deno.Command("sh", {
    args: [
      "-c",
      '"$0" run --allow-all "$1" run "$2" 2>&1 >/dev/null; times',
      Deno.execPath(),
      values.cli!,
      path,
    ],
    stdin: "null",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const said = new TextDecoder().decode(output.stdout);
  if (!output.success || !said.includes(`${count} delivered`)) {
    throw new Error(`The CLI run of ${count} events failed:\n${said}`);
  }
  // `times`: the shell's user and system time, then its children's.
  const times = [...said.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1)!;
  const cpu = Number(times[1]) * 60 + Number(times[2]) +
    Number(times[3]) * 60 + Number(times[4]);
  return [seconds, cpu];
}

const dir = await Deno.makeTempDir({ prefix: "compysition_cli_bench_" });
try {
  const [short, shortCpu] = await timed(dir, 1);
  const [long, longCpu] = await timed(dir, events);
  const seconds = long - short;
  report({
    scenario: "cli: generator -> 3 header -> null",
    events,
    seconds,
    events_per_second: (events - 1) / seconds,
    events_per_cpu_second: (events - 1) / (longCpu - shortCpu),
    startup_seconds: short,
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
