/**
 * Floods of hostile connections against `http_server` run by the CLI in a
 * process of its own: slowloris, and idle connections under a low
 * file-handle limit. Each asserts what the server does (it answers real
 * requests, holds a bounded number of file handles and memory, drains at
 * stop), never how fast.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLI, type RunningCli, spawnProgram } from "../../cli_helpers.ts";
import { withTempDir } from "../../helpers.ts";
import { RawClient } from "../../raw_http.ts";
import { postOrder, within } from "./support.ts";

/** Where Linux tells a process's resident memory and open files. */
const PROC = (() => {
  try {
    return Deno.statSync("/proc/self/status").isFile;
  } catch {
    return false;
  }
})();

/** The resident memory of process `pid`, in KiB. */
function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** The open file handles of process `pid`. */
function openFiles(pid: number): number {
  let count = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) count++;
  return count;
}

/** The CLI running `http_server` (its queue `orders` into `file_out`). */
interface Server {
  cli: RunningCli;
  port: number;
  out: string;
}

/**
 * Runs the CLI on a pipeline `http_server` (with `options`) -> `file_out`
 * in `dir`, with `ulimit -n files` when given.
 */
async function startServer(
  dir: string,
  options: string,
  files?: number,
): Promise<Server> {
  const out = join(dir, "out.ndjson");
  const file = join(dir, "flood.yaml");
  await Deno.writeTextFile(
    file,
    [
      "actors:",
      `  web: { type: http_server, options: { port: 0, ${options} } }`,
      `  out: { type: file_out, options: { path: "${out}", format: ndjson } }`,
      "connections:",
      "  - web.orders -> out.inbox",
      "",
    ].join("\n"),
  );
  const run = `"${Deno.execPath()}" run --allow-all "${CLI}" run "${file}"`;
  const cli = spawnProgram("sh", [
    "-c",
    files === undefined ? `exec ${run}` : `ulimit -n ${files} && exec ${run}`,
  ]);
  await within(
    cli.stderr.until((text) => /Listening on http:\/\/[^:]+:\d+\//.test(text)),
    "the server to listen",
  );
  const port = Number(
    /Listening on http:\/\/[^:]+:(\d+)\//.exec(
      cli.stderr.text,
    )![1],
  );
  return { cli, port, out };
}

/** POSTs `{ real: n }` to `/orders`; returns the status. */
function post(port: number, n: number): Promise<number> {
  return postOrder(port, JSON.stringify({ real: n }));
}

/**
 * Asserts that an RSS grew by less than 50 MiB from `baseline` to `peak`
 * (KiB), when Linux tells.
 */
function assertBounded(baseline: number, peak: number): void {
  if (!PROC) return;
  assert.ok(
    peak - baseline < 50 * 1024,
    `RSS grew from ${baseline} to ${peak} KiB`,
  );
}

/**
 * Stops the CLI with SIGTERM and asserts that it drained: exit code 0,
 * `created` events created and delivered, nothing uncaught.
 */
async function assertDrains(server: Server, created: number): Promise<void> {
  server.cli.child.kill("SIGTERM");
  const { code, stderr } = await within(server.cli.finish(), "the CLI to exit");
  assert.equal(code, 0, stderr);
  assert.match(stderr, new RegExp(`${created} created, ${created} delivered`));
  assert.doesNotMatch(stderr, /Uncaught|panicked/);
}

Deno.test("http_server under a slowloris flood keeps answering, holds at most max_connections and drains at stop", async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(
      dir,
      "max_connections: 200, header_timeout: 60",
    );
    const pid = server.cli.child.pid;
    const clients = new Set<RawClient>();
    try {
      const baseline = PROC ? rssKiB(pid) : 0;
      let peakFiles = 0;
      let peakRss = baseline;
      // 2,000 connections, 100 at a time, each sending its head a few bytes
      // at a time and never finishing it. A client closes its end when the
      // server closes the connection.
      for (let batch = 0; batch < 20; batch++) {
        const opened = await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            RawClient.open(
              server.port,
              `POST /orders HTTP/1.1\r\nHost: test\r\nX-Slow-${batch}-${i}: `,
            )),
        );
        for (const client of opened) {
          clients.add(client);
          client.closed.then(() => clients.delete(client));
        }
        await Promise.all([...clients].map((client) => client.write("s")));
        if (PROC) {
          peakFiles = Math.max(peakFiles, openFiles(pid));
          peakRss = Math.max(peakRss, rssKiB(pid));
        }
      }
      // A real client is served during the flood (it may be refused while
      // every connection is newer than its grace: it tries again).
      let status = 0;
      for (let attempt = 0; attempt < 20 && status !== 202; attempt++) {
        status = await post(server.port, 1).catch(() => 0);
        if (status !== 202) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      assert.equal(status, 202);
      // The runtime's own handles (about 30), 200 connections, and at most
      // a batch of connections that are being closed to make room: far from
      // the 2,000 the flood opened.
      if (PROC) assert.ok(peakFiles < 360, `${peakFiles} files open`);
      assertBounded(baseline, peakRss);
      await assertDrains(server, 1);
      assert.equal(await Deno.readTextFile(server.out), '{"real":1}\n');
    } finally {
      await Promise.all([...clients].map((client) => client.close()));
      try {
        server.cli.child.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await server.cli.finish();
    }
  });
});

Deno.test("http_server under an idle-connection flood with 256 file handles keeps answering and drains at stop", async () => {
  await withTempDir(async (dir) => {
    const server = await startServer(dir, "queue_timeout: 5", 256);
    const pid = server.cli.child.pid;
    const idle: RawClient[] = [];
    try {
      const baseline = PROC ? rssKiB(pid) : 0;
      // More idle connections than the process has file handles.
      for (let i = 0; i < 400; i++) {
        idle.push(await RawClient.open(server.port));
      }
      const statuses = [];
      for (let n = 1; n <= 5; n++) statuses.push(await post(server.port, n));
      assert.deepEqual(statuses, [202, 202, 202, 202, 202]);
      await within(
        server.cli.stderr.until((text) => text.includes("accepts failed")),
        "the failed accepts to be logged",
      );
      if (PROC) assert.ok(openFiles(pid) <= 256);
      assertBounded(baseline, PROC ? rssKiB(pid) : 0);
      await assertDrains(server, 5);
      const lines = (await Deno.readTextFile(server.out)).trim().split("\n");
      assert.deepEqual(lines.map((line) => JSON.parse(line).real), [
        1,
        2,
        3,
        4,
        5,
      ]);
    } finally {
      await Promise.all(idle.map((client) => client.close()));
      try {
        server.cli.child.kill("SIGKILL");
      } catch {
        // Exited.
      }
      await server.cli.finish();
    }
  });
});
