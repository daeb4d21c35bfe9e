import assert from "node:assert/strict";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse as parseYaml } from "yaml";
import denoJson from "../deno.json" with { type: "json" };
import { BUILTIN_ACTORS } from "../actors/mod.ts";
import {
  CLI,
  ndjsonFileModule,
  ROOT,
  runCli,
  spawnCli,
  stuckModule,
  writePipeline,
} from "./cli_helpers.ts";
import { withTempDir } from "./helpers.ts";
import { type Program, testWith } from "./requires.ts";

const COMMANDS = [
  "run",
  "validate",
  "plan",
  "graph",
  "actors",
  "schema",
  "top",
  "tap",
  "service",
  "version",
];

/**
 * Writes `ndjson_file.ts` (see `ndjsonFileModule`) and the bootstrap file
 * `name` in `dir`: a generator with options `input` feeding actor `write`
 * of that module, which appends to `out` (and says so after `announce`
 * lines). Returns the file's path.
 */
async function writeNdjsonPipeline(
  dir: string,
  name: string,
  { input, out, announce, queue }: {
    input: string;
    out: string;
    announce?: number;
    queue?: string;
  },
): Promise<string> {
  await Deno.writeTextFile(join(dir, "ndjson_file.ts"), ndjsonFileModule());
  const more = announce === undefined ? "" : `, announce: ${announce}`;
  return await writePipeline(dir, name, {
    input,
    actor: "write",
    spec: `{ module: ./ndjson_file.ts, options: { path: ${
      JSON.stringify(out)
    }${more} } }`,
    ...(queue === undefined ? {} : { queue }),
  });
}

async function examples(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "examples"))) {
    if (entry.isFile && /\.ya?ml$/.test(entry.name)) {
      files.push(join("examples", entry.name));
    }
  }
  return files.sort();
}

/** Formats `text` as `deno fmt` would a file with extension `ext`. */
async function denoFmt(text: string, ext: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", ext, "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const output = await child.output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

// --- usage -------------------------------------------------------------------

Deno.test("every command answers --help with its usage and exit code 0", async () => {
  for (const command of COMMANDS) {
    const result = await runCli([command, "--help"]);
    assert.equal(result.code, 0, command);
    assert.match(result.stdout, new RegExp(`^Usage: compysition ${command}`));
  }
  const overview = await runCli(["--help"]);
  assert.equal(overview.code, 0);
  for (const command of COMMANDS) {
    assert.match(overview.stdout, new RegExp(`^  ${command} `, "m"));
  }
});

Deno.test("usage mistakes exit with code 2 and say what is wrong", async () => {
  const cases: [string[], RegExp][] = [
    [[], /^compysition: run event-processing pipelines/],
    [["rnu"], /unknown command "rnu"; did you mean "run"\?/],
    [["run"], /^compysition run: missing FILE\n/],
    [["run", "a.yaml", "b.yaml"], /expected one FILE, got 2/],
    [["run", "a.yaml", "--colour"], /Unknown option '--colour'/],
    [
      ["run", "a.yaml", "--log-format", "xml"],
      /--log-format must be one of "human", "json", not "xml"/,
    ],
    [
      ["run", "a.yaml", "--drain-timeout=-1"],
      /--drain-timeout must be a number of seconds \(0 or more\), not "-1"/,
    ],
    [
      ["run", "a.yaml", "--drain-timeout", "soon"],
      /--drain-timeout must be a number of seconds \(0 or more\), not "soon"/,
    ],
    [["run", "a.yaml", "--drain-timeout"], /argument missing/],
    [
      ["run", "a.yaml", "--log-level", "loud"],
      /--log-level must be one of "trace", "debug", "info", "warning", "error", "fatal"/,
    ],
    [["validate"], /^compysition validate: missing FILE\n/],
    [
      ["graph", "a.yaml", "--format", "svg"],
      /--format must be one of "dot", "mermaid", not "svg"/,
    ],
    [["actors", "shwo"], /unknown subcommand "shwo"; did you mean "show"\?/],
    [["actors", "show"], /missing TYPE after "show"/],
    [["schema", "extra"], /unexpected argument "extra"/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.stderr, message, args.join(" "));
    assert.equal(result.stdout, "", args.join(" "));
  }
});

Deno.test("compysition version prints the name and version from deno.json", async () => {
  const result = await runCli(["version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${denoJson.name} ${denoJson.version}\n`);
  assert.equal((await runCli(["--version"])).stdout, result.stdout);
});

// --- validate ----------------------------------------------------------------

Deno.test("compysition validate accepts every example and exits 0", async () => {
  const files = await examples();
  assert.ok(files.includes(join("examples", "hello.yaml")));
  assert.ok(files.length >= 3);
  const result = await runCli(["validate", ...files]);
  assert.equal(result.stderr, "");
  assert.equal(result.code, 0);
  assert.equal(result.stdout, files.map((file) => `${file}: ok\n`).join(""));
});

Deno.test("compysition validate checks every file and exits 1 when one is invalid", async () => {
  await withTempDir(async (dir) => {
    const bad = join(dir, "bad.yaml");
    await Deno.writeTextFile(bad, "actors:\n  a: { type: stdot }\n");
    const good = join("examples", "hello.yaml");
    const result = await runCli(["validate", bad, good]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `${good}: ok\n`);
    assert.equal(
      result.stderr,
      `${bad}:2:14: Unknown actor type "stdot" for actor "a"; did you mean "stdout"?\n`,
    );
  });
});

Deno.test("every example file starts with the schema comment for the YAML language server", async () => {
  for (const file of await examples()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    assert.equal(
      text.split("\n")[0],
      "# yaml-language-server: $schema=../docs/bootstrap.schema.json",
      file,
    );
  }
});

// --- run ---------------------------------------------------------------------

Deno.test("compysition run runs a pipeline that ends by itself, prints the stop report and exits 0", async () => {
  const result = await runCli(["run", "examples/hello.yaml"]);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 20);
  assert.deepEqual(
    lines.filter((line) => line.startsWith("one: ")),
    [1, 3, 5, 7, 9, 11, 13, 15, 17, 19].map((n) => `one: hello ${n}`),
  );
  assert.deepEqual(
    lines.filter((line) => line.startsWith("two: ")),
    [2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map((n) => `two: hello ${n}`),
  );
  assert.match(
    result.stderr,
    /^Running "examples\/hello\.yaml": 4 actors, 3 connections; /,
  );
  assert.match(
    result.stderr,
    /\nStopped \(the pipeline finished\) after \d+\.\d s: 20 created, 20 delivered, 0 errors, 0 filtered, 0 dropped, 0 failed, 0 abandoned, 0 discarded\n$/,
  );
  assert.ok(!result.stderr.includes("\x1b["), "no status line off a terminal");
});

Deno.test("compysition run stopped by SIGTERM mid-stream delivers every accepted event to the file", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.ndjson");
    const file = await writeNdjsonPipeline(dir, "stream.yaml", {
      input: "{ interval: 0, data: '{{seq}}' }",
      out,
      announce: 2000,
    });
    const cli = spawnCli(["run", file]);
    await cli.stdout.until((text) => text.includes("written 2000\n"));
    cli.child.kill("SIGTERM");
    const result = await cli.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /\nStopping on SIGTERM: draining the queues \(up to 30 s\); send SIGTERM again to exit at once\n/,
    );
    const report =
      /\nStopped \(SIGTERM\) after \d+\.\d s: (\d+) created, (\d+) delivered, 0 errors, 0 filtered, 0 dropped, 0 failed, 0 abandoned, 0 discarded\n$/
        .exec(result.stderr);
    assert.ok(report, result.stderr);
    const delivered = Number(report[2]);
    assert.equal(
      Number(report[1]),
      delivered,
      "every event made was delivered",
    );
    const lines = (await Deno.readTextFile(out)).trimEnd().split("\n");
    assert.ok(delivered >= 2000);
    assert.equal(lines.length, delivered);
    lines.forEach((line, i) => assert.equal(line, JSON.stringify(`${i + 1}`)));
  });
});

Deno.test("compysition run exits at once with 143 on a second SIGTERM while draining", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "stuck.ts"), stuckModule());
    const file = await writePipeline(dir, "stuck.yaml", {
      input: "{ interval: 0 }",
      actor: "hang",
      spec: "{ module: ./stuck.ts }",
    });
    const cli = spawnCli(["run", file]);
    await cli.stdout.until((text) => text.includes("stuck\n"));
    cli.child.kill("SIGTERM");
    await cli.stderr.until((text) => text.includes("Stopping on SIGTERM"));
    cli.child.kill("SIGTERM");
    const result = await cli.finish();
    assert.equal(result.code, 143);
    assert.match(
      result.stderr,
      /\nSecond SIGTERM: exiting at once without draining\n$/,
    );
    assert.doesNotMatch(result.stderr, /Stopped/);
  });
});

Deno.test("compysition run reports the events lost when the drain times out and exits 3", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "stuck.ts"), stuckModule());
    const file = await writePipeline(dir, "stuck.yaml", {
      input: "{ interval: 0 }",
      actor: "hang",
      spec: "{ module: ./stuck.ts, capacity: 50 }",
    });
    const cli = spawnCli(["run", file, "--drain-timeout", "0.2"]);
    await cli.stdout.until((text) => text.includes("stuck\n"));
    cli.child.kill("SIGINT");
    const result = await cli.finish();
    assert.equal(result.code, 3, result.stderr);
    assert.match(
      result.stderr,
      /Stopping on SIGINT: draining the queues \(up to 0\.2 s\)/,
    );
    const lost =
      /\nThe drain timed out: events still queued were lost: hang\.inbox (\d+)(, input\.outbox (\d+))?\n/
        .exec(result.stderr);
    assert.ok(lost, result.stderr);
    assert.equal(Number(lost[1]), 50, "the hung actor's queue was full");
    const stopped =
      /\nStopped \(SIGINT\) after \d+\.\d s: (\d+) created, 0 delivered, 0 errors, 0 filtered, 0 dropped, 0 failed, (\d+) abandoned, 0 discarded\n/
        .exec(result.stderr);
    assert.ok(stopped, result.stderr);
    assert.equal(
      Number(stopped[2]),
      Number(lost[1]) + Number(lost[3] ?? 0),
      "what was queued was abandoned",
    );
    assert.equal(stopped[1], stopped[2], "every event made is accounted for");
    assert.match(
      result.stderr,
      /\n {2}hang: did not finish its draining in time\n/,
    );
  });
});

Deno.test("compysition run writes log records as ndjson with --log-format json, from --log-level on", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "lost.yaml");
    await Deno.writeTextFile(
      file,
      "actors:\n  input: { type: generator, options: { interval: 0, count: 3 } }\n",
    );
    const json = await runCli(["run", file, "--log-format", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const records = json.stderr.trimEnd().split("\n").map((line) =>
      JSON.parse(line)
    );
    const warning = records.find((record) => record.actor === "router");
    assert.equal(warning.level, "warning");
    assert.equal(
      warning.message,
      'Queue "input.outbox" is not connected: events sent there are dropped and counted',
    );
    assert.match(warning.time, /^\d{4}-\d\d-\d\dT/);
    const stopped = records.at(-1);
    assert.equal(stopped.actor, "compysition");
    assert.deepEqual(stopped.report, {
      created: 3,
      delivered: 0,
      errors: 0,
      filtered: 0,
      dropped: 3,
      failed: 0,
      abandoned: 0,
      discarded: 0,
      copies: 0,
      timedOut: false,
      queued: {},
      hung: [],
      gaveUp: [],
    });

    const human = await runCli(["run", file]);
    assert.match(
      human.stderr,
      /(^|\n)\S+ WARN {2}\[router\] Queue "input\.outbox" is not connected: events sent there are dropped and counted\n/,
    );
    const quiet = await runCli(["run", file, "--log-level", "error"]);
    assert.equal(quiet.code, 0);
    assert.doesNotMatch(quiet.stderr, /WARN/);
  });
});

Deno.test("compysition run --status always keeps a status line on the bottom row of a scroll region", async () => {
  const result = await runCli([
    "run",
    "examples/hello.yaml",
    "--status",
    "always",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const escape = "\x1b";
  const stderr = result.stderr;
  const reserve = stderr.indexOf(
    `\n${escape}7${escape}[1;23r${escape}8${escape}[1A`,
  );
  const releaseSequence =
    `${escape}7${escape}[r${escape}[24;1H${escape}[2K${escape}8`;
  const release = stderr.indexOf(releaseSequence);
  assert.ok(
    reserve > 0,
    "the rows above the status line become a scroll region",
  );
  assert.ok(release > reserve, "the scroll region is released at the end");
  const frameStart = `${escape}7${escape}[24;1H${escape}[2K${escape}[7m`;
  const frames = stderr.split(frameStart).slice(1).map((part) =>
    part.slice(0, part.indexOf(`${escape}[0m${escape}8`))
  );
  assert.equal(frames[0], "starting");
  for (const frame of frames.slice(1)) {
    assert.match(
      frame,
      /^in \S+\/s \| out \S+\/s \| \d+ handled \| fullest queue /,
    );
  }
  assert.match(
    stderr.slice(release + releaseSequence.length),
    /^Stopped \(the pipeline finished\) after \d+\.\d s: 20 created, 20 delivered, /,
  );
  assert.equal(frames.length, stderr.split(`${escape}[24;1H`).length - 2);
  assert.equal(result.stdout.trimEnd().split("\n").length, 20);
});

/** Runs a command on a terminal (util-linux, Debian's `bsdutils` package). */
const SCRIPT: Program = {
  name: "script",
  install: "apt-get install -y bsdutils",
};

testWith(
  "compysition run on a terminal shows the status line by itself",
  [SCRIPT],
  async ([script]) => {
    const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
    const output = await new Deno.Command(script!, {
      args: [
        "--quiet",
        "--return",
        "--command",
        `stty rows 30 cols 100; exec ${
          quote(Deno.execPath())
        } run --allow-all ${quote(CLI)} run examples/hello.yaml`,
        "/dev/null",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, text);
    const reserve = text.indexOf("\x1b7\x1b[1;29r\x1b8\x1b[1A");
    const release = text.indexOf("\x1b7\x1b[r\x1b[30;1H\x1b[2K\x1b8");
    assert.ok(reserve > 0, text);
    assert.ok(release > reserve, text);
    assert.ok(text.includes("\x1b[30;1H\x1b[2K\x1b[7mstarting\x1b[0m"), text);
    assert.equal(text.match(/hello \d+/g)?.length, 20);
    assert.match(text.slice(release), /Stopped \(the pipeline finished\)/);
  },
);

Deno.test("compysition run prints a file's problems and starts nothing", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "out.ndjson");
    const file = await writeNdjsonPipeline(dir, "bad.yaml", {
      input: "{ count: 3 }",
      out,
      queue: "inbx",
    });
    const result = await runCli(["run", file]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `${file}:5:27: Actor "write" (type "ndjson_file") has no inbound queue "inbx"; did you mean "inbox"?\n`,
    );
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  });
});

Deno.test("compysition run exits 1 and names the actor when one fails to set up", async () => {
  await withTempDir(async (dir) => {
    const file = await writeNdjsonPipeline(dir, "unwritable.yaml", {
      input: "{ interval: 0, count: 3 }",
      out: join(dir, "no", "such", "folder", "out.ndjson"),
    });
    const result = await runCli(["run", file]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(
        `\nCannot start "${
          file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        }": Actor "write" failed to set up: NotFound: `,
      ),
    );
    assert.doesNotMatch(result.stderr, /Running/);
  });
});

// --- graph -------------------------------------------------------------------

interface Graph {
  nodes: Map<string, string>;
  edges: { from: string; to: string; label: string }[];
}

/** A small structural parser of the dot the command writes. */
function parseDot(text: string): Graph {
  const id = String.raw`"((?:[^"\\]|\\.)*)"`;
  const lines = text.trimEnd().split("\n");
  assert.match(lines[0]!, new RegExp(`^digraph ${id} \\{$`));
  assert.equal(lines.at(-1), "}");
  const graph: Graph = { nodes: new Map(), edges: [] };
  const unquote = (s: string) => s.replace(/\\(["\\])/g, "$1");
  for (const line of lines.slice(1, -1)) {
    const node = new RegExp(`^  ${id} \\[label=${id}(, style="[^"]*")?\\];$`)
      .exec(line);
    const edge = new RegExp(`^  ${id} -> ${id} \\[label=${id}\\];$`).exec(line);
    if (node !== null) {
      graph.nodes.set(unquote(node[1]!), unquote(node[2]!));
    } else if (edge !== null) {
      graph.edges.push({
        from: unquote(edge[1]!),
        to: unquote(edge[2]!),
        label: unquote(edge[3]!),
      });
    } else {
      assert.match(line, /^ {2}(rankdir=LR|(node|edge) \[[^\]]*\]);$/);
    }
  }
  for (const edge of graph.edges) {
    assert.ok(graph.nodes.has(edge.from), `node "${edge.from}" is declared`);
    assert.ok(graph.nodes.has(edge.to), `node "${edge.to}" is declared`);
  }
  return graph;
}

/** A small structural parser of the Mermaid flowchart the command writes. */
function parseMermaid(text: string): Graph {
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "flowchart LR");
  const graph: Graph = { nodes: new Map(), edges: [] };
  for (const line of lines.slice(1)) {
    const node = /^ {2}(a\d+)\["([^"]*)"\]$/.exec(line) ??
      /^ {2}(e\d+)\(\["([^"]*)"\]\)$/.exec(line);
    const edge = /^ {2}([ae]\d+) -->\|"([^"]*)"\| ([ae]\d+)$/.exec(line);
    if (node !== null) {
      graph.nodes.set(node[1]!, node[2]!);
    } else {
      assert.ok(edge !== null, `"${line}" is a node or an edge`);
      graph.edges.push({ from: edge[1]!, label: edge[2]!, to: edge[3]! });
    }
  }
  for (const edge of graph.edges) {
    assert.ok(graph.nodes.has(edge.from) && graph.nodes.has(edge.to));
  }
  return graph;
}

Deno.test("compysition graph prints the topology as dot with queues as edge labels", async () => {
  const result = await runCli(["graph", "examples/hello.yaml"]);
  assert.equal(result.code, 0, result.stderr);
  const graph = parseDot(result.stdout);
  assert.deepEqual([...graph.nodes], [
    ["input", "input\\n(generator)"],
    ["mix", "mix\\n(roundrobin)"],
    ["one", "one\\n(stdout)"],
    ["two", "two\\n(stdout)"],
  ]);
  assert.deepEqual(graph.edges, [
    { from: "input", to: "mix", label: "outbox -> inbox" },
    { from: "mix", to: "one", label: "one -> inbox" },
    { from: "mix", to: "two", label: "two -> inbox" },
  ]);
});

Deno.test("compysition graph --format mermaid prints a flowchart with every connection", async () => {
  const result = await runCli([
    "graph",
    "examples/orders.yaml",
    "--format",
    "mermaid",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const graph = parseMermaid(result.stdout);
  const name = (id: string) => graph.nodes.get(id)!.split("<br/>")[0];
  assert.equal(graph.nodes.size, 8);
  assert.deepEqual(
    graph.edges.map((edge) =>
      `${name(edge.from)} ${edge.label} ${name(edge.to)}`
    ),
    [
      "orders outbox -> inbox decode",
      "decode outbox -> inbox route",
      "route large -> inbox mark",
      "mark outbox -> inbox large",
      "route small -> inbox small",
      "decode error -> decode errors",
      "mark error -> mark errors",
      "errors outbox -> inbox failed",
    ],
  );
});

/** A pipeline that a program uses as a stage: two queues are exposed. */
const STAGE = [
  "actors:",
  "  parse: { type: json_decode }",
  '  shape: { type: jsonata, options: { expression: "$" } }',
  "connections:",
  "  - parse.outbox -> shape.inbox",
  "expose: [parse.inbox, shape.outbox]",
  "",
].join("\n");

Deno.test("compysition graph shows the queues of expose: as external ends, in dot and Mermaid", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "stage.yaml");
    await Deno.writeTextFile(file, STAGE);
    const dot = await runCli(["graph", file]);
    assert.equal(dot.code, 0, dot.stderr);
    const graph = parseDot(dot.stdout);
    assert.deepEqual([...graph.nodes], [
      ["parse", "parse\\n(json_decode)"],
      ["shape", "shape\\n(jsonata)"],
      ["parse.inbox", "parse.inbox\\n(external writable end)"],
      ["shape.outbox", "shape.outbox\\n(external readable end)"],
    ]);
    assert.deepEqual(graph.edges, [
      { from: "parse", to: "shape", label: "outbox -> inbox" },
      { from: "parse.inbox", to: "parse", label: "writable -> inbox" },
      { from: "shape", to: "shape.outbox", label: "outbox -> readable" },
    ]);
    assert.match(
      dot.stdout,
      /"parse.inbox" \[label="[^"]*", style="dotted"\];/,
    );
    const mermaid = await runCli(["graph", file, "--format", "mermaid"]);
    assert.equal(mermaid.code, 0, mermaid.stderr);
    const flowchart = parseMermaid(mermaid.stdout);
    const name = (id: string) => flowchart.nodes.get(id)!.split("<br/>")[0];
    assert.deepEqual(
      flowchart.edges.map((edge) =>
        `${name(edge.from)} ${edge.label} ${name(edge.to)}`
      ),
      [
        "parse outbox -> inbox shape",
        "parse.inbox writable -> inbox parse",
        "shape outbox -> readable shape.outbox",
      ],
    );
  });
});

Deno.test("compysition run and service refuse a file that exposes queues, naming them, with exit code 1", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "stage.yaml");
    await Deno.writeTextFile(file, STAGE);
    const message =
      `${file}: it exposes "parse.inbox", "shape.outbox", which only a program can feed or read (loadPipeline(), then router.writable(), readable() or stream()); the command cannot run it by itself\n`;
    for (const command of ["run", "service"]) {
      const result = await runCli([command, file]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(result.stderr, message);
    }
  });
});

Deno.test("compysition graph of an invalid file prints its problems and exits 1", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "bad.yaml");
    await Deno.writeTextFile(file, "actors: []\n");
    const result = await runCli(["graph", file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      `${file}:1:9: "actors" must be a mapping of actor names to actors, not a list\n`,
    );
  });
});

// --- actors ------------------------------------------------------------------

Deno.test("compysition actors lists every registered type with its kind and summary", async () => {
  const result = await runCli(["actors"]);
  assert.equal(result.code, 0);
  const rows = result.stdout.split("\n");
  assert.match(rows[0]!, /^TYPE +KIND +SUMMARY$/);
  for (const spec of BUILTIN_ACTORS) {
    assert.ok(
      rows.some((row) =>
        new RegExp(`^${spec.type} +${spec.kind} +`).test(row) &&
        row.endsWith(spec.summary)
      ),
      spec.type,
    );
  }
});

Deno.test("compysition actors show documents a type's options, defaults and example", async () => {
  const result = await runCli(["actors", "show", "generator"]);
  assert.equal(result.code, 0);
  const text = result.stdout;
  assert.match(text, /^generator \(input\)\n\nMakes events on a timer/);
  assert.match(
    text,
    /\n {2}interval {2}number, default 1\n +Seconds between two events;/,
  );
  assert.match(text, /\n {2}count {5}integer, optional\n/);
  assert.match(text, /\n {2}data {6}any, default "hello \{\{seq\}\}"\n/);
  const example = text.slice(text.indexOf("Example:\n") + 9);
  assert.deepEqual(parseYaml(example.replace(/^ {2}/gm, "")), {
    actors: {
      generator: {
        type: "generator",
        options: { interval: 0.5, count: 10, data: "hello {{seq}}" },
      },
    },
  });

  const unknown = await runCli(["actors", "show", "genrator"]);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /^Unknown actor type "genrator"; did you mean "generator"\?\n/,
  );
});

Deno.test("docs/actors.md is what compysition actors --markdown makes (deno task docs)", async () => {
  const result = await runCli(["actors", "--markdown"]);
  assert.equal(result.code, 0);
  for (const spec of BUILTIN_ACTORS) {
    assert.match(result.stdout, new RegExp(`\n### ${spec.type}\n`));
  }
  const committed = await Deno.readTextFile(join(ROOT, "docs", "actors.md"));
  assert.equal(
    committed,
    await denoFmt(result.stdout, "md"),
    'docs/actors.md is stale: run "deno task docs"',
  );
});

// --- schema ------------------------------------------------------------------

Deno.test("docs/bootstrap.schema.json is what compysition schema prints (deno task docs)", async () => {
  const result = await runCli(["schema"]);
  assert.equal(result.code, 0);
  const committed = await Deno.readTextFile(
    join(ROOT, "docs", "bootstrap.schema.json"),
  );
  assert.equal(
    committed,
    await denoFmt(result.stdout, "json"),
    'docs/bootstrap.schema.json is stale: run "deno task docs"',
  );
});

Deno.test("the JSON Schema accepts every example and rejects broken files", async () => {
  const schema = JSON.parse(
    await Deno.readTextFile(join(ROOT, "docs", "bootstrap.schema.json")),
  );
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
  });
  const validate = ajv.compile(schema);
  for (const file of await examples()) {
    const document = parseYaml(await Deno.readTextFile(join(ROOT, file)));
    assert.ok(
      validate(document),
      `${file}: ${JSON.stringify(validate.errors, null, 1)}`,
    );
  }
  const accepted = {
    actors: {
      input: {
        type: "generator",
        options: { interval: "${INTERVAL:-0.5}", count: 3 },
        capacity: 10,
        when_full: "drop_oldest",
        retry: { max: 2, backoff_ms: 10 },
      },
      mine: { module: "./mine.ts", options: { anything: true } },
    },
    connections: [
      "input.outbox -> mine.inbox",
      { from: "input.error", to: "mine.errors", capacity: 5 },
    ],
    logs: null,
  };
  assert.ok(validate(accepted), JSON.stringify(validate.errors, null, 1));
  const broken: [string, unknown][] = [
    ["no actors", { connections: [] }],
    ["unknown top-level key", { actors: {}, conections: [] }],
    ["unknown type", { actors: { a: { type: "genrator" } } }],
    [
      "unknown option",
      { actors: { a: { type: "generator", options: { intervl: 1 } } } },
    ],
    [
      "wrong option type",
      { actors: { a: { type: "generator", options: { interval: "fast" } } } },
    ],
    [
      "bad when_full",
      { actors: { a: { type: "generator", when_full: "drop" } } },
    ],
    ["type and module", { actors: { a: { type: "null", module: "./a.ts" } } }],
    ["neither type nor module", { actors: { a: { options: {} } } }],
    ["routing line without arrow", {
      actors: { a: { type: "null" } },
      connections: ["a.outbox a.inbox"],
    }],
    ["routing line without queue", {
      actors: { a: { type: "null" } },
      connections: ["a -> b.inbox"],
    }],
    ["connection without to", {
      actors: { a: { type: "null" } },
      connections: [{ from: "a.outbox" }],
    }],
  ];
  for (const [name, document] of broken) {
    assert.equal(validate(document), false, name);
  }
});
