/**
 * `compysition top`, `compysition tap` and `run --admin` as real
 * subprocesses, against an admin server on 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AdminServer } from "../admin/server.ts";
import {
  runCli,
  type RunningCli,
  spawnCli,
  writePipeline,
} from "./cli_helpers.ts";
import { eventually, freePort, withTempDir } from "./helpers.ts";
import { chain, getWithHost } from "./admin/support.ts";

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
      /^input\.outbox -> stage\.inbox +\[[#.]{10}\] +\d+% +\d+\/1024 /m,
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

/**
 * Runs a generator -> null pipeline with `run --admin 127.0.0.1:0` and
 * `args`, calls `body` with its admin URL and the running command, then
 * stops it with SIGINT and checks that it stopped well.
 */
async function withRunAdmin(
  args: string[],
  env: Record<string, string>,
  body: (url: URL, cli: RunningCli) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const file = await writePipeline(dir, "pipeline.yaml", {
      input: "{ interval: 0.01 }",
      actor: "sink",
      spec: '{ type: "null" }',
    });
    const cli = spawnCli(
      ["run", file, "--status", "never", "--admin", "127.0.0.1:0", ...args],
      env,
    );
    try {
      await cli.stderr.until((text) =>
        /Admin API and dashboard at /.test(text)
      );
      const url = /Admin API and dashboard at (http:\/\/127\.0\.0\.1:\d+\/)/
        .exec(cli.stderr.text)![1]!;
      await body(new URL(url), cli);
    } finally {
      cli.child.kill("SIGINT");
    }
    const result = await cli.finish();
    assert.equal(result.code, 0, result.stderr);
  });
}

/** Waits until `/ready` answers 200 to `token`; fails if it never does. */
async function readyWith(url: URL, token: string): Promise<void> {
  await eventually(async () => {
    const response = await fetch(new URL("ready", url), {
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body?.cancel();
    return response.status === 200 ? true : undefined;
  }, "the pipeline to be ready");
}

/** The command line of process `pid`, as `ps` shows it to every user. */
async function commandLine(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`)).replaceAll(
    "\0",
    " ",
  );
}

Deno.test("compysition run takes the admin token from --admin-token-file, out of the process list, and logs refused requests", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/token`;
    await Deno.writeTextFile(path, "f1le-t0ken\n");
    await withRunAdmin(["--admin-token-file", path], {}, async (url, cli) => {
      const refused = await fetch(new URL("ready", url));
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      await readyWith(url, "f1le-t0ken");
      const port = Number(url.port);
      const rebound = await getWithHost(
        port,
        "/ready",
        `evil.example:${port}`,
        {
          authorization: "Bearer f1le-t0ken",
        },
      );
      assert.equal(rebound.status, 421);
      await cli.stderr.until((text) =>
        text.includes(
          `Refused a request for /ready from 127.0.0.1: Host "evil.example:${port}" is not a name of this server`,
        )
      );
      assert.match(
        cli.stderr.text,
        /Refused a request for \/ready from 127\.0\.0\.1: the token is missing or wrong/,
      );
      // top and tap read it from the environment.
      const top = await runCli(["top", "--once", "--admin", url.href], {
        COMPYSITION_ADMIN_TOKEN: "f1le-t0ken",
      });
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^input +generator +running/m);
      if (Deno.build.os === "linux") {
        const line = await commandLine(cli.child.pid);
        assert.ok(line.includes("--admin-token-file"), line);
        assert.ok(!line.includes("f1le-t0ken"), line);
      }
    });
  });
});

Deno.test("compysition run takes the admin token from COMPYSITION_ADMIN_TOKEN", async () => {
  await withRunAdmin(
    [],
    { COMPYSITION_ADMIN_TOKEN: "env-t0ken" },
    async (url) => {
      const refused = await fetch(new URL("api/pipeline", url), {
        headers: { authorization: "Bearer wrong" },
      });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      await readyWith(url, "env-t0ken");
    },
  );
});

Deno.test("compysition run refuses to serve the admin API on a non-loopback address without a token, before starting", async () => {
  for (const address of ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"]) {
    const result = await runCli([
      "run",
      "examples/hello.yaml",
      "--admin",
      address,
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, "", "nothing started");
    assert.equal(
      result.stderr.split("\n")[0],
      `compysition run: --admin "${address}" is not a loopback address: refusing to serve the admin API there without a token, as anyone who can reach it could read the pipeline's events. Give one with --admin-token-file PATH or COMPYSITION_ADMIN_TOKEN (or --admin-token TOKEN, visible in ps), or add --admin-insecure to serve it anyway`,
    );
  }
});

Deno.test("compysition run says which admin token or option it cannot use, before starting", async () => {
  await withTempDir(async (dir) => {
    const empty = `${dir}/empty`;
    await Deno.writeTextFile(empty, "\n");
    const cases: [string[], Record<string, string>, number, string][] = [
      [
        ["--admin", "0", "--admin-token-file", `${dir}/missing`],
        {},
        1,
        `compysition run: Cannot read the admin token from "${dir}/missing" (--admin-token-file): `,
      ],
      [
        ["--admin", "0", "--admin-token-file", empty],
        {},
        1,
        `compysition run: The admin token file "${empty}" (--admin-token-file) is empty`,
      ],
      [
        ["--admin", "0"],
        { COMPYSITION_ADMIN_TOKEN: "" },
        1,
        "compysition run: The environment variable COMPYSITION_ADMIN_TOKEN is set but empty: set it to the admin token, or unset it",
      ],
      [
        ["--admin", "0", "--admin-token", "a", "--admin-token-file", empty],
        {},
        2,
        "compysition run: give --admin-token or --admin-token-file, not both",
      ],
      [
        ["--admin", "0", "--admin-allow-host", "https://a.example/"],
        {},
        2,
        'compysition run: --admin-allow-host: "https://a.example/" is not a host name, "NAME:PORT" or "[IPV6]:PORT"',
      ],
      [
        ["--admin-insecure"],
        {},
        2,
        "compysition run: --admin-insecure needs --admin",
      ],
      [
        ["--admin-allow-host", "a.example"],
        {},
        2,
        "compysition run: --admin-allow-host needs --admin",
      ],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await runCli(["run", "examples/hello.yaml", ...args], env);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.ok(result.stderr.startsWith(message), result.stderr);
      assert.equal(result.stdout, "", "nothing started");
    }
  });
});
