/**
 * `compysition run` reloading a `tcp_server` whose options change while a
 * client, another process, sends on one connection: the client sees no
 * close, and every line reaches the output file once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type RunningCli, spawnCli, spawnProgram } from "../../cli_helpers.ts";
import { freePort, pollUntil, within, withTempDir } from "../../helpers.ts";

/**
 * The client: sends "1\n", "2\n"... on one connection until SIGTERM, some
 * lines in two writes; then shuts down its side and waits for the server's
 * end. Prints `{ sent, closedByServer }` (or `{ sent, error }`); the server
 * never writes, so a read that ends before the client shut down is the
 * server closing.
 */
const CLIENT = `
const port = Number(Deno.args[0]);
const conn = await Deno.connect({ hostname: "127.0.0.1", port });
let stopping = false;
let closedByServer = false;
const stop = () => { stopping = true; };
Deno.addSignalListener("SIGTERM", stop);
const watching = conn.read(new Uint8Array(1)).then(
  () => { if (!stopping) closedByServer = true; },
  () => { if (!stopping) closedByServer = true; },
);
const encoder = new TextEncoder();
async function write(text) {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}
let sent = 0;
let error;
try {
  while (!stopping && !closedByServer) {
    let batch = "";
    for (let i = 0; i < 20; i++) batch += ++sent + "\\n";
    const line = String(++sent);
    await write(batch + line.slice(0, 1));
    await new Promise((resolve) => setTimeout(resolve, 2));
    await write(line.slice(1) + "\\n");
  }
  await conn.closeWrite();
} catch (caught) {
  error = String(caught);
}
if (closedByServer || error !== undefined) conn.close();
await watching;
if (!closedByServer && error === undefined) conn.close();
Deno.removeSignalListener("SIGTERM", stop);
console.log(JSON.stringify({ sent, closedByServer, error }));
`;

/** A tcp_server with `idleTimeout` on `port` -> file_out to `out`. */
function pipeline(port: number, out: string, idleTimeout: number): string {
  return [
    "actors:",
    `  tcp: { type: tcp_server, options: { hostname: 127.0.0.1, port: ${port}, idle_timeout: ${idleTimeout}, max_line_bytes: ${
      1000 + idleTimeout
    } } }`,
    `  out: { type: file_out, options: { path: "${out}" } }`,
    "connections:",
    "  - tcp.outbox -> out.inbox",
    "",
  ].join("\n");
}

/** The numbers written to `path`, one a line. */
async function numbers(path: string): Promise<number[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((line) => line !== "").map(Number);
}

Deno.test("compysition run: SIGHUP reloads of a tcp_server with other options keep a client's connection: no close, every line once", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.log");
    const file = join(dir, "pipeline.yaml");
    const script = join(dir, "client.js");
    await Deno.writeTextFile(script, CLIENT);
    const port = freePort();
    await Deno.writeTextFile(file, pipeline(port, out, 300));
    const cli = spawnCli(["run", file, "--log-format", "json"]);
    let client: RunningCli | undefined;
    try {
      await cli.stderr.until((text) => text.includes("SIGHUP reloads it"));
      client = spawnProgram(Deno.execPath(), [
        "run",
        "--allow-net",
        script,
        String(port),
      ]);
      let lines = (await pollUntil(
        () => numbers(out),
        (seen) => seen.length >= 100,
        "the client's first lines",
      )).length;
      for (let reload = 1; reload <= 5; reload++) {
        await Deno.writeTextFile(file, pipeline(port, out, 300 + reload));
        cli.child.kill("SIGHUP");
        await cli.stderr.until(() =>
          outcomes(cli.stderr.text).length >= reload
        );
        const outcome = outcomes(cli.stderr.text)[reload - 1]!;
        assert.equal(outcome.status, "applied", JSON.stringify(outcome));
        assert.deepEqual(
          (outcome.change as { takenOver: string[] }).takenOver,
          ["tcp"],
        );
        lines = (await pollUntil(
          () => numbers(out),
          (seen) => seen.length >= lines + 100,
          `the client's lines after reload ${reload}`,
        )).length;
      }
      client.child.kill("SIGTERM");
      const finished = await within(client.finish(), 30_000, "the client");
      client = undefined;
      assert.equal(finished.code, 0, finished.stderr);
      const result = JSON.parse(finished.stdout);
      assert.deepEqual(
        { closedByServer: result.closedByServer, error: result.error },
        { closedByServer: false, error: undefined },
      );
      const expected = Array.from({ length: result.sent }, (_, i) => i + 1);
      await pollUntil(
        () => numbers(out),
        (seen) => seen.length >= result.sent,
        "every line at the output",
      );
      assert.deepEqual(await numbers(out), expected);
    } finally {
      if (client !== undefined) {
        client.child.kill("SIGKILL");
        await client.finish();
      }
      cli.child.kill("SIGINT");
      const result = await cli.finish();
      assert.equal(result.code, 0, result.stderr);
    }
  });
});

/** The reload outcomes `run --log-format json` logged so far. */
function outcomes(stderr: string): Record<string, unknown>[] {
  return stderr.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line)).filter((record) => "reload" in record)
    .map((record) => record.reload);
}
