/**
 * What the benchmark programs share: peak memory and one line of results.
 *
 * @module
 */

/**
 * The process's peak resident memory in MB: the kernel's high-water mark where
 * there is one (Linux), else the current RSS.
 */
export function peakRssMb(): number {
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

/** Prints `result` as the one JSON line the driver reads. */
export function report(result: Result): void {
  console.log(JSON.stringify(result));
}
