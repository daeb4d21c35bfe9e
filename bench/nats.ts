/**
 * NATS JetStream throughput with 1, 2 and 3 worker processes running
 * `examples/scale_out/worker.yaml` (`nats_in` -> `jsonata` -> `file_out`)
 * against a local `nats-server -js`, and the duplicates left by a worker
 * killed with SIGKILL mid-stream. Prints one JSON result line; asserts
 * nothing about time.
 *
 * Each run publishes the backlog first, then starts the workers; the rate is
 * measured while the acknowledged messages go from 10 % to 90 % of the
 * backlog, when every worker is running.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { report } from "./measure.ts";
import { pollUntil, startNatsServer } from "../tests/nats_server.ts";

const root = new URL("..", import.meta.url);
const cli = new URL("cli.ts", root).pathname;
const workerFile = new URL("examples/scale_out/worker.yaml", root).pathname;
const ACK_WAIT_MS = 3000;
const POLL_MS = 20;
/** Longest wait for one run, in polls (about 3 minutes). */
const MAX_POLLS = 9000;

const { values } = parseArgs({
  options: { events: { type: "string", default: "100000" } },
});
const events = Number(values.events);

/** Starts a worker process writing to `dir/<name>.ndjson`. */
function startWorker(
  name: string,
  dir: string,
  url: string,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", cli, "run", workerFile, "--status", "never"],
    env: {
      NATS_URL: url,
      WORKER_NAME: name,
      WORKER_OUTPUT: `${dir}/${name}.ndjson`,
      ACK_WAIT_MS: String(ACK_WAIT_MS),
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** A fresh stream EVENTS holding `count` messages, and its consumer. */
async function backlog(
  connection: NatsConnection,
  manager: JetStreamManager,
  count: number,
): Promise<void> {
  await manager.streams.delete("EVENTS").catch(() => false);
  await manager.streams.add({ name: "EVENTS", subjects: ["events.>"] });
  await manager.consumers.add("EVENTS", {
    durable_name: "workers",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ACK_WAIT_MS),
    max_ack_pending: 1000,
    max_deliver: -1,
  });
  const js = jetstream(connection);
  let next = 1;
  await Promise.all(
    Array.from({ length: 500 }, async () => {
      while (next <= count) {
        const id = next++;
        await js.publish("events.new", JSON.stringify({ id }));
      }
    }),
  );
}

/** Polls the consumer until `done`; returns the time it first held. */
async function until(
  manager: JetStreamManager,
  done: (acked: number, pending: number) => boolean,
): Promise<number> {
  await pollUntil(
    () => manager.consumers.info("EVENTS", "workers"),
    (info) =>
      done(info.ack_floor.stream_seq, info.num_pending + info.num_ack_pending),
    "the workers to acknowledge the backlog",
    MAX_POLLS,
    POLL_MS,
  );
  return performance.now();
}

/** Stops the workers by SIGTERM and waits for them to exit. */
async function stopAll(workers: Deno.ChildProcess[]): Promise<void> {
  for (const worker of workers) {
    try {
      worker.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  }
  await Promise.all(workers.map((worker) => worker.status));
}

/** Lines and distinct ids in the workers' files. */
async function lines(
  dir: string,
  names: string[],
): Promise<{ lines: number; distinct: number }> {
  const seen = new Set<number>();
  let count = 0;
  for (const name of names) {
    const text = await Deno.readTextFile(`${dir}/${name}.ndjson`).catch(() =>
      ""
    );
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        seen.add((JSON.parse(line) as { id: number }).id);
        count++;
      } catch {
        // A line torn by SIGKILL.
      }
    }
  }
  return { lines: count, distinct: seen.size };
}

await using server = await startNatsServer();
const connection = await connect({ servers: server.url });
const manager = await jetstreamManager(connection);
const rates: Record<string, number> = {};
let total = 0;
let seconds = 0;
let duplicates = 0;
let lost = 0;
try {
  for (const count of [1, 2, 3]) {
    await backlog(connection, manager, events);
    const dir = await Deno.makeTempDir({ prefix: "bench_nats_" });
    const names = Array.from({ length: count }, (_, i) => `w${i + 1}`);
    const workers = names.map((name) => startWorker(name, dir, server.url));
    try {
      const from = await until(manager, (acked) => acked >= events * 0.1);
      const to = await until(manager, (acked) => acked >= events * 0.9);
      await until(manager, (acked, pending) => acked === events && !pending);
      rates[`workers_${count}_events_per_second`] = events * 0.8 /
        ((to - from) / 1000);
      total += events;
      seconds += (to - from) / 1000;
    } finally {
      await stopAll(workers);
      await Deno.remove(dir, { recursive: true });
    }
  }

  // Three workers, one killed mid-stream: what it wrote but had not
  // acknowledged is written again by the others.
  await backlog(connection, manager, events);
  const dir = await Deno.makeTempDir({ prefix: "bench_nats_" });
  const names = ["w1", "w2", "w3"];
  const workers = names.map((name) => startWorker(name, dir, server.url));
  try {
    try {
      await until(manager, (acked) => acked >= events * 0.3);
      workers[0]!.kill("SIGKILL");
      await until(manager, (acked, pending) => acked === events && !pending);
    } finally {
      await stopAll(workers);
    }
    const written = await lines(dir, names);
    duplicates = written.lines - written.distinct;
    lost = events - written.distinct;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
} finally {
  await connection.close();
}

report({
  scenario: "nats jetstream",
  events: total,
  seconds,
  events_per_second: rates.workers_3_events_per_second ?? 0,
  ...rates,
  duplicates_after_kill: duplicates,
  lost_after_kill: lost,
});
