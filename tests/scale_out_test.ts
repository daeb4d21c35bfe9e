/**
 * The scale-out proof: three worker processes run the same bootstrap file
 * (`examples/scale_out/worker.yaml`: `nats_in` -> `jsonata` -> `file_out`)
 * against one real `nats-server -js`, one is killed with SIGKILL mid-stream
 * and another stopped with SIGTERM, and still every message ends up in a file
 * and nothing is left unacknowledged.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { join } from "node:path";
import { CLI, ROOT } from "./cli_helpers.ts";
import { pollUntil, withTempDir } from "./helpers.ts";
import { NATS_SERVER, startNatsServer } from "./nats_server.ts";
import { testNeeding } from "./requires.ts";

/** A test that needs nats-server: skipped, saying why, where it is missing. */
const test = testNeeding(NATS_SERVER);

const MESSAGES = 100_000;
/** Publishes waiting for their acknowledgement at once. */
const PUBLISH_IN_FLIGHT = 500;
/** How soon the server redelivers what the killed worker held, in ms. */
const ACK_WAIT_MS = 3000;
const MAX_ACK_PENDING = 1000;

const workerFile = join(ROOT, "examples/scale_out/worker.yaml");

/** A worker process and where its output and logs go. */
interface Worker {
  name: string;
  output: string;
  log: string;
  process: Deno.ChildProcess;
  status: Promise<Deno.CommandStatus>;
  /** Set once the process has exited. */
  exited?: Deno.CommandStatus;
  /** Set when the test stops it on purpose. */
  stopping?: boolean;
}

/** Starts `deno run cli.ts run worker.yaml` with the worker's variables. */
async function startWorker(
  name: string,
  dir: string,
  url: string,
): Promise<Worker> {
  const output = `${dir}/${name}.ndjson`;
  const log = `${dir}/${name}.log`;
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, "run", workerFile, "--status", "never"],
    env: {
      NATS_URL: url,
      WORKER_NAME: name,
      WORKER_OUTPUT: output,
      ACK_WAIT_MS: String(ACK_WAIT_MS),
      MAX_ACK_PENDING: String(MAX_ACK_PENDING),
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = await Deno.open(log, { write: true, create: true });
  const writer = file.writable.getWriter();
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await writer.write(chunk);
  };
  const copied = Promise.all([copy(process.stdout), copy(process.stderr)])
    .finally(() => writer.close());
  const worker: Worker = {
    name,
    output,
    log,
    process,
    status: Promise.all([process.status, copied]).then(([status]) => {
      worker.exited = status;
      return status;
    }),
  };
  return worker;
}

/** Throws when a worker exited that the test did not stop. */
function checkAlive(workers: readonly Worker[]): void {
  for (const worker of workers) {
    if (worker.exited !== undefined && !worker.stopping) {
      throw new Error(
        `Worker ${worker.name} exited by itself (code ${worker.exited.code}); see its log below`,
      );
    }
  }
}

/** Ids per line of an NDJSON output; a torn last line (SIGKILL) is skipped. */
async function readIds(
  worker: Worker,
): Promise<{ ids: number[]; torn: number }> {
  let text: string;
  try {
    text = await Deno.readTextFile(worker.output);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { ids: [], torn: 0 };
    throw error;
  }
  const ids: number[] = [];
  let torn = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      const record = JSON.parse(line) as { id: number; worker: string };
      assert.equal(record.worker, worker.name, "each worker writes its own");
      ids.push(record.id);
    } catch (error) {
      if (error instanceof SyntaxError) torn++;
      else throw error;
    }
  }
  return { ids, torn };
}

test("three workers share 100,000 messages through NATS JetStream: after a SIGKILL and a SIGTERM every id is in a file and nothing is left unacknowledged", async () => {
  await using server = await startNatsServer();
  await withTempDir(async (dir) => {
    const connection = await connect({ servers: server.url });
    const workers: Worker[] = [];
    try {
      const manager = await jetstreamManager(connection);
      await manager.streams.add({ name: "EVENTS", subjects: ["events.>"] });
      // The consumer the workers would create, made first so that they all
      // bind to it.
      await manager.consumers.add("EVENTS", {
        durable_name: "workers",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ACK_WAIT_MS),
        max_ack_pending: MAX_ACK_PENDING,
        max_deliver: -1,
      });
      const info = () => {
        checkAlive(workers);
        return manager.consumers.info("EVENTS", "workers");
      };
      for (const name of ["w1", "w2", "w3"]) {
        workers.push(await startWorker(name, dir, server.url));
      }
      const [killed, stopped, last] = workers as [Worker, Worker, Worker];

      // The producer: every id once, with bounded publishes in flight.
      const js = jetstream(connection);
      let next = 1;
      const publishing = Promise.all(
        Array.from({ length: PUBLISH_IN_FLIGHT }, async () => {
          while (next <= MESSAGES) {
            const id = next++;
            await js.publish("events.new", JSON.stringify({ id }), {
              msgID: String(id),
            });
          }
        }),
      );
      publishing.catch(() => {}); // awaited below; a failure shows there

      // Mid-stream: once a fifth is acknowledged and w1 has written, kill w1.
      await pollUntil(
        async () => ({
          consumer: await info(),
          written: (await readIds(killed)).ids.length,
        }),
        ({ consumer, written }) =>
          consumer.ack_floor.stream_seq >= MESSAGES / 5 && written > 0,
        "a fifth of the messages to be acknowledged and w1 to write some",
        1200,
        50,
      );
      killed.stopping = true;
      killed.process.kill("SIGKILL");
      // Then, past half, stop w2 by SIGTERM: it drains and exits.
      await pollUntil(
        info,
        (consumer) => consumer.ack_floor.stream_seq >= MESSAGES / 2,
        "half of the messages to be acknowledged",
        1200,
        50,
      );
      stopped.stopping = true;
      stopped.process.kill("SIGTERM");
      const stoppedStatus = await stopped.status;
      await publishing;

      // w3 finishes the rest, what w1 held included (after ACK_WAIT_MS).
      const settled: ConsumerInfo = await pollUntil(
        info,
        (consumer) =>
          consumer.num_pending === 0 && consumer.num_ack_pending === 0 &&
          consumer.delivered.stream_seq === MESSAGES,
        "every message to be delivered and acknowledged",
        2400,
        50,
      );
      last.stopping = true;
      last.process.kill("SIGTERM");
      const lastStatus = await last.status;
      const killedStatus = await killed.status;

      const outputs = await Promise.all(workers.map(readIds));
      const seen = new Uint8Array(MESSAGES + 1);
      let lines = 0;
      for (const { ids } of outputs) {
        for (const id of ids) {
          lines++;
          if (seen[id]! < 255) seen[id]!++;
        }
      }
      const missing: number[] = [];
      for (let id = 1; id <= MESSAGES; id++) {
        if (seen[id] === 0) missing.push(id);
      }
      const duplicates = lines - (MESSAGES - missing.length);
      console.log(
        `scale-out: ${MESSAGES} messages; lines per worker ${
          workers.map((worker, i) =>
            `${worker.name}=${outputs[i]!.ids.length}${
              outputs[i]!.torn > 0 ? ` (+${outputs[i]!.torn} torn)` : ""
            }`
          ).join(", ")
        }; ${duplicates} duplicates; redelivered ${
          settled.delivered.consumer_seq - MESSAGES
        } times`,
      );

      assert.equal(killedStatus.signal, "SIGKILL");
      assert.equal(stoppedStatus.code, 0, "w2 drained and exited cleanly");
      assert.equal(lastStatus.code, 0, "w3 drained and exited cleanly");
      assert.deepEqual(missing.slice(0, 10), [], "every id is in some file");
      assert.ok(outputs[0]!.ids.length > 0, "w1 wrote before it was killed");
      assert.ok(outputs[1]!.ids.length > 0, "w2 wrote before it was stopped");
      assert.ok(duplicates >= 0);
      assert.equal(
        settled.num_ack_pending,
        0,
        "nothing is left unacknowledged",
      );
      assert.equal(settled.num_pending, 0, "nothing is left undelivered");
      assert.equal(settled.ack_floor.stream_seq, MESSAGES);
    } catch (error) {
      for (const worker of workers) {
        const log = await Deno.readTextFile(worker.log).catch(() => "");
        console.error(`--- ${worker.name} log (last 3000 characters) ---`);
        console.error(log.slice(-3000));
      }
      throw error;
    } finally {
      for (const worker of workers) {
        try {
          worker.process.kill("SIGKILL");
        } catch {
          // Already exited.
        }
        await worker.status;
      }
      await connection.close();
    }
  });
});
