/**
 * `compysition run` with a disk buffer, as a real subprocess: killed with
 * SIGKILL while its output is down and 100,000 events wait on disk, then run
 * again, it delivers every event (duplicates counted and printed); a
 * directory it cannot use is a clear error before anything starts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnCli } from "../../cli_helpers.ts";
import { freePort, pollUntil, within, withTempDir } from "../../helpers.ts";

const EVENTS = 100_000;

/** A TCP peer on 127.0.0.1 that keeps the lines of every connection. */
class Peer {
  /** The lines received, per connection, in order. */
  readonly connections: string[][] = [];
  #listener: Deno.Listener;
  #reading = new Set<Promise<void>>();
  #accepting: Promise<void>;
  #closed = false;

  constructor(port: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port });
    this.#accepting = this.#accept();
  }

  /** Lines received so far, over every connection. */
  get received(): number {
    return this.connections.reduce((sum, lines) => sum + lines.length, 0);
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      const lines: string[] = [];
      this.connections.push(lines);
      const reading = this.#read(conn, lines);
      this.#reading.add(reading);
    }
  }

  async #read(conn: Deno.Conn, lines: string[]): Promise<void> {
    let rest = "";
    try {
      for await (
        const chunk of conn.readable.pipeThrough(new TextDecoderStream())
      ) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
      }
    } catch {
      // The sender was killed: what arrived is kept.
    }
  }

  /** Stops listening and waits for the connections to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    await this.#accepting;
    await Promise.all(this.#reading);
  }
}

/** The value of a queue metric of `sink.inbox` in a `/metrics` text. */
function metric(text: string, name: string): number {
  const found = new RegExp(
    `^compysition_queue_${name}\\{actor="sink",queue="inbox"\\} (\\d+)$`,
    "m",
  ).exec(text);
  return found === null ? -1 : Number(found[1]);
}

async function scrape(port: number): Promise<string> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return await response.text();
  } catch {
    return ""; // not listening yet
  }
}

/** A file_in -> tcp_client pipeline with a disk buffer between them. */
async function writeConfig(
  dir: string,
  name: string,
  input: string,
  port: number,
): Promise<string> {
  const file = join(dir, name);
  await Deno.writeTextFile(
    file,
    `actors:
  input: { type: file_in, options: { path: ${input} } }
  sink: { type: tcp_client, options: { port: ${port}, reconnect_max_ms: 200 } }
connections:
  - from: input.outbox
    to: sink.inbox
    capacity: 500
    buffer: { type: disk, path: ${join(dir, "buffer")}, max_bytes: 1GiB }
`,
  );
  return file;
}

Deno.test("run killed with SIGKILL with 100,000 events in a disk buffer delivers them all on the next run", async () => {
  await withTempDir(async (dir) => {
    const input = join(dir, "events.txt");
    await Deno.writeTextFile(
      input,
      Array.from({ length: EVENTS }, (_, i) => `event-${i + 1}\n`).join(""),
    );
    const empty = join(dir, "empty.txt");
    await Deno.writeTextFile(empty, "");
    const peerPort = freePort();
    const adminPort = freePort();
    const first = spawnCli([
      "run",
      await writeConfig(dir, "first.yaml", input, peerPort),
      "--admin",
      `127.0.0.1:${adminPort}`,
    ]);
    let peer: Peer | undefined;
    try {
      // The peer refuses: every event waits on disk.
      const metrics = await pollUntil(
        () => scrape(adminPort),
        (text) => metric(text, "disk_written_total") === EVENTS,
        "100,000 events written to the disk buffer",
        600,
        50,
      );
      assert.equal(
        metric(metrics, "disk_events") + metric(metrics, "depth"),
        EVENTS,
      );
      assert.ok(metric(metrics, "disk_bytes") > 0);
      // The peer comes back; kill -9 in the middle of the replay.
      peer = new Peer(peerPort);
      await pollUntil(
        () => peer!.received,
        (received) => received >= 20_000,
        "20,000 events at the peer",
        600,
        20,
      );
      first.child.kill("SIGKILL");
      const killed = await within(first.finish(), 10_000, "the killed run");
      assert.equal(killed.code, 137);
      const before = peer.received;
      assert.ok(before < EVENTS, `${before} delivered before the kill`);

      // The next run reads an empty file: what it delivers comes from disk.
      const second = spawnCli([
        "run",
        await writeConfig(dir, "second.yaml", empty, peerPort),
      ]);
      const result = await within(second.finish(), 60_000, "the second run");
      assert.equal(result.code, 0, result.stderr);
      const replayed = Number(/, (\d+) replayed/.exec(result.stderr)?.[1]);
      assert.ok(replayed > 0, result.stderr);
      await pollUntil(
        () => peer!.received,
        (received) => received >= before + replayed,
        "every replayed event at the peer",
        200,
        20,
      );
      await peer.close();
      const all = peer.connections.flat();
      const unique = new Set(all);
      assert.equal(unique.size, EVENTS);
      for (let i = 1; i <= EVENTS; i++) assert.ok(unique.has(`event-${i}`));
      // Each connection got its events in order (a batch may start again).
      for (const lines of peer.connections) {
        const numbers = lines.map((line) => Number(line.slice(6)));
        let back = 0;
        for (let i = 1; i < numbers.length; i++) {
          if (numbers[i]! <= numbers[i - 1]!) back++;
        }
        assert.ok(back <= 1, `${back} steps back in one connection`);
      }
      const duplicates = all.length - unique.size;
      console.log(
        `SIGKILL with ${EVENTS} events in the disk buffer: ${before} delivered before the kill, ${replayed} replayed by the next run, ${duplicates} duplicates, 0 lost`,
      );
      assert.equal(
        result.stderr.match(/, (\d+) delivered/)?.[1],
        String(replayed),
      );
      assert.deepEqual([...Deno.readDirSync(join(dir, "buffer"))], []);
    } finally {
      try {
        first.child.kill("SIGKILL");
      } catch {
        // Ended already.
      }
      await first.finish();
      await peer?.close();
    }
  });
});
