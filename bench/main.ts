/**
 * `deno task bench`: runs every benchmark scenario in its own process and
 * prints events per second and peak memory side by side. Figures only; it
 * asserts nothing about time.
 *
 * @module
 */

import type { Result } from "./measure.ts";

const here = new URL(".", import.meta.url);

/** Runs one scenario program and returns the result line it printed. */
async function run(program: string, args: string[] = []): Promise<Result> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(program, here).pathname, ...args],
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) throw new Error(`${program} failed:\n${text}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

const line = (result: Result) =>
  `${result.scenario.padEnd(22)} ${
    Math.round(result.events_per_second).toLocaleString("en-US").padStart(12)
  } events/s  ${result.events.toLocaleString("en-US").padStart(10)} events  ${
    result.peak_rss_mb.toFixed(0).padStart(5)
  } MB peak RSS`;

console.log("Pipeline: generator -> 3 pass-through transforms -> null");
const ours = await run("pipeline.ts", ["--scenario", "compysition"]);
const naive = await run("pipeline.ts", ["--scenario", "naive"]);
console.log(line(ours));
console.log(line(naive));
console.log(
  `speed-up over the naive baseline: ${
    (ours.events_per_second / naive.events_per_second).toFixed(1)
  }x (targets: >= 2,000,000 events/s and >= 10x)`,
);

console.log("\nSlow output: fast generator -> output 100x+ slower, 5 s");
const slow = await run("slow_output.ts");
console.log(line(slow));
console.log(
  `input alone ${
    Math.round(Number(slow.input_events_per_second)).toLocaleString("en-US")
  } events/s; output ${
    Number(slow.slowdown).toFixed(0)
  }x slower; events lost ${slow.lost} (target: < 150 MB peak RSS)`,
);

/** The result with the median `events_per_second` of `results`. */
const median = (results: Result[]): Result =>
  [...results].sort((a, b) => a.events_per_second - b.events_per_second)[
    Math.floor(results.length / 2)
  ]!;
/** What {@link alternate} measured. */
interface Alternated {
  /** The median run of each scenario. */
  medians: Result[];
  /**
   * The median, over the rounds, of the first scenario's rate divided by the
   * second's in the same round: load from elsewhere that comes and goes
   * between rounds falls on both sides of each ratio.
   */
  ratio: number;
}

/**
 * Runs the `scenarios` of `program` in turn, `rounds` times, so that load from
 * elsewhere on the machine falls on each alike.
 */
async function alternate(
  program: string,
  scenarios: string[],
  rounds: number,
  args: string[] = [],
): Promise<Alternated> {
  const runs = scenarios.map((): Result[] => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, scenario] of scenarios.entries()) {
      runs[i]!.push(await run(program, ["--scenario", scenario, ...args]));
    }
  }
  const ratios = runs[0]!.map((ours, round) =>
    ours.events_per_second / runs[1]![round]!.events_per_second
  ).sort((a, b) => a - b);
  return {
    medians: runs.map(median),
    ratio: ratios[Math.floor(rounds / 2)]!,
  };
}
/** Rounds of each comparison with a baseline. */
const ROUNDS = 5;
const mib = (result: Result) => Number(result.mib_per_second).toFixed(1);

for (const chunks of ["batch", "event"]) {
  const streamRuns = await alternate(
    "streams.ts",
    ["compysition", "hand"],
    ROUNDS,
    ["--chunks", chunks],
  );
  const [stream, hand] = streamRuns.medians;
  console.log(
    `\nWeb Streams: 3 actors as TransformStreams vs 3 hand-written pass-through TransformStreams, ${
      chunks === "batch" ? "arrays of up to 512 events" : "one event"
    } per chunk, ${
      stream!.events.toLocaleString("en-US")
    } events (median of ${ROUNDS} rounds)`,
  );
  console.log(line(stream!));
  console.log(line(hand!));
  console.log(
    `${
      (streamRuns.ratio * 100).toFixed(0)
    }% of the hand-written chain's events/s (median ratio of a round; target: >= 50%)`,
  );
}

for (const stage of ["jsonata", "header"]) {
  const threadRuns = await alternate(
    "threads.ts",
    [`${stage}-2`, `${stage}-1`],
    ROUNDS,
  );
  const [two, one] = threadRuns.medians;
  console.log(
    stage === "jsonata"
      ? `\nThreads: generator -> jsonata (CPU-bound: an order of 20 lines totalled, sorted, joined) -> null, threads: 2 vs 1 on ${navigator.hardwareConcurrency} cores, ${
        two!.events.toLocaleString("en-US")
      } events, thread start included (median of ${ROUNDS} rounds)`
      : `\nThreads on a cheap stage: generator -> header -> null, threads: 2 vs 1, ${
        two!.events.toLocaleString("en-US")
      } events (median of ${ROUNDS} rounds)`,
  );
  const cores = (result: Result) =>
    `${Number(result.cores_used).toFixed(2)} cores used`;
  console.log(`${line(two!)}  ${cores(two!)}`);
  console.log(`${line(one!)}  ${cores(one!)}`);
  console.log(
    `speed-up of threads: 2 over 1: ${threadRuns.ratio.toFixed(2)}x${
      stage === "jsonata"
        ? " (median ratio of a round; target: >= 1.5x)"
        : " (median ratio of a round; below 1x: threads cost more than a cheap stage gives)"
    }`,
  );
  if (stage === "jsonata" && Number(two!.cores_used) < 1.5) {
    console.log(
      `the machine gave threads: 2 only ${
        Number(two!.cores_used).toFixed(2)
      } cores (busy with other work; Linux shares CPU per session when sched_autogroup is on), which bounds its speed-up`,
    );
  }
}

const tcpRuns = await alternate("tcp_file.ts", ["compysition", "bare"], ROUNDS);
const [tcp, tcpBare] = tcpRuns.medians;
console.log(
  `\nTCP lines (~${
    Math.round(Number(tcp!.bytes_per_line))
  } bytes of JSON) -> json_decode -> file_out, ${
    tcp!.events.toLocaleString("en-US")
  } lines over ${
    tcp!.connections
  } connections from a client process (median of ${ROUNDS} rounds)`,
);
console.log(`${line(tcp!)}  ${mib(tcp!)} MiB/s`);
console.log(`${line(tcpBare!)}  ${mib(tcpBare!)} MiB/s`);
console.log(
  `${mib(tcp!)} MiB/s, ${
    (tcpRuns.ratio * 100).toFixed(0)
  }% of the bare loop (median ratio of a round); bytes lost ${
    tcp!.lost
  } (target: >= 100 MiB/s)`,
);

const httpArgs = ["--seconds", "3"];
const httpRuns = await alternate(
  "http.ts",
  ["compysition", "bare"],
  ROUNDS,
  httpArgs,
);
const [http, httpBare] = httpRuns.medians;
const latency = (result: Result) =>
  `p50 ${Number(result.p50_ms).toFixed(1)} ms, p99 ${
    Number(result.p99_ms).toFixed(1)
  } ms, ${result.failures} failed`;
console.log(
  `\nHTTP request/response: POST JSON, echoed back; ${
    http!.concurrency
  } concurrent keep-alive fetch clients in a separate process, 3 s per run (median of ${ROUNDS} rounds)`,
);
console.log(`${line(http!)}  ${latency(http!)}`);
console.log(`${line(httpBare!)}  ${latency(httpBare!)}`);
console.log(
  `http_server -> header -> http_server at ${
    (httpRuns.ratio * 100).toFixed(0)
  }% of the bare Deno.serve rate (median ratio of a round; target: >= 70%)`,
);

const syslogRuns = await alternate(
  "syslog.ts",
  ["compysition", "syslog-ng"],
  ROUNDS,
  ["--messages", "1000000"],
);
const [syslog, syslogNg] = syslogRuns.medians;
console.log(
  `\nsyslog-ng forwarding ${
    syslog!.events.toLocaleString("en-US")
  } messages over TCP (RFC 5424, octet counting), into a receiver that writes them to a file (median of ${ROUNDS} rounds)`,
);
const cpu = (result: Result) =>
  `${
    (Number(result.receiver_cpu_seconds) / result.events * 1e6).toFixed(1)
  } us of receiver CPU per message`;
console.log(`${line(syslog!)}  ${cpu(syslog!)}`);
console.log(
  `${line(syslogNg!)}  ${cpu(syslogNg!)}, receiver peak RSS ${
    Number(syslogNg!.receiver_peak_rss_mb).toFixed(0)
  } MB`,
);
console.log(
  `tcp_server (syslog) -> file_out at ${
    syslogRuns.ratio.toFixed(2)
  }x the rate of a syslog-ng receiver (median ratio of a round; target: >= 1.0x)`,
);

console.log(
  "\nDisk buffers: file_in (1,000,000 lines of ~100 bytes of JSON) -> a connection with a disk buffer",
);
const diskRuns = await alternate(
  "disk_buffer.ts",
  ["through", "file_out"],
  ROUNDS,
);
const [through, fileToFile] = diskRuns.medians;
/** `write` then `replay` sharing a directory: what one run left, the next replays. */
async function writeThenReplay(): Promise<[Result, Result]> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_bench_" });
  const write = await run("disk_buffer.ts", [
    "--scenario",
    "write",
    "--dir",
    dir,
  ]);
  return [
    write,
    await run("disk_buffer.ts", ["--scenario", "replay", "--dir", dir]),
  ];
}
const spills: [Result, Result][] = [];
for (let round = 0; round < ROUNDS; round++) {
  spills.push(await writeThenReplay());
}
const written = median(spills.map(([write]) => write));
const replayed = median(spills.map(([, replay]) => replay));
console.log(`${line(fileToFile!)}  ${mib(fileToFile!)} MiB/s read`);
console.log(`${line(through!)}  ${mib(through!)} MiB/s read`);
console.log(`${line(written!)}  ${mib(written!)} MiB/s to disk`);
console.log(`${line(replayed!)}  ${mib(replayed!)} MiB/s from disk`);
console.log(
  `a disk buffer on a connection runs at ${
    diskRuns.ratio.toFixed(2)
  }x the file -> file rate (median ratio of a round); the disk takes events at ${
    (written!.events_per_second / fileToFile!.events_per_second).toFixed(1)
  }x it while the output is down, and replays them into file_out at ${
    (replayed!.events_per_second / fileToFile!.events_per_second).toFixed(2)
  }x it`,
);

console.log(
  "\nNATS JetStream: workers taking a backlog of 200,000 messages of 64 bytes (median of 3 rounds)",
);
const nats = await run("nats.ts", ["--events", "200000", "--rounds", "3"]);
const figure = (key: string) => Number(nats[key]);
const rate = (key: string) =>
  Math.round(figure(`${key}_events_per_second`)).toLocaleString("en-US")
    .padStart(8);
const perMessage = (key: string) =>
  nats[`${key}_sends_per_message`] === undefined
    ? ""
    : `, ${
      nats[`${key}_writes_per_message`] === undefined
        ? ""
        : `${figure(`${key}_writes_per_message`).toFixed(3)} write, `
    }${figure(`${key}_sends_per_message`).toFixed(3)} sendto per message`;
console.log(
  `official client, consume() + ack()  ${rate("client")} msgs/s (baseline)${
    perMessage("client")
  }`,
);
for (
  const [key, label] of [
    ["file_1", "nats_in -> file_out, 1 worker"],
    ["file_2", "nats_in -> file_out, 2 workers"],
    ["jsonata_1", "nats_in -> jsonata -> file_out, 1"],
    ["jsonata_2", "nats_in -> jsonata -> file_out, 2"],
  ]
) {
  console.log(
    `${label!.padEnd(35)}${rate(key!)} msgs/s  ${
      figure(`${key}_ratio`).toFixed(2)
    }x the client${perMessage(key!)}`,
  );
}
console.log(
  `targets: >= 0.9x without a transform, >= 0.6x with jsonata; 2 workers >= 1.3x one: file ${
    figure("file_scaling").toFixed(2)
  }x, jsonata ${figure("jsonata_scaling").toFixed(2)}x`,
);
console.log(
  `event-at-a-time latency of a lightly loaded worker (nats_in -> jsonata -> nats_out): p50 ${
    figure("latency_p50_ms").toFixed(2)
  } ms, p99 ${figure("latency_p99_ms").toFixed(2)} ms`,
);
console.log(
  `one of 2 workers killed (SIGKILL) mid-stream: ${nats.duplicates_after_kill} duplicates, ${nats.lost_after_kill} lost`,
);
