/**
 * HTTP request/response round trips: `http_server` in mode
 * `"request_response"` with a `header` transform in the cycle (it sets the
 * answer's status; the request's JSON comes back as the answer), or the same
 * JSON echo written directly on `Deno.serve` (`--scenario bare`). The load is
 * a separate Deno process (so that it does not share the server's event
 * loop): `--concurrency` clients, each a loop of `fetch` POSTs on keep-alive
 * connections, for `--seconds` after a one-second warm-up. Prints one JSON
 * result line with requests/s, p50/p99 latency in milliseconds and the
 * server's peak memory; asserts nothing about time.
 *
 *   deno run --allow-all bench/http.ts --scenario compysition|bare \
 *     --concurrency 64 --seconds 5
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Router } from "../core/router.ts";
import { type HttpServer, httpServer } from "../actors/input/http_server.ts";
import { header } from "../actors/transform/header.ts";
import { report } from "./measure.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "compysition" },
    concurrency: { type: "string", default: "64" },
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    load: { type: "boolean", default: false },
    port: { type: "string", default: "0" },
  },
});
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

/** The request body: a small JSON order. */
const BODY = JSON.stringify({
  id: 1234,
  customer: "ada",
  items: [{ sku: "tea", price: 4.5, quantity: 2 }],
});

/** What the load process prints. */
interface LoadResult {
  requests: number;
  failures: number;
  seconds: number;
  p50_ms: number;
  p99_ms: number;
}

/**
 * The load process: `concurrency` loops of POSTs to `port`, counted from the
 * end of the warm-up for `seconds`.
 */
async function load(port: number): Promise<void> {
  const url = `http://127.0.0.1:${port}/orders`;
  const init: RequestInit = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: BODY,
  };
  const begin = performance.now();
  const measureFrom = begin + warmup * 1000;
  const end = measureFrom + seconds * 1000;
  const latencies: number[] = [];
  let failures = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) break;
      const response = await fetch(url, init);
      const text = await response.text();
      const done = performance.now();
      if (sent < measureFrom) continue;
      if (response.status !== 200 || text !== BODY) failures++;
      else latencies.push(done - sent);
    }
  }));
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[
      Math.min(latencies.length - 1, Math.floor(q * latencies.length))
    ]!;
  const result: LoadResult = {
    requests: latencies.length,
    failures,
    seconds: (performance.now() - measureFrom) / 1000,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
  };
  console.log(JSON.stringify(result));
}

/** Runs the load process against `port` and returns what it measured. */
async function runLoad(port: number): Promise<LoadResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL(import.meta.url).pathname,
      "--load",
      "--port",
      String(port),
      "--concurrency",
      String(concurrency),
      "--seconds",
      String(seconds),
      "--warmup",
      String(warmup),
    ],
    stdin: "null",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) throw new Error(`The load failed:\n${text}`);
  return JSON.parse(text);
}

/** The pipeline: http_server -> header -> back to http_server. */
async function compysition(): Promise<LoadResult> {
  const router = new Router({ logLevel: "warning" });
  const web = router.register(httpServer, "web", {
    port: 0,
    mode: "request_response",
  }) as HttpServer;
  router.register(header, "reply", { set: { "web.response.status": 200 } });
  router.connect("web.orders", "reply.inbox");
  router.connect("reply.outbox", "web.inbox");
  await router.start();
  try {
    return await runLoad(web.port);
  } finally {
    await router.stop();
  }
}

/** The same JSON echo on `Deno.serve`. */
async function bare(): Promise<LoadResult> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      if (
        request.method !== "POST" || new URL(request.url).pathname !== "/orders"
      ) return Response.json({ error: "Not found" }, { status: 404 });
      return Response.json(await request.json());
    },
  );
  try {
    return await runLoad(server.addr.port);
  } finally {
    await server.shutdown();
  }
}

if (values.load) {
  await load(Number(values.port));
} else {
  const plain = values.scenario === "bare";
  const result = plain ? await bare() : await compysition();
  report({
    scenario: plain ? "http, bare Deno.serve" : "http request/response",
    events: result.requests,
    seconds: result.seconds,
    p50_ms: result.p50_ms,
    p99_ms: result.p99_ms,
    failures: result.failures,
    concurrency,
  });
}
