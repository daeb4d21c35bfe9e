/**
 * `deno task bench [scenario...]`: runs benchmark scenarios, each in its own
 * process, and prints their figures beside their baselines. Without a
 * scenario it runs all but `soak`; `deno task bench soak --minutes 2` runs
 * the soak alone (`--every S`: seconds between its RSS lines). Scenarios: pipeline, cli, latency, slow, streams, tcp,
 * http, syslog, disk_buffer, nats, soak. `--rounds N` (default 5) sets the rounds of each
 * comparison with a baseline. Figures only; it asserts nothing about time.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { countOption, type Result } from "./measure.ts";

const here = new URL(".", import.meta.url);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    minutes: { type: "string", default: "10" },
    every: { type: "string", default: "60" },
  },
});
/** Rounds of each comparison with a baseline. */
const ROUNDS = countOption("rounds", values.rounds!, 1);

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

const count = (n: number) => Math.round(n).toLocaleString("en-US");
const line = (result: Result) =>
  `${result.scenario.padEnd(30)} ${
    count(result.events_per_second).padStart(12)
  } events/s  ${count(result.events).padStart(10)} events  ${
    result.peak_rss_mb.toFixed(0).padStart(5)
  } MB peak RSS`;
const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;

/** The result with the median `events_per_second` of `results`. */
const median = (results: Result[]): Result =>
  [...results].sort((a, b) => a.events_per_second - b.events_per_second)[
    Math.floor(results.length / 2)
  ]!;
/** The median of `numbers`. */
const middle = (numbers: number[]): number =>
  [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]!;

/** What {@link alternate} measured. */
interface Alternated {
  /** Every run of each scenario, in round order. */
  runs: Result[][];
  /** The median run of each scenario (none for one that could not run). */
  medians: (Result | undefined)[];
  /**
   * The median, over the rounds, of the first scenario's rate divided by the
   * second's in the same round: load from elsewhere that comes and goes
   * between rounds falls on both sides of each ratio.
   */
  ratio: number;
  /**
   * The same of events per CPU second, where the scenarios measure it: what
   * the CPU each side got did, whatever else ran on the machine.
   */
  cpuRatio: number | undefined;
}

/**
 * Runs the `scenarios` of `program` in turn, `ROUNDS` times, so that load
 * from elsewhere on the machine falls on each alike.
 */
async function alternate(
  program: string,
  scenarios: string[],
  args: string[] = [],
  optional: string[] = [],
): Promise<Alternated> {
  const all = [...scenarios, ...optional];
  const runs = all.map((): Result[] => []);
  /** Optional scenarios that could not run (a tool missing). */
  const failed = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, scenario] of all.entries()) {
      if (failed.has(scenario)) continue;
      try {
        runs[i]!.push(await run(program, ["--scenario", scenario, ...args]));
      } catch (error) {
        if (!optional.includes(scenario)) throw error;
        console.log(`${scenario} left out: ${(error as Error).message}`);
        failed.add(scenario);
      }
    }
  }
  const ratioOf = (key: string) =>
    middle(
      runs[0]!.map((ours, round) =>
        Number(ours[key]) / Number(runs[1]![round]![key])
      ),
    );
  const ratio = ratioOf("events_per_second");
  const cpuRatio = runs[0]![0]!.events_per_cpu_second === undefined
    ? undefined
    : ratioOf("events_per_cpu_second");
  return {
    runs,
    medians: runs.map((results) =>
      results.length > 0 ? median(results) : undefined
    ),
    ratio,
    cpuRatio,
  };
}

async function pipeline(): Promise<void> {
  console.log("Pipeline: generator -> 3 pass-through transforms -> null");
  const ours = await run("pipeline.ts", [
    "--scenario",
    "compysition",
    "--events",
    "5000000",
  ]);
  const naive = await run("pipeline.ts", ["--scenario", "naive"]);
  console.log(line(ours));
  console.log(line(naive));
  console.log(
    `${
      count(Number(ours.events_per_cpu_second))
    } events per CPU second; speed-up over the naive baseline: ${
      (ours.events_per_second / naive.events_per_second).toFixed(1)
    }x (target: >= 8,000,000 events/s)`,
  );
}

async function cli(): Promise<void> {
  console.log(
    "\nThrough the CLI: cli.ts run on a file of generator -> 3 header -> null (start-up left out)",
  );
  const results: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    results.push(await run("cli_pipeline.ts", ["--events", "5000000"]));
  }
  console.log(
    `${line(median(results))} (median of ${ROUNDS}; target: >= 5,000,000)`,
  );
  console.log(
    `${
      count(middle(results.map((r) => Number(r.events_per_cpu_second))))
    } events per CPU second (median)`,
  );
}

async function latency(): Promise<void> {
  console.log(
    "\nLatency, lightly loaded: one event at a time, input -> 5 pass-through stages -> output",
  );
  const results: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    results.push(await run("latency.ts", ["--stages", "5"]));
  }
  const us = (key: string) =>
    middle(results.map((r) => Number(r[key]))).toFixed(1);
  console.log(
    `p50 ${us("p50_us")} us, p90 ${us("p90_us")} us, p99 ${
      us("p99_us")
    } us from the input's send to the output's consume (medians of ${ROUNDS} runs; target: p50 <= 50 us)`,
  );
}

async function slow(): Promise<void> {
  console.log("\nSlow output: fast generator -> output 100x+ slower, 5 s");
  const result = await run("slow_output.ts");
  console.log(line(result));
  console.log(
    `input alone ${
      count(Number(result.input_events_per_second))
    } events/s; output ${
      Number(result.slowdown).toFixed(0)
    }x slower; events lost ${result.lost} (target: < 150 MB peak RSS)`,
  );
}

async function streams(): Promise<void> {
  for (const chunks of ["batch", "event"]) {
    const runs = await alternate("streams.ts", ["compysition", "hand"], [
      "--chunks",
      chunks,
    ]);
    const [stream, hand] = runs.medians;
    console.log(
      `\nWeb Streams: 3 actors as TransformStreams vs 3 hand-written pass-through TransformStreams, ${
        chunks === "batch" ? "arrays of up to 512 events" : "one event"
      } per chunk, ${count(stream!.events)} events after a warm-up of ${
        count(Number(stream!.warmup_events))
      } (median of ${ROUNDS} rounds)`,
    );
    console.log(line(stream!));
    console.log(line(hand!));
    console.log(
      `${percent(runs.ratio)} of the hand-written chain's events/s, ${
        percent(runs.cpuRatio!)
      } of its events per CPU second (median ratios of a round; target: >= 50%)`,
    );
  }
}

async function tcp(): Promise<void> {
  const mib = (result: Result) => Number(result.mib_per_second).toFixed(1);
  for (const connections of [1, 4]) {
    const runs = await alternate("tcp_file.ts", ["compysition", "bare"], [
      "--connections",
      String(connections),
      "--lines",
      "1000000",
    ]);
    const [ours, bare] = runs.medians;
    console.log(
      `\nTCP lines (~${
        Math.round(Number(ours!.bytes_per_line))
      } bytes of JSON) -> json_decode -> file_out, ${
        count(ours!.events)
      } lines over ${connections} connection${
        connections === 1 ? "" : "s"
      } from a client process after a warm-up of ${
        count(Number(ours!.warmup_lines))
      } lines (median of ${ROUNDS} rounds)`,
    );
    console.log(`${line(ours!)}  ${mib(ours!)} MiB/s`);
    console.log(`${line(bare!)}  ${mib(bare!)} MiB/s`);
    console.log(
      `${mib(ours!)} MiB/s, ${
        percent(runs.ratio)
      } of the bare loop (median ratio of a round); bytes lost ${
        Math.max(...runs.runs[0]!.map((r) => Number(r.lost)))
      } in the worst round${
        connections === 1 ? " (target: >= 110 MiB/s, none lost)" : ""
      }`,
    );
  }
}

async function http(): Promise<void> {
  const targets = { request_response: 0.7, ingest: 0.8 };
  for (const [name, target] of Object.entries(targets)) {
    const runs = await alternate(
      "http.ts",
      [name, `${name}_bare`],
      ["--seconds", "6"],
      name === "request_response" ? [`${name}_node_red`] : [],
    );
    const [ours, bare, nodeRed] = runs.medians;
    console.log(
      `\nHTTP ${
        name === "ingest"
          ? "fire-and-forget: http_server -> null, answered 202"
          : "request/response: http_server -> header -> back, JSON echoed"
      }; wrk, 1 thread, ${
        ours!.connections
      } connections, POST 75 bytes of JSON, 6 s after 1 s of warm-up (median of ${ROUNDS} rounds)`,
    );
    const latencies = (result: Result) =>
      `p50 ${Number(result.p50_ms).toFixed(2)} ms, p99 ${
        Number(result.p99_ms).toFixed(2)
      } ms, ${result.failures} failed`;
    const cpu = (result: Result) =>
      `${Number(result.server_cpu_us_per_request).toFixed(0)} us server CPU`;
    for (const result of [ours!, bare!, nodeRed]) {
      if (result === undefined) continue;
      console.log(`${line(result)}  ${latencies(result)}, ${cpu(result)}`);
    }
    const bareRuns = runs.runs[1]!;
    // What wrk could drive with its one core busy, from the baseline's runs.
    const drivable = middle(
      bareRuns.map((r) =>
        r.events_per_second / Math.max(0.01, Number(r.wrk_cpu_share))
      ),
    );
    console.log(
      `baseline (bare Deno.serve) ${
        count(bare!.events_per_second)
      } req/s, its server ${
        percent(Number(bare!.server_cpu_share))
      } of a core busy; wrk ${
        percent(Number(bare!.wrk_cpu_share))
      } busy, so it could drive about ${count(drivable)} req/s`,
    );
    if (bareRuns.some((r) => r.load_limited === true)) {
      console.log(
        "no ratio: wrk kept its core busy while the baseline's server had time to spare, so the load generator, not the server, was the limit",
      );
      continue;
    }
    const p99 = middle(
      runs.runs[0]!.map((r, round) =>
        Number(r.p99_ms) / Number(bareRuns[round]!.p99_ms)
      ),
    );
    console.log(
      `${percent(runs.ratio)} of bare Deno.serve's req/s, p99 ${
        p99.toFixed(1)
      }x bare's (median ratios of a round; target: >= ${percent(target)}${
        name === "request_response" ? ", p99 <= 2x" : ""
      })`,
    );
  }
}

async function syslog(): Promise<void> {
  const runs = await alternate("syslog.ts", ["compysition", "syslog-ng"], [
    "--messages",
    "1000000",
  ]);
  const [ours, syslogNg] = runs.medians;
  console.log(
    `\nsyslog-ng forwarding ${
      count(ours!.events)
    } messages over TCP (RFC 5424, octet counting), into a receiver that writes them to a file (median of ${ROUNDS} rounds)`,
  );
  const cpu = (result: Result) =>
    `${
      (Number(result.receiver_cpu_seconds) / result.events * 1e6).toFixed(1)
    } us of receiver CPU per message`;
  console.log(`${line(ours!)}  ${cpu(ours!)}`);
  console.log(
    `${line(syslogNg!)}  ${cpu(syslogNg!)}, receiver peak RSS ${
      Number(syslogNg!.receiver_peak_rss_mb).toFixed(0)
    } MB`,
  );
  console.log(
    `tcp_server (syslog) -> file_out at ${
      runs.ratio.toFixed(2)
    }x the rate of a syslog-ng receiver (median ratio of a round; target: >= 1.0x)`,
  );
}

async function diskBuffer(): Promise<void> {
  const mib = (result: Result) => Number(result.mib_per_second).toFixed(1);
  console.log(
    "\nDisk buffers: file_in (1,000,000 lines of ~100 bytes of JSON) -> a connection with a disk buffer",
  );
  const diskRuns = await alternate("disk_buffer.ts", ["through", "file_out"]);
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
}

async function nats(): Promise<void> {
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
}

async function threads(): Promise<void> {
  for (const stage of ["jsonata", "header"]) {
    const threadRuns = await alternate("threads.ts", [
      `${stage}-2`,
      `${stage}-1`,
    ]);
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
}

async function soak(): Promise<void> {
  console.log(
    `\nSoak: ${values.minutes} min of good and hostile traffic into http_server and tcp_server`,
  );
  const soaked = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL("soak.ts", here).pathname,
      "--minutes",
      values.minutes!,
      "--every",
      values.every!,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!soaked.success) console.log("soak: FAILED (see above)");
}

const scenarios: Record<string, () => Promise<void>> = {
  pipeline,
  cli,
  latency,
  slow,
  streams,
  tcp,
  http,
  syslog,
  disk_buffer: diskBuffer,
  threads,
  nats,
  soak,
};
const chosen = positionals.length > 0
  ? positionals
  : Object.keys(scenarios).filter((name) => name !== "soak");
for (const name of chosen) {
  if (scenarios[name] === undefined) {
    console.error(
      `Unknown scenario "${name}": one of ${Object.keys(scenarios).join(", ")}`,
    );
    Deno.exit(2);
  }
}
console.log(
  `deno task bench ${chosen.join(" ")} (load average ${
    Deno.loadavg().map((n) => n.toFixed(2)).join(" ")
  } on ${navigator.hardwareConcurrency} cores)\n`,
);
for (const name of chosen) await scenarios[name]!();
