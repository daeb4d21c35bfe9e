/**
 * Soak: `--minutes` (default 10) of good and hostile traffic at once, from a
 * separate client process, into a pipeline of `http_server` (202 once
 * accepted) and `tcp_server` (lines -> `json_decode`), both into `null`
 * (`json_decode`'s errors into a second `null`). The traffic:
 *
 * - good: JSON POSTs on keep-alive connections, and JSON lines on one TCP
 *   connection;
 * - slowloris: HTTP connections that send a request head a few bytes at a
 *   time, and TCP connections that send nothing;
 * - oversized: HTTP bodies over `max_body_bytes` (1 MiB), and TCP lines over
 *   `max_line_bytes` (1 MiB);
 * - malformed: invalid JSON bodies and lines, random bytes, garbage heads;
 * - resets: connections closed in the middle of a request or a line.
 *
 * The server prints its resident memory and its live heap (what the JS
 * heap holds after a full collection) every `--every` seconds (default 60),
 * then the counts at the end, and whether memory stayed flat: the highest
 * RSS of the second half within 25% (or 32 MB) of the highest of the first
 * half, after the first interval's warm-up, and the same for the live heap
 * within 25% (or 8 MB). A leak shows in the live heap long before RSS. Exits
 * 1 when either grew. Asserts nothing about time.
 *
 *   deno run --allow-all --v8-flags=--expose-gc bench/soak.ts --minutes 10
 *   deno task bench soak --minutes 2
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Router } from "../core/router.ts";
import { type HttpServer, httpServer } from "../actors/input/http_server.ts";
import { type TcpServer, tcpServer } from "../actors/input/tcp_server.ts";
import { jsonDecode } from "../actors/transform/json_decode.ts";
import { nullOutput } from "../actors/output/null.ts";
import { report, startClient } from "./measure.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    every: { type: "string", default: "60" },
    client: { type: "boolean", default: false },
    http: { type: "string", default: "0" },
    tcp: { type: "string", default: "0" },
  },
});
const seconds = Number(values.minutes) * 60;
const every = Number(values.every);

/** Counts of what the client sent, by kind. */
type Sent = Record<string, number>;

const JSON_ORDER = JSON.stringify({ id: 1, customer: "ada", total: 9.5 });
const encoder = new TextEncoder();

/** Sleeps `ms` milliseconds. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes all of `bytes`; false when the peer went away. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let written = 0;
    while (written < bytes.length) {
      written += await conn.write(bytes.subarray(written));
    }
    return true;
  } catch {
    return false;
  }
}

/** The client process: every kind of traffic until `seconds` passed. */
async function client(httpPort: number, tcpPort: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  const running = () => Date.now() < end;
  const url = `http://127.0.0.1:${httpPort}/orders`;
  const sent: Sent = {};
  const count = (kind: string) => sent[kind] = (sent[kind] ?? 0) + 1;
  const connect = (port: number) =>
    Deno.connect({ hostname: "127.0.0.1", port });
  const post = async (body: BodyInit, type = "application/json") => {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": type },
        body,
      });
      await response.body?.cancel();
      count(`http ${response.status}`);
    } catch {
      count("http client error");
    }
  };
  const loops: Promise<void>[] = [];
  const loop = (fn: () => Promise<void>) =>
    loops.push((async () => {
      while (running()) await fn();
    })());

  // Good HTTP traffic: 8 clients, paced so that the machine is not swamped.
  for (let i = 0; i < 8; i++) {
    loop(async () => {
      await post(JSON_ORDER);
      await pause(2);
    });
  }
  // Malformed and oversized bodies.
  const big = new Uint8Array(2 * 1024 * 1024).fill(0x61);
  loop(async () => {
    await post("{not json");
    await post(crypto.getRandomValues(new Uint8Array(512)), "text/plain");
    await post(big);
    await pause(20);
  });
  // Slowloris: 200 connections sending a head a few bytes a second.
  const head = encoder.encode(
    "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: " +
      "a".repeat(200) + "\r\n\r\n",
  );
  for (let i = 0; i < 200; i++) {
    loop(async () => {
      let conn: Deno.Conn;
      try {
        conn = await connect(httpPort);
      } catch {
        count("slowloris connect error");
        await pause(1000);
        return;
      }
      count("slowloris connections");
      for (let at = 0; at < head.length && running(); at += 4) {
        if (!await writeAll(conn, head.subarray(at, at + 4))) break;
        await pause(1000);
      }
      try {
        conn.close();
      } catch { /* closed by the server */ }
    });
  }
  // Resets: HTTP requests and TCP lines cut in the middle, garbage heads.
  loop(async () => {
    for (const port of [httpPort, tcpPort]) {
      try {
        const conn = await connect(port);
        await writeAll(
          conn,
          port === httpPort
            ? encoder.encode(
              "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
            )
            : encoder.encode('{"half": "a li'),
        );
        conn.close();
        count(port === httpPort ? "http resets" : "tcp resets");
        const garbage = await connect(port);
        await writeAll(
          garbage,
          crypto.getRandomValues(new Uint8Array(4096)),
        );
        garbage.close();
        count(port === httpPort ? "http garbage" : "tcp garbage");
      } catch {
        count("reset errors");
      }
    }
    await pause(10);
  });
  // Idle TCP connections, opened and kept in turn.
  for (let i = 0; i < 50; i++) {
    loop(async () => {
      try {
        const conn = await connect(tcpPort);
        count("tcp idle connections");
        await pause(30_000);
        conn.close();
      } catch {
        count("tcp idle errors");
        await pause(1000);
      }
    });
  }
  // Good TCP lines, malformed lines, and an oversized line now and then.
  loop(async () => {
    let conn: Deno.Conn;
    try {
      conn = await connect(tcpPort);
    } catch {
      count("tcp connect errors");
      await pause(1000);
      return;
    }
    const lines = Array.from(
      { length: 1000 },
      (_, i) => (i % 100 === 7 ? "{broken json" : JSON_ORDER) + "\n",
    ).join("");
    const block = encoder.encode(lines);
    const oversized = encoder.encode("x".repeat(2 * 1024 * 1024) + "\n");
    for (let round = 0; running(); round++) {
      if (!await writeAll(conn, block)) break;
      count("tcp blocks of 1000 lines");
      if (round % 50 === 49) {
        if (!await writeAll(conn, oversized)) break;
        count("tcp oversized lines");
      }
      await pause(5);
    }
    try {
      conn.close();
    } catch { /* closed by the server */ }
  });
  await Promise.all(loops);
  // Stdout is no longer read: the counts go to stderr.
  console.error(`client sent: ${JSON.stringify(sent)}`);
}

/**
 * MB the JS heap holds after a full collection; what it holds now when the
 * process runs without `--expose-gc`.
 */
function liveHeap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed / 1024 / 1024;
}

/**
 * The highest sample of the first and of the second half of `samples`
 * (`[second, MB]`), leaving out the first interval's warm-up; `[first
 * sample, now]` when there are too few.
 */
function halves(samples: [number, number][], now: number): [number, number] {
  const after = samples.filter(([at]) => at >= every);
  const half = Math.floor(after.length / 2);
  if (half === 0) return [samples[0]![1], now];
  const peak = (list: [number, number][]) =>
    Math.max(...list.map(([, mb]) => mb));
  return [peak(after.slice(0, half)), peak(after.slice(half))];
}

/** The server: the pipeline, RSS at each interval, counts at the end. */
async function server(): Promise<void> {
  const router = new Router({ logLevel: "error" });
  const web = router.register(httpServer, "web", { port: 0 }) as HttpServer;
  const tcp = router.register(tcpServer, "tcp", {
    port: 0,
    idle_timeout: 10,
  }) as TcpServer;
  router.register(jsonDecode, "decode");
  for (const sink of ["orders", "lines", "errors", "broken"]) {
    router.register(nullOutput, sink);
  }
  router.connect("web.orders", "orders.inbox");
  router.connect("tcp.outbox", "decode.inbox");
  router.connect("decode.outbox", "lines.inbox");
  router.connect("decode.error", "errors.inbox");
  router.connect("tcp.error", "broken.inbox");
  await router.start();
  const started = Date.now();
  const child = await startClient(new URL(import.meta.url), [
    "--client",
    "--http",
    String(web.port),
    "--tcp",
    String(tcp.port),
    "--minutes",
    String(values.minutes),
  ]);
  // startClient waits for "connected": the client says it at once.
  const rss = () => Deno.memoryUsage().rss / 1024 / 1024;
  const samples: [number, number][] = [[0, rss()]];
  const heaps: [number, number][] = [[0, liveHeap()]];
  console.log(
    `  0 s  RSS ${samples[0]![1].toFixed(0)} MB  live heap ${
      heaps[0]![1].toFixed(1)
    } MB`,
  );
  const timer = setInterval(() => {
    const at = Math.round((Date.now() - started) / 1000);
    samples.push([at, rss()]);
    heaps.push([at, liveHeap()]);
    const figures = router.metrics().actors;
    console.log(
      `${String(at).padStart(3)} s  RSS ${rss().toFixed(0)} MB  live heap ${
        heaps.at(-1)![1].toFixed(1)
      } MB  http requests ${web.figures().requests_total}, tcp events ${tcp.figures().created_total}, delivered ${
        figures.orders!.consumed_total + figures.lines!.consumed_total
      }, errors ${
        figures.errors!.consumed_total + figures.broken!.consumed_total
      }, open http connections ${web.figures().connections}`,
    );
  }, every * 1000);
  const status = await child.status;
  clearInterval(timer);
  const stopped = await router.stop({ timeoutMs: 10_000 });
  const duration = (Date.now() - started) / 1000;
  const [early, late] = halves(samples, rss());
  const [heapEarly, heapLate] = halves(heaps, liveHeap());
  const flat = late <= Math.max(early * 1.25, early + 32) &&
    heapLate <= Math.max(heapEarly * 1.25, heapEarly + 8);
  console.log(
    `http: ${JSON.stringify(web.figures())}\ntcp: ${
      JSON.stringify(tcp.figures())
    }\nstop report: ${JSON.stringify({ ...stopped, queues: undefined })}`,
  );
  console.log(
    `RSS ${early.toFixed(0)} MB early, ${late.toFixed(0)} MB late; live heap ${
      heapEarly.toFixed(1)
    } MB early, ${heapLate.toFixed(1)} MB late: ${
      flat ? "flat" : "GROWING"
    }; unaccounted events ${stopped.unaccounted}; client ${
      status.success ? "done" : `failed (${status.code})`
    }`,
  );
  report({
    scenario: "soak",
    events: stopped.delivered + stopped.errors,
    seconds: duration,
    rss_early_mb: early,
    rss_late_mb: late,
    live_heap_early_mb: heapEarly,
    live_heap_late_mb: heapLate,
    flat,
    unaccounted: stopped.unaccounted,
  });
  if (!flat || stopped.unaccounted !== 0 || !status.success) Deno.exit(1);
}

if (values.client) {
  console.log("connected");
  await client(Number(values.http), Number(values.tcp));
} else {
  await server();
}
