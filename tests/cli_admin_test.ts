/**
 * `compysition top`, `compysition tap` and `run --admin` as real
 * subprocesses, against an admin server on 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AdminServer } from "../admin/server.ts";
import { runCli, spawnCli, writePipeline } from "./cli_helpers.ts";
import { eventually, freePort, withTempDir } from "./helpers.ts";
import { chain } from "./admin/support.ts";

/** Runs `body` with a running input -> stage -> sink pipeline and its admin server. */
async function withAdmin(
  body: (admin: AdminServer) => Promise<void>,
  token?: string,
): Promise<void> {
  const { router, sink } = chain(2);
  const admin = new AdminServer({
    router,
    port: 0,
    sampleIntervalMs: 100,
    types: { input: "generator", stage: "pass", sink: "collector" },
    ...(token === undefined ? {} : { token }),
  });
  try {
    await router.start();
    await sink.waitFor(3);
    await body(admin);
  } finally {
    await admin.close();
    await router.stop();
  }
}

Deno.test("compysition top --once prints the actors and queues of a running pipeline", async () => {
  await withAdmin(async (admin) => {
    const result = await runCli(["top", "--once", "--admin", admin.url]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.match(
      lines[0]!,
      /^Pipeline running: 3 actors, 2 connections; rates over [\d.]+ s; /,
    );
    assert.match(
      result.stdout,
      /^ACTOR +TYPE +STATE +IN\/S +OUT\/S +DONE +FAILED +RESTARTS +REASON$/m,
    );
    for (
      const [name, type] of [["input", "generator"], ["stage", "pass"], [
        "sink",
        "collector",
      ]]
    ) {
      assert.match(
        result.stdout,
        new RegExp(`^${name} +${type} +running +`, "m"),
      );
    }
    assert.match(
      result.stdout,
      /^input\.outbox -> stage\.inbox +\[[#.]{10}\] +\d+% +\d+\/1000 /m,
    );
    assert.match(result.stdout, /^stage\.outbox -> sink\.inbox +\[/m);
  });
});

Deno.test("compysition top says why when the admin server refuses it or cannot be reached", async () => {
  await withAdmin(async (admin) => {
    const refused = await runCli([
      "top",
      "--once",
      "--admin",
      admin.url,
      "--admin-token",
      "wrong",
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^The admin server answered 401 to "\/api\/pipeline": A token is required/,
    );
    const allowed = await runCli([
      "top",
      "--once",
      "--admin",
      admin.url.replace("http://", ""),
      "--admin-token",
      "t0ken",
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
  }, "t0ken");
  const port = freePort();
  const down = await runCli(["top", "--once", "--admin", `127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    new RegExp(
      `^Cannot reach the admin server at "http://127\\.0\\.0\\.1:${port}"`,
    ),
  );
});

Deno.test("compysition tap prints the events passing a queue as ndjson, up to --limit", async () => {
  await withAdmin(async (admin) => {
    const result = await runCli([
      "tap",
      "stage.outbox",
      "--limit",
      "4",
      "--admin",
      admin.url,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const events = result.stdout.trimEnd().split("\n").map((line) =>
      JSON.parse(line)
    );
    assert.equal(events.length, 4);
    for (const event of events) {
      assert.deepEqual(Object.keys(event), ["header", "data"]);
      assert.equal(event.data, `n=${event.header.input.seq}`);
    }
    await eventually(
      () => admin.taps === 0 ? true : undefined,
      "the tap to end",
    );
    const unknown = await runCli(["tap", "stag.inbox", "--admin", admin.url]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /answered 404 to "\/api\/tap": Cannot tap "stag\.inbox": actor "stag" is not registered; did you mean "stage"\?/,
    );
    const usage = await runCli(["tap", "stage.inbox", "--limit", "0"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--limit must be a whole number of at least 1/);
  });
});

Deno.test("compysition run --admin serves the admin API of the pipeline it runs until stopped", async () => {
  await withTempDir(async (dir) => {
    const file = await writePipeline(dir, "pipeline.yaml", {
      input: "{ interval: 0.01 }",
      actor: "sink",
      spec: '{ type: "null" }',
    });
    const cli = spawnCli([
      "run",
      file,
      "--status",
      "never",
      "--admin",
      "127.0.0.1:0",
      "--admin-token",
      "t0ken",
    ]);
    try {
      await cli.stderr.until((text) =>
        /Admin API and dashboard at /.test(text)
      );
      const url = /Admin API and dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/
        .exec(cli.stderr.text)![1]!;
      const health = await fetch(new URL("health", url));
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const refused = await fetch(new URL("ready", url));
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const ready = await eventually(async () => {
        const response = await fetch(new URL("ready", url), {
          headers: { authorization: "Bearer t0ken" },
        });
        const body = await response.json();
        return response.status === 200 ? body : undefined;
      }, "the pipeline to be ready");
      assert.deepEqual(ready, { ready: true, state: "running" });
      const top = await runCli([
        "top",
        "--once",
        "--admin",
        url,
        "--admin-token",
        "t0ken",
      ]);
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^input +generator +running/m);
    } finally {
      cli.child.kill("SIGINT");
    }
    const result = await cli.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Stopped \(SIGINT\)/);
  });
});

Deno.test("compysition run checks --admin and --admin-token before starting", async () => {
  const bad = await runCli([
    "run",
    "examples/hello.yaml",
    "--admin",
    "nowhere",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--admin: The address must be "HOST:PORT"/);
  const alone = await runCli([
    "run",
    "examples/hello.yaml",
    "--admin-token",
    "t",
  ]);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--admin-token needs --admin/);
});
