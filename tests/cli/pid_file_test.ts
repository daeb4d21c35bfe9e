import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CliResult,
  runCli,
  spawnCli,
  stuckModule,
  writePipeline,
} from "../cli_helpers.ts";
import { withTempDir } from "../helpers.ts";

/** The id of a process that has ended. */
async function endedPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", ""],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await child.status;
  return child.pid;
}

/** Runs examples/hello.yaml to its end with `--pid-file pidFile`. */
function runHello(pidFile: string): Promise<CliResult> {
  return runCli(["run", "examples/hello.yaml", "--pid-file", pidFile]);
}

async function assertGone(path: string): Promise<void> {
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound, `${path} left`);
}

Deno.test("run --pid-file names the running process, refuses a second start with exit 1 and is removed after a draining stop", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "service.pid");
    const first = spawnCli([
      "run",
      "examples/service.yaml",
      "--pid-file",
      pidFile,
    ]);
    await first.stdout.until((text) => text.includes("beat 1\n"));
    assert.equal(await Deno.readTextFile(pidFile), `${first.child.pid}\n`);

    const second = await runHello(pidFile);
    assert.equal(second.code, 1);
    assert.equal(second.stdout, "", "the second pipeline never started");
    assert.equal(
      second.stderr,
      `Cannot start: the PID file "${pidFile}" names process ${first.child.pid}, which is running; stop it first, or give another --pid-file (remove the file only if that process is not a Compysition pipeline)\n`,
    );
    assert.equal(await Deno.readTextFile(pidFile), `${first.child.pid}\n`);

    first.child.kill("SIGTERM");
    const result = await first.finish();
    assert.equal(result.code, 0, result.stderr);
    await assertGone(pidFile);
  });
});

Deno.test("run --pid-file replaces a file left by a process that ended, and removes it when the pipeline finishes", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "hello.pid");
    const stale = await endedPid();
    await Deno.writeTextFile(pidFile, `${stale}\n`);
    const result = await runHello(pidFile);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trimEnd().split("\n").length, 20);
    assert.match(
      result.stderr,
      new RegExp(
        `^Replaced the stale PID file ".*hello\\.pid" of process ${stale}, which is no longer running\n`,
      ),
    );
    await assertGone(pidFile);
  });
});

Deno.test("run --pid-file replaces a file that holds no process id", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "garbage.pid");
    await Deno.writeTextFile(pidFile, "not a pid\n");
    const result = await runHello(pidFile);
    assert.equal(result.code, 0, result.stderr);
    await assertGone(pidFile);
  });
});

Deno.test("run --pid-file removes the file when the bootstrap file is invalid (exit 1)", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "bad.pid");
    const file = join(dir, "bad.yaml");
    await Deno.writeTextFile(file, "actors:\n  a: { type: nope }\n");
    const result = await runCli(["run", file, "--pid-file", pidFile]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Unknown actor type "nope"/);
    await assertGone(pidFile);
  });
});

Deno.test("run --pid-file removes the file when a second SIGTERM exits at once (143)", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "stuck.pid");
    await Deno.writeTextFile(join(dir, "stuck.ts"), stuckModule());
    const file = await writePipeline(dir, "stuck.yaml", {
      input: "{ interval: 0, count: 5 }",
      actor: "stuck",
      spec: "{ module: ./stuck.ts }",
    });
    const cli = spawnCli(["run", file, "--pid-file", pidFile]);
    await cli.stdout.until((text) => text.includes("stuck\n"));
    assert.equal(await Deno.readTextFile(pidFile), `${cli.child.pid}\n`);
    cli.child.kill("SIGTERM");
    await cli.stderr.until((text) => text.includes("Stopping on SIGTERM"));
    cli.child.kill("SIGTERM");
    const result = await cli.finish();
    assert.equal(result.code, 143, result.stderr);
    await assertGone(pidFile);
  });
});

Deno.test("run --pid-file in a directory that does not exist exits 1 and says why", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "missing", "x.pid");
    const result = await runHello(pidFile);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^Cannot write the PID file ".*x\.pid": No such file or directory/,
    );
  });
});
