import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "zod";
import { BUILTIN_ACTORS } from "../../../actors/mod.ts";
import { Actor, type ActorSettings } from "../../../core/actor.ts";
import { loadPipeline } from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors.ts";
import type { Event } from "../../../core/event.ts";
import { type ActorSpec, Registry } from "../../../core/registry.ts";
import { withTempDir } from "../../helpers.ts";
import {
  fileUrl,
  ndjsonFileModule,
  runCli,
  stuckModule,
} from "../../cli_helpers.ts";

/**
 * Broken bootstrap files and the exact problems reported for each, as
 * `LINE:COL: message` (the file name is put in front). Each file is written
 * into a temp folder; `files` are written beside it.
 */
interface BrokenCase {
  name: string;
  text?: string;
  files?: Record<string, string>;
  expected: (dir: string) => string[];
}

const BROKEN: BrokenCase[] = [
  {
    name: "syntax.yaml",
    text: "actors:\n  input: { type: generator\nconnections: []\n",
    expected: () => [
      "3:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }",
    ],
  },
  {
    name: "empty.yaml",
    text: "",
    expected: () => [
      '1:1: The file is empty; a bootstrap file needs at least an "actors" mapping',
    ],
  },
  {
    name: "comments_only.yaml",
    text: "# nothing but a comment\n\n",
    expected: () => [
      '1:1: The file is empty; a bootstrap file needs at least an "actors" mapping',
    ],
  },
  {
    name: "list.yaml",
    text: "- input\n- output\n",
    expected: () => [
      '1:1: The document is a list, not a mapping; a bootstrap file is a mapping with the keys "actors", "connections", "logs", "metrics", "expose"',
    ],
  },
  {
    name: "duplicate.yaml",
    text:
      'actors:\n  input:\n    type: generator\n  input:\n    type: "null"\n',
    expected: () => [
      '4:3: Duplicate actor name "input": it is already defined at line 2',
    ],
  },
  {
    name: "type.yaml",
    text: "actors:\n  input:\n    type: genrator\n",
    expected: () => [
      '3:11: Unknown actor type "genrator" for actor "input"; did you mean "generator"?',
    ],
  },
  {
    name: "option_keys.yaml",
    text:
      "actors:\n  input:\n    type: generator\n    options:\n      intervl: 1\n      colour: red\n",
    expected: () => [
      '5:7: Unknown option "intervl" for actor "input" (type "generator"); did you mean "interval"?',
      '6:7: Unknown option "colour" for actor "input" (type "generator"); the options are "interval", "count", "data"',
    ],
  },
  {
    name: "option_types.yaml",
    text:
      "actors:\n  input:\n    type: generator\n    options: { interval: fast, count: 2.5 }\n",
    expected: () => [
      '4:26: Option "interval" of actor "input" must be a number, not the string "fast"',
      '4:39: Option "count" of actor "input" must be a whole number, not the number 2.5',
    ],
  },
  {
    name: "routing.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      '  sink: { type: "null" }',
      "connections:",
      "  - input.outbox sink.inbox",
      "  - input.outbox -> sink",
      "  - a.b -> c.d -> e.f",
      '  - " -> sink.inbox"',
      "",
    ].join("\n"),
    expected: () => [
      '5:5: Routing line "input.outbox sink.inbox" has no arrow "->"; write "input.outbox -> sink.inbox"',
      '6:21: "sink" in routing line "input.outbox -> sink" has no queue; write "actor.queue", e.g. "sink.inbox"',
      '7:5: Routing line "a.b -> c.d -> e.f" has more than one arrow; write one connection per line',
      '8:7: Routing line "-> sink.inbox" has no sending queue before the arrow; write "a.outbox -> b.inbox"',
    ],
  },
  {
    name: "names.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      '  sink: { type: "null" }',
      "connections:",
      "  - input.outbox -> snk.inbox",
      "  - input.oubox -> sink.inbx",
      "",
    ].join("\n"),
    expected: () => [
      '5:21: Unknown actor "snk" in routing line "input.outbox -> snk.inbox"; did you mean "sink"?',
      '6:11: Actor "input" (type "generator") has no outbound queue "oubox"; did you mean "outbox"?',
      '6:25: Actor "sink" (type "null") has no inbound queue "inbx"; did you mean "inbox"?',
    ],
  },
  {
    name: "top_level.yaml",
    text: "actors:\n  input: { type: generator }\nconections: []\nlog: input\n",
    expected: () => [
      '3:1: Unknown top-level key "conections"; did you mean "connections"?',
      '4:1: Unknown top-level key "log"; did you mean "logs"?',
    ],
  },
  {
    name: "environment.yaml",
    text: [
      "actors:",
      "  out:",
      "    type: stdout",
      "    options:",
      '      prefix: "${CONFIG_TEST_UNSET_PREFIX}: "',
      "      format: ${CONFIG_TEST_UNSET_FORMAT:-json}",
      "",
    ].join("\n"),
    expected: () => [
      '5:16: Environment variable "CONFIG_TEST_UNSET_PREFIX" is not set; set it or give a default: "${CONFIG_TEST_UNSET_PREFIX:-value}"',
    ],
  },
  {
    name: "unset_template.yaml",
    text: [
      "actors:",
      "  relay:",
      "    type: http_client",
      "    options:",
      "      url: ${CONFIG_TEST_UNSET_URL}",
      "",
    ].join("\n"),
    // Only the missing variable, not also a bad URL template.
    expected: () => [
      '5:12: Environment variable "CONFIG_TEST_UNSET_URL" is not set; set it or give a default: "${CONFIG_TEST_UNSET_URL:-value}"',
    ],
  },
  {
    name: "modules.yaml",
    text:
      "actors:\n  mine:\n    module: ./not_a_spec.ts\n  gone:\n    module: ./missing.ts\n",
    files: {
      "not_a_spec.ts":
        'export const something = 1;\nexport default { type: "x" };\n',
    },
    expected: (dir) => [
      '3:13: Module "./not_a_spec.ts" for actor "mine" does not export an actor spec as "default" or "spec" ("default" lacks "kind", "summary", "create", "options")',
      `5:13: Cannot load module "./missing.ts" for actor "gone": Module not found "${
        fileUrl(join(dir, "missing.ts"))
      }".`,
    ],
  },
  {
    name: "connected_twice.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      '  a: { type: "null" }',
      '  b: { type: "null" }',
      "connections:",
      "  - input.outbox -> a.inbox",
      "  - input.outbox -> b.inbox",
      "",
    ].join("\n"),
    expected: () => [
      '7:5: Cannot connect "input.outbox": it is already connected to "a.inbox"',
    ],
  },
  {
    name: "cycle.yaml",
    text:
      "actors:\n  a: { type: fanout }\n  b: { type: fanout }\nconnections:\n  - a.x -> b.inbox\n  - b.y -> a.inbox\n",
    expected: () => [
      '4:1: Cycle "a -> b -> a" can never drain: none of its actors ("a", "b") is an input',
    ],
  },
  {
    name: "side_streams.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      "  lg: { type: log_human }",
      "connections:",
      "  - input.outbox -> lg.inbox",
      "logs: lg",
      "metrics: metric",
      "",
    ].join("\n"),
    expected: () => [
      '5:5: Cannot connect "lg.inbox": it receives the router\'s log events',
      '7:10: Unknown actor "metric" in "metrics"',
    ],
  },
  {
    name: "entries.yaml",
    text: [
      "actors:",
      "  input:",
      "    options: { count: 1 }",
      "  sink: generator",
      "  other:",
      '    type: "null"',
      "    module: ./x.ts",
      "    capacity: 0",
      "    when_full: drop",
      "    retry: { max: -1, backof_ms: 5 }",
      "    restart: { max: 1, witin: 5, backoff_ms: -1 }",
      "    linger_ms: soon",
      "",
    ].join("\n"),
    expected: () => [
      '2:3: Actor "input" needs a "type" (or a "module"); the types are listed by "compysition actors"',
      '4:9: Actor "sink" must be a mapping such as "{ type: generator }", not the string "generator"',
      '7:5: Actor "other" has both "type" and "module"; give one of them',
      '8:15: "capacity" of actor "other" must be at least 1, not the number 0',
      '9:16: "when_full" of actor "other" must be one of "block", "drop_newest", "drop_oldest", not the string "drop"',
      '10:19: "retry.max" of actor "other" must be at least 0, not the number -1',
      '10:23: Unknown key "retry.backof_ms" in actor "other"; did you mean "backoff_ms"?',
      '11:24: Unknown key "restart.witin" in actor "other"; did you mean "within"?',
      '11:46: "restart.backoff_ms" of actor "other" must be at least 0, not the number -1',
      '12:16: "linger_ms" of actor "other" must be a number, not the string "soon"',
    ],
  },
  {
    name: "no_actors.yaml",
    text: "connections:\n  - a.outbox -> b.inbox\n",
    expected: () => [
      '1:1: The file has no "actors"; a bootstrap file needs at least one actor',
      '2:5: Unknown actor "a" in routing line "a.outbox -> b.inbox"',
      '2:17: Unknown actor "b" in routing line "a.outbox -> b.inbox"',
    ],
  },
  {
    name: "connection_objects.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      "connections:",
      "  - 42",
      "  - { from: input.outbox, to: x, capacity: big, wen_full: block }",
      "",
    ].join("\n"),
    expected: () => [
      '4:5: Connection 1 must be a routing line "a.outbox -> b.inbox" or a mapping with "from" and "to", not the number 42',
      '5:44: "capacity" of connection 2 must be a number, not the string "big"',
      '5:49: Unknown key "wen_full" in connection 2; did you mean "when_full"?',
    ],
  },
  {
    name: "expose.yaml",
    text: [
      "actors:",
      "  input: { type: generator }",
      '  shape: { type: jsonata, options: { expression: "$" } }',
      "connections:",
      "  - input.outbox -> shape.inbox",
      "expose:",
      "  - shape.inbox",
      "  - shape.outbx",
      "  - shap.outbox",
      "  - shape.outbox",
      "  - shape.outbox",
      "  - shape",
      "  - 42",
      "",
    ].join("\n"),
    expected: () => [
      '7:5: Cannot connect "shape.inbox": it is already connected from "input.outbox"',
      '8:5: Cannot expose "shape.outbx": actor "shape" has no queue "outbx"; did you mean "outbox"?',
      '9:5: Unknown actor "shap" in "expose"; did you mean "shape"?',
      '11:5: "shape.outbox" is listed twice in "expose"',
      '12:5: Cannot expose "shape": write the queue as "actor.queue"',
      '13:5: "expose.6" must be a string, not the number 42',
    ],
  },
  {
    name: "disk_buffer.yaml",
    text: `actors:
  input: { type: generator }
  a: { type: "null" }
  b: { type: "null" }
connections:
  - from: input.outbox
    to: a.inbox
    buffer: { type: disk, path: /dev/null/buffer }
  - { from: a.error, to: b.inbox, when_full: drop_newest, buffer: { type: disk, path: /tmp } }
  - from: b.error
    to: a.error_in
    buffer: { type: disk, path: /tmp, max_bytes: 1KiB, fsync: sometimes, keep: yes }
`,
    expected: () => [
      '8:33: Disk buffer of connection 1: cannot make "/dev/null/buffer": "/dev/null" is not a directory',
      '9:35: Connection 2 has a disk buffer: "when_full" does not apply (events wait on disk); write "when_full" inside "buffer" for when the disk is full',
      '12:50: "buffer.max_bytes" of connection 3 is invalid: Expected at least 65536 bytes (64KiB), got 1024',
      '12:63: "buffer.fsync" of connection 3 is invalid: Expected "never", "batch" or a whole number of milliseconds, got "sometimes"',
      '12:74: Unknown key "keep" in "buffer" of connection 3; the keys are "type", "path", "max_bytes", "when_full", "fsync"',
    ],
  },
];

/** Writes every broken case into `dir`; returns their paths in order. */
async function writeBroken(dir: string): Promise<string[]> {
  const paths: string[] = [];
  for (const broken of BROKEN) {
    for (const [name, text] of Object.entries(broken.files ?? {})) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    const path = join(dir, broken.name);
    await Deno.writeTextFile(path, broken.text ?? "");
    paths.push(path);
  }
  return paths;
}

function expectedMessage(broken: BrokenCase, dir: string): string {
  const path = join(dir, broken.name);
  return broken.expected(dir).map((line) => `${path}:${line}`).join("\n");
}

async function loadError(
  source: Parameters<typeof loadPipeline>[0],
  options: Parameters<typeof loadPipeline>[1] = {},
): Promise<ConfigError> {
  try {
    const { router } = await loadPipeline(source, options);
    await router.stop();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("The file loaded without an error");
}

Deno.test("loadPipeline reports every problem of each broken file with its exact position and message", async () => {
  await withTempDir(async (dir) => {
    const paths = await writeBroken(dir);
    for (const [i, broken] of BROKEN.entries()) {
      const error = await loadError(paths[i]!, { env: {} });
      assert.equal(error.message, expectedMessage(broken, dir), broken.name);
      assert.equal(error.problems.length, broken.expected(dir).length);
      assert.equal(error.file, paths[i]);
    }
  });
});

Deno.test("compysition validate prints the same problems for every broken file and exits 1", async () => {
  await withTempDir(async (dir) => {
    const paths = await writeBroken(dir);
    const result = await runCli(["validate", ...paths]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      BROKEN.map((broken) => expectedMessage(broken, dir) + "\n").join(""),
    );
  });
});

Deno.test("loadPipeline names a missing file and a directory at line 1", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "missing.yaml");
    assert.equal(
      (await loadError(missing)).message,
      `${missing}:1:1: The file does not exist`,
    );
    assert.equal(
      (await loadError(dir)).message,
      `${dir}:1:1: "${dir}" is a directory; give the path of a YAML bootstrap file`,
    );
  });
});

Deno.test("loadPipeline shows <text> as the file of a text without a name", async () => {
  const error = await loadError({ text: "actors:\n  a: { type: nul }\n" });
  assert.equal(
    error.message,
    '<text>:2:14: Unknown actor type "nul" for actor "a"; did you mean "null"?',
  );
});

Deno.test("loadPipeline substitutes ${VAR} and ${VAR:-default}, typed in plain values and text in quoted ones", async () => {
  const { router, config } = await loadPipeline({
    text: [
      "actors:",
      "  input:",
      "    type: generator",
      "    options:",
      "      interval: ${INTERVAL}",
      "      count: ${COUNT:-4}",
      '      data: "${PREFIX}-{{seq}} $${LITERAL} ${EMPTY:-fallback}"',
      "  out:",
      "    type: stdout",
      "    options:",
      '      prefix: "${COUNT:-4}"',
      "    capacity: ${CAPACITY}",
      "connections:",
      "  - input.outbox -> out.inbox",
      "",
    ].join("\n"),
  }, {
    env: { INTERVAL: "0.5", PREFIX: "event", EMPTY: "", CAPACITY: "12" },
  });
  await router.stop();
  assert.deepEqual(config.actors[0]!.options, {
    interval: 0.5,
    count: 4,
    data: "event-{{seq}} ${LITERAL} fallback",
  });
  assert.deepEqual(config.actors[1]!.options, { prefix: "4", format: "data" });
  assert.deepEqual(config.actors[1]!.settings, { capacity: 12 });
});

Deno.test("loadPipeline with env: a name every object has (toString) is a variable not set, like any other", async () => {
  const error = await loadError({
    file: "vars.yaml",
    text:
      "actors:\n  out:\n    type: stdout\n    options: { prefix: '${toString}' }\n",
  }, { env: {} });
  assert.equal(
    error.message,
    'vars.yaml:4:25: Environment variable "toString" is not set; set it or give a default: "${toString:-value}"',
  );
});

Deno.test("loadPipeline reports a malformed variable reference", async () => {
  const error = await loadError({
    file: "vars.yaml",
    text:
      "actors:\n  out:\n    type: stdout\n    options: { prefix: 'a ${1NAME} b' }\n",
  }, { env: {} });
  assert.equal(
    error.message,
    'vars.yaml:4:27: Invalid variable reference "${1NAME}": write "${NAME}" or "${NAME:-default}" (and "$${" for a literal "${")',
  );
});

Deno.test("module: loads a spec exported as default or as spec, by path relative to the file or by URL", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "mods"));
    await Deno.writeTextFile(
      join(dir, "mods", "ndjson.ts"),
      ndjsonFileModule(),
    );
    await Deno.writeTextFile(join(dir, "stuck.ts"), stuckModule());
    const file = join(dir, "pipeline.yaml");
    await Deno.writeTextFile(
      file,
      [
        "actors:",
        "  input: { type: generator, options: { count: 1 } }",
        "  write:",
        "    module: ./mods/ndjson.ts",
        `    options: { path: ${JSON.stringify(join(dir, "out.ndjson"))} }`,
        "  hang:",
        `    module: ${fileUrl(join(dir, "stuck.ts"))}`,
        "connections:",
        "  - input.outbox -> write.inbox",
        "",
      ].join("\n"),
    );
    const { router, config } = await loadPipeline(file);
    await router.stop();
    assert.deepEqual(
      config.actors.map(({ name, type, module }) => ({ name, type, module })),
      [
        { name: "input", type: "generator", module: undefined },
        { name: "write", type: "ndjson_file", module: "./mods/ndjson.ts" },
        {
          name: "hang",
          type: "stuck",
          module: fileUrl(join(dir, "stuck.ts")),
        },
      ],
    );
    assert.deepEqual(config.actors[1]!.options, {
      path: join(dir, "out.ndjson"),
      announce: 100,
    });
    const error = await loadError({
      file: join(dir, "bad_options.yaml"),
      text:
        "actors:\n  write:\n    module: ./mods/ndjson.ts\n    options: { pth: x }\n",
    });
    assert.equal(
      error.message,
      [
        `${
          join(dir, "bad_options.yaml")
        }:4:14: Option "path" of actor "write" is missing (a string)`,
        `${
          join(dir, "bad_options.yaml")
        }:4:16: Unknown option "pth" for actor "write" (type "ndjson_file"); did you mean "path"?`,
      ].join("\n"),
    );
  });
});

/** An actor that records whether it was set up. */
class Recorder extends Actor {
  readonly kind = "output";
  static setups = 0;

  constructor(name: string, settings: ActorSettings = {}) {
    super(name, settings, { outbound: ["error"] });
  }

  override setup(): void {
    Recorder.setups++;
  }

  override consume(_event: Event): void {}
}

Deno.test("nothing is set up when the file has an error", async () => {
  const record: ActorSpec<Record<string, never>> = {
    type: "record",
    kind: "output",
    summary: "Records set-ups.",
    options: z.strictObject({}),
    create: (name, _options, settings) => new Recorder(name, settings),
  };
  const registry = new Registry([...BUILTIN_ACTORS, record as ActorSpec]);
  const error = await loadError({
    file: "partly.yaml",
    text: [
      "actors:",
      "  input: { type: generator, options: { interval: 0, count: 3 } }",
      "  rec: { type: record }",
      "connections:",
      "  - input.outbox -> rec.inbox",
      "  - input.error rec.inbox",
      "",
    ].join("\n"),
  }, { registry });
  assert.equal(error.problems.length, 1);
  assert.equal(error.line, 6);
  assert.equal(Recorder.setups, 0);
});

Deno.test("expose: makes the queues it lists external ends of the router, each with its direction", async () => {
  const { config, router } = await loadPipeline({
    file: "stage.yaml",
    text: [
      "actors:",
      "  parse: { type: json_decode }",
      '  shape: { type: jsonata, options: { expression: "$.a" } }',
      "connections:",
      "  - parse.outbox -> shape.inbox",
      "expose: [parse.inbox, shape.outbox]",
      "",
    ].join("\n"),
  });
  assert.deepEqual(config.expose, [
    { address: "parse.inbox", direction: "writable" },
    { address: "shape.outbox", direction: "readable" },
  ]);
  const stage = router.stream("parse.inbox", "shape.outbox");
  await router.start();
  const out = await Array.fromAsync(
    ReadableStream.from(['{"a":1}', '{"a":2}']).pipeThrough(
      new TransformStream<string, Event>({
        transform: (data, controller) =>
          controller.enqueue({ header: {}, data }),
      }),
    ).pipeThrough(stage),
  );
  assert.deepEqual(out.map((event) => event.data), [1, 2]);
  const report = await router.stop();
  assert.equal(report.delivered, 2);
});
