/**
 * NATS JetStream workers against the official client's own rate, measured in
 * the same run. A local `nats-server -js` holds a backlog of `--events` JSON
 * messages of 64 bytes; each run gives a fresh explicit-ack durable consumer
 * (`max_ack_pending` 1000) of that backlog to worker processes and takes the
 * rate at which messages are acknowledged, from 10 % to 90 % of the backlog.
 *
 * Scenarios, run in turn in each of `--rounds` rounds so that load from
 * elsewhere on the machine falls on each alike:
 * - `client`: the baseline, `bench/nats_client.ts` (the official client's
 *   `consume()` and one `ack()` per message);
 * - `file_1`, `file_2`: `bench/nats_file.yaml` (`nats_in -> file_out`), 1 and
 *   2 workers;
 * - `jsonata_1`, `jsonata_2`: `bench/nats_jsonata.yaml`
 *   (`nats_in -> jsonata -> file_out`), 1 and 2 workers;
 * - with `--before DIR` (another checkout, `main` say), each of these again
 *   with `DIR/cli.ts`, as `<scenario>_before`.
 *
 * Workers are `cli.ts run FILE` processes, as users run them. Each process
 * runs in a session of its own (`setsid`): Linux shares the CPU out between
 * sessions first (autogroups), so that on a machine that others use too,
 * each worker gets a share of its own, as on a machine of its own; otherwise
 * two workers would share the one share of the bench's session. Until every
 * process of a run is connected and pulling, the consumer hands out one
 * message at a time (`max_ack_pending` 1); the rate is measured on what is
 * left once it is raised to 1000. The CPU time of the processes and of the
 * server per message, and the part of the time the processes waited for a
 * CPU while ready to run (how busy the machine was), are measured alike.
 *
 * Then: where `strace` is installed, the `write` and `sendto` system calls
 * per message of each one-process scenario (`--strace false` skips it); the
 * event-at-a-time latency of a lightly loaded worker
 * (`bench/nats_latency.yaml`: `--latency-events` messages, one at a time, from
 * the publish to its event coming out of `nats_out`; 0 skips it); and the
 * duplicates and losses when one of two workers is killed with SIGKILL
 * mid-stream (`--kill false` skips it). `--only file_1,jsonata_1` runs those
 * scenarios (and the client) only. `--profile DIR` has each process write a
 * CPU profile (`deno run --cpu-prof`) under `DIR/<scenario>_<process>/`.
 *
 * Prints one JSON result line: the median rate of each scenario, the median
 * over the rounds of its ratio to the client in the same round, and so on.
 * Asserts nothing about time.
 *
 *   deno run --allow-all bench/nats.ts --events 200000 --rounds 5
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  connect,
  type Msg,
  nanos,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { countOption, report } from "./measure.ts";
import { freePort } from "../tests/helpers.ts";
import { pollUntil, startNatsServer } from "../tests/nats_server.ts";
import { findProgram } from "../tests/requires.ts";

const here = new URL(".", import.meta.url);
const STREAM = "EVENTS";
/** The subject of the backlog's messages. */
const SUBJECT = "events.new";
/** The subject of the latency probe's messages. */
const PROBE = "events.probe";
/** The consumers' `max_ack_pending` once every process is pulling. */
const MAX_ACK_PENDING = 1000;
const POLL_MS = 20;
/** Longest wait for one run, in polls (about 3 minutes). */
const MAX_POLLS = 9000;

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    rounds: { type: "string", default: "5" },
    "latency-events": { type: "string", default: "200" },
    strace: { type: "string", default: "true" },
    kill: { type: "string", default: "true" },
    only: { type: "string", default: "" },
    before: { type: "string" },
    profile: { type: "string" },
  },
});
const events = countOption("events", values.events!, 1);
const rounds = countOption("rounds", values.rounds!, 1);
const latencyEvents = countOption(
  "latency-events",
  values["latency-events"]!,
);
const strace = values.strace === "true"
  ? findProgram({ name: "strace", install: "apt-get install -y strace" })
  : undefined;
const setsid = findProgram({
  name: "setsid",
  install: "apt-get install -y util-linux",
});

/** What runs: the client baseline, or workers running a bench YAML file. */
interface Plan {
  /** The name of its figures, e.g. `jsonata_2`. */
  key: string;
  /** `client`, or the YAML file `bench/nats_<pipeline>.yaml`. */
  pipeline: "client" | "file" | "jsonata" | "latency";
  /** How many processes. */
  processes: number;
  /** The `cli.ts` that runs the YAML file. */
  cli: string;
}

/** One process of a run, and where its output and log go. */
interface Worker {
  process: Deno.ChildProcess;
  output: string;
  log: string;
  /** The `strace -c` summary, when traced. */
  trace?: string;
}

/**
 * The processes running: in sessions of their own, they would outlive the
 * bench if it were interrupted.
 */
const running = new Set<Worker>();

/** The server and the bench's own connection to it. */
interface Setup {
  connection: NatsConnection;
  manager: JetStreamManager;
  url: string;
  /** The server's monitoring address. */
  monitor: string;
  /** The server's process id (0 where unknown). */
  server: number;
}

/** A JSON message of exactly 64 bytes carrying `id`. */
function message(id: number): string {
  const text = JSON.stringify({ id, pad: "" });
  return text.slice(0, -2) + "x".repeat(64 - text.length) + '"}';
}

/** Makes stream EVENTS and publishes the backlog into it. */
async function backlog(
  connection: NatsConnection,
  manager: JetStreamManager,
): Promise<void> {
  await manager.streams.add({ name: STREAM, subjects: ["events.>"] });
  const js = jetstream(connection);
  let next = 1;
  await Promise.all(
    Array.from({ length: 500 }, async () => {
      while (next <= events) await js.publish(SUBJECT, message(next++));
    }),
  );
}

let consumers = 0;

/**
 * A fresh durable consumer of the backlog that hands out one message at a
 * time until {@link release}d; returns its name.
 */
async function consumer(
  manager: JetStreamManager,
  ackWaitMs = 30_000,
): Promise<string> {
  const durable = `run${++consumers}`;
  await manager.consumers.add(STREAM, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_ack_pending: 1,
    max_deliver: -1,
    filter_subject: SUBJECT,
  });
  return durable;
}

/**
 * Lets the consumer hand out {@link MAX_ACK_PENDING} messages at once;
 * returns how many were acknowledged before.
 */
async function release(
  manager: JetStreamManager,
  durable: string,
): Promise<number> {
  await manager.consumers.update(STREAM, durable, {
    max_ack_pending: MAX_ACK_PENDING,
  });
  return await acknowledged(manager, durable);
}

/** Starts one process of `plan`, in a session of its own. */
async function start(
  plan: Plan,
  name: string,
  dir: string,
  setup: Setup,
  durable: string,
  traced = false,
): Promise<Worker> {
  const output = `${dir}/${name}.ndjson`;
  const log = `${dir}/${name}.log`;
  const trace = traced ? `${dir}/${name}.strace` : undefined;
  const args = plan.pipeline === "client"
    ? [new URL("nats_client.ts", here).pathname, setup.url, STREAM, durable]
    : [
      plan.cli,
      "run",
      new URL(`nats_${plan.pipeline}.yaml`, here).pathname,
      "--status",
      "never",
    ];
  const profile = values.profile === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${values.profile}/${plan.key}_${name}`];
  let command = [Deno.execPath(), "run", "--allow-all", ...profile, ...args];
  if (trace !== undefined) {
    command = [
      strace!,
      "-f",
      "-e",
      "trace=write,writev,sendto,sendmsg",
      "-s",
      "0",
      "-o",
      trace,
      ...command,
    ];
  }
  if (setsid !== undefined) command = [setsid, ...command];
  const file = await Deno.open(log, { write: true, create: true });
  const process = new Deno.Command(command[0]!, {
    args: command.slice(1),
    env: {
      NATS_URL: setup.url,
      DURABLE: durable,
      WORKER_NAME: name,
      WORKER_OUTPUT: output,
      LATENCY_SUBJECT: "probe.out",
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  void process.stderr.pipeTo(file.writable);
  const worker: Worker = { process, output, log };
  if (trace !== undefined) worker.trace = trace;
  running.add(worker);
  void process.status.then(() => running.delete(worker));
  return worker;
}

/**
 * Waits until `count` processes are connected and pulling: each has a
 * subscription to a pull request's inbox (`_INBOX.<id>.<n>`, not the
 * `_INBOX.<id>.*` of the client's requests).
 */
async function pulling(monitor: string, count: number): Promise<void> {
  await pollUntil(
    async () => {
      const response = await fetch(`${monitor}/connz?subs=1`);
      const { connections = [] } = await response.json() as {
        connections?: { name?: string; subscriptions_list?: string[] }[];
      };
      return connections.filter((connection) =>
        connection.name === "bench-worker" &&
        (connection.subscriptions_list ?? []).some((subject) =>
          subject.startsWith("_INBOX.") && !subject.endsWith("*")
        )
      ).length;
    },
    (ready) => ready >= count,
    `${count} worker(s) to connect and pull`,
    MAX_POLLS,
    POLL_MS,
  );
}

/**
 * Messages of the backlog acknowledged so far: its sequence numbers are 1 to
 * `events`, and every one below the consumer's ack floor is acknowledged.
 */
async function acknowledged(
  manager: JetStreamManager,
  durable: string,
): Promise<number> {
  return (await manager.consumers.info(STREAM, durable)).ack_floor.stream_seq;
}

/** Polls until `done(acknowledged)`; returns the time it first held. */
async function until(
  manager: JetStreamManager,
  durable: string,
  done: (acked: number) => boolean,
): Promise<number> {
  await pollUntil(
    () => acknowledged(manager, durable),
    done,
    "the workers to acknowledge the backlog",
    MAX_POLLS,
    POLL_MS,
  );
  return performance.now();
}

/**
 * Stops the processes by SIGTERM (the traced process, not `strace`) and waits
 * for them to exit.
 */
async function stopAll(workers: Worker[]): Promise<void> {
  for (const worker of workers) {
    const pid = worker.process.pid;
    try {
      if (worker.trace === undefined) {
        Deno.kill(pid, "SIGTERM");
      } else {
        const children = Deno.readTextFileSync(
          `/proc/${pid}/task/${pid}/children`,
        ).trim().split(/\s+/).filter((child) => child !== "");
        for (const child of children) Deno.kill(Number(child), "SIGTERM");
      }
    } catch {
      // Already gone.
    }
  }
  await Promise.all(workers.map((worker) => worker.process.status));
}

/**
 * From `strace` files: the `write`/`writev` calls to the file written most
 * (the output; the runtime also writes to an eventfd to wake itself), and
 * every `sendto`/`sendmsg` call (to the NATS server).
 */
async function syscalls(
  workers: Worker[],
): Promise<{ writes: number; sends: number }> {
  let writes = 0;
  let sends = 0;
  for (const worker of workers) {
    const text = await Deno.readTextFile(worker.trace!);
    /** Calls and bytes written per file descriptor. */
    const files = new Map<string, { calls: number; bytes: number }>();
    // <pid>  write(<fd>, ""..., <length>) = <written>
    for (
      const [, call, fd, result] of text.matchAll(
        /^\d+\s+(\w+)\((\d+),.*\)\s+=\s+(-?\d+)/gm,
      )
    ) {
      if (call === "sendto" || call === "sendmsg") {
        sends++;
      } else {
        const file = files.get(fd!) ?? { calls: 0, bytes: 0 };
        file.calls++;
        file.bytes += Math.max(0, Number(result));
        files.set(fd!, file);
      }
    }
    const output = [...files.values()].sort((a, b) => b.bytes - a.bytes)[0];
    writes += output?.calls ?? 0;
  }
  return { writes, sends };
}

/** CPU time processes `pids` used so far, in ms (Linux; else 0). */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      // After "(name)": state is field 3; utime and stime are 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  }
  // Clock ticks of 10 ms, the kernel's USER_HZ on Linux.
  return ticks * 10;
}

/**
 * Time the main threads of processes `pids` waited for a CPU while ready to
 * run, in ms (Linux; else 0).
 */
function runQueueMs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    try {
      // Time on a CPU, time waiting on a run queue, time slices.
      const [, waiting] = Deno.readTextFileSync(`/proc/${pid}/schedstat`)
        .split(" ");
      ns += Number(waiting);
    } catch {
      return 0;
    }
  }
  return ns / 1e6;
}

/** The process id of this process's `nats-server` child (Linux), or 0. */
function serverPid(): number {
  try {
    for (const task of Deno.readDirSync("/proc/self/task")) {
      const children = Deno.readTextFileSync(
        `/proc/self/task/${task.name}/children`,
      ).trim().split(/\s+/);
      for (const child of children) {
        const name = Deno.readTextFileSync(`/proc/${child}/comm`).trim();
        if (name === "nats-server") return Number(child);
      }
    }
  } catch {
    // Not Linux.
  }
  return 0;
}

/** What one run measured. */
interface Run {
  events_per_second: number;
  /** CPU time of the processes per message, in µs, while measured. */
  cpu_us: number;
  /** CPU time of the server per message, in µs, while measured. */
  server_cpu_us: number;
  /**
   * The part of the time the processes' main threads waited for a CPU while
   * ready to run, on average: how busy the machine was.
   */
  cpu_wait: number;
  writes?: number;
  sends?: number;
}

/** One run: the processes of `plan` take the backlog from a fresh consumer. */
async function measure(
  setup: Setup,
  plan: Plan,
  traced = false,
): Promise<Run> {
  const { manager, monitor } = setup;
  const durable = await consumer(manager);
  const dir = await Deno.makeTempDir({ prefix: "bench_nats_" });
  const workers: Worker[] = [];
  try {
    for (let i = 1; i <= plan.processes; i++) {
      workers.push(await start(plan, `w${i}`, dir, setup, durable, traced));
    }
    await pulling(monitor, plan.processes);
    const before = await release(manager, durable);
    const left = events - before;
    const pids = workers.map((worker) => worker.process.pid);
    const from = await until(manager, durable, (n) => n >= before + left / 10);
    const cpuFrom = cpuMs(pids);
    const serverFrom = cpuMs([setup.server]);
    const waitFrom = runQueueMs(pids);
    const to = await until(manager, durable, (n) => n >= before + left * 0.9);
    const cpuTo = cpuMs(pids);
    const serverTo = cpuMs([setup.server]);
    const waitTo = runQueueMs(pids);
    await until(manager, durable, (n) => n >= events);
    await stopAll(workers);
    const measured = left * 0.8;
    const run: Run = {
      events_per_second: measured / ((to - from) / 1000),
      cpu_us: (cpuTo - cpuFrom) * 1000 / measured,
      server_cpu_us: (serverTo - serverFrom) * 1000 / measured,
      cpu_wait: (waitTo - waitFrom) / pids.length / (to - from),
    };
    if (traced) Object.assign(run, await syscalls(workers));
    return run;
  } catch (error) {
    for (const worker of workers) {
      const log = await Deno.readTextFile(worker.log).catch(() => "");
      console.error(`--- ${worker.log} ---\n${log.slice(-3000)}`);
    }
    throw error;
  } finally {
    await stopAll(workers);
    await manager.consumers.delete(STREAM, durable).catch(() => false);
    await Deno.remove(dir, { recursive: true });
  }
}

/** The median of `values`. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The value at fraction `p` of `values`, sorted. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * The event-at-a-time latency of one lightly loaded worker: `latencyEvents`
 * messages published one at a time, each once the one before came out, in
 * ms.
 */
async function latency(setup: Setup, cli: string): Promise<number[]> {
  const { connection, manager, monitor } = setup;
  const durable = `run${++consumers}`;
  await manager.consumers.add(STREAM, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_ack_pending: MAX_ACK_PENDING,
    filter_subject: PROBE,
  });
  const dir = await Deno.makeTempDir({ prefix: "bench_nats_" });
  const out = connection.subscribe("probe.out");
  const received = out[Symbol.asyncIterator]();
  const workers: Worker[] = [];
  const plan: Plan = { key: "latency", pipeline: "latency", processes: 1, cli };
  try {
    workers.push(await start(plan, "w1", dir, setup, durable));
    await pulling(monitor, 1);
    const samples: number[] = [];
    // Ten first, to warm up.
    for (let i = 0; i < latencyEvents + 10; i++) {
      const began = performance.now();
      connection.publish(PROBE, message(i));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = await Promise.race([
        received.next(),
        new Promise<null>((resolve) =>
          timer = setTimeout(() => resolve(null), 10_000)
        ),
      ]).finally(() => clearTimeout(timer));
      if (next === null || next === undefined || next.done) {
        throw new Error(`Probe ${i} did not come out within 10 s`);
      }
      const came = (next.value as Msg).json<{ id: number }>();
      if (came.id !== i) throw new Error(`Probe ${came.id} came out for ${i}`);
      if (i >= 10) samples.push(performance.now() - began);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return samples;
  } finally {
    out.unsubscribe();
    await stopAll(workers);
    await manager.consumers.delete(STREAM, durable).catch(() => false);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lines and distinct ids in the processes' output files. */
async function lines(
  workers: Worker[],
): Promise<{ lines: number; distinct: number }> {
  const seen = new Set<number>();
  let count = 0;
  for (const worker of workers) {
    const text = await Deno.readTextFile(worker.output).catch(() => "");
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

/**
 * Two `jsonata` workers, one killed with SIGKILL once 30 % is acknowledged:
 * what it wrote but had not acknowledged is written again by the other.
 */
async function killOne(
  setup: Setup,
  cli: string,
): Promise<{ duplicates: number; lost: number }> {
  const { manager, monitor } = setup;
  const durable = await consumer(manager, 3000);
  const dir = await Deno.makeTempDir({ prefix: "bench_nats_" });
  const workers: Worker[] = [];
  const plan: Plan = { key: "kill", pipeline: "jsonata", processes: 2, cli };
  try {
    for (const name of ["w1", "w2"]) {
      workers.push(await start(plan, name, dir, setup, durable));
    }
    await pulling(monitor, 2);
    await release(manager, durable);
    await until(manager, durable, (n) => n >= events * 0.3);
    workers[0]!.process.kill("SIGKILL");
    await until(manager, durable, (n) => n >= events);
    await stopAll(workers);
    const written = await lines(workers);
    return {
      duplicates: written.lines - written.distinct,
      lost: events - written.distinct,
    };
  } finally {
    await stopAll(workers);
    await manager.consumers.delete(STREAM, durable).catch(() => false);
    await Deno.remove(dir, { recursive: true });
  }
}

const cli = new URL("../cli.ts", here).pathname;
const monitorPort = freePort();
await using server = await startNatsServer({
  args: ["-m", String(monitorPort)],
});
const interrupted = async () => {
  for (const worker of running) worker.process.kill("SIGKILL");
  await server.stop();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", interrupted);
Deno.addSignalListener("SIGTERM", interrupted);
const connection = await connect({ servers: server.url });
try {
  const manager = await jetstreamManager(connection);
  const setup: Setup = {
    connection,
    manager,
    url: server.url,
    monitor: `http://127.0.0.1:${monitorPort}`,
    server: serverPid(),
  };
  await backlog(connection, manager);

  const only = values.only === "" ? [] : values.only.split(",");
  const ours = ([
    { key: "file_1", pipeline: "file", processes: 1, cli },
    { key: "jsonata_1", pipeline: "jsonata", processes: 1, cli },
    { key: "file_2", pipeline: "file", processes: 2, cli },
    { key: "jsonata_2", pipeline: "jsonata", processes: 2, cli },
  ] satisfies Plan[]).filter((plan) =>
    only.length === 0 || only.includes(plan.key)
  );
  const before = values.before === undefined ? [] : ours.map((plan) => ({
    ...plan,
    key: `${plan.key}_before`,
    cli: `${values.before}/cli.ts`,
  }));
  const plans: Plan[] = [
    { key: "client", pipeline: "client", processes: 1, cli },
    ...ours,
    ...before,
  ];
  const runs: Record<string, Run[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const plan of plans) {
      const run = await measure(setup, plan);
      (runs[plan.key] ??= []).push(run);
      console.error(
        `round ${round + 1}: ${plan.key} ${
          Math.round(run.events_per_second)
        } msgs/s, ${run.cpu_us.toFixed(1)} µs CPU per message (server ${
          run.server_cpu_us.toFixed(1)
        } µs), waited for a CPU ${
          (run.cpu_wait * 100).toFixed(0)
        }% of the time`,
      );
    }
  }
  const result: Record<string, number> = {};
  const medianOf = (key: string, figure: keyof Run) =>
    median(runs[key]!.map((run) => run[figure]!));
  /** The median over the rounds of the rate of `a` / that of `b`. */
  const ratio = (a: string, b: string) =>
    median(
      runs[a]!.map((run, round) =>
        run.events_per_second / runs[b]![round]!.events_per_second
      ),
    );
  for (const { key } of plans) {
    result[`${key}_events_per_second`] = medianOf(key, "events_per_second");
    result[`${key}_ratio`] = ratio(key, "client");
    result[`${key}_cpu_us_per_message`] = medianOf(key, "cpu_us");
    result[`${key}_server_cpu_us_per_message`] = medianOf(
      key,
      "server_cpu_us",
    );
    result[`${key}_cpu_wait`] = medianOf(key, "cpu_wait");
  }
  for (const suffix of ["", "_before"]) {
    for (const pipeline of ["file", "jsonata"]) {
      const [one, two] = [`${pipeline}_1${suffix}`, `${pipeline}_2${suffix}`];
      if (runs[one] && runs[two]) {
        result[`${pipeline}_scaling${suffix}`] = ratio(two, one);
      }
    }
  }
  for (const { key } of before) {
    result[`${key.replace(/_before$/, "")}_vs_before`] = ratio(
      key.replace(/_before$/, ""),
      key,
    );
  }

  if (strace !== undefined) {
    for (const plan of plans) {
      if (plan.processes !== 1) continue;
      const run = await measure(setup, plan, true);
      if (plan.pipeline !== "client") {
        result[`${plan.key}_writes_per_message`] = run.writes! / events;
      }
      result[`${plan.key}_sends_per_message`] = run.sends! / events;
    }
  }

  if (latencyEvents > 0) {
    for (const [suffix, checkout] of [["", cli], ["_before", values.before]]) {
      if (checkout === undefined) continue;
      const samples = await latency(
        setup,
        suffix === "" ? checkout : `${checkout}/cli.ts`,
      );
      result[`latency_p50_ms${suffix}`] = percentile(samples, 0.5);
      result[`latency_p99_ms${suffix}`] = percentile(samples, 0.99);
    }
  }

  if (values.kill === "true") {
    const killed = await killOne(setup, cli);
    result.duplicates_after_kill = killed.duplicates;
    result.lost_after_kill = killed.lost;
  }

  report({
    scenario: "nats jetstream",
    events: events * rounds * plans.length,
    seconds: 0,
    events_per_second: result.jsonata_1_events_per_second ?? 0,
    rounds,
    backlog: events,
    strace: strace !== undefined,
    ...result,
  });
} finally {
  Deno.removeSignalListener("SIGINT", interrupted);
  Deno.removeSignalListener("SIGTERM", interrupted);
  await connection.close();
}
