import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadConfig,
  type LoadOptions,
  type PipelineConfig,
  planReload,
} from "../../../core/config/mod.ts";
import { formatPlan } from "../../../cli/plan_text.ts";
import { withTempDir } from "../../helpers.ts";
import { ndjsonFileModule } from "../../cli_helpers.ts";

/** Loads bootstrap file `text` (lines joined), named `file`. */
function load(
  file: string,
  lines: string[],
  options: LoadOptions = {},
): Promise<PipelineConfig> {
  return loadConfig({ file, text: lines.join("\n") + "\n" }, options);
}

const BASE = [
  "actors:",
  "  input: { type: generator, options: { interval: 0.5, count: 10 } }",
  "  mix: { type: roundrobin }",
  '  one: { type: stdout, options: { prefix: "one: " } }',
  "  two: { type: stdout }",
  "connections:",
  "  - input.outbox -> mix.inbox",
  "  - mix.one -> one.inbox",
  "  - mix.two -> two.inbox",
];

Deno.test("planReload keeps everything when only key order, flow style and written-out defaults differ", async () => {
  const before = await load("old.yaml", BASE);
  const after = await load("new.yaml", [
    "connections:",
    "  - input.outbox -> mix.inbox",
    "  - mix.one -> one.inbox",
    "  - mix.two -> two.inbox",
    "actors:",
    "  input:",
    "    options:",
    "      count: 10",
    "      interval: 0.5",
    '      data: "hello {{seq}}"',
    "    type: generator",
    "  mix: { type: roundrobin }",
    '  one: { options: { format: data, prefix: "one: " }, type: stdout }',
    "  two: { type: stdout }",
    "logs: null",
  ]);
  const plan = planReload(before, after);
  assert.equal(plan.changed, false);
  assert.deepEqual(plan.actors, {
    keep: [
      { name: "input", type: "generator" },
      { name: "mix", type: "roundrobin" },
      { name: "one", type: "stdout" },
      { name: "two", type: "stdout" },
    ],
    replace: [],
    add: [],
    remove: [],
  });
  assert.deepEqual(plan.connections.add, []);
  assert.deepEqual(plan.connections.remove, []);
  assert.equal(plan.connections.keep.length, 3);
  assert.deepEqual(plan.queues, []);
  assert.equal(plan.logs, undefined);
  assert.equal(plan.metrics, undefined);
});

Deno.test("planReload lists each replaced actor's changed fields and the connections that touch it", async () => {
  const before = await load("old.yaml", BASE);
  const after = await load("new.yaml", [
    "actors:",
    "  input: { type: generator, options: { interval: 1, count: 10 } }",
    "  mix: { type: fanout }",
    "  one:",
    "    type: stdout",
    '    options: { prefix: "one: " }',
    "    capacity: 50",
    "    when_full: drop_oldest",
    "    retry: { max: 2 }",
    "    restart: { max: 5, within: 10 }",
    "    linger_ms: 1",
    "  two: { type: stdout }",
    "connections:",
    "  - input.outbox -> mix.inbox",
    "  - mix.one -> one.inbox",
    "  - mix.two -> two.inbox",
  ]);
  const plan = planReload(before, after);
  assert.equal(plan.changed, true);
  assert.deepEqual(plan.actors.keep, [{ name: "two", type: "stdout" }]);
  assert.deepEqual(plan.actors.replace, [
    {
      name: "input",
      type: "generator",
      changes: [{ field: "options.interval", before: 0.5, after: 1 }],
      connectionsBefore: [
        { from: "input.outbox", to: "mix.inbox", options: {} },
      ],
      connectionsAfter: [
        { from: "input.outbox", to: "mix.inbox", options: {} },
      ],
    },
    {
      name: "mix",
      type: "fanout",
      changes: [{ field: "type", before: "roundrobin", after: "fanout" }],
      connectionsBefore: [
        { from: "input.outbox", to: "mix.inbox", options: {} },
        { from: "mix.one", to: "one.inbox", options: {} },
        { from: "mix.two", to: "two.inbox", options: {} },
      ],
      connectionsAfter: [
        { from: "input.outbox", to: "mix.inbox", options: {} },
        { from: "mix.one", to: "one.inbox", options: {} },
        { from: "mix.two", to: "two.inbox", options: {} },
      ],
    },
    {
      name: "one",
      type: "stdout",
      changes: [
        { field: "capacity", after: 50 },
        { field: "when_full", after: "drop_oldest" },
        { field: "retry.max", after: 2 },
        { field: "retry.backoff_ms", after: 100 },
        { field: "restart.max", after: 5 },
        { field: "restart.within", after: 10 },
        { field: "restart.backoff_ms", after: 100 },
        { field: "linger_ms", after: 1 },
      ],
      connectionsBefore: [{ from: "mix.one", to: "one.inbox", options: {} }],
      connectionsAfter: [{ from: "mix.one", to: "one.inbox", options: {} }],
    },
  ]);
  assert.deepEqual(plan.connections.add, []);
  assert.deepEqual(plan.connections.remove, []);
});

Deno.test("planReload adds and removes actors and connections, and changes queues, logs and metrics", async () => {
  const before = await load("old.yaml", [
    ...BASE.slice(0, 5),
    "  lg: { type: log_human }",
    ...BASE.slice(5),
    "logs: lg",
  ]);
  const after = await load("new.yaml", [
    "actors:",
    "  input: { type: generator, options: { interval: 0.5, count: 10 } }",
    "  mix: { type: roundrobin }",
    '  one: { type: stdout, options: { prefix: "one: " } }',
    "  three: { type: stdout }",
    "  lg: { type: log_human }",
    "  prom: { type: prometheus }",
    "connections:",
    "  - { from: input.outbox, to: mix.inbox, capacity: 5, when_full: drop_newest }",
    "  - mix.one -> one.inbox",
    "  - mix.three -> three.inbox",
    "metrics: prom",
  ]);
  const plan = planReload(before, after);
  assert.deepEqual(plan.actors.keep.map((actor) => actor.name), [
    "input",
    "mix",
    "one",
    "lg",
  ]);
  assert.deepEqual(plan.actors.replace, []);
  assert.deepEqual(plan.actors.add, [
    {
      name: "three",
      type: "stdout",
      connections: [{ from: "mix.three", to: "three.inbox", options: {} }],
    },
    { name: "prom", type: "prometheus", connections: [] },
  ]);
  assert.deepEqual(plan.actors.remove, [{
    name: "two",
    type: "stdout",
    connections: [{ from: "mix.two", to: "two.inbox", options: {} }],
  }]);
  assert.deepEqual(plan.connections.add, [
    { from: "mix.three", to: "three.inbox", options: {} },
  ]);
  assert.deepEqual(plan.connections.remove, [
    { from: "mix.two", to: "two.inbox", options: {} },
  ]);
  assert.deepEqual(plan.connections.keep.map((c) => `${c.from} -> ${c.to}`), [
    "input.outbox -> mix.inbox",
    "mix.one -> one.inbox",
  ]);
  assert.deepEqual(plan.queues, [{
    from: "input.outbox",
    to: "mix.inbox",
    changes: [
      { field: "capacity", after: 5 },
      { field: "when_full", after: "drop_newest" },
    ],
  }]);
  assert.deepEqual(plan.logs, { before: "lg", after: null });
  assert.deepEqual(plan.metrics, { before: null, after: "prom" });
  assert.equal(plan.changed, true);
});

Deno.test("planReload compares the values ${VAR} takes, not the text written", async () => {
  const lines = [
    "actors:",
    "  input:",
    "    type: generator",
    "    options: { interval: 0, count: 1 }",
    "    capacity: ${CAPACITY:-10}",
    "  out:",
    "    type: stdout",
    "    options:",
    '      prefix: "${PREFIX}: "',
    "connections:",
    "  - input.outbox -> out.inbox",
  ];
  const before = await load("a.yaml", lines, { env: { PREFIX: "a" } });
  const same = await load("b.yaml", lines, {
    env: { PREFIX: "a", CAPACITY: "10" },
  });
  assert.equal(planReload(before, same).changed, false);
  const after = await load("b.yaml", lines, {
    env: { PREFIX: "b", CAPACITY: "20" },
  });
  assert.deepEqual(
    planReload(before, after).actors.replace.map(({ name, changes }) => ({
      name,
      changes,
    })),
    [
      {
        name: "input",
        changes: [{ field: "capacity", before: 10, after: 20 }],
      },
      {
        name: "out",
        changes: [{ field: "options.prefix", before: "a: ", after: "b: " }],
      },
    ],
  );
});

Deno.test("planReload never shows a secret: token and header values, URL passwords", async () => {
  const file = (token: string, auth: string, password: string) => [
    "actors:",
    `  web: { type: http_server, options: { port: 0, token: ${token} } }`,
    "  relay:",
    "    type: http_client",
    "    options:",
    `      url: "http://user:${password}@127.0.0.1:9/x"`,
    `      headers: { Authorization: "Bearer ${auth}", X-Trace: "${auth}-t" }`,
    "connections:",
    "  - web.outbox -> relay.inbox",
  ];
  const before = await load("old.yaml", file("old-token", "old-auth", "oldpw"));
  const after = await load("new.yaml", file("new-token", "new-auth", "newpw"));
  const plan = planReload(before, after);
  const text = JSON.stringify(plan);
  for (const secret of ["old-token", "new-token", "oldpw", "newpw"]) {
    assert.ok(!text.includes(secret), secret);
  }
  assert.ok(!text.includes("Bearer"));
  assert.deepEqual(
    plan.actors.replace.map(({ name, changes }) => ({ name, changes })),
    [
      {
        name: "web",
        changes: [{
          field: "options.token",
          before: "(secret)",
          after: "(secret)",
        }],
      },
      {
        name: "relay",
        changes: [
          {
            field: "options.url",
            before: "http://user:(secret)@127.0.0.1:9/x",
            after: "http://user:(secret)@127.0.0.1:9/x",
          },
          {
            field: "options.headers.Authorization",
            before: "(secret)",
            after: "(secret)",
          },
          {
            field: "options.headers.X-Trace",
            before: "old-auth-t",
            after: "new-auth-t",
          },
        ],
      },
    ],
  );
});

Deno.test("planReload tells whether a replaced listening input keeps its address", async () => {
  const file = (port: number, limit: number) => [
    "actors:",
    `  web: { type: http_server, options: { port: ${port}, max_body_bytes: ${limit} } }`,
    `  gen: { type: generator, options: { count: ${limit} } }`,
    '  sink: { type: "null" }',
    '  sink2: { type: "null" }',
    "connections:",
    "  - web.outbox -> sink.inbox",
    "  - gen.outbox -> sink2.inbox",
  ];
  const before = await load("old.yaml", file(8080, 1000));
  const listen = (after: PipelineConfig) =>
    Object.fromEntries(
      planReload(before, after).actors.replace.map((actor) => [
        actor.name,
        actor.listen,
      ]),
    );
  assert.deepEqual(listen(await load("new.yaml", file(8080, 2000))), {
    web: { before: "127.0.0.1:8080", after: "127.0.0.1:8080", same: true },
    gen: undefined,
  });
  assert.deepEqual(listen(await load("new.yaml", file(8081, 2000))), {
    web: { before: "127.0.0.1:8080", after: "127.0.0.1:8081", same: false },
    gen: undefined,
  });
});

Deno.test("planReload replaces a module: actor whose module changes", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.ts"), ndjsonFileModule());
    await Deno.writeTextFile(join(dir, "b.ts"), ndjsonFileModule());
    const file = (module: string) => [
      "actors:",
      `  write: { module: ./${module}, options: { path: out.ndjson } }`,
    ];
    const before = await load(join(dir, "old.yaml"), file("a.ts"));
    const same = await load(join(dir, "same.yaml"), file("a.ts"));
    const after = await load(join(dir, "new.yaml"), file("b.ts"));
    assert.equal(planReload(before, same).changed, false);
    assert.deepEqual(planReload(before, after).actors.replace[0]!.changes, [
      { field: "module", before: "./a.ts", after: "./b.ts" },
    ]);
  });
});

Deno.test("planReload lists the queues expose: adds and removes, and formatPlan prints them", async () => {
  const stage = [
    "actors:",
    "  parse: { type: json_decode }",
    '  shape: { type: jsonata, options: { expression: "$" } }',
    "connections:",
    "  - parse.outbox -> shape.inbox",
  ];
  const before = await load("before.yaml", [
    ...stage,
    "expose: [parse.inbox, shape.outbox]",
  ]);
  const after = await load("after.yaml", [
    ...stage,
    "expose: [parse.inbox, shape.error]",
  ]);
  const plan = planReload(before, after);
  assert.deepEqual(plan.expose, {
    add: ["shape.error"],
    remove: ["shape.outbox"],
  });
  assert.equal(plan.changed, true);
  const text = formatPlan(plan);
  assert.ok(
    text.includes(
      "Exposed queues:\n  + add      shape.error\n  - remove   shape.outbox\n",
    ),
    text,
  );
  assert.ok(
    text.endsWith("exposed queues: 1 to add, 1 to remove.\n"),
    text,
  );
  const same = planReload(before, before);
  assert.equal(same.expose, undefined);
  assert.equal(same.changed, false);
});
