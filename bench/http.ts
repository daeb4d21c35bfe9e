/**
 * HTTP under `wrk` (Debian package `wrk`), a load generator in C that does
 * not limit what it measures the way a JavaScript client does. Scenarios:
 *
 * - `request_response`: `http_server` in mode `"request_response"` with a
 *   `header` transform in the cycle (it sets the answer's status; the
 *   request's JSON comes back as the answer);
 * - `request_response_bare`: the same JSON echo written on `Deno.serve`;
 * - `ingest`: `http_server` in mode `"fire_and_forget"` into `null`, each
 *   request answered 202 with the event's id;
 * - `ingest_bare`: `Deno.serve` reading the JSON and answering 202 with an
 *   id;
 * - `request_response_node_red`: Node-RED (npm `node-red`, run by Node) with
 *   the flow http in -> change (status 200) -> http response, the tool a
 *   user would otherwise pick: 5.0.7 on Node 22.9 or later, else 4.1.8 (5
 *   refuses older Node). It is installed once with `npm` into
 *   `~/.cache/compysition-bench/node-red-VERSION` (`--node-red DIR` to
 *   choose the folder); without `node` and `npm` the scenario says so and
 *   fails.
 *
 * `wrk` runs with one thread and `--connections` keep-alive connections,
 * POSTing a 75-byte JSON order, for `--seconds` after a `--warmup` run. It
 * runs under `sh -c '...; times'`, so that its own CPU time is known: when
 * it kept its one core busy while the server's core had time to spare, the
 * load generator was the limit, and the result says so (`load_limited`).
 * When both were busy, the server was: it could not have gone faster.
 * Prints one JSON result line with requests/s, p50/p99 latency in
 * milliseconds, the answers that were not 2xx, the server's peak memory and
 * both shares of a core; asserts nothing about time.
 *
 *   deno run --allow-all bench/http.ts --scenario request_response \
 *     --connections 64 --seconds 6
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Router } from "../core/router.ts";
import { type HttpServer, httpServer } from "../actors/input/http_server.ts";
import { header } from "../actors/transform/header.ts";
import { nullOutput } from "../actors/output/null.ts";
import { countOption, cpuSeconds, report } from "./measure.ts";
import { findProgram } from "../tests/requires.ts";
import { freePort, pollUntil } from "../tests/helpers.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "request_response" },
    connections: { type: "string", default: "64" },
    seconds: { type: "string", default: "6" },
    warmup: { type: "string", default: "1" },
    "node-red": { type: "string" },
  },
});
const connections = countOption("connections", values.connections!, 1);
const seconds = countOption("seconds", values.seconds!, 1);
const warmup = countOption("warmup", values.warmup!);
const scenario = values.scenario!;
/** The load generator, and how a user installs it. */
const WRK = { name: "wrk", install: "sudo apt-get install -y wrk" };

/** The request body: a small JSON order (75 bytes). */
const BODY = JSON.stringify({
  id: 1234,
  customer: "ada",
  items: [{ sku: "tea", price: 4.5, quantity: 2 }],
});

/** What one `wrk` run measured. */
interface WrkResult {
  requests: number;
  seconds: number;
  p50_ms: number;
  p99_ms: number;
  /** Answers that were not 2xx or 3xx, and socket errors. */
  failures: number;
  /** CPU seconds `wrk` used over its run. */
  wrk_cpu_seconds: number;
  /** CPU seconds the server process used over the measured run. */
  server_cpu_seconds?: number;
}

/** Milliseconds of a `wrk` duration such as `512.00us`, `1.05ms` or `2s`. */
function milliseconds(text: string): number {
  const match = text.match(/^([\d.]+)(us|ms|s|m)$/);
  if (match === null) throw new Error(`Unknown wrk duration: ${text}`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2]!]!;
  return Number(match[1]) * scale;
}

/** Reads what `wrk --latency` and the shell's `times` printed. */
function parseWrk(text: string): WrkResult {
  const find = (pattern: RegExp): string => {
    const match = text.match(pattern);
    if (match === null) throw new Error(`wrk said:\n${text}`);
    return match[1]!;
  };
  const [requests, secondsText] = [
    find(/(\d+) requests in/),
    find(/requests in ([\d.]+\w+),/),
  ];
  const non2xx = Number(text.match(/Non-2xx or 3xx responses: (\d+)/)?.[1]);
  const socket = text.match(
    /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/,
  );
  const socketErrors = socket === null
    ? 0
    : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  // `times`: the shell's user and system time, then its children's.
  const times = [...text.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1);
  if (times === undefined) throw new Error(`No times in:\n${text}`);
  const cpu = Number(times[1]) * 60 + Number(times[2]) +
    Number(times[3]) * 60 + Number(times[4]);
  return {
    requests: Number(requests),
    seconds: milliseconds(secondsText) / 1000,
    p50_ms: milliseconds(find(/\s50%\s+([\d.]+\w+)/)),
    p99_ms: milliseconds(find(/\s99%\s+([\d.]+\w+)/)),
    failures: (Number.isNaN(non2xx) ? 0 : non2xx) + socketErrors,
    wrk_cpu_seconds: cpu,
  };
}

/** Runs `wrk` against `url` for `duration` seconds. */
async function wrk(
  program: string,
  url: string,
  script: string,
  duration: number,
): Promise<WrkResult> {
  const command = [
    program,
    "--threads",
    "1",
    "--connections",
    String(connections),
    "--duration",
    `${duration}s`,
    "--latency",
    "--script",
    script,
    url,
  ].map((word) => `'${word}'`).join(" ");
  const output = await new Deno.Command("sh", {
    args: ["-c", `${command} && times`],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`wrk failed:\n${text}`);
  return parseWrk(text);
}

/**
 * Checks the server once with `fetch` (the status and body `wrk` does not
 * look at), then warms it up and measures it under `wrk`.
 */
async function measure(
  port: number,
  expect: (response: Response) => Promise<string | undefined>,
  serverCpu: () => number = cpuSeconds,
): Promise<WrkResult> {
  const program = findProgram(WRK);
  if (program === undefined) {
    throw new Error(`wrk is not installed: install it with "${WRK.install}"`);
  }
  const url = `http://127.0.0.1:${port}/orders`;
  const wrong = await expect(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    }),
  );
  if (wrong !== undefined) throw new Error(`Wrong answer: ${wrong}`);
  const dir = await Deno.makeTempDir({ prefix: "compysition_wrk_" });
  try {
    const script = join(dir, "post.lua");
    await Deno.writeTextFile(
      script,
      `wrk.method = "POST"
wrk.body = ${JSON.stringify(BODY)}
wrk.headers["Content-Type"] = "application/json"
`,
    );
    if (warmup > 0) await wrk(program, url, script, warmup);
    const before = serverCpu();
    const result = await wrk(program, url, script, seconds);
    return { ...result, server_cpu_seconds: serverCpu() - before };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The Node-RED release compared, from npm: the newest that `node` (of
 * version `[major, minor]`) runs.
 */
function nodeRedVersion([major, minor]: number[]): string {
  return major! > 22 || (major === 22 && minor! >= 9) ? "5.0.7" : "4.1.8";
}

/** The flow: http in (POST /orders) -> change (status 200) -> http response. */
const NODE_RED_FLOW = [
  { id: "bench", type: "tab", label: "bench" },
  {
    id: "in",
    type: "http in",
    z: "bench",
    url: "/orders",
    method: "post",
    upload: false,
    wires: [["reply"]],
  },
  {
    id: "reply",
    type: "change",
    z: "bench",
    rules: [{ t: "set", p: "statusCode", pt: "msg", to: "200", tot: "num" }],
    wires: [["out"]],
  },
  { id: "out", type: "http response", z: "bench", headers: {}, wires: [] },
];

/** CPU seconds (user and system) process `pid` used so far (Linux). */
function processCpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime, fields 14 and 15 of the line, in clock ticks (1/100 s).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Node-RED's `red.js` and version, installed from npm into `dir` (default
 * under `~/.cache`) when missing.
 */
async function nodeRed(
  dir: string | undefined,
): Promise<{ red: string; version: string }> {
  const npm = findProgram({ name: "npm", install: "" });
  const node = findProgram({ name: "node", install: "" });
  if (npm === undefined || node === undefined) {
    throw new Error(
      'Node-RED needs node and npm: install them with "sudo apt-get install -y nodejs npm"',
    );
  }
  const said = await new Deno.Command(node, { args: ["--version"] }).output();
  const version = nodeRedVersion(
    new TextDecoder().decode(said.stdout).trim().slice(1).split(".").map(
      Number,
    ),
  );
  dir ??= `${
    Deno.env.get("HOME") ?? "/tmp"
  }/.cache/compysition-bench/node-red-${version}`;
  const red = join(dir, "node_modules", "node-red", "red.js");
  try {
    await Deno.stat(red);
    return { red, version };
  } catch {
    // Not installed yet.
  }
  await Deno.mkdir(dir, { recursive: true });
  console.error(`Installing node-red@${version} into ${dir}...`);
  const installed = await new Deno.Command(npm, {
    args: [
      "install",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `node-red@${version}`,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
  }).output();
  if (!installed.success) throw new Error("npm install node-red failed");
  return { red, version };
}

/** Node-RED running the flow, measured like the others. */
async function nodeRedRequestResponse(): Promise<
  WrkResult & { version: string }
> {
  const { red, version } = await nodeRed(values["node-red"]);
  const dir = await Deno.makeTempDir({ prefix: "compysition_node_red_" });
  const port = freePort();
  const flows = join(dir, "flows.json");
  await Deno.writeTextFile(flows, JSON.stringify(NODE_RED_FLOW));
  const child = new Deno.Command("node", {
    args: [red, "--port", String(port), "--userDir", dir, flows],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await pollUntil(
      () =>
        fetch(`http://127.0.0.1:${port}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: BODY,
        }).then(async (response) => {
          await response.body?.cancel();
          return response.status;
        }, () => 0),
      (status) => status === 200,
      "Node-RED serving the flow",
      600,
    );
    const result = await measure(
      port,
      echoed,
      () => processCpuSeconds(child.pid),
    );
    return { ...result, version };
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // It ended by itself (and failed the poll).
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

/** The echo: status 200 and the body sent. */
async function echoed(response: Response): Promise<string | undefined> {
  const text = await response.text();
  return response.status === 200 && text === BODY
    ? undefined
    : `${response.status} ${text}`;
}

/** The ingest answer: status 202 and an id. */
async function accepted(response: Response): Promise<string | undefined> {
  const text = await response.text();
  return response.status === 202 && typeof JSON.parse(text).id === "string"
    ? undefined
    : `${response.status} ${text}`;
}

/** The pipeline: http_server -> header -> back to http_server. */
async function requestResponse(): Promise<WrkResult> {
  const router = new Router({ logLevel: "warning" });
  const web = router.register(httpServer, "web", {
    port: 0,
    mode: "request_response",
    max_connections: 10_000,
  }) as HttpServer;
  router.register(header, "reply", { set: { "web.response.status": 200 } });
  router.connect("web.orders", "reply.inbox");
  router.connect("reply.outbox", "web.inbox");
  await router.start();
  try {
    return await measure(web.port, echoed);
  } finally {
    await router.stop();
  }
}

/** The pipeline: http_server (202 once accepted) -> null. */
async function ingest(): Promise<WrkResult & { delivered: number }> {
  const router = new Router({ logLevel: "warning" });
  const web = router.register(httpServer, "web", {
    port: 0,
    max_connections: 10_000,
  }) as HttpServer;
  router.register(nullOutput, "sink");
  router.connect("web.orders", "sink.inbox");
  await router.start();
  let result: WrkResult;
  try {
    result = await measure(web.port, accepted);
  } catch (error) {
    await router.stop();
    throw error;
  }
  const stopped = await router.stop();
  // Every request answered 202 was delivered (warm-up and check included).
  if (stopped.unaccounted !== 0 || stopped.failed !== 0) {
    throw new Error(`Events lost: ${JSON.stringify(stopped)}`);
  }
  return { ...result, delivered: router.metrics().actors.sink!.consumed_total };
}

/** `Deno.serve` with `handler` on a free port. */
async function bare(
  handler: (request: Request) => Promise<Response>,
  expect: (response: Response) => Promise<string | undefined>,
): Promise<WrkResult> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      if (
        request.method !== "POST" || new URL(request.url).pathname !== "/orders"
      ) return Response.json({ error: "Not found" }, { status: 404 });
      return await handler(request);
    },
  );
  try {
    return await measure(server.addr.port, expect);
  } finally {
    await server.shutdown();
  }
}

const scenarios: Record<string, () => Promise<WrkResult>> = {
  request_response: requestResponse,
  request_response_bare: () =>
    bare(async (request) => Response.json(await request.json()), echoed),
  request_response_node_red: nodeRedRequestResponse,
  ingest,
  ingest_bare: () =>
    bare(async (request) => {
      await request.json();
      return Response.json({ id: crypto.randomUUID() }, { status: 202 });
    }, accepted),
};
const run = scenarios[scenario];
if (run === undefined) {
  throw new Error(
    `Unknown scenario ${scenario}: one of ${Object.keys(scenarios).join(", ")}`,
  );
}
const result = await run();
const { requests, seconds: measured, ...more } = result;
const wrkShare = result.wrk_cpu_seconds / measured;
const serverShare = result.server_cpu_seconds! / measured;
report({
  scenario: "version" in more
    ? `http Node-RED ${more.version}`
    : `http ${scenario}`,
  events: requests,
  seconds: measured,
  ...more,
  connections,
  // What a request costs the server, whatever else runs on the machine.
  server_cpu_us_per_request: result.server_cpu_seconds! / requests * 1e6,
  // The shares of a core wrk and the server kept busy over the measured run.
  wrk_cpu_share: wrkShare,
  server_cpu_share: serverShare,
  // wrk kept its core busy and the server had time to spare: the load
  // generator, not the server, was the limit.
  load_limited: wrkShare >= 0.9 && serverShare < 0.9,
});
