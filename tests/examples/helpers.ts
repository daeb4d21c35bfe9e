/**
 * Helpers for the tests that run an example as a real `compysition run`
 * subprocess and talk to it over 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { CliResult, RunningCli } from "../cli_helpers.ts";

/** Polls between connection attempts, in milliseconds. */
const POLL_MS = 25;
/** Connection attempts before giving up (about 20 s). */
const MAX_ATTEMPTS = 800;

/** A port for a subprocess to listen on (from the suite's `helpers.ts`). */
export { freePort } from "../helpers.ts";

/**
 * Waits until `port` on 127.0.0.1 accepts a connection, trying a bounded
 * number of times; fails at once when the command exits first, with its
 * output.
 */
export async function waitForPort(
  cli: RunningCli,
  port: number,
): Promise<void> {
  let exited = false;
  cli.child.status.then(() => exited = true);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (exited) break;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const result = exited ? await cli.finish() : undefined;
  assert.fail(
    result === undefined
      ? `Port ${port} did not accept a connection after ${MAX_ATTEMPTS} attempts`
      : `The command exited with ${result.code} before listening on port ${port}:\n${result.stderr}`,
  );
}

/**
 * Kills the command with SIGKILL when it still runs (a test that failed
 * half-way), and waits for its end so that no process or stream leaks.
 */
export async function killIfRunning(cli: RunningCli): Promise<void> {
  try {
    cli.child.kill("SIGKILL");
  } catch {
    // It has exited already.
  }
  await cli.finish();
}

/** The figures of the line `compysition run` prints when it stopped. */
export interface StopLine {
  created: number;
  delivered: number;
  errors: number;
  filtered: number;
  dropped: number;
  failed: number;
  abandoned: number;
  discarded: number;
}

/** The names of {@link StopLine}'s figures, in the order they are printed. */
const FIGURES = [
  "created",
  "delivered",
  "errors",
  "filtered",
  "dropped",
  "failed",
  "abandoned",
  "discarded",
] as const;

/**
 * Sends SIGTERM, waits for the end, and checks that the command drained,
 * printed its stop report as its last line and exited 0. Returns the
 * figures of the report and the whole output.
 */
export async function stopWithSigterm(
  cli: RunningCli,
): Promise<{ result: CliResult; report: StopLine }> {
  cli.child.kill("SIGTERM");
  const result = await cli.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    /\nStopping on SIGTERM: draining the queues \(up to 30 s\); send SIGTERM again to exit at once\n/,
  );
  const match = new RegExp(
    `\\nStopped \\(SIGTERM\\) after \\d+\\.\\d s: ${
      FIGURES.map((name) => `(\\d+) ${name}`).join(", ")
    }\\n$`,
  ).exec(result.stderr);
  assert.ok(match, `No stop report at the end of stderr:\n${result.stderr}`);
  const report = Object.fromEntries(
    FIGURES.map((name, i) => [name, Number(match[i + 1])]),
  ) as unknown as StopLine;
  return { result, report };
}
