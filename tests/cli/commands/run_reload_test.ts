/**
 * `compysition run` reloading its pipeline without stopping: on SIGHUP, on
 * `POST /api/reload` and with `--watch`. Each runs the real command as a
 * subprocess and counts what reached the output file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { repoUrl, type RunningCli, spawnCli } from "../../cli_helpers.ts";
import { pollUntil, within, withTempDir } from "../../helpers.ts";

const TOKEN = "reload-test-token";

/** A generator -> a header stage setting `tag` -> file_out to `out`. */
function pipeline(out: string, tag: string): string {
  return [
    "actors:",
    "  gen: { type: generator, options: { interval: 0.001, data: '{{seq}}' } }",
    `  mid: { type: header, options: { set: { tag: ${tag} } } }`,
    `  out: { type: file_out, options: { path: "${out}" } }`,
    "connections:",
    "  - gen.outbox -> mid.inbox",
    "  - mid.outbox -> out.inbox",
    "",
  ].join("\n");
}

/** The JSON log records `run --log-format json` wrote on stderr so far. */
function records(cli: RunningCli): Record<string, unknown>[] {
  return cli.stderr.text.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

/** Waits for the `count`th reload outcome logged, and returns it. */
async function reloadLogged(
  cli: RunningCli,
  count: number,
): Promise<Record<string, unknown>> {
  await cli.stderr.until(() =>
    records(cli).filter((record) => "reload" in record).length >= count
  );
  const record = records(cli).filter((record) => "reload" in record)[
    count - 1
  ]!;
  return record.reload as Record<string, unknown>;
}

/** The numbers written to `path`, one a line. */
async function numbers(path: string): Promise<number[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((line) => line !== "").map(Number);
}

/** The numbers 1..count. */
function upTo(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** Stops `cli` with SIGINT; checks every event made reached `out` once. */
async function stopAndCount(cli: RunningCli, out: string): Promise<void> {
  cli.child.kill("SIGINT");
  const result = await cli.finish();
  assert.equal(result.code, 0, result.stderr);
  const report = records(cli).at(-1)!.report as {
    created: number;
    delivered: number;
    failed: number;
    dropped: number;
    abandoned: number;
  };
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  assert.equal(report.delivered, report.created);
  assert.deepEqual(await numbers(out), upTo(report.delivered));
}

Deno.test("compysition run: SIGHUP and POST /api/reload reload the file; a bad file changes nothing and says where", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.log");
    const file = join(dir, "pipeline.yaml");
    await Deno.writeTextFile(file, pipeline(out, "v1"));
    const cli = spawnCli(
      ["run", file, "--log-format", "json", "--admin", "127.0.0.1:0"],
      { COMPYSITION_ADMIN_TOKEN: TOKEN },
    );
    try {
      await cli.stderr.until((text) => text.includes('"admin":'));
      const admin = records(cli).find((record) => "admin" in record)!
        .admin as string;
      await pollUntil(() => numbers(out), (seen) => seen.length >= 10, "lines");

      // SIGHUP with a changed middle stage: it is replaced.
      await Deno.writeTextFile(file, pipeline(out, "v2"));
      cli.child.kill("SIGHUP");
      const applied = await reloadLogged(cli, 1);
      assert.equal(applied.trigger, "SIGHUP");
      assert.equal(applied.status, "applied");
      assert.deepEqual(
        (applied.change as { replaced: string[] }).replaced,
        ["mid"],
      );

      // SIGHUP with a syntax error: nothing changes, the position is told.
      await Deno.writeTextFile(
        file,
        pipeline(out, "v3").replace("tag: v3 } }", "tag: v3 }"),
      );
      cli.child.kill("SIGHUP");
      const invalid = await reloadLogged(cli, 2);
      assert.equal(invalid.status, "invalid");
      assert.match(
        (invalid.errors as string[])[0]!,
        new RegExp(`^${RegExp.escape(file)}:\\d+:\\d+: YAML syntax error`),
      );
      assert.match(cli.stderr.text, /the file is invalid, nothing changed/);

      // POST /api/reload: the token is required, as on every route.
      await Deno.writeTextFile(file, pipeline(out, "v4"));
      const url = new URL("api/reload", admin);
      const refused = await fetch(url, { method: "POST" });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const foreign = await fetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${TOKEN}`,
          origin: "http://attacker.example",
        },
      });
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();
      const posted = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const outcome = await posted.json();
      assert.equal(posted.status, 200, JSON.stringify(outcome));
      assert.equal(outcome.status, "applied");
      assert.equal(outcome.trigger, "api");
      assert.deepEqual(
        outcome.plan.actors.replace.map(({ name }: { name: string }) => name),
        ["mid"],
      );
      const listed = await fetch(new URL("api/reloads", admin), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const { reloads } = await listed.json();
      assert.deepEqual(
        reloads.map(({ trigger, status }: Record<string, string>) =>
          `${trigger} ${status}`
        ),
        ["SIGHUP applied", "SIGHUP invalid", "api applied"],
      );
      const before = (await numbers(out)).length;
      await pollUntil(
        () => numbers(out),
        (seen) => seen.length >= before + 10,
        "lines after the reloads",
      );
    } finally {
      await stopAndCount(cli, out);
    }
  });
});

Deno.test("compysition run --watch reloads once the file changed", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.log");
    const file = join(dir, "pipeline.yaml");
    await Deno.writeTextFile(file, pipeline(out, "v1"));
    const cli = spawnCli(["run", file, "--watch", "--log-format", "json"]);
    try {
      await cli.stderr.until((text) => text.includes("SIGHUP reloads it"));
      await pollUntil(() => numbers(out), (seen) => seen.length >= 10, "lines");
      // Written in two steps, as an editor may: one reload.
      const text = pipeline(out, "v2");
      await Deno.writeTextFile(file, text.slice(0, 40));
      await Deno.writeTextFile(file, text);
      const applied = await reloadLogged(cli, 1);
      assert.equal(applied.trigger, "watch");
      assert.equal(applied.status, "applied");
      const before = (await numbers(out)).length;
      await pollUntil(
        () => numbers(out),
        (seen) => seen.length >= before + 10,
        "lines after the reload",
      );
      assert.equal(
        records(cli).filter((record) => "reload" in record).length,
        1,
      );
    } finally {
      await stopAndCount(cli, out);
    }
  });
});

Deno.test("compysition run: a SIGHUP while the pipeline starts is not lost: the file is reloaded once it runs", async () => {
  await withTempDir(async (dir) => {
    const gate = join(dir, "gate");
    await Deno.writeTextFile(
      join(dir, "slow.ts"),
      `
import { z } from "zod";
import { Actor } from "${repoUrl("core/actor.ts")}";

class Slow extends Actor {
  readonly kind = "transform";
  async setup() {
    Deno.stdout.writeSync(new TextEncoder().encode("setup\\n"));
    for (let i = 0; i < 1500; i++) {
      if (await Deno.stat(${
        JSON.stringify(gate)
      }).then(() => true, () => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  consume(event, context) {
    return context.send(event);
  }
}

export default {
  type: "slow",
  kind: "transform",
  summary: "Sets up once the gate file exists.",
  options: z.strictObject({}),
  create: (name, _options, settings) => new Slow(name, settings),
};
`,
    );
    const out = join(dir, "out.log");
    const file = join(dir, "pipeline.yaml");
    const withSlow = (tag: string) =>
      pipeline(out, tag).replace(
        "connections:\n",
        "  slow: { module: ./slow.ts }\nconnections:\n",
      ).replace(
        "  - mid.outbox -> out.inbox\n",
        "  - mid.outbox -> slow.inbox\n  - slow.outbox -> out.inbox\n",
      );
    await Deno.writeTextFile(file, withSlow("v1"));
    const cli = spawnCli(["run", file, "--log-format", "json"]);
    try {
      // The slow stage sets up: the pipeline does not run yet.
      await cli.stdout.until((text) => text.includes("setup\n"));
      await Deno.writeTextFile(file, withSlow("v2"));
      cli.child.kill("SIGHUP");
      // Let the signal arrive while the start still waits.
      await cli.stderr.until((text) => text.includes("SIGHUP: reopening"));
      await Deno.writeTextFile(gate, "");
      const applied = await within(
        reloadLogged(cli, 1),
        30_000,
        "the reload once the pipeline runs",
      );
      assert.equal(applied.trigger, "SIGHUP");
      assert.equal(applied.status, "applied");
      assert.deepEqual(
        (applied.change as { replaced: string[] }).replaced,
        ["mid"],
      );
    } finally {
      await Deno.writeTextFile(gate, "");
      await stopAndCount(cli, out);
    }
  });
});

Deno.test("compysition run: SIGHUPs that replace a stage whose loop waits on an empty inbox between slow events lose and repeat nothing", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.log");
    const file = join(dir, "pipeline.yaml");
    // An event every 20 ms: the stage's inbox is empty nearly all the time.
    const slow = (tag: string) =>
      pipeline(out, tag).replace("interval: 0.001", "interval: 0.02");
    await Deno.writeTextFile(file, slow("v1"));
    const cli = spawnCli(["run", file, "--log-format", "json"]);
    try {
      await pollUntil(() => numbers(out), (seen) => seen.length >= 3, "lines");
      for (let i = 2; i <= 5; i++) {
        await Deno.writeTextFile(file, slow(`v${i}`));
        cli.child.kill("SIGHUP");
        const applied = await reloadLogged(cli, i - 1);
        assert.equal(applied.status, "applied");
        assert.deepEqual(
          (applied.change as { replaced: string[] }).replaced,
          ["mid"],
        );
        const before = (await numbers(out)).length;
        await pollUntil(
          () => numbers(out),
          (seen) => seen.length >= before + 3,
          `lines after reload ${i}`,
        );
      }
    } finally {
      await stopAndCount(cli, out);
    }
  });
});
