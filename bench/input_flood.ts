/**
 * Hostile clients against a blocked pipeline: prints the resident memory
 * every second and what the pipeline holds, so that memory bounded by the
 * configured capacities can be seen (issue 12). Asserts nothing.
 *
 * - `--scenario tcp`: `--clients` (100) connections send `"\n"` as fast as
 *   they can into `tcp_server` -> `tcp_client` (capacity 100) whose peer
 *   accepts and never reads.
 * - `--scenario udp`: a client sends empty datagrams as fast as it can into
 *   `udp_in` -> an output that never finishes its first event (capacity 100);
 *   then the router is stopped with a 1 s timeout and the stop's duration is
 *   printed.
 *
 * The clients run in a separate process, so that they do not share the
 * pipeline's event loop.
 *
 *   deno run --allow-all bench/input_flood.ts --scenario tcp --seconds 10
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createSocket } from "node:dgram";
import { Router } from "../core/router.ts";
import { Actor, type Context } from "../core/actor.ts";
import type { Event } from "../core/event.ts";
import { type TcpServer, tcpServer } from "../actors/input/tcp_server.ts";
import { type UdpIn, udpIn } from "../actors/input/udp_in.ts";
import { tcpClient } from "../actors/output/tcp_client.ts";
import { countOption, report, startClient } from "./measure.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "tcp" },
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "100" },
    client: { type: "boolean", default: false },
    port: { type: "string", default: "0" },
  },
});
const seconds = Number(values.seconds);
const clients = countOption("clients", values.clients!, 1);

/** The client process: floods `port` until it is killed. */
async function client(scenario: string, port: number): Promise<void> {
  if (scenario === "udp") {
    const socket = createSocket("udp4");
    const empty = new Uint8Array(0);
    console.log("connected");
    for (;;) {
      await new Promise<void>((sent) =>
        socket.send(empty, port, "127.0.0.1", () => sent())
      );
    }
  }
  const newlines = new Uint8Array(65_536).fill(10);
  const conns = await Promise.all(
    Array.from(
      { length: clients },
      () => Deno.connect({ hostname: "127.0.0.1", port }),
    ),
  );
  console.log("connected");
  await Promise.all(conns.map(async (conn) => {
    for (;;) await conn.write(newlines);
  }));
}

/** Starts the client process; resolves once it is flooding, with a kill. */
async function flooding(
  scenario: string,
  port: number,
): Promise<() => Promise<void>> {
  const child = await startClient(new URL(import.meta.url), [
    "--client",
    "--scenario",
    scenario,
    "--clients",
    String(clients),
    "--port",
    String(port),
  ], "null");
  return async () => {
    child.kill();
    await child.status;
  };
}

/** An output that never finishes the first event it is given. */
class Stuck extends Actor {
  readonly kind = "output";
  override consume(_event: Event, context: Context): Promise<void> {
    return new Promise((resolve) =>
      context.signal.addEventListener("abort", () => resolve(), {
        once: true,
      })
    );
  }
}

const rssMb = () => Math.round(Deno.memoryUsage().rss / 1048576);

/** Events held by the pipeline's queues now. */
function held(router: Router): number {
  let depth = 0;
  for (const actor of Object.values(router.metrics().actors)) {
    for (const queue of Object.values(actor.queues)) depth += queue.depth;
  }
  return depth;
}

async function flood(scenario: string): Promise<void> {
  const router = new Router();
  let port: number;
  let peer: Deno.TcpListener | undefined;
  const accepted: Deno.TcpConn[] = [];
  if (scenario === "tcp") {
    peer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    void (async () => {
      for await (const conn of peer!) accepted.push(conn);
    })().catch(() => {});
    const server = router.register(tcpServer, "input", {
      port: 0,
      max_connections: clients + 10,
    }) as TcpServer;
    router.register(tcpClient, "output", { port: peer.addr.port }, {
      capacity: 100,
    });
    router.connect("input.outbox", "output.inbox");
    await router.start();
    port = server.port;
  } else {
    const input = router.register(udpIn, "input", { port: 0 }) as UdpIn;
    router.register(new Stuck("output", { capacity: 100 }));
    router.connect("input.outbox", "output.inbox");
    await router.start();
    port = input.port;
  }
  const before = rssMb();
  console.error(`start: ${before} MB RSS`);
  const kill = await flooding(scenario, port);
  let peak = before;
  for (let second = 1; second <= seconds; second++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rss = rssMb();
    peak = Math.max(peak, rss);
    console.error(
      `${second} s: ${rss} MB RSS, ${held(router)} events in queues`,
    );
  }
  const metrics = router.metrics().actors.input!;
  const queued = held(router);
  const started = performance.now();
  const stopped = await router.stop({ timeoutMs: 1000 });
  const stopSeconds = (performance.now() - started) / 1000;
  await kill();
  peer?.close();
  for (const conn of accepted) conn.close();
  report({
    scenario: `input_flood_${scenario}`,
    events: stopped.created,
    seconds,
    start_rss_mb: before,
    max_rss_mb: peak,
    queued,
    input_figures: Object.fromEntries(
      Object.entries(metrics).filter(([, value]) => typeof value === "number"),
    ),
    dropped: stopped.dropped,
    stop_seconds: Number(stopSeconds.toFixed(2)),
  });
}

if (values.client) {
  await client(values.scenario, Number(values.port));
} else {
  await flood(values.scenario);
}
