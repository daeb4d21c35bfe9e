/**
 * `compysition run` writing files through a bad disk day: a directory made
 * read-only during a rotation and then restored, and SIGHUP after an outside
 * rotation. Each runs the real command as a subprocess.
 *
 * As root, permissions do not stop a write (CAP_DAC_OVERRIDE). Rather than
 * skipping the read-only test, it runs the command under `setpriv` with that
 * capability (and CAP_DAC_READ_SEARCH) dropped from the bounding set: the
 * process is still root and owns the directory, but its mode bits now
 * apply, as for any user.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CLI,
  type RunningCli,
  spawnProgram,
  writePipeline,
} from "../../cli_helpers.ts";
import { pollUntil, readRotated, within, withTempDir } from "../../helpers.ts";
import { type Program, testWith } from "../../requires.ts";

const SETPRIV: Program = {
  name: "setpriv",
  paths: ["/usr/bin/setpriv"],
  install: "apt-get install -y util-linux",
};

const ROOT = Deno.uid() === 0;

/**
 * Starts `compysition run FILE`; as root through `setpriv` (its path given),
 * so that file permissions apply to it.
 */
function spawnRun(file: string, setpriv?: string): RunningCli {
  const deno = [Deno.execPath(), "run", "--allow-all", CLI, "run", file];
  return setpriv === undefined
    ? spawnProgram(deno[0]!, deno.slice(1))
    : spawnProgram(setpriv, [
      "--bounding-set=-dac_override,-dac_read_search",
      "--",
      ...deno,
    ]);
}

/** The counts of the stop report `run` printed last on stderr. */
function stopReport(stderr: string): Record<string, number> {
  const found =
    /\nStopped \(SIGINT\) after \d+\.\d s: (\d+) created, (\d+) delivered, (\d+) errors, (\d+) filtered, (\d+) dropped, (\d+) failed, (\d+) abandoned, (\d+) discarded\n$/
      .exec(stderr);
  assert.ok(found, stderr);
  const [created, delivered, errors, filtered, dropped, failed] = found
    .slice(1).map(Number);
  return { created, delivered, errors, filtered, dropped, failed } as Record<
    string,
    number
  >;
}

/** Waits until `cli` printed on stderr what passes `test`, for 30 s at most. */
function untilStderr(
  cli: RunningCli,
  test: (text: string) => boolean,
  what: string,
): Promise<void> {
  return within(
    cli.stderr.until(test),
    30_000,
    `${what}; stderr so far:\n${cli.stderr.text}`,
  );
}

/** The numbers 1..count. */
function upTo(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** The lines of `text` as numbers. */
function numbers(text: string): number[] {
  return text.split("\n").slice(0, -1).map(Number);
}

testWith(
  "compysition run: file_out whose directory is read-only during a rotation writes on, and rotates again once it is writable",
  ROOT ? [SETPRIV] : [],
  async ([setpriv]) => {
    await withTempDir(async (dir) => {
      const logs = join(dir, "logs");
      await Deno.mkdir(logs);
      const file = await writePipeline(dir, "rotate.yaml", {
        input: "{ interval: 0.001, data: '{{seq}}' }",
        actor: "file",
        spec: `{ type: file_out, options: { path: "${
          join(logs, "out.log")
        }", max_bytes: 2000, max_files: 1000 } }`,
      });
      const cli = spawnRun(file, setpriv);
      try {
        await pollUntil(
          () =>
            Deno.stat(join(logs, "out.log.1")).then(() => true, () => false),
          (rotated) => rotated,
          "a first rotation",
        );
        await Deno.chmod(logs, 0o555);
        await untilStderr(
          cli,
          (text) => text.includes("Cannot rotate"),
          "a failed rotation",
        );
        await Deno.chmod(logs, 0o755);
        await untilStderr(
          cli,
          (text) => /Rotated \S+ after \d+ failed attempt\(s\)/.test(text),
          "a rotation after the failures",
        );
      } finally {
        await Deno.chmod(logs, 0o755);
        cli.child.kill("SIGINT");
      }
      const result = await cli.finish();
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        /WARN {2}\[file\] Cannot rotate \S+out\.log: Permission denied \(os error 13\)[^\n]*; writing on to it past its size limit, trying again in 1 s\n/,
      );
      assert.ok(!result.stderr.includes("TypeError"), result.stderr);
      const report = stopReport(result.stderr);
      assert.equal(report.failed, 0);
      assert.equal(report.errors, 0);
      assert.equal(report.delivered, report.created);
      // Every event once, in order, across the rotated files.
      const { names, text } = await readRotated(logs);
      assert.ok(names.length >= 3, `files: ${names}`);
      assert.deepEqual(numbers(text), upTo(report.delivered!));
    });
  },
);

Deno.test("compysition run: SIGHUP makes file_out open its path again after the file was moved away", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "out.log");
    const file = await writePipeline(dir, "hangup.yaml", {
      input: "{ interval: 0.001, data: '{{seq}}' }",
      actor: "file",
      // Checked once an hour only: SIGHUP makes the new file.
      spec:
        `{ type: file_out, options: { path: "${path}", check_interval: 3600 } }`,
    });
    const cli = spawnRun(file);
    try {
      await untilStderr(cli, (text) => text.includes("Running"), "the start");
      await pollUntil(
        () => Deno.readTextFile(path).then(numbers, () => []),
        (lines) => lines.length >= 10,
        "lines in the file",
      );
      await Deno.rename(path, `${path}.old`);
      cli.child.kill("SIGHUP");
      await untilStderr(
        cli,
        (text) =>
          text.includes(
            'SIGHUP: reopening the files of "file" at their next write',
          ) && /INFO {2}\[file\] Reopened \S+out\.log: as asked\n/.test(text),
        "the file reopened",
      );
      await pollUntil(
        () => Deno.readTextFile(path).then(numbers, () => []),
        (lines) => lines.length >= 10,
        "lines in the new file",
      );
    } finally {
      cli.child.kill("SIGINT");
    }
    const result = await cli.finish();
    assert.equal(result.code, 0, result.stderr);
    const report = stopReport(result.stderr);
    assert.equal(report.delivered, report.created);
    const before = numbers(await Deno.readTextFile(`${path}.old`));
    const after = numbers(await Deno.readTextFile(path));
    assert.ok(before.length >= 10 && after.length >= 10);
    assert.deepEqual([...before, ...after], upTo(report.delivered!));
  });
});
