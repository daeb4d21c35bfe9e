/**
 * An {@link HttpListener} as a program, for the tests that need a process of
 * its own (a low file-handle limit). It prints `{"port": N}` on stdout, then
 * a line `in flight /path` as each request arrives. Requests to `/hold` wait
 * until SIGUSR2, which also answers later ones at once; `/slow` waits
 * 200 ms. On SIGTERM it shuts down (draining) and prints its figures as one
 * JSON line. Its log lines go to stderr.
 *
 *   deno run --allow-all tests/core/http_listener_server.ts
 *
 * @module
 */

import type { ActorLog } from "../../core/actor.ts";
import { HttpListener } from "../../core/http_listener.ts";

function line(level: string) {
  return (message: string, properties: Record<string, unknown> = {}) => {
    const text = message.replace(
      /\{(\w+)\}/g,
      (_, key: string) => String(properties[key]),
    );
    console.error(`${level} ${text}`);
  };
}

const log: ActorLog = {
  trace: line("TRACE"),
  debug: line("DEBUG"),
  info: line("INFO"),
  warn: line("WARN"),
  warning: line("WARN"),
  error: line("ERROR"),
  fatal: line("FATAL"),
};

const released = Promise.withResolvers<void>();
Deno.addSignalListener("SIGUSR2", () => released.resolve());

const listener = new HttpListener(
  { hostname: "127.0.0.1", port: 0, log },
  async (request) => {
    const path = new URL(request.url).pathname;
    console.log(`in flight ${path}`);
    if (path === "/hold") await released.promise;
    if (path === "/slow") {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return new Response(`answered ${path}`);
  },
);
console.log(JSON.stringify({ port: listener.addr.port }));

const stop = Promise.withResolvers<void>();
Deno.addSignalListener("SIGTERM", () => stop.resolve());
await stop.promise;
await listener.shutdown();
console.log(JSON.stringify(listener.figures()));
Deno.exit(0);
