/**
 * SIGINT and SIGTERM for the commands that run until stopped, and SIGHUP for
 * `run`.
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
 * import assert from "node:assert/strict";
 * import { abortOnSignal } from "./signals.ts";
 * using stop = abortOnSignal();
 * assert.equal(stop.signal.aborted, false);
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

/**
 * Calls `handler` on SIGHUP until disposed (nothing on Windows, which has no
 * SIGHUP). While it listens, SIGHUP no longer ends the process.
 *
 * @example
 * ```ts
 * import { listenForHangup } from "./signals.ts";
 * using _hangup = listenForHangup(() => console.log("SIGHUP"));
 * ```
 */
export function listenForHangup(handler: () => void): Disposable {
  if (Deno.build.os === "windows") return { [Symbol.dispose]() {} };
  Deno.addSignalListener("SIGHUP", handler);
  return {
    [Symbol.dispose]: () => Deno.removeSignalListener("SIGHUP", handler),
  };
}
