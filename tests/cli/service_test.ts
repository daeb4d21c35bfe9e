import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli, runProgram } from "../cli_helpers.ts";
import { withTempDir } from "../helpers.ts";
import { type Program, testWith } from "../requires.ts";

/** A unit's sections: section name -> key -> values (keys may repeat). */
type Unit = Record<string, Record<string, string[]>>;

/** Parses a unit file as systemd reads it: sections, `Key=value`, comments. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^[#;]/.test(line)) continue;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header !== null) {
      section = unit[header[1]!] = {};
      continue;
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(
      pair !== null && section !== undefined,
      `not a unit line: ${line}`,
    );
    (section[pair[1]!] ??= []).push(pair[2]!);
  }
  return unit;
}

/** The one value of `key` in `section`. */
function value(unit: Unit, section: string, key: string): string | undefined {
  const values = unit[section]?.[key];
  assert.ok(values === undefined || values.length === 1, `${key} set twice`);
  return values?.[0];
}

/** The words of an ExecStart line that needs no quotes. */
function words(line: string): string[] {
  assert.ok(!/["'\\]/.test(line), `quoted: ${line}`);
  return line.split(" ");
}

/** Checks a unit as systemd would load it (Debian's `systemd` package). */
const SYSTEMD_ANALYZE: Program = {
  name: "systemd-analyze",
  install: "apt-get install -y systemd",
};

const SERVICE_FILE = join(ROOT, "examples", "service.yaml");

Deno.test("compysition service prints a unit that restarts on failure, stops by SIGTERM past the drain timeout and logs to the journal", async () => {
  const result = await runCli([
    "service",
    "examples/service.yaml",
    "--user",
    "compysition",
    "--binary",
    "/usr/local/bin/compysition",
    "--drain-timeout",
    "20",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  const unit = parseUnit(result.stdout);
  assert.deepEqual(Object.keys(unit), ["Unit", "Service", "Install"]);
  assert.equal(
    value(unit, "Unit", "Description"),
    "Compysition pipeline service.yaml",
  );
  assert.equal(value(unit, "Unit", "After"), "network-online.target");
  assert.equal(
    value(unit, "Service", "ExecStart"),
    `/usr/local/bin/compysition run ${SERVICE_FILE} --drain-timeout 20 --status never`,
  );
  assert.equal(
    value(unit, "Service", "WorkingDirectory"),
    join(ROOT, "examples"),
  );
  assert.equal(value(unit, "Service", "User"), "compysition");
  assert.equal(value(unit, "Service", "Restart"), "on-failure");
  assert.equal(value(unit, "Service", "RestartPreventExitStatus"), "2");
  assert.equal(value(unit, "Service", "KillSignal"), "SIGTERM");
  assert.equal(value(unit, "Service", "KillMode"), "mixed");
  assert.ok(Number(value(unit, "Service", "TimeoutStopSec")) > 20);
  assert.equal(value(unit, "Service", "StandardOutput"), "journal");
  assert.equal(value(unit, "Service", "StandardError"), "journal");
  assert.equal(
    value(unit, "Service", "ExecReload"),
    "/bin/kill -HUP $MAINPID",
  );
  assert.equal(value(unit, "Install", "WantedBy"), "multi-user.target");
  assert.match(result.stdout, /^# compysition-service\.service: runs /);
  assert.match(
    result.stdout,
    /\n# {3}sudo systemctl enable --now compysition-service\n/,
  );
});

Deno.test("the default ExecStart of compysition service runs the pipeline with this deno and cli.ts", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "hello.yaml");
    await Deno.copyFile(join(ROOT, "examples", "hello.yaml"), file);
    const result = await runCli(["service", file]);
    assert.equal(result.code, 0, result.stderr);
    const unit = parseUnit(result.stdout);
    assert.equal(value(unit, "Service", "User"), undefined);
    assert.equal(value(unit, "Service", "TimeoutStopSec"), "45");
    const exec = words(value(unit, "Service", "ExecStart")!);
    assert.deepEqual(exec.slice(0, 2), [Deno.execPath(), "run"]);
    assert.deepEqual(exec.slice(-6), [
      "run",
      file,
      "--drain-timeout",
      "30",
      "--status",
      "never",
    ]);
    // Run the unit's command as systemd would: from WorkingDirectory.
    const output = await runProgram(exec[0]!, exec.slice(1), {
      cwd: value(unit, "Service", "WorkingDirectory")!,
    });
    assert.equal(output.code, 0, output.stderr);
    assert.equal(output.stdout.trimEnd().split("\n").length, 20);
    assert.match(
      output.stderr,
      /\nStopped \(the pipeline finished\) after .*: 20 created, 20 delivered,/,
    );
  });
});

testWith(
  "systemd-analyze verify accepts the unit, with a file name that needs quoting",
  [SYSTEMD_ANALYZE],
  async ([systemdAnalyze]) => {
    await withTempDir(async (dir) => {
      const file = join(dir, "my pipeline 100%.yaml");
      await Deno.copyFile(join(ROOT, "examples", "hello.yaml"), file);
      const result = await runCli(["service", file, "--user", "root"]);
      assert.equal(result.code, 0, result.stderr);
      const unit = parseUnit(result.stdout);
      assert.equal(
        value(unit, "Service", "ExecStart")!.split(" run ").pop(),
        `"${dir}/my pipeline 100%%.yaml" --drain-timeout 30 --status never`,
      );
      const path = join(dir, "compysition-my-pipeline-100.service");
      assert.match(result.stdout, /^# compysition-my-pipeline-100\.service: /);
      await Deno.writeTextFile(path, result.stdout);
      const verify = await runProgram(systemdAnalyze!, ["verify", path]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(verify.stderr, "", "no warnings");
    });
  },
);

Deno.test("compysition service of an invalid file prints its problems, no unit, and exits 1", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "bad.yaml");
    await Deno.writeTextFile(file, "actors:\n  a: { type: nope }\n");
    const result = await runCli(["service", file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /bad\.yaml:2:14: Unknown actor type "nope"/);
  });
});

Deno.test("compysition service rejects a user name that is not one with exit 2", async () => {
  const result = await runCli([
    "service",
    "examples/hello.yaml",
    "--user",
    "bad user",
  ]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr,
    /^compysition service: --user must be a user name, not "bad user"\n/,
  );
});
