import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../cli_helpers.ts";
import { withTempDir } from "../../helpers.ts";

const OLD = [
  "actors:",
  "  web: { type: http_server, options: { port: 8000, token: hunter2 } }",
  "  mix: { type: roundrobin }",
  '  one: { type: stdout, options: { prefix: "one: " } }',
  "  two: { type: stdout }",
  "connections:",
  "  - web.outbox -> mix.inbox",
  "  - mix.one -> one.inbox",
  "  - mix.two -> two.inbox",
  "",
].join("\n");

const NEW = [
  "actors:",
  "  web: { type: http_server, options: { port: 8000, token: s3cret } }",
  "  mix: { type: roundrobin }",
  '  one: { type: stdout, options: { prefix: "${PREFIX}: " }, capacity: 50 }',
  "  three: { type: stdout }",
  "  lg: { type: log_human }",
  "connections:",
  "  - { from: web.outbox, to: mix.inbox, capacity: 20 }",
  "  - mix.one -> one.inbox",
  "  - mix.three -> three.inbox",
  "logs: lg",
  "",
].join("\n");

/** Writes `files` (name to text) in `dir`; returns their paths. */
async function write(
  dir: string,
  files: Record<string, string>,
): Promise<string[]> {
  const paths: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    await Deno.writeTextFile(path, text);
    paths.push(path);
  }
  return paths;
}

Deno.test("compysition plan prints what a reload would do, like terraform plan, secrets hidden", async () => {
  await withTempDir(async (dir) => {
    const [old, next] = await write(dir, { "old.yaml": OLD, "new.yaml": NEW });
    const result = await runCli(["plan", old!, next!], { PREFIX: "uno" });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(
      result.stdout,
      [
        `Reload plan from "${old}" to "${next}":`,
        "",
        "Actors:",
        "  = keep     mix (roundrobin)",
        "  ~ replace  web (http_server)",
        "      options.token: (secret) -> (secret)",
        "      listens on 127.0.0.1:8000 before and after: its socket can be kept",
        "      connections before: web.outbox -> mix.inbox",
        "      connections after: web.outbox -> mix.inbox (capacity 20)",
        "  ~ replace  one (stdout)",
        "      capacity: (not set) -> 50",
        '      options.prefix: "one: " -> "uno: "',
        "      connections: mix.one -> one.inbox",
        "  + add      three (stdout)",
        "  + add      lg (log_human)",
        "  - remove   two (stdout)",
        "",
        "Connections:",
        "  + add      mix.three -> three.inbox",
        "  - remove   mix.two -> two.inbox",
        "  ~ queue    web.outbox -> mix.inbox",
        "      capacity: (not set) -> 20",
        "",
        'Logs: (none) -> "lg"',
        "",
        'Plan: 2 to add, 2 to replace, 1 to remove, 1 unchanged; connections: 1 to add, 1 to remove; queues: 1 to change; "logs" changes.',
        "",
      ].join("\n"),
    );
    const detailed = await runCli(
      ["plan", old!, next!, "--detailed-exitcode"],
      { PREFIX: "uno" },
    );
    assert.equal(detailed.code, 4);
    assert.equal(detailed.stdout, result.stdout);
  });
});

Deno.test("compysition plan --json prints the plan as JSON without secrets", async () => {
  await withTempDir(async (dir) => {
    const [old, next] = await write(dir, { "old.yaml": OLD, "new.yaml": NEW });
    const result = await runCli(["plan", "--json", old!, next!], {
      PREFIX: "uno",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes("hunter2"));
    assert.ok(!result.stdout.includes("s3cret"));
    const plan = JSON.parse(result.stdout);
    assert.equal(plan.oldFile, old);
    assert.equal(plan.newFile, next);
    assert.equal(plan.changed, true);
    assert.deepEqual(
      plan.actors.keep.map((actor: { name: string }) => actor.name),
      ["mix"],
    );
    assert.deepEqual(plan.actors.replace[1], {
      name: "one",
      type: "stdout",
      changes: [
        { field: "capacity", after: 50 },
        { field: "options.prefix", before: "one: ", after: "uno: " },
      ],
      connectionsBefore: [{ from: "mix.one", to: "one.inbox", options: {} }],
      connectionsAfter: [{ from: "mix.one", to: "one.inbox", options: {} }],
    });
    assert.deepEqual(plan.actors.remove, [{
      name: "two",
      type: "stdout",
      connections: [{ from: "mix.two", to: "two.inbox", options: {} }],
    }]);
    assert.deepEqual(plan.queues, [{
      from: "web.outbox",
      to: "mix.inbox",
      changes: [{ field: "capacity", after: 20 }],
    }]);
    assert.deepEqual(plan.logs, { before: null, after: "lg" });
    assert.equal(plan.metrics, undefined);
  });
});

Deno.test("compysition plan of identical pipelines says nothing changes and exits 0", async () => {
  await withTempDir(async (dir) => {
    const reordered = [
      "connections:",
      "  - web.outbox -> mix.inbox",
      "  - mix.one -> one.inbox",
      "  - mix.two -> two.inbox",
      "actors:",
      "  two: { type: stdout, options: { format: data } }",
      '  one: { options: { prefix: "one: " }, type: stdout }',
      "  mix: { type: roundrobin }",
      "  web: { type: http_server, options: { token: hunter2, port: 8000 } }",
      "",
    ].join("\n");
    const [old, same] = await write(dir, {
      "old.yaml": OLD,
      "same.yaml": reordered,
    });
    for (const extra of [[], ["--detailed-exitcode"]]) {
      const result = await runCli(["plan", old!, same!, ...extra]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        `No changes: "${old}" and "${same}" describe the same pipeline (4 actors, 3 connections).\n`,
      );
    }
    const json = await runCli(["plan", old!, same!, "--json"]);
    assert.equal(JSON.parse(json.stdout).changed, false);
  });
});

Deno.test("compysition plan reports the problems of both files with their positions and exits 1", async () => {
  await withTempDir(async (dir) => {
    const [old, next] = await write(dir, {
      "old.yaml": "actors:\n  input: { type: genrator }\n",
      "new.yaml": "actors:\n  input: { type: generator\n",
    });
    const result = await runCli(["plan", old!, next!]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      [
        `${old}:2:18: Unknown actor type "genrator" for actor "input"; did you mean "generator"?`,
        `${next}:3:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }`,
        "",
      ].join("\n"),
    );
    const unset = await runCli(["plan", old!.replace("old", "missing"), old!]);
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /missing\.yaml:1:1: The file does not exist\n/);
  });
});

Deno.test("compysition plan needs exactly two files", async () => {
  for (
    const [args, message] of [
      [[], /^compysition plan: missing OLD and NEW\n/],
      [["a.yaml"], /^compysition plan: missing NEW\n/],
      [["a.yaml", "b.yaml", "c.yaml"], /expected OLD and NEW, got 3 files/],
    ] as const
  ) {
    const result = await runCli(["plan", ...args]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, message);
  }
});
