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

/** The resident memory of process `pid` in MB (VmRSS), 0 once it ended. */
async function rssMb(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connects to `port` on 127.0.0.1 once something listens there. */
function connect(port: number): Promise<Deno.TcpConn> {
  return pollUntil(
    () => Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined),
    (conn) => conn !== undefined,
    `a listener on port ${port}`,
    600,
    50,
  ) as Promise<Deno.TcpConn>;
}

Deno.test("run with a disk buffer keeps every event through a 30 s output outage, in order and in bounded memory", async () => {
  await withTempDir(async (dir) => {
    const padding = "x".repeat(100);
    const inPort = freePort();
    const peerPort = freePort();
    const adminPort = freePort();
    const file = join(dir, "outage.yaml");
    await Deno.writeTextFile(
      file,
      `actors:
  input: { type: tcp_server, options: { port: ${inPort} } }
  sink: { type: tcp_client, options: { port: ${peerPort}, reconnect_max_ms: 500 } }
connections:
  - from: input.outbox
    to: sink.inbox
    capacity: 1000
    buffer: { type: disk, path: ${join(dir, "buffer")}, max_bytes: 256MiB }
`,
    );
    const run = spawnCli(["run", file, "--admin", `127.0.0.1:${adminPort}`]);
    let peer: Peer | undefined;
    let sampling = true;
    // Peak RSS while the output is down, and over the whole run; a sample
    // every second is printed.
    let outageRss = 0;
    let peakRss = 0;
    const samples: number[] = [];
    const sampler = (async () => {
      for (let tick = 0; sampling; tick++) {
        const rss = await rssMb(run.child.pid);
        if (peer === undefined) outageRss = Math.max(outageRss, rss);
        peakRss = Math.max(peakRss, rss);
        if (tick % 4 === 0 && rss > 0) samples.push(Math.round(rss));
        await sleep(250);
      }
    })();
    const encoder = new TextEncoder();
    let sent = 0;
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await connect(inPort);
      // Steady input, 10,000 events/s: the output is down for the first 30 s.
      const started = Date.now();
      let metrics = "";
      let apiOnDisk = 0;
      while (Date.now() - started < 33_000) {
        let lines = "";
        for (let i = 0; i < 200; i++) lines += `event-${++sent} ${padding}\n`;
        await conn.write(encoder.encode(lines));
        if (peer === undefined && Date.now() - started >= 30_000) {
          metrics = await scrape(adminPort);
          const view = await (await fetch(
            `http://127.0.0.1:${adminPort}/api/pipeline`,
          )).json();
          apiOnDisk = view.connections[0].disk_events;
          peer = new Peer(peerPort);
        }
        await sleep(20);
      }
      conn.close();
      conn = undefined;
      const onDisk = metric(metrics, "disk_events");
      const bytes = metric(metrics, "disk_bytes");
      assert.ok(onDisk > 10_000, `${onDisk} events on disk after 30 s`);
      // The admin API shows it too (a moment apart).
      assert.ok(apiOnDisk > 10_000, `${apiOnDisk} events on disk in the API`);
      assert.ok(bytes > onDisk * 100, `${bytes} bytes on disk`);
      await pollUntil(
        () => peer!.received,
        (received) => received >= sent,
        "every event at the peer",
        600,
        50,
      );
      run.child.kill("SIGTERM");
      const result = await within(run.finish(), 60_000, "the run to end");
      sampling = false;
      await sampler;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`, ${sent} delivered,`));
      await peer!.close();
      const expected = Array.from(
        { length: sent },
        (_, i) => `event-${i + 1} ${padding}`,
      );
      assert.deepEqual(peer!.connections.flat(), expected);
      console.log(
        `30 s outage under 10,000 events/s: ${onDisk} events (${
          (bytes / 1024 / 1024).toFixed(1)
        } MiB) on disk at its end, ${sent} delivered in order; peak RSS ${
          outageRss.toFixed(0)
        } MB during the outage, ${
          peakRss.toFixed(0)
        } MB over the whole run (the catch-up included); RSS every second (MB): ${
          samples.join(" ")
        }`,
      );
      // Memory is bounded by the queue's capacity, not by what is on disk.
      const depth = metric(metrics, "depth");
      assert.ok(depth >= 0 && depth <= 1000, `depth ${depth}`);
      // RSS: about 100 MB during the outage and 120 MB over the catch-up
      // on the development machine, alone or beside the whole test suite.
      assert.ok(outageRss > 0 && outageRss < 150, `${outageRss} MB`);
      assert.ok(peakRss < 150, `${peakRss} MB`);
    } finally {
      sampling = false;
      conn?.close();
      try {
        run.child.kill("SIGKILL");
      } catch {
        // Ended already.
      }
      await run.finish();
      await sampler;
      await peer?.close();
    }
  });
});

Deno.test("run reloaded on SIGHUP to add a disk buffer, then killed with SIGKILL, delivers what was on disk on the next run", async () => {
  await withTempDir(async (dir) => {
    const events = 5000;
    const inPort = freePort();
    const peerPort = freePort();
    const adminPort = freePort();
    const file = join(dir, "pipeline.yaml");
    const config = (buffer: string) =>
      `actors:
  input: { type: tcp_server, options: { port: ${inPort} } }
  sink: { type: tcp_client, options: { port: ${peerPort}, reconnect_max_ms: 200 } }
connections:
  - from: input.outbox
    to: sink.inbox
    capacity: 500${buffer}
`;
    const buffer = `\n    buffer: { type: disk, path: ${join(dir, "buffer")} }`;
    await Deno.writeTextFile(file, config(""));
    const first = spawnCli(["run", file, "--admin", `127.0.0.1:${adminPort}`]);
    let peer: Peer | undefined;
    let conn: Deno.TcpConn | undefined;
    try {
      // The peer refuses from the start; nothing was sent yet.
      conn = await connect(inPort);
      await Deno.writeTextFile(file, config(buffer));
      first.child.kill("SIGHUP");
      await pollUntil(
        async () => {
          // The admin server listens once the pipeline runs: after the
          // input's port, which the connect above waited for.
          const response = await fetch(
            `http://127.0.0.1:${adminPort}/api/reloads`,
          ).catch(() => undefined);
          if (response === undefined) return [];
          return (await response.json()).reloads as { status: string }[];
        },
        (reloads) => reloads.at(-1)?.status === "applied",
        "the reload applied",
        200,
      );
      let lines = "";
      for (let i = 1; i <= events; i++) lines += `event-${i}\n`;
      await conn.write(new TextEncoder().encode(lines));
      const metrics = await pollUntil(
        () => scrape(adminPort),
        (text) => metric(text, "disk_written_total") === events,
        `${events} events written to the disk buffer`,
        600,
        50,
      );
      assert.equal(
        metric(metrics, "disk_events") + metric(metrics, "depth"),
        events,
      );
      first.child.kill("SIGKILL");
      assert.equal((await within(first.finish(), 10_000, "the run")).code, 137);
      conn.close();
      conn = undefined;

      // The next run, with the buffer from the start, replays them.
      peer = new Peer(peerPort);
      const second = spawnCli(["run", file]);
      await pollUntil(
        () => peer!.received,
        (received) => received >= events,
        `${events} events at the peer`,
        600,
        50,
      );
      second.child.kill("SIGTERM");
      const result = await within(second.finish(), 30_000, "the second run");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`, ${events} replayed`));
      await peer.close();
      assert.deepEqual(
        peer.connections.flat(),
        Array.from({ length: events }, (_, i) => `event-${i + 1}`),
      );
      console.log(
        `SIGHUP added a disk buffer; SIGKILL with ${events} events on it; the next run replayed ${events}, in order`,
      );
    } finally {
      conn?.close();
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
