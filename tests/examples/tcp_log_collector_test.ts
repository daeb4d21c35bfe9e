import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnCli } from "../cli_helpers.ts";
import { withTempDir } from "../helpers.ts";
import {
  freePort,
  killIfRunning,
  stopWithSigterm,
  waitForPort,
} from "./helpers.ts";

const CONNECTIONS = 4;
const LINES = 600;
/** The example's `max_bytes` and `max_files`. */
const MAX_BYTES = 65_536;
const MAX_FILES = 5;

/** A record of about 100 bytes of JSON. */
function record(conn: number, seq: number): Record<string, unknown> {
  return {
    conn,
    seq,
    level: seq % 10 === 0 ? "warn" : "info",
    message: `user ${seq % 97} did thing ${conn}-${seq}`.padEnd(48, "."),
  };
}

/** Writes `text` in pieces of `piece` bytes, so lines straddle writes. */
async function writeInPieces(
  conn: Deno.Conn,
  text: string,
  piece: number,
): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length; at += piece) {
    const chunk = bytes.subarray(at, Math.min(at + piece, bytes.length));
    let written = 0;
    while (written < chunk.length) {
      written += await conn.write(chunk.subarray(written));
    }
  }
}

async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"), `${path} ends with a whole line`);
  return text.slice(0, -1).split("\n");
}

Deno.test("examples/tcp_log_collector.yaml writes every record of every connection to rotated ndjson files and reports bad lines", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const cli = spawnCli(["run", "examples/tcp_log_collector.yaml"], {
      TCP_PORT: String(port),
      LOG_DIR: dir,
    });
    try {
      await waitForPort(cli, port);

      // Several clients at once, each writing its lines in odd-sized pieces;
      // the second one also sends a line that is not JSON as its line 101.
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async (_, c) => {
          const lines = Array.from(
            { length: LINES },
            (_, seq) => JSON.stringify(record(c, seq)) + "\n",
          );
          if (c === 1) lines.splice(100, 0, "this is not JSON\n");
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          try {
            await writeInPieces(conn, lines.join(""), 1000 + 37 * c);
          } finally {
            conn.close();
          }
        }),
      );
      await cli.stdout.until((text) => text.includes("\n"));

      // The clients have closed: the drain reads what is left and writes it.
      const { result, report } = await stopWithSigterm(cli);
      // The bad line went to "rejected" by the error queue.
      assert.deepEqual(report, {
        created: CONNECTIONS * LINES + 1,
        delivered: CONNECTIONS * LINES,
        errors: 1,
        filtered: 0,
        dropped: 0,
        failed: 0,
        abandoned: 0,
        discarded: 0,
      });

      const rejected = result.stdout.trimEnd().split("\n");
      assert.equal(rejected.length, 1, result.stdout);
      assert.ok(rejected[0]!.startsWith("rejected: "), rejected[0]);
      const event = JSON.parse(rejected[0]!.slice("rejected: ".length));
      assert.equal(event.header.collect.line, 101);
      assert.match(event.header.collect.remote, /^127\.0\.0\.1:\d+$/);
      assert.equal(event.header.error.actor, "collect");
      assert.match(event.header.error.message, /JSON/);

      // Rotation happened: the current file and at least three older ones,
      // each within max_bytes, none beyond max_files.
      const base = join(dir, "collected.ndjson");
      const names = [];
      for await (const entry of Deno.readDir(dir)) names.push(entry.name);
      const rotated = names.filter((name) => name !== "collected.ndjson");
      assert.ok(names.includes("collected.ndjson"), names.join(", "));
      assert.ok(rotated.length >= 3, names.join(", "));
      assert.ok(rotated.length <= MAX_FILES, names.join(", "));
      const files = [
        ...rotated.map((_, i) => `${base}.${rotated.length - i}`),
        base,
      ];
      const all: string[] = [];
      for (const file of files) {
        const { size } = await Deno.stat(file);
        assert.ok(size <= MAX_BYTES, `${file} has ${size} bytes`);
        if (file !== base) assert.ok(size > MAX_BYTES - 200, `${file} is full`);
        all.push(...await readLines(file));
      }

      // Every record is there once, whole, and each connection's records are
      // in the order it sent them (oldest file first).
      assert.equal(all.length, CONNECTIONS * LINES);
      const next = new Array<number>(CONNECTIONS).fill(0);
      for (const line of all) {
        const value: { conn: number } = JSON.parse(line);
        const conn = value.conn;
        assert.deepEqual(value, record(conn, next[conn]!));
        next[conn] = next[conn]! + 1;
      }
      assert.deepEqual(next, new Array(CONNECTIONS).fill(LINES));
    } finally {
      await killIfRunning(cli);
    }
  });
});
