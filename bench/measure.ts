/**
 * What the benchmark programs share: peak memory, one line of results, and
 * the pass-through actor the pipelines chain.
 *
 * @module
 */

import process from "node:process";
import { Actor, type Context } from "../core/actor.ts";
import type { Event } from "../core/event.ts";

/** A transform that sends every event on unchanged. */
export class PassThrough extends Actor {
  readonly kind = "transform";
  override consume(event: Event, context: Context): Promise<void> | undefined {
    return context.send(event);
  }
}

/**
 * A transform that sends every batch on unchanged, in one write: a stage
 * that forwards whole batches (`consumeBatch` with `context.sendAll`).
 */
export class BatchPassThrough extends Actor {
  readonly kind = "transform";
  override consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> | undefined {
    return context.sendAll(events);
  }
}

/**
 * The whole number of at least `min` that option `--name` gives as `text`
 * (a count of events, lines, connections or rounds); a `TypeError` naming
 * the option otherwise, rather than a run that counts to `NaN` for ever.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countOption } from "./measure.ts";
 * assert.equal(countOption("events", "1000"), 1000);
 * assert.throws(
 *   () => countOption("connections", "0", 1),
 *   /--connections must be a whole number of at least 1, not "0"/,
 * );
 * ```
 */
export function countOption(name: string, text: string, min = 0): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || text.trim() === "") {
    throw new TypeError(
      `--${name} must be a whole number of at least ${min}, not "${text}"`,
    );
  }
  return value;
}

/**
 * CPU seconds (user and system) this process has used so far: on a shared
 * machine, events per CPU second vary far less than events per second.
 */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * The process's peak resident memory in MB: the kernel's high-water mark where
 * there is one (Linux), else the current RSS.
 */
function peakRssMb(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = status.match(/^VmHWM:\s+(\d+) kB/m);
    if (match !== null) return Number(match[1]) / 1024;
  } catch {
    // Not Linux: fall back to the current figure.
  }
  return Deno.memoryUsage().rss / 1024 / 1024;
}

/** One scenario's figures, printed by a scenario as one JSON line. */
export interface Result {
  scenario: string;
  events: number;
  seconds: number;
  events_per_second: number;
  peak_rss_mb: number;
  [more: string]: unknown;
}

/** What a scenario measured, as {@link report} takes it. */
export interface Measured {
  scenario: string;
  events: number;
  seconds: number;
  /** Default: `events / seconds`. */
  events_per_second?: number;
  [more: string]: unknown;
}

/**
 * Prints what a scenario measured, with the process's peak memory, as the
 * one JSON line ({@link Result}) the driver reads.
 *
 * @example
 * ```ts
 * import { report } from "./measure.ts";
 * report({ scenario: "example", events: 1000, seconds: 0.5 });
 * ```
 */
export function report(measured: Measured): void {
  const {
    scenario,
    events,
    seconds,
    events_per_second = events / seconds,
    ...more
  } = measured;
  const result: Result = {
    scenario,
    events,
    seconds,
    events_per_second,
    peak_rss_mb: peakRssMb(),
    ...more,
  };
  console.log(JSON.stringify(result));
}

/**
 * Runs `program` (a benchmark file) again as a client process, with
 * `--allow-net` and `args`, and resolves once it printed `connected` on its
 * stdout: the client then floods the pipeline without sharing its event
 * loop. Its stderr goes to ours, or nowhere.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * const child = await startClient(new URL(import.meta.url), ["--client"]);
 * child.kill();
 * assert.equal((await child.status).signal, "SIGTERM");
 * ```
 */
export async function startClient(
  program: URL,
  args: string[],
  stderr: "inherit" | "null" = "inherit",
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", program.pathname, ...args],
    stdin: "null",
    stdout: "piped",
    stderr,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let said = "";
  while (!said.includes("connected\n")) {
    const next = await reader.read();
    if (next.done) break;
    said += next.value;
  }
  await reader.cancel();
  return child;
}
