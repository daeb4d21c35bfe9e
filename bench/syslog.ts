/**
 * syslog-ng forwarding messages over TCP (RFC 5424, octet counting, its
 * `syslog()` driver with flow control, so that it loses none) into a
 * receiver that writes them to a file, in a temporary directory:
 *
 * - scenario `compysition`: `tcp_server` (framing and codec `syslog`) ->
 *   `file_out` (the records as ndjson);
 * - scenario `syslog-ng`: syslog-ng's own `syslog()` source -> `file()` (its
 *   default template: time, host, program and message on one line).
 *
 * The messages are lines of about 100 bytes in a file that the forwarding
 * syslog-ng reads (`file()` source, program and host set). The clock starts
 * when the forwarder is started and stops once the receiver has written the
 * last message (`file_out`'s count, or the receiver's `written` counter from
 * `syslog-ng-ctl stats`). Prints one JSON result line, with the CPU time the
 * receiver used meanwhile (`receiver_cpu_seconds`, from `/proc`) and, for
 * syslog-ng, its peak memory (`receiver_peak_rss_mb`; `peak_rss_mb` is this
 * process's, the receiver in scenario `compysition`); asserts
 * nothing about time, but fails when a message is missing from the output
 * file.
 *
 *   deno run --allow-all bench/syslog.ts --scenario compysition|syslog-ng \
 *     --messages 1000000
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Router } from "../core/router.ts";
import { type TcpServer, tcpServer } from "../actors/input/tcp_server.ts";
import { type FileOut, fileOut } from "../actors/output/file_out.ts";
import { findProgram } from "../tests/requires.ts";
import { freePort, pollUntil } from "../tests/helpers.ts";
import {
  type Daemon,
  startDaemon,
  SYSLOG_NG,
} from "../tests/syslog_daemons.ts";
import { countOption, report } from "./measure.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "compysition" },
    messages: { type: "string", default: "1000000" },
  },
});
const messages = countOption("messages", values.messages!, 1);

const syslogNg = findProgram(SYSLOG_NG);
if (syslogNg === undefined) {
  throw new Error(
    `syslog-ng is not installed: install it with "${SYSLOG_NG.install}"`,
  );
}

/** Writes the messages the forwarder reads: `messages` lines of ~100 bytes. */
async function writeInput(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const encoder = new TextEncoder();
  try {
    for (let start = 0; start < messages; start += 10_000) {
      let text = "";
      for (let i = start; i < Math.min(messages, start + 10_000); i++) {
        text += `user ${i % 997} logged in from 10.0.${i % 256}.${
          i % 200
        } session=${(i * 2_654_435_761 >>> 0).toString(16)} status=ok\n`;
      }
      await file.write(encoder.encode(text));
    }
  } finally {
    file.close();
  }
}

/** Starts the forwarding syslog-ng: the input file to `port`, over TCP. */
function startForwarder(dir: string, input: string, port: number): Daemon {
  const state = join(dir, "forwarder");
  Deno.mkdirSync(state);
  return startDaemon(
    syslogNg!,
    state,
    `@version: 3.38
options { stats-freq(0); log-fifo-size(100000); };
source s_file {
  file("${input}" flags(no-parse) follow-freq(0.05) log-iw-size(100000)
       log-fetch-limit(10000)
       program-override("webapp") host-override("web1"));
};
destination d_pipeline { syslog("127.0.0.1" port(${port}) transport("tcp")); };
log { source(s_file); destination(d_pipeline); flags(flow-control); };
`,
  );
}

/** What a scenario measured: its time and the receiver's CPU time. */
interface Timed {
  ms: number;
  /** CPU seconds (user and system) the receiving process used meanwhile. */
  cpu: number;
  /** The receiving syslog-ng's peak memory in MB (ours is in the report). */
  rss?: number;
}

/** CPU seconds (user and system) used so far by process `pid`. */
function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The fields after the command name, which is in parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs the pipeline until it has written every message. */
async function compysition(dir: string, input: string): Promise<Timed> {
  const output = join(dir, "out.ndjson");
  const router = new Router({ logLevel: "warning" });
  const server = router.register(tcpServer, "input", {
    port: 0,
    framing: "syslog",
    codec: "syslog",
  }) as TcpServer;
  const file = router.register(fileOut, "file", {
    path: output,
    format: "ndjson",
  }) as FileOut;
  router.connect("input.outbox", "file.inbox");
  await router.start();
  const started = performance.now();
  const cpu = cpuSeconds("self");
  await using _forwarder = startForwarder(dir, input, server.port);
  await pollUntil(
    () => file.figures().consumed_total,
    (written) => written >= messages,
    `${messages} messages written`,
    12_000,
    100,
  );
  const elapsed = performance.now() - started;
  const used = cpuSeconds("self") - cpu;
  const stopped = await router.stop({ timeoutMs: 60_000 });
  if (stopped.delivered !== messages || stopped.failed !== 0) {
    throw new Error(
      `${stopped.delivered} messages of ${messages} were written, ${stopped.failed} failed`,
    );
  }
  await checkLines(output);
  return { ms: elapsed, cpu: used };
}

/** The receiving syslog-ng's count of messages written to its file. */
async function written(control: string): Promise<number> {
  const output = await new Deno.Command(`${syslogNg}-ctl`, {
    args: ["stats", "-c", control],
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const match = text.match(/^dst\.file;[^;]*;[^;]*;a;written;(\d+)$/m);
  return match === null ? 0 : Number(match[1]);
}

/** The same with a syslog-ng receiver. */
async function syslogNgReceiver(dir: string, input: string): Promise<Timed> {
  const output = join(dir, "out.log");
  const state = join(dir, "receiver");
  Deno.mkdirSync(state);
  const port = freePort();
  await using receiver = startDaemon(
    syslogNg!,
    state,
    `@version: 3.38
options { stats-freq(0); stats-level(1); log-fifo-size(100000); };
source s_net { syslog(ip("127.0.0.1") port(${port}) transport("tcp") log-iw-size(100000)); };
destination d_file { file("${output}"); };
log { source(s_net); destination(d_file); flags(flow-control); };
`,
  );
  await receiver.said("syslog-ng starting up");
  const control = join(state, "syslog-ng.ctl");
  const started = performance.now();
  const cpu = cpuSeconds(receiver.pid);
  await using _forwarder = startForwarder(dir, input, port);
  await pollUntil(
    () => written(control),
    (count) => count >= messages,
    `${messages} messages written by syslog-ng`,
    12_000,
    100,
  );
  const elapsed = performance.now() - started;
  const used = cpuSeconds(receiver.pid) - cpu;
  const status = Deno.readTextFileSync(`/proc/${receiver.pid}/status`);
  const rss = Number(status.match(/^VmHWM:\s+(\d+) kB/m)?.[1]) / 1024;
  await receiver.stop();
  await checkLines(output);
  return { ms: elapsed, cpu: used, rss };
}

/** Fails unless `path` holds one line per message. */
async function checkLines(path: string): Promise<void> {
  let lines = 0;
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(1 << 20);
    for (;;) {
      const read = await file.read(buffer);
      if (read === null) break;
      for (let i = 0; i < read; i++) if (buffer[i] === 10) lines++;
    }
  } finally {
    file.close();
  }
  if (lines !== messages) {
    throw new Error(`${path} holds ${lines} lines, not ${messages}`);
  }
}

const dir = await Deno.makeTempDir({ prefix: "compysition_bench_syslog_" });
try {
  const input = join(dir, "in.log");
  await writeInput(input);
  const ours = values.scenario !== "syslog-ng";
  const { ms, cpu, rss } = ours
    ? await compysition(dir, input)
    : await syslogNgReceiver(dir, input);
  report({
    scenario: ours ? "syslog -> file_out" : "syslog-ng -> file",
    events: messages,
    seconds: ms / 1000,
    receiver_cpu_seconds: cpu,
    ...(rss === undefined ? {} : { receiver_peak_rss_mb: rss }),
  });
} finally {
  await Deno.remove(dir, { recursive: true });
}
