/**
 * TCP lines of about 100 bytes of JSON -> `json_decode` -> `file_out` (ndjson,
 * in a temporary directory), fed by a client in a separate process so that
 * it does not share the pipeline's event loop. Prints one JSON result line
 * with lines/s, MiB/s and peak memory; asserts nothing about time.
 *
 * Scenario `bare` does the same work without Compysition, as a reference for
 * the machine: a loop per connection reads, splits lines, `JSON.parse`s and
 * `JSON.stringify`s each and appends them to the file, a write per read.
 *
 * Each side first takes `--warmup` lines (1,000,000 by default) from a
 * client of its own, untimed, and writes them: what a receiver that runs
 * for months does, with its code optimized and its heap grown (on this
 * virtual machine the first touch of a page of new memory costs about
 * 11 µs, and the pipeline's first million lines took about 9,500 more
 * page faults than the loop's). Then the clock starts once the timed
 * client has connected (it says so on its stdout) and stops once it has
 * written everything and the server is done: every line is then in the
 * file. `lost` compares the file's size with the bytes sent (the lines are
 * compact JSON, so decoding and encoding them again gives the same bytes).
 *
 *   deno run --allow-all bench/tcp_file.ts --scenario compysition|bare \
 *     --lines 2000000 --connections 2 --warmup 1000000
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Router } from "../core/router.ts";
import { type TcpServer, tcpServer } from "../actors/input/tcp_server.ts";
import { jsonDecode } from "../actors/transform/json_decode.ts";
import { fileOut } from "../actors/output/file_out.ts";
import { countOption, cpuSeconds, report, startClient } from "./measure.ts";
import { pollUntil } from "../tests/helpers.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "compysition" },
    lines: { type: "string", default: "2000000" },
    connections: { type: "string", default: "2" },
    warmup: { type: "string", default: "1000000" },
    client: { type: "boolean", default: false },
    port: { type: "string", default: "0" },
  },
});
const lines = countOption("lines", values.lines!, 1);
const connections = countOption("connections", values.connections!, 1);
const warmup = countOption("warmup", values.warmup!);
/** Lines in the block a client writes over and over (about 1 MiB). */
const BLOCK_LINES = 10_000;

/** A block of `count` distinct lines of about 100 bytes of JSON each. */
function block(count: number): Uint8Array {
  let text = "";
  for (let seq = 0; seq < count; seq++) {
    text += JSON.stringify({
      id: 1_000_000 + seq,
      time: "2026-01-01T12:00:00Z",
      level: seq % 10 === 0 ? "warn" : "info",
      msg: `user ${seq % 997} logged in from 10.0.${seq % 256}.7`,
    }) + "\n";
  }
  return new TextEncoder().encode(text);
}

/** Bytes in the first `count` lines of `bytes`. */
function prefixBytes(bytes: Uint8Array, count: number): number {
  let at = 0;
  for (let i = 0; i < count; i++) at = bytes.indexOf(10, at) + 1;
  return at;
}

/**
 * The lines each connection sends: `count` shared out as evenly as can be.
 */
function share(count: number, connection: number): number {
  return Math.floor(count / connections) +
    (connection < count % connections ? 1 : 0);
}

/** The bytes the connections of a client sending `count` lines send. */
function bytesOfClient(count: number, bytes: Uint8Array): number {
  let sent = 0;
  for (let c = 0; c < connections; c++) {
    sent += bytesFor(share(count, c), bytes);
  }
  return sent;
}

/** The bytes a connection sending `count` lines sends. */
function bytesFor(count: number, bytes: Uint8Array): number {
  const full = Math.floor(count / BLOCK_LINES);
  return full * bytes.length + prefixBytes(bytes, count % BLOCK_LINES);
}

/** The client process: connects, says so, writes its lines, closes. */
async function client(port: number): Promise<void> {
  const bytes = block(BLOCK_LINES);
  const conns = await Promise.all(
    Array.from(
      { length: connections },
      () => Deno.connect({ hostname: "127.0.0.1", port }),
    ),
  );
  console.log("connected");
  await Promise.all(conns.map(async (conn, c) => {
    let left = share(lines, c);
    while (left > 0) {
      const count = Math.min(left, BLOCK_LINES);
      const chunk = count === BLOCK_LINES
        ? bytes
        : bytes.subarray(0, prefixBytes(bytes, count));
      let written = 0;
      while (written < chunk.length) {
        written += await conn.write(chunk.subarray(written));
      }
      left -= count;
    }
    conn.close();
  }));
}

/**
 * Starts a client process sending `count` lines to `port` and resolves once
 * it has connected, with a promise of its end.
 */
async function runClient(
  port: number,
  count: number,
): Promise<{ done: Promise<void> }> {
  const child = await startClient(new URL(import.meta.url), [
    "--client",
    "--port",
    String(port),
    "--lines",
    String(count),
    "--connections",
    String(connections),
  ]);
  const done = child.status.then((status) => {
    if (!status.success) throw new Error(`The client failed: ${status.code}`);
  });
  return { done };
}

/**
 * Runs the pipeline until the timed client is done and every line is
 * written; returns the seconds and CPU seconds that took.
 */
async function compysition(path: string): Promise<[number, number]> {
  const router = new Router({ logLevel: "warning" });
  const input = router.register(tcpServer, "input", {
    port: 0,
    codec: "lines",
  }) as TcpServer;
  router.register(jsonDecode, "decode");
  router.register(fileOut, "file", { path, format: "ndjson" });
  router.connect("input.outbox", "decode.inbox");
  router.connect("decode.outbox", "file.inbox");
  await router.start();
  if (warmup > 0) {
    await (await runClient(input.port, warmup)).done;
    await pollUntil(
      () => router.metrics().actors.file!.consumed_total,
      (written) => written === warmup,
      "the warm-up's lines in the file",
      1200,
    );
  }
  const client = await runClient(input.port, lines);
  const started = performance.now();
  const cpuBefore = cpuSeconds();
  await client.done;
  const stopped = await router.stop({ timeoutMs: 60_000 });
  const timed: [number, number] = [
    (performance.now() - started) / 1000,
    cpuSeconds() - cpuBefore,
  ];
  if (stopped.delivered !== warmup + lines) {
    throw new Error(
      `${stopped.delivered} lines of ${warmup + lines} were written`,
    );
  }
  return timed;
}

/** The same work in a plain loop per connection, timed the same way. */
async function bare(path: string): Promise<[number, number]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const file = await Deno.open(path, { append: true, create: true });
  const encoder = new TextEncoder();
  let writing = Promise.resolve();
  const append = (bytes: Uint8Array) =>
    writing = writing.then(async () => {
      let written = 0;
      while (written < bytes.length) {
        written += await file.write(bytes.subarray(written));
      }
    });
  const serve = async (conn: Deno.Conn) => {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(65_536);
    let rest = "";
    for (;;) {
      const read = await conn.read(buffer);
      if (read === null) break;
      const parts = (rest + decoder.decode(buffer.subarray(0, read), {
        stream: true,
      })).split("\n");
      rest = parts.pop()!;
      let out = "";
      for (const part of parts) out += JSON.stringify(JSON.parse(part)) + "\n";
      await append(encoder.encode(out));
    }
    conn.close();
  };
  /** Serves the connections of the next client until they end. */
  const accept = async () => {
    const served = [];
    for (let c = 0; c < connections; c++) {
      served.push(serve(await listener.accept()));
    }
    await Promise.all(served);
  };
  if (warmup > 0) {
    const warmed = accept();
    await (await runClient(listener.addr.port, warmup)).done;
    await warmed;
    await writing;
  }
  const accepted = accept();
  const client = await runClient(listener.addr.port, lines);
  const started = performance.now();
  const cpuBefore = cpuSeconds();
  await Promise.all([client.done, accepted]);
  await writing;
  const timed: [number, number] = [
    (performance.now() - started) / 1000,
    cpuSeconds() - cpuBefore,
  ];
  file.close();
  listener.close();
  return timed;
}

async function server(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_bench_" });
  const path = join(dir, "lines.ndjson");
  try {
    const plain = values.scenario === "bare";
    const [seconds, cpu] = plain ? await bare(path) : await compysition(path);
    const bytes = block(BLOCK_LINES);
    const sent = bytesOfClient(lines, bytes);
    const written = (await Deno.stat(path)).size -
      bytesOfClient(warmup, bytes);
    report({
      scenario: plain ? "tcp -> file, bare loop" : "tcp -> file",
      events: lines,
      seconds,
      mib_per_second: sent / 1024 / 1024 / seconds,
      cpu_seconds: cpu,
      mib_per_cpu_second: sent / 1024 / 1024 / cpu,
      bytes: sent,
      bytes_per_line: sent / lines,
      connections,
      warmup_lines: warmup,
      lost: sent - written,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (values.client) await client(Number(values.port));
else await server();
