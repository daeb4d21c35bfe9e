/**
 * SIGINT and SIGTERM for the commands that run until stopped.
 *
 * @module
 */

/**
 * Calls `handler` on SIGINT and SIGTERM (SIGINT and SIGBREAK on Windows)
 * until disposed.
 *
 * @example
 * ```ts
 * import { listenForSignals } from "./signals.ts";
 * using _signals = listenForSignals((signal) => console.log(signal));
 * ```
 */
export function listenForSignals(
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
 * A signal aborted on the first SIGINT/SIGTERM, until disposed.
 *
 * @example
 * ```ts
 * import { abortOnSignal } from "./signals.ts";
 * using stop = abortOnSignal();
 * stop.signal.aborted; // false
 * ```
 */
export function abortOnSignal(): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const listeners = listenForSignals(() => controller.abort());
  return {
    signal: controller.signal,
    [Symbol.dispose]: () => listeners[Symbol.dispose](),
  };
}
