#!/usr/bin/env -S deno run --allow-all
/**
 * The `compysition` command: runs, checks, draws and documents pipelines
 * described by YAML bootstrap files. This is the only module that prints or
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
 * the drain timed out, so events still queued were lost; 130 (SIGINT) or 143
 * (SIGTERM) `run` exited at once on a second signal, without draining.
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { stringify as toYaml } from "yaml";
import denoJson from "./deno.json" with { type: "json" };
import { LogHuman } from "./actors/log/log_human.ts";
import { LogJson } from "./actors/log/log_json.ts";
import { BUILTIN_ACTORS } from "./actors/mod.ts";
import { writeAllSync } from "./actors/payload.ts";
import {
  ADMIN_RUN_HELP,
  ADMIN_RUN_OPTIONS,
  ADMIN_TOKEN_ENV,
  AdminOptionError,
  adminRunSettings,
  clientAdminToken,
} from "./cli/admin_options.ts";
import { PidFile, PidFileError } from "./cli/pid_file.ts";
import {
  isUserName,
  systemdUnit,
  thisCommand,
  unitName,
} from "./cli/service.ts";
import { isStandalone, standaloneModuleHint } from "./cli/standalone.ts";
import { errorMessage } from "./core/actor.ts";
import {
  AdminError,
  type AdminTarget,
  count,
  fetchPipeline,
  formatTop,
  perSecond,
  plural,
  table,
  tapEvents,
} from "./admin/client.ts";
import { AdminServer, DEFAULT_ADMIN_PORT } from "./admin/server.ts";
import { type ActorKind, sleep } from "./core/actor.ts";
import { loadPipeline, type PipelineConfig } from "./core/config.ts";
import { ConfigError, didYouMean, quoteList } from "./core/errors.ts";
import { LOG_LEVELS, type LogLevel } from "./core/log.ts";
import type { Queue } from "./core/queue.ts";
import { type ActorSpec, Registry } from "./core/registry.ts";
import { type Router, splitAddress, type StopReport } from "./core/router.ts";
import { bootstrapSchema, describeOptions } from "./core/schema.ts";

/** The exit codes of the command. */
export const EXIT_CODES = {
  /** Done. */
  ok: 0,
  /** Invalid input: a bad bootstrap file, an unknown type, a failed start. */
  invalid: 1,
  /** Usage error: unknown command or option, missing argument. */
  usage: 2,
  /** `run` stopped, but the drain timed out and queued events were lost. */
  timedOut: 3,
  /** `run` exited at once on a second SIGINT. */
  sigint: 130,
  /** `run` exited at once on a second SIGTERM. */
  sigterm: 143,
} as const;

/** One subcommand: its help and what it does. */
interface Command {
  /** One line for the command list. */
  summary: string;
  /** The full `--help` text. */
  help: string;
  /** Runs the command with the arguments after its name; returns the exit code. */
  main(args: string[]): Promise<number> | number;
}

const NAME = "compysition";

const COMMANDS: Record<string, Command> = {
  run: {
    summary: "Run a pipeline until SIGINT/SIGTERM, then drain and stop",
    help: `Usage: ${NAME} run FILE [options]

Runs the pipeline described by FILE in the foreground. On SIGINT (Ctrl+C) or
SIGTERM it stops by draining: inputs stop, every queue empties downstream and
outputs flush; then the stop report is printed on stderr. A second signal
exits at once without draining. A pipeline whose inputs end by themselves
stops the same way when everything has drained.

On a terminal, a status line at the bottom of stderr shows events per second
in (made by inputs) and out (handled by outputs) and the fullest queue.

Options:
  --drain-timeout SECONDS  Longest wait for the queues to drain (default 30)
  --log-level LEVEL        Lowest level logged: ${
      LOG_LEVELS.join(", ")
    } (default info)
  --log-format FORMAT      human or json: how log records are written on
                           stderr when the file has no "logs:" (default human)
  --status WHEN            auto, always or never: the live status line
                           (default auto: only when stderr is a terminal)
${ADMIN_RUN_HELP}  --pid-file PATH          Write the process id to PATH, and remove it on exit;
                           refuse to start while PATH names a running process
                           (a file left by a process that ended is replaced)
  -h, --help               Show this help

Exit codes:
  0    stopped after every queue drained
  1    the file is invalid, an actor failed to set up, the admin API cannot
       be served, or the --pid-file names a running process
  2    usage error
  3    stopped, but the drain timed out: the events still queued were lost
  130  a second SIGINT exited at once without draining (143 for SIGTERM)
`,
    main: runCommand,
  },
  validate: {
    summary: "Check bootstrap files without starting anything",
    help: `Usage: ${NAME} validate FILE...

Loads each FILE as "run" would (YAML, structure, actor types and options,
modules, connections) without starting anything, and prints "FILE: ok" or
every problem as "FILE:LINE:COL: message".

Exit codes: 0 every file is valid, 1 a file is invalid, 2 usage error.
`,
    main: validateCommand,
  },
  graph: {
    summary: "Print a pipeline's topology as Graphviz dot or Mermaid",
    help: `Usage: ${NAME} graph FILE [--format dot|mermaid]

Prints the actors of FILE as nodes and its connections as edges labelled
"outbound queue -> inbound queue".

Options:
  --format FORMAT  dot (Graphviz, the default) or mermaid
  -h, --help       Show this help
`,
    main: graphCommand,
  },
  actors: {
    summary: 'List the actor types; "actors show TYPE" documents one',
    help: `Usage: ${NAME} actors [show TYPE] [--markdown]

  actors             A table of every actor type with its kind and summary
  actors show TYPE   The documentation of TYPE: options with their types and
                     defaults, and an example
  actors --markdown  The reference of every actor type as Markdown
                     (docs/actors.md is made with it)
`,
    main: actorsCommand,
  },
  schema: {
    summary: "Print the JSON Schema of bootstrap files",
    help: `Usage: ${NAME} schema

Prints the JSON Schema (draft 2020-12) of bootstrap files, made from every
actor type's options, so that editors complete and check them. With the YAML
language server, start a bootstrap file with:

  # yaml-language-server: $schema=PATH/TO/bootstrap.schema.json
`,
    main: schemaCommand,
  },
  top: {
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
    main: topCommand,
  },
  tap: {
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
    main: tapCommand,
  },
  service: {
    summary: "Print a systemd unit that runs a pipeline as a service",
    help: `Usage: ${NAME} service FILE [--user USER] [--binary PATH]
                           [--drain-timeout SECONDS]

Checks FILE as "validate" does, then prints a systemd service unit that runs
"${NAME} run FILE" in the foreground: started again on failure (not after a
usage error), stopped by SIGTERM, which drains the queues, and killed only
TimeoutStopSec (the drain timeout plus 15 s) later; its output and stop
report go to the journal. There is no reload: "systemctl restart" drains,
stops and starts the pipeline with the file as it is then.

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
    main: serviceCommand,
  },
  version: {
    summary: "Print the name and version",
    help: `Usage: ${NAME} version\n\nPrints the package name and version.\n`,
    main: () => {
      out(`${denoJson.name} ${denoJson.version}\n`);
      return EXIT_CODES.ok;
    },
  },
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
timed out) and 130/143 (exited at once on a second SIGINT/SIGTERM).
`;

/**
 * Runs the command line `args` (without the program name); resolves to the
 * exit code.
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 * Deno.exit(await main(["validate", "examples/hello.yaml"]));
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
    return await COMMANDS.version!.main([]);
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
    return await command.main(rest);
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

// --- run -------------------------------------------------------------------

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    "drain-timeout": { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    status: { type: "string" },
    ...ADMIN_RUN_OPTIONS,
    "pid-file": { type: "string" },
  });
  const file = onePositional(positionals, "FILE");
  let adminSettings;
  try {
    adminSettings = adminRunSettings(values);
  } catch (error) {
    if (!(error instanceof AdminOptionError)) throw error;
    if (error.usage) throw new UsageError(error.message);
    err(`${NAME} run: ${error.message}\n`);
    return EXIT_CODES.invalid;
  }
  const timeoutMs = seconds(values["drain-timeout"] ?? "30", "--drain-timeout");
  const logLevel = level(values["log-level"] ?? "info");
  const format = choice(values["log-format"] ?? "human", "--log-format", [
    "human",
    "json",
  ]);
  const statusWhen = choice(values.status ?? "auto", "--status", [
    "auto",
    "always",
    "never",
  ]);
  const notice = format === "json" ? jsonNotice : humanNotice;

  // Removed when this function ends (return or throw) and on Deno.exit.
  using pidFile = values["pid-file"] === undefined
    ? undefined
    : takePidFile(values["pid-file"], notice);
  if (pidFile === null) return EXIT_CODES.invalid;

  let loaded;
  try {
    loaded = await loadPipeline(file, { routerOptions: { logLevel } });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(configErrorText(error));
    return EXIT_CODES.invalid;
  }
  const { router, config } = loaded;
  if (config.logs === null) {
    const name = freeName(router, "log");
    router.registerLogActor(
      format === "json" ? new LogJson(name) : new LogHuman(name),
    );
  }

  const stopping = Promise.withResolvers<Deno.Signal>();
  let signalled: Deno.Signal | undefined;
  let status: StatusLine | undefined;
  // Listens until this function ends, after the stop report is printed.
  using _signals = listenForSignals((signal) => {
    if (signalled === undefined) {
      signalled = signal;
      stopping.resolve(signal);
      return;
    }
    status?.stop();
    notice(`Second ${signal}: exiting at once without draining`, "warning");
    Deno.exit(signal === "SIGINT" ? EXIT_CODES.sigint : EXIT_CODES.sigterm);
  });

  try {
    await router.start();
  } catch (error) {
    notice(`Cannot start "${file}": ${errorMessage(error)}`, "error");
    return EXIT_CODES.invalid;
  }
  const started = performance.now();
  notice(
    `Running "${file}": ${plural(config.actors.length, "actor")}, ${
      plural(config.connections.length, "connection")
    }; SIGINT (Ctrl+C) or SIGTERM stops it`,
  );
  let admin: AdminServer | undefined;
  if (adminSettings !== undefined) {
    try {
      admin = new AdminServer({
        router,
        ...adminSettings,
        types: Object.fromEntries(
          config.actors.map((actor) => [actor.name, actor.type]),
        ),
      });
    } catch (error) {
      notice(
        `Cannot serve the admin API on "${values.admin}": ${
          errorMessage(error)
        }`,
        "error",
      );
      await router.stop({ timeoutMs });
      return EXIT_CODES.invalid;
    }
    notice(`Admin API and dashboard at ${admin.url}`, "info", {
      admin: admin.url,
    });
  }
  const onTerminal = Deno.stderr.isTerminal();
  if (statusWhen === "always" || (statusWhen === "auto" && onTerminal)) {
    status = new StatusLine(router);
    status.start();
  }

  const reason = await Promise.race([
    router.finished.then(() => "finished" as const),
    stopping.promise,
  ]);
  if (reason !== "finished") {
    notice(
      `Stopping on ${reason}: draining the queues (up to ${
        timeoutMs / 1000
      } s); send ${reason} again to exit at once`,
    );
  }
  const report = await router.stop({ timeoutMs });
  await admin?.close();
  status?.stop();
  printReport(report, reason, (performance.now() - started) / 1000, notice);
  return report.timedOut ? EXIT_CODES.timedOut : EXIT_CODES.ok;
}

/**
 * Takes the PID file at `path` for this process; on failure says why and
 * returns `null`.
 */
function takePidFile(path: string, notice: Notice): PidFile | null {
  try {
    const pidFile = PidFile.acquire(path);
    if (pidFile.replaced !== undefined) {
      notice(
        `Replaced the stale PID file "${path}" of process ${pidFile.replaced}, which is no longer running`,
        "warning",
      );
    }
    return pidFile;
  } catch (error) {
    if (!(error instanceof PidFileError)) throw error;
    notice(error.message, "error");
    return null;
  }
}

type Notice = (
  message: string,
  level?: LogLevel,
  extra?: Record<string, unknown>,
) => void;

const humanNotice: Notice = (message) => err(message + "\n");

const jsonNotice: Notice = (message, level = "info", extra = {}) =>
  err(
    JSON.stringify({
      time: new Date().toISOString(),
      level,
      actor: NAME,
      message,
      ...extra,
    }) + "\n",
  );

function printReport(
  report: StopReport,
  reason: string,
  elapsed: number,
  notice: Notice,
): void {
  const { delivered, dropped, failed, discarded, timedOut, queued } = report;
  const summary = `Stopped (${
    reason === "finished" ? "the pipeline finished" : reason
  }) after ${
    elapsed.toFixed(1)
  } s: ${delivered} delivered, ${dropped} dropped, ${failed} failed, ${discarded} discarded`;
  const lines = [summary];
  if (timedOut) {
    const left = Object.entries(queued);
    lines.push(
      `The drain timed out: ${
        left.length === 0
          ? "no events were left queued, but some actors had not finished"
          : `events still queued were lost: ${
            left.map(([queue, count]) => `${queue} ${count}`).join(", ")
          }`
      }`,
    );
  }
  for (const [queue, figures] of Object.entries(report.queues)) {
    if (figures.dropped_total > 0 || figures.discarded_total > 0) {
      lines.push(
        `  ${queue}: ${figures.dropped_total} dropped, ${figures.discarded_total} discarded`,
      );
    }
  }
  notice(lines.join("\n"), timedOut ? "warning" : "info", {
    report: { delivered, dropped, failed, discarded, timedOut, queued },
  });
}

/** A name not yet taken by an actor of `router`. */
function freeName(router: Router, base: string): string {
  let name = base;
  for (let i = 2; router.actor(name) !== undefined; i++) name = `${base}_${i}`;
  return name;
}

/**
 * Calls `handler` on SIGINT and SIGTERM (SIGINT and SIGBREAK on Windows)
 * until disposed.
 */
function listenForSignals(
  handler: (signal: Deno.Signal) => void,
): Disposable {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const added: [Deno.Signal, () => void][] = [];
  for (const signal of signals) {
    const listener = () => handler(signal);
    Deno.addSignalListener(signal, listener);
    added.push([signal, listener]);
  }
  return {
    [Symbol.dispose]() {
      for (const [signal, listener] of added) {
        Deno.removeSignalListener(signal, listener);
      }
    },
  };
}

/**
 * A status line kept on the bottom row of the terminal: the rows above it
 * are made a scroll region, so log lines and whatever actors print scroll
 * above it and never mix with it. It is redrawn in place twice a second.
 */
class StatusLine {
  #router: Router;
  #rows = 0;
  #columns = 80;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = { time: 0, made: 0, handled: 0 };
  #text = "starting";
  #onResize = () => this.#layout(true);
  #onUnload = () => this.stop();

  constructor(router: Router) {
    this.#router = router;
  }

  start(): void {
    this.#last = { time: performance.now(), ...this.#totals() };
    this.#layout(false);
    this.#timer = setInterval(() => this.#draw(), 500);
    globalThis.addEventListener("unload", this.#onUnload);
    try {
      Deno.addSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // No SIGWINCH on this platform: the layout stays as it started.
    }
  }

  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    globalThis.removeEventListener("unload", this.#onUnload);
    try {
      Deno.removeSignalListener("SIGWINCH", this.#onResize);
    } catch {
      // Never added.
    }
    this.#release();
  }

  /** Reserves the bottom row: scroll region above it. */
  #layout(again: boolean): void {
    let rows = 24;
    try {
      ({ rows, columns: this.#columns } = Deno.consoleSize());
    } catch {
      // Not a terminal (status forced on): assume 24 rows.
    }
    if (again) this.#release();
    this.#rows = Math.max(rows, 3);
    err(`\n\x1b7\x1b[1;${this.#rows - 1}r\x1b8\x1b[1A`);
    this.#paint();
  }

  /** Gives the bottom row back: no scroll region, the status line erased. */
  #release(): void {
    err(`\x1b7\x1b[r\x1b[${this.#rows};1H\x1b[2K\x1b8`);
  }

  #draw(): void {
    const now = performance.now();
    const totals = this.#totals();
    const seconds = Math.max((now - this.#last.time) / 1000, 0.001);
    const inRate = (totals.made - this.#last.made) / seconds;
    const outRate = (totals.handled - this.#last.handled) / seconds;
    this.#last = { time: now, ...totals };
    const fullest = this.#fullest();
    this.#text = `in ${perSecond(inRate)}/s | out ${perSecond(outRate)}/s | ${
      count(totals.handled)
    } handled | fullest queue ${fullest}`;
    this.#paint();
  }

  #paint(): void {
    const text = this.#text.slice(0, Math.max(this.#columns - 1, 10));
    err(`\x1b7\x1b[${this.#rows};1H\x1b[2K\x1b[7m${text}\x1b[0m\x1b8`);
  }

  /** Events made by inputs and handled by outputs so far. */
  #totals(): { made: number; handled: number } {
    let made = 0;
    let handled = 0;
    for (const figures of Object.values(this.#router.metrics().actors)) {
      if (figures.kind === "input") {
        for (const [queue, queueFigures] of Object.entries(figures.queues)) {
          if (queue !== "error") made += queueFigures.out_total;
        }
      } else if (figures.kind === "output") {
        handled += figures.consumed_total;
      }
    }
    return { made, handled };
  }

  /** The inbound queue with the largest share of its capacity in use. */
  #fullest(): string {
    let best: Queue | undefined;
    let bestFill = 0;
    for (const actor of this.#router.actors()) {
      for (const queue of actor.pool.inbound.values()) {
        const fill = queue.depth / queue.capacity;
        if (best === undefined || fill > bestFill) {
          best = queue;
          bestFill = fill;
        }
      }
    }
    if (best === undefined) return "none";
    const percent = Math.round(bestFill * 100);
    return `${best.name} ${percent}% (${best.depth}/${best.capacity})`;
  }
}

// --- top and tap -------------------------------------------------------------

function adminTarget(
  values: { admin?: string; "admin-token"?: string },
  signal: AbortSignal,
): AdminTarget {
  let url = values.admin ?? `http://127.0.0.1:${DEFAULT_ADMIN_PORT}`;
  if (!url.includes("://")) url = `http://${url}`;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--admin must be a URL, not "${values.admin}"`);
  }
  const token = clientAdminToken(values);
  return { url, signal, ...(token === undefined ? {} : { token }) };
}

/** Aborts on the first SIGINT/SIGTERM until disposed. */
function abortOnSignal(): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const listeners = listenForSignals(() => controller.abort());
  return {
    signal: controller.signal,
    [Symbol.dispose]: () => listeners[Symbol.dispose](),
  };
}

async function topCommand(args: string[]): Promise<number> {
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

async function tapCommand(args: string[]): Promise<number> {
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

// --- validate ----------------------------------------------------------------

async function validateCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, {});
  if (positionals.length === 0) throw new UsageError("missing FILE");
  let code: number = EXIT_CODES.ok;
  for (const file of positionals) {
    if (await checkFile(file) === undefined) code = EXIT_CODES.invalid;
    else out(`${file}: ok\n`);
  }
  return code;
}

/**
 * Loads `file` as "run" would, without starting anything; on problems,
 * prints them and returns `undefined`.
 */
async function checkFile(file: string): Promise<PipelineConfig | undefined> {
  try {
    const { router, config } = await loadPipeline(file);
    await router.stop();
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(configErrorText(error));
    return undefined;
  }
}

// --- graph -------------------------------------------------------------------

async function graphCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    format: { type: "string" },
  });
  const file = onePositional(positionals, "FILE");
  const format = choice(values.format ?? "dot", "--format", [
    "dot",
    "mermaid",
  ]);
  const config = await checkFile(file);
  if (config === undefined) return EXIT_CODES.invalid;
  out(format === "dot" ? toDot(config) : toMermaid(config));
  return EXIT_CODES.ok;
}

function sideRole(config: PipelineConfig, name: string): string {
  const roles = [
    config.logs === name ? "receives logs" : "",
    config.metrics === name ? "receives metrics" : "",
  ].filter((role) => role !== "");
  return roles.length === 0 ? "" : `, ${roles.join(", ")}`;
}

function toDot(config: PipelineConfig): string {
  const id = (text: string) =>
    `"${text.replace(/["\\]/g, "\\$&").replace(/\n/g, "\\n")}"`;
  const name = config.file.split(/[\\/]/).pop()!.replace(/\.ya?ml$/i, "");
  const lines = [
    `digraph ${id(name)} {`,
    "  rankdir=LR;",
    '  node [shape=box, style=rounded, fontname="sans-serif"];',
    '  edge [fontname="sans-serif", fontsize=10];',
  ];
  for (const actor of config.actors) {
    const role = sideRole(config, actor.name);
    lines.push(
      `  ${id(actor.name)} [label=${
        id(`${actor.name}\n(${actor.type}${role})`)
      }${role === "" ? "" : ', style="rounded,dashed"'}];`,
    );
  }
  for (const connection of config.connections) {
    const [from, out] = splitAddress(connection.from);
    const [to, inbound] = splitAddress(connection.to);
    lines.push(
      `  ${id(from)} -> ${id(to)} [label=${id(`${out} -> ${inbound}`)}];`,
    );
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

function toMermaid(config: PipelineConfig): string {
  const ids = new Map(config.actors.map((actor, i) => [actor.name, `a${i}`]));
  const label = (text: string) =>
    `"${text.replace(/"/g, "#quot;").replace(/\n/g, "<br/>")}"`;
  const lines = ["flowchart LR"];
  for (const actor of config.actors) {
    const role = sideRole(config, actor.name);
    lines.push(
      `  ${ids.get(actor.name)}[${
        label(`${actor.name}\n(${actor.type}${role})`)
      }]`,
    );
  }
  for (const connection of config.connections) {
    const [from, out] = splitAddress(connection.from);
    const [to, inbound] = splitAddress(connection.to);
    lines.push(
      `  ${ids.get(from)} -->|${label(`${out} -> ${inbound}`)}| ${ids.get(to)}`,
    );
  }
  return lines.join("\n") + "\n";
}

// --- actors ------------------------------------------------------------------

/** The order kinds are listed in: the way events travel. */
const KIND_ORDER: readonly ActorKind[] = [
  "input",
  "transform",
  "flow",
  "output",
  "log",
  "metric",
];

function actorsCommand(args: string[]): number {
  const { values, positionals } = parse(args, {
    markdown: { type: "boolean" },
  });
  const registry = new Registry(BUILTIN_ACTORS);
  if (values.markdown === true) {
    if (positionals.length > 0) {
      throw new UsageError("--markdown takes no other argument");
    }
    out(actorsMarkdown(registry));
    return EXIT_CODES.ok;
  }
  if (positionals.length === 0) {
    out(actorsTable(registry));
    return EXIT_CODES.ok;
  }
  if (positionals[0] !== "show") {
    throw new UsageError(
      `unknown subcommand "${positionals[0]}"${
        didYouMean(positionals[0]!, ["show"])
      }`,
    );
  }
  const type = positionals[1];
  if (type === undefined) throw new UsageError('missing TYPE after "show"');
  if (positionals.length > 2) {
    throw new UsageError(`expected one TYPE, got ${positionals.length - 1}`);
  }
  const spec = registry.get(type);
  if (spec === undefined) {
    err(
      `Unknown actor type "${type}"${
        didYouMean(type, registry.types())
      }\nRun "${NAME} actors" for the list of types.\n`,
    );
    return EXIT_CODES.invalid;
  }
  out(actorText(spec));
  return EXIT_CODES.ok;
}

function actorsTable(registry: Registry): string {
  const rows = registry.specs().map((spec) => [
    spec.type,
    spec.kind,
    spec.summary,
  ]);
  return table(["TYPE", "KIND", "SUMMARY"], rows).join("\n") +
    `\n\nRun "${NAME} actors show TYPE" for the options of a type.\n`;
}

function exampleYaml(spec: ActorSpec): string {
  const entry: Record<string, unknown> = { type: spec.type };
  if (spec.example !== undefined && Object.keys(spec.example).length > 0) {
    entry.options = spec.example;
  }
  return toYaml({ actors: { [spec.type]: entry } }, { lineWidth: 0 });
}

function actorText(spec: ActorSpec): string {
  const lines = [`${spec.type} (${spec.kind})`, "", wrap(spec.summary, 0)];
  if (spec.description !== undefined) {
    lines.push("", wrap(spec.description, 0));
  }
  const options = describeOptions(spec);
  lines.push("", options.length === 0 ? "Options: none" : "Options:");
  const width = Math.max(...options.map((option) => option.name.length), 0);
  for (const option of options) {
    const facts = [
      option.type,
      option.required
        ? "required"
        : option.default === undefined
        ? "optional"
        : `default ${option.default}`,
    ];
    lines.push(`  ${option.name.padEnd(width)}  ${facts.join(", ")}`);
    if (option.description !== "") {
      lines.push(wrap(option.description, width + 4));
    }
  }
  lines.push(
    "",
    "Example:",
    indent(exampleYaml(spec).trimEnd(), 2),
  );
  return lines.join("\n") + "\n";
}

function actorsMarkdown(registry: Registry): string {
  const byKind = Map.groupBy(registry.specs(), (spec) => spec.kind);
  const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    "# Actor reference",
    "",
    `Every built-in actor type, made by \`${NAME} actors --markdown\` (\`deno task docs\`); do not edit by hand.`,
    "Use a type as `type:` of an actor in a bootstrap file; `options:` takes the options listed with it.",
    "",
    "| Type | Kind | Summary |",
    "| --- | --- | --- |",
    ...KIND_ORDER.flatMap((kind) => byKind.get(kind) ?? []).map((spec) =>
      `| [\`${spec.type}\`](#${
        spec.type.replace(/[^a-z0-9_-]/gi, "")
      }) | ${spec.kind} | ${cell(spec.summary)} |`
    ),
  ];
  for (const kind of KIND_ORDER) {
    const ofKind = byKind.get(kind);
    if (ofKind === undefined) continue;
    lines.push("", `## ${kind[0]!.toUpperCase()}${kind.slice(1)} actors`);
    for (const spec of ofKind) {
      lines.push("", `### ${spec.type}`, "", spec.summary);
      if (spec.description !== undefined) lines.push("", spec.description);
      const options = describeOptions(spec);
      if (options.length === 0) {
        lines.push("", "Options: none.");
      } else {
        lines.push(
          "",
          "| Option | Type | Default | Description |",
          "| --- | --- | --- | --- |",
          ...options.map((option) =>
            `| \`${option.name}\` | ${cell(option.type)} | ${
              option.required
                ? "required"
                : option.default === undefined
                ? ""
                : `\`${cell(option.default)}\``
            } | ${cell(option.description)} |`
          ),
        );
      }
      lines.push("", "```yaml", exampleYaml(spec).trimEnd(), "```");
    }
  }
  return lines.join("\n") + "\n";
}

// --- schema ------------------------------------------------------------------

function schemaCommand(args: string[]): number {
  const { positionals } = parse(args, {});
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  }
  const schema = bootstrapSchema(new Registry(BUILTIN_ACTORS));
  out(JSON.stringify(schema, null, 2) + "\n");
  return EXIT_CODES.ok;
}

// --- service -----------------------------------------------------------------

async function serviceCommand(args: string[]): Promise<number> {
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
  if (await checkFile(file) === undefined) return EXIT_CODES.invalid;
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

// --- arguments ---------------------------------------------------------------

/** A mistake in how the command was called (exit code 2). */
class UsageError extends Error {
  override name = "UsageError";
}

function parse<T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(errorMessage(error).split(/\.\s/)[0]!);
  }
}

function onePositional(positionals: string[], name: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${name}`);
  if (positionals.length > 1) {
    throw new UsageError(
      `expected one ${name}, got ${positionals.length}: ${
        positionals.map((p) => `"${p}"`).join(" ")
      }`,
    );
  }
  return positionals[0]!;
}

function choice<T extends string>(
  value: string,
  option: string,
  choices: readonly T[],
): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(
    `${option} must be one of ${quoteList(choices)}, not "${value}"${
      didYouMean(value, choices)
    }`,
  );
}

function seconds(value: string, option: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    throw new UsageError(
      `${option} must be a number of seconds (0 or more), not "${value}"`,
    );
  }
  return number * 1000;
}

function wholeNumber(value: string, option: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) {
    throw new UsageError(
      `${option} must be a whole number of at least 1, not "${value}"`,
    );
  }
  return number;
}

function level(value: string): LogLevel {
  return choice(
    value === "warn" ? "warning" : value,
    "--log-level",
    LOG_LEVELS,
  );
}

// --- output ------------------------------------------------------------------

/**
 * The problems of a bootstrap file, one per line; in the standalone
 * executable, with what a `module:` can import there when one is at fault.
 */
function configErrorText(error: ConfigError): string {
  const hint = isStandalone() ? standaloneModuleHint(error) : undefined;
  return error.message + "\n" + (hint === undefined ? "" : hint + "\n");
}

const encoder = new TextEncoder();

function out(text: string): void {
  writeAllSync(Deno.stdout, encoder.encode(text));
}

function err(text: string): void {
  writeAllSync(Deno.stderr, encoder.encode(text));
}

function indent(text: string, by: number): string {
  const pad = " ".repeat(by);
  return text.split("\n").map((line) => pad + line).join("\n");
}

/** Wraps `text` at 78 columns, every line indented by `by`. */
function wrap(text: string, by: number): string {
  const width = Math.max(78 - by, 30);
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/\s+/)) {
      if (word === "") continue;
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return indent(lines.join("\n"), by);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
