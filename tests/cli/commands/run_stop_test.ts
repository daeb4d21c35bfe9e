/**
 * How `compysition run` stops when something does not: a signal while an
 * actor's setup hangs, a teardown that hangs, and what the stop line says
 * when events were copied.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { repoUrl, runCli, spawnCli } from "../../cli_helpers.ts";
import { withTempDir } from "../../helpers.ts";

/**
 * The source of a module whose `stuck` transform never finishes its
 * `phase` ("setup" or "teardown"); it prints "<phase>" on stdout when it
 * begins it.
 */
function hangingModule(phase: "setup" | "teardown"): string {
  return `
import { z } from "zod";
import { Actor } from "${repoUrl("core/actor.ts")}";

class Stuck extends Actor {
  readonly kind = "transform";
  ${phase}() {
    Deno.stdout.writeSync(new TextEncoder().encode("${phase}\\n"));
    return new Promise(() => {});
  }
  consume(event, context) {
    return context.send(event);
  }
}

export default {
  type: "stuck",
  kind: "transform",
  summary: "Never finishes its ${phase}.",
  options: z.strictObject({}),
  create: (name, _options, settings) => new Stuck(name, settings),
};
`;
}

/** Writes generator → stuck (from `module`) → null in `dir`; its path. */
async function writeStuckPipeline(
  dir: string,
  phase: "setup" | "teardown",
): Promise<string> {
  await Deno.writeTextFile(join(dir, "stuck.ts"), hangingModule(phase));
  const file = join(dir, "stuck.yaml");
  await Deno.writeTextFile(
    file,
    [
      "actors:",
      "  input: { type: generator, options: { interval: 0, count: 10 } }",
      "  stuck: { module: ./stuck.ts }",
      '  sink: { type: "null" }',
      "connections:",
      "  - input.outbox -> stuck.inbox",
      "  - stuck.outbox -> sink.inbox",
      "",
    ].join("\n"),
  );
  return file;
}

Deno.test("compysition run stops on SIGTERM while an actor's setup hangs, by the drain timeout, and exits 3 naming it", async () => {
  await withTempDir(async (dir) => {
    const file = await writeStuckPipeline(dir, "setup");
    const cli = spawnCli(["run", file, "--drain-timeout", "1"]);
    await cli.stdout.until((text) => text.includes("setup\n"));
    cli.child.kill("SIGTERM");
    const result = await cli.finish();
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /Stopping on SIGTERM while starting/);
    assert.match(
      result.stderr,
      /\n {2}stuck: did not finish its setup in time/,
    );
    assert.doesNotMatch(result.stderr, /Cannot start/);
  });
});

Deno.test("compysition run exits 3 when an actor does not finish its teardown, naming it", async () => {
  await withTempDir(async (dir) => {
    const file = await writeStuckPipeline(dir, "teardown");
    const result = await runCli(["run", file, "--drain-timeout", "1"]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /Stopped \(the pipeline finished\) after \d+\.\d s: 10 created, 10 delivered, /,
    );
    assert.match(
      result.stderr,
      /\n {2}stuck: did not finish its teardown in time/,
    );
  });
});

Deno.test("compysition run's stop line counts the copies a fanout made, so that its figures add up", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "fan.yaml");
    await Deno.writeTextFile(
      file,
      [
        "actors:",
        "  input: { type: generator, options: { interval: 0, count: 10 } }",
        "  fan: { type: fanout }",
        '  a: { type: "null" }',
        '  b: { type: "null" }',
        "connections:",
        "  - input.outbox -> fan.inbox",
        "  - fan.a -> a.inbox",
        "  - fan.b -> b.inbox",
        "",
      ].join("\n"),
    );
    const human = await runCli(["run", file]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stderr,
      /: 10 created, 10 copies, 20 delivered, 0 errors, 0 filtered, 0 dropped, 0 failed, 0 abandoned, 0 discarded\n$/,
    );
    const json = await runCli(["run", file, "--log-format", "json"]);
    const last = JSON.parse(json.stderr.trim().split("\n").at(-1)!);
    assert.equal(last.report.created, 10);
    assert.equal(last.report.copies, 10);
    assert.equal(last.report.delivered, 20);
  });
});
