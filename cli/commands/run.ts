/**
 * `compysition run FILE`: runs a pipeline in the foreground until it ends or
 * a signal stops it, then drains and prints the stop report.
 *
 * @module
 */

import { LogHuman } from "../../actors/log/log_human.ts";
import { LogJson } from "../../actors/log/log_json.ts";
import { plural } from "../../admin/client.ts";
import { AdminServer } from "../../admin/server.ts";
import { errorMessage } from "../../core/actor.ts";
import {
  loadPipeline,
  type PipelineConfig,
  Reloader,
  type ReloadOutcome,
} from "../../core/config/mod.ts";
import { ConfigError } from "../../core/errors.ts";
import { reopenFiles } from "../../core/reopen.ts";
import { reloadCertificates } from "../../core/tls.ts";
import { listenStream } from "../../core/stream_listener.ts";
import { LOG_LEVELS, type LogLevel } from "../../core/log.ts";
import type { Router, StopReport } from "../../core/router.ts";
import {
  ADMIN_RUN_HELP,
  ADMIN_RUN_OPTIONS,
  AdminOptionError,
  adminRunSettings,
} from "../admin_options.ts";
import {
  choice,
  level,
  onePositional,
  parse,
  seconds,
  UsageError,
} from "../args.ts";
import { type Command, type Exit, EXIT_CODES, NAME } from "../command.ts";
import { configErrorText, err, runsAlone } from "../output.ts";
import { PidFile, PidFileError } from "../pid_file.ts";
import { formatReload } from "../plan_text.ts";
import { listenForHangup, listenForSignals } from "../signals.ts";
import { StatusLine } from "../status_line.ts";
import { watchFile } from "../watch.ts";

/** `run`: runs a pipeline until SIGINT/SIGTERM, then drains and stops. */
export const runCommand: Command = {
  summary: "Run a pipeline until SIGINT/SIGTERM, then drain and stop",
  help: `Usage: ${NAME} run FILE [options]

Runs the pipeline described by FILE in the foreground. On SIGINT (Ctrl+C) or
SIGTERM it stops by draining: inputs stop, every queue empties downstream and
outputs flush; then the stop report is printed on stderr. A second signal
exits at once without draining. A pipeline whose inputs end by themselves
stops the same way when everything has drained.

On SIGHUP (kill -HUP PID, systemctl reload), and with --watch when FILE
changes, the pipeline is reloaded from FILE without stopping:
- FILE is loaded and checked in full first; when it has problems, each is
  logged as FILE:LINE:COL: message and nothing changes;
- the plan (as "${NAME} plan" prints it) is logged, then applied: actors
  whose entry did not change run on with their queues and the events in
  them; a replaced actor finishes its batch and its replacement takes its
  queues over before events flow to it again; a removed actor drains to its
  outputs; a listener whose address did not change (http_server,
  tcp_server, udp_in) keeps its socket, so that no client is refused;
- when a new actor fails to start (a port in use, a module that throws),
  the reload is rolled back and the pipeline runs on as it was;
- a disk buffer added to a connection takes what the queue takes from
  then on; one removed delivers what it holds first, then the connection
  runs in memory; max_bytes, when_full and fsync change in place; a new
  buffer.path is refused while the buffer holds events;
- a change of "logs:", "metrics:" or "expose:" needs a restart;
- a SIGHUP that comes while the pipeline starts reloads it once it runs.
The outcome is logged, and kept for the admin API (GET /api/reloads) and
the dashboard; POST /api/reload reloads too.

SIGHUP also makes every actor that writes files (file_out, log_file) close
them and open its path again before its next write: send it from
logrotate's postrotate step after the files were moved away.

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
  --watch                  Reload when FILE changes (once it stayed unchanged
                           for 0.3 s)
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
  main,
};

async function main(args: string[], exit: Exit): Promise<number> {
  const { values, positionals } = parse(args, {
    "drain-timeout": { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    status: { type: "string" },
    watch: { type: "boolean" },
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

  // From the start, so that an early SIGHUP (a reload right after the
  // start) does not end the process, which is what SIGHUP does by default.
  let onHangup = () => notice("SIGHUP before the pipeline runs: ignored");
  using _hangup = listenForHangup(() => onHangup());

  // Removed when this function ends (return or throw) and on exit.
  using pidFile = values["pid-file"] === undefined
    ? undefined
    : takePidFile(values["pid-file"], notice);
  if (pidFile === null) return EXIT_CODES.invalid;

  let loaded;
  try {
    loaded = await loadPipeline(file, {
      // A stop after an actor gave up drains as long as a signal's stop.
      routerOptions: { logLevel, crashStopTimeoutMs: timeoutMs },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(configErrorText(error));
    return EXIT_CODES.invalid;
  }
  const { router, config } = loaded;
  if (!runsAlone(config)) {
    await router.stop();
    return EXIT_CODES.invalid;
  }
  if (config.logs === null) {
    const name = freeName(router, "log");
    router.registerLogActor(
      format === "json" ? new LogJson(name) : new LogHuman(name),
    );
  }

  // The actors' types for the dashboard, changed in place by reloads.
  const types: Record<string, string> = {};
  const reloader = new Reloader(router, config, () => file, {
    drainTimeoutMs: timeoutMs,
    onOutcome: (outcome) => {
      if (outcome.status === "applied") {
        for (const name of Object.keys(types)) delete types[name];
        Object.assign(types, actorTypes(reloader.config));
      }
      reportReload(outcome, notice);
    },
  });
  Object.assign(types, actorTypes(config));

  const stopping = Promise.withResolvers<Deno.Signal>();
  let signalled: Deno.Signal | undefined;
  let running = false;
  /** A reload asked for while the pipeline started: done once it runs. */
  let reloadWhenRunning: string | undefined;
  const reload = (trigger: string) => {
    // Not once it stops.
    if (signalled !== undefined) return;
    if (running) void reloader.reload(trigger);
    else reloadWhenRunning ??= trigger;
  };
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
    exit(signal === "SIGINT" ? EXIT_CODES.sigint : EXIT_CODES.sigterm);
  });

  // SIGHUP: files moved away by logrotate are opened again, TLS
  // certificates are read again, and the pipeline is reloaded from its file.
  let admin: AdminServer | undefined;
  onHangup = () => {
    const certificates = reloadCertificates(router);
    try {
      if (admin?.reloadCertificates() === true) {
        certificates.reloaded.push("admin");
      }
    } catch (error) {
      certificates.failed.push({ name: "admin", error: errorMessage(error) });
    }
    if (certificates.reloaded.length > 0) {
      notice(
        `SIGHUP: read the TLS certificates of ${
          certificates.reloaded.map((name) => `"${name}"`).join(", ")
        } again, for the connections from now on`,
        "info",
        { reloaded: certificates.reloaded },
      );
    }
    for (const failure of certificates.failed) {
      notice(
        `SIGHUP: "${failure.name}" keeps its TLS certificates: ${failure.error}`,
        "error",
        { actor: failure.name },
      );
    }
    const actors = reopenFiles(router);
    notice(
      `SIGHUP: reopening the files of ${
        actors.length === 0
          ? "no actor (none writes files)"
          : actors.map((name) => `"${name}"`).join(", ")
      } at their next write`,
      "info",
      { reopened: actors },
    );
    reload("SIGHUP");
  };
  using _watch = values.watch === true
    ? watchFile(file, () => reload("watch"))
    : undefined;

  const started = performance.now();
  const starting = router.start();
  // A signal while actors set up stops the start (by the drain timeout).
  const startStopped = await Promise.race([
    starting.then(() => undefined, () => undefined),
    stopping.promise,
  ]);
  if (startStopped !== undefined) {
    notice(`Stopping on ${startStopped} while starting`);
    const report = await router.stop({ timeoutMs });
    await starting.catch(() => {});
    printReport(report, startStopped, elapsedSince(started), notice);
    return exitCodeOf(report);
  }
  try {
    await starting;
  } catch (error) {
    notice(`Cannot start "${file}": ${errorMessage(error)}`, "error");
    return EXIT_CODES.invalid;
  }
  running = true;
  notice(
    `Running "${file}": ${plural(config.actors.length, "actor")}, ${
      plural(config.connections.length, "connection")
    }; SIGHUP reloads it${
      values.watch === true ? ", and so does a change of the file" : ""
    }; SIGINT (Ctrl+C) or SIGTERM stops it`,
  );
  if (reloadWhenRunning !== undefined) {
    notice(
      `Reloading "${file}" now that it runs (${reloadWhenRunning} came while it started)`,
    );
    reload(reloadWhenRunning);
  }
  if (adminSettings !== undefined) {
    try {
      const log = router.logger("admin");
      const listener = adminSettings.tls === undefined
        ? undefined
        : await listenStream({ ...adminSettings, log });
      admin = new AdminServer({
        router,
        log,
        ...adminSettings,
        ...(listener === undefined ? {} : { listener }),
        types,
        reloads: reloader,
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
  printReport(report, reason, elapsedSince(started), notice);
  return exitCodeOf(report);
}

/**
 * The exit code of a `run` that stopped with `report`: crashed, timed out
 * (the drain, or an actor's teardown), or ok.
 */
function exitCodeOf(report: StopReport): number {
  if (report.gaveUp.length > 0) return EXIT_CODES.crashed;
  return report.timedOut || report.hung.length > 0
    ? EXIT_CODES.timedOut
    : EXIT_CODES.ok;
}

/** Seconds since `started`, a `performance.now()`. */
function elapsedSince(started: number): number {
  return (performance.now() - started) / 1000;
}

/** The type of each actor of `config`, by name. */
function actorTypes(config: PipelineConfig): Record<string, string> {
  return Object.fromEntries(
    config.actors.map((actor) => [actor.name, actor.type]),
  );
}

/** Logs the outcome of a reload: an error when it changed nothing. */
function reportReload(outcome: ReloadOutcome, notice: Notice): void {
  const failed = outcome.status === "invalid" ||
    outcome.status === "refused" || outcome.status === "rolled_back";
  notice(formatReload(outcome), failed ? "error" : "info", {
    reload: outcome,
  });
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
  const figures = {
    created: report.created,
    delivered: report.delivered,
    errors: report.errors,
    filtered: report.filtered,
    dropped: report.dropped,
    failed: report.failed,
    abandoned: report.abandoned,
    discarded: report.discarded,
    // Only with disk buffers: replayed from the last run, kept for the next.
    ...(report.replayed > 0 ? { replayed: report.replayed } : {}),
    ...(report.buffered > 0 ? { buffered: report.buffered } : {}),
  };
  // Copies (fanout) are printed when there are some: with them, created +
  // copies = delivered + errors + filtered + dropped + failed + abandoned
  // (+ replayed on the left and buffered on the right with disk buffers).
  const printed = Object.entries(figures).map(([name, count]) =>
    `${count} ${name}`
  );
  if (report.copies > 0) printed.splice(1, 0, `${report.copies} copies`);
  const summary = `Stopped (${
    reason === "finished" ? "the pipeline finished" : reason
  }) after ${elapsed.toFixed(1)} s: ${printed.join(", ")}`;
  const lines = [summary];
  if (report.gaveUp.length > 0) {
    lines.push(
      `The pipeline stopped because ${
        report.gaveUp.map((actor) => `"${actor}"`).join(", ")
      } crashed more often than its restart policy allows: ${
        report.crashed.filter((crash) => !crash.restarted).map((crash) =>
          `${crash.actor}: ${crash.error}`
        ).join("; ")
      }`,
    );
  }
  const restarts = report.restarts;
  if (restarts > 0) lines.push(`Actors were restarted ${restarts} time(s)`);
  if (report.timedOut) {
    // Events of a queue with a disk buffer are still on disk: not lost.
    const onDisk = ([queue]: [string, number]) =>
      report.queues[queue]?.disk_max_bytes !== undefined;
    const left = Object.entries(report.queued);
    const lost = left.filter((entry) => !onDisk(entry));
    const kept = left.filter(onDisk);
    const list = (entries: [string, number][]) =>
      entries.map(([queue, count]) => `${queue} ${count}`).join(", ");
    lines.push(
      `The drain timed out: ${
        left.length === 0
          ? "no events were left queued, but some actors had not finished"
          : [
            ...(lost.length > 0
              ? [`events still queued were lost: ${list(lost)}`]
              : []),
            ...(kept.length > 0
              ? [
                `events still queued stay in their disk buffer for the next run: ${
                  list(kept)
                }`,
              ]
              : []),
          ].join("; ")
      }`,
    );
  }
  for (const { actor, phase } of report.hung) {
    lines.push(`  ${actor}: did not finish its ${phase} in time`);
  }
  for (const [queue, queueFigures] of Object.entries(report.queues)) {
    // What a timed-out stop threw away from a disk buffer's memory is on disk.
    const dropped = queueFigures.dropped_total -
      (queueFigures.disk_max_bytes === undefined
        ? 0
        : queueFigures.abandoned_total);
    if (dropped > 0 || queueFigures.discarded_total > 0) {
      lines.push(
        `  ${queue}: ${dropped} dropped, ${queueFigures.discarded_total} discarded`,
      );
    }
    if ((queueFigures.disk_corrupt_total ?? 0) > 0) {
      lines.push(
        `  ${queue}: ${queueFigures.disk_corrupt_total} corrupt record(s) skipped in its disk buffer`,
      );
    }
    if ((queueFigures.disk_events ?? 0) > 0) {
      lines.push(
        `  ${queue}: ${queueFigures.disk_events} events kept in its disk buffer (${queueFigures.disk_bytes} bytes) for the next run`,
      );
    }
  }
  if (report.unaccounted !== 0) {
    lines.push(
      `${report.unaccounted} event(s) are not accounted for: please report this as a bug`,
    );
  }
  const problem = report.timedOut || report.gaveUp.length > 0 ||
    report.unaccounted !== 0;
  notice(lines.join("\n"), problem ? "warning" : "info", {
    report: {
      ...figures,
      copies: report.copies,
      timedOut: report.timedOut,
      queued: report.queued,
      hung: report.hung,
      gaveUp: report.gaveUp,
    },
  });
}

/** A name not yet taken by an actor of `router`. */
function freeName(router: Router, base: string): string {
  let name = base;
  for (let i = 2; router.actor(name) !== undefined; i++) name = `${base}_${i}`;
  return name;
}
