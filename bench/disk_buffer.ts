/**
 * Disk buffers: how fast a connection's disk buffer writes events and
 * replays them, beside the file -> file rate of `file_out` measured the same
 * way. Lines of about 100 bytes of JSON are read by `file_in`. Prints one
 * JSON result line per scenario; asserts nothing about time.
 *
 * - `file_out`: `file_in -> file_out`, no disk buffer (the reference).
 * - `through`: the same with a disk buffer on the connection, the output
 *   keeping up: every event is written to disk and read back on its way.
 * - `write`: `file_in -> (disk buffer) -> an output that takes nothing`:
 *   the clock stops once every event is on disk.
 * - `replay`: what `write` left on disk, replayed by the next run into
 *   `file_out` (its input reads an empty file).
 *
 *   deno run --allow-all bench/disk_buffer.ts --scenario file_out|through|write|replay \
 *     --lines 1000000 --dir DIR
 *
 * `write` and `replay` share `--dir` (the driver runs them in turn);
 * `replay` removes it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Actor } from "../core/actor.ts";
import type { Queue } from "../core/queue.ts";
import { Router } from "../core/router.ts";
import { fileIn } from "../actors/input/file_in.ts";
import { fileOut } from "../actors/output/file_out.ts";
import { countOption, report } from "./measure.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "file_out" },
    lines: { type: "string", default: "1000000" },
    dir: { type: "string" },
  },
});
const lines = countOption("lines", values.lines!, 1);

/** An output that never finishes its first event: everything waits. */
class Stuck extends Actor {
  readonly kind = "output";
  override consume(): Promise<void> {
    return new Promise(() => {});
  }
}

/** Writes `count` distinct lines of about 100 bytes of JSON to `path`. */
async function writeLines(path: string, count: number): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const encoder = new TextEncoder();
  let bytes = 0;
  for (let start = 0; start < count; start += 10_000) {
    let text = "";
    for (let seq = start; seq < Math.min(count, start + 10_000); seq++) {
      text += JSON.stringify({
        id: 1_000_000 + seq,
        time: "2026-01-01T12:00:00Z",
        level: seq % 10 === 0 ? "warn" : "info",
        msg: `user ${seq % 997} logged in from 10.0.${seq % 256}.7`,
      }) + "\n";
    }
    const chunk = encoder.encode(text);
    bytes += chunk.length;
    let written = 0;
    while (written < chunk.length) {
      written += await file.write(chunk.subarray(written));
    }
  }
  file.close();
  return bytes;
}

/** A router reading `input` into `output`, buffered in `buffer` if given. */
function pipeline(
  input: string,
  output: Actor | string,
  buffer?: string,
): Router {
  const router = new Router({ logLevel: "error" });
  router.register(fileIn, "input", { path: input });
  if (typeof output === "string") {
    router.register(fileOut, "sink", { path: output });
  } else router.register(output);
  router.connect(
    "input.outbox",
    "sink.inbox",
    buffer === undefined ? {} : {
      buffer: { type: "disk", path: buffer, fsync: 1000 },
    },
  );
  return router;
}

function sinkQueue(router: Router): Queue {
  return router.actor("sink")!.pool.inbound.get("inbox")!;
}

/** Runs `router` until it finished; returns the seconds and its report. */
async function timed(router: Router): Promise<number> {
  const started = performance.now();
  await router.start();
  await router.finished;
  const seconds = (performance.now() - started) / 1000;
  const stopped = await router.stop({ timeoutMs: 60_000 });
  if (stopped.delivered !== lines) {
    throw new Error(`${stopped.delivered} of ${lines} lines were written`);
  }
  return seconds;
}

const scenario = values.scenario!;
const dir = values.dir ??
  await Deno.makeTempDir({ prefix: "compysition_bench_" });
const input = join(dir, "in.ndjson");
const buffer = join(dir, "buffer");
try {
  if (scenario === "file_out" || scenario === "through") {
    const bytes = await writeLines(input, lines);
    const seconds = await timed(
      pipeline(
        input,
        join(dir, "out.ndjson"),
        scenario === "through" ? buffer : undefined,
      ),
    );
    report({
      scenario: scenario === "through"
        ? "file -> disk buffer -> file"
        : "file -> file_out",
      events: lines,
      seconds,
      mib_per_second: bytes / 1024 / 1024 / seconds,
    });
  } else if (scenario === "write") {
    await writeLines(input, lines);
    const router = pipeline(input, new Stuck("sink"), buffer);
    const started = performance.now();
    await router.start();
    const queue = sinkQueue(router);
    while ((queue.figures().disk_written_total ?? 0) < lines) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const seconds = (performance.now() - started) / 1000;
    const diskBytes = queue.figures().disk_bytes ?? 0;
    // The stuck output never finishes: the events stay on disk.
    await router.stop({ timeoutMs: 100 });
    report({
      scenario: "disk buffer write",
      events: lines,
      seconds,
      mib_per_second: diskBytes / 1024 / 1024 / seconds,
      disk_bytes: diskBytes,
    });
  } else if (scenario === "replay") {
    await Deno.writeTextFile(input, "");
    const router = pipeline(input, join(dir, "out.ndjson"), buffer);
    const diskBytes = await dirBytes(buffer);
    const seconds = await timed(router);
    report({
      scenario: "disk buffer replay -> file_out",
      events: lines,
      seconds,
      mib_per_second: diskBytes / 1024 / 1024 / seconds,
      disk_bytes: diskBytes,
    });
  } else throw new Error(`Unknown scenario "${scenario}"`);
} finally {
  if (scenario !== "write") await Deno.remove(dir, { recursive: true });
}

/** The bytes of the files in `path`. */
async function dirBytes(path: string): Promise<number> {
  let bytes = 0;
  for await (const entry of Deno.readDir(path)) {
    bytes += (await Deno.stat(join(path, entry.name))).size;
  }
  return bytes;
}
