import assert from "node:assert/strict";
import { createActor } from "../../../core/registry.ts";
import { Switch, switchFlow } from "../../../actors/flow/switch.ts";
import { runStage } from "../stage.ts";

/** An event whose data is `data`, tagged with `id` in the header. */
function tagged(
  id: string,
  data: unknown,
  header: Record<string, unknown> = {},
) {
  return { header: { id, ...header }, data };
}

Deno.test("switch routes by each predicate test, first match wins, the rest to default", async () => {
  const route = new Switch("route", {
    cases: [
      { queue: "equal", when: { field: "data.level", equals: "error" } },
      { queue: "deep", when: { field: "data.tags", equals: ["a", "b"] } },
      { queue: "member", when: { field: "data.level", in: ["warn", "fatal"] } },
      {
        queue: "regex",
        when: { field: "data.msg", matches: "^timeout", flags: "i" },
      },
      { queue: "present", when: { field: "header.trace", exists: true } },
      { queue: "big", when: { field: "data.ms", gt: 1000 } },
      { queue: "small", when: { field: "data.ms", lt: 10 } },
      { queue: "early", when: { field: "data.name", lte: "b" } },
      { queue: "not_info", when: { field: "data.level", not_equals: "info" } },
    ],
  });
  const queues = [
    "equal",
    "deep",
    "member",
    "regex",
    "present",
    "big",
    "small",
    "early",
    "not_info",
    "default",
  ];
  const { out, errors, report } = await runStage(route, [
    tagged("e1", { level: "error", ms: 5000 }), // equals wins over gt
    tagged("d1", { level: "info", tags: ["a", "b"] }),
    tagged("d2", { level: "info", tags: ["b", "a"] }), // order matters
    tagged("m1", { level: "fatal" }),
    tagged("r1", { level: "info", msg: "TIMEOUT after 3 s" }),
    tagged("r2", { level: "info", msg: "no timeout", ms: 500 }),
    tagged("p1", { level: "info" }, { trace: null }),
    tagged("b1", { level: "info", ms: 1001 }),
    tagged("b2", { level: "info", ms: "5000" }), // a string is not > a number
    tagged("s1", { level: "info", ms: 3 }),
    tagged("a1", { level: "info", name: "alice" }),
    tagged("a2", { level: "info", name: "bob" }), // "bob" > "b"
    tagged("n1", { level: "debug" }),
    tagged("n2", "not an object"),
  ], queues);
  const ids = Object.fromEntries(
    queues.map((queue) => [
      queue,
      out[queue]!.events.map((event) => event.header.id),
    ]),
  );
  assert.deepEqual(ids, {
    equal: ["e1"],
    deep: ["d1"],
    member: ["m1"],
    regex: ["r1"],
    present: ["p1"],
    big: ["b1"],
    small: ["s1"],
    early: ["a1"],
    not_info: ["n1", "n2"],
    default: ["d2", "r2", "b2", "a2"],
  });
  assert.equal(errors.events.length, 0);
  assert.equal(report.delivered, 14);
});

Deno.test("switch routes with exists: false, gte and in with objects", async () => {
  const { out } = await runStage(
    new Switch("route", {
      cases: [
        { queue: "anonymous", when: { field: "data.user", exists: false } },
        {
          queue: "admin",
          when: { field: "data.user", in: [{ role: "admin" }] },
        },
        { queue: "adult", when: { field: "data.user.age", gte: 18 } },
      ],
      default: "rest",
    }),
    [
      { header: {}, data: {} },
      { header: {}, data: { user: { role: "admin" } } },
      { header: {}, data: { user: { age: 18 } } },
      { header: {}, data: { user: { age: 17 } } },
    ],
    ["anonymous", "admin", "adult", "rest"],
  );
  assert.deepEqual(
    ["anonymous", "admin", "adult", "rest"].map((queue) =>
      out[queue]!.events.length
    ),
    [1, 1, 1, 1],
  );
  assert.deepEqual(out.rest!.data(), [{ user: { age: 17 } }]);
});

Deno.test("switch drops and counts what it routes to a queue that is not connected", async () => {
  const { out, report } = await runStage(
    new Switch("route", {
      cases: [{ queue: "odd", when: { field: "data", in: [1, 3, 5] } }],
    }),
    [1, 2, 3, 4, 5].map((data) => ({ header: {}, data })),
    ["default"],
  );
  assert.deepEqual(out.default!.data(), [2, 4]);
  assert.equal(report.queues["route.odd"]?.dropped_total, 3);
  assert.equal(report.dropped, 3);
});

Deno.test("switch declares the queues its cases name, so that a misspelt connection is refused", () => {
  const route = new Switch("route", {
    cases: [
      { queue: "a", when: { field: "data", equals: 1 } },
      { queue: "a", when: { field: "data", equals: 2 } },
      { queue: "b", when: { field: "data", equals: 3 } },
    ],
    default: "other",
  });
  assert.deepEqual([...route.pool.outbound.keys()], [
    "a",
    "b",
    "other",
    "error",
  ]);
  assert.equal(route.pool.acceptsOutbound("c"), false);
});

Deno.test("switch reports a bad regular expression when it is made, naming the option", () => {
  const make = (when: Record<string, unknown>) =>
    createActor(switchFlow, "route", {
      cases: [
        { queue: "a", when: { field: "data", equals: 1 } },
        { queue: "b", when },
      ],
    });
  assert.throws(() => make({ field: "data.msg", matches: "(unclosed" }), {
    name: "TypeError",
    message:
      'Invalid options for actor "route" (type "switch"): "cases.1.when.matches": Invalid regular expression: /(unclosed/: Unterminated group',
  });
  assert.throws(
    () => make({ field: "data.msg", matches: "x", flags: "g" }),
    /"cases\.1\.when\.flags": Flags "g" are not allowed/,
  );
  assert.throws(
    () => make({ field: "data.msg", matches: "x", flags: "q" }),
    /"cases\.1\.when\.flags": Invalid flags supplied to RegExp constructor 'q'/,
  );
  assert.throws(
    () => make({ field: "data", equals: 1, gt: 2 }),
    /"cases\.1\.when": A predicate takes one test, got "equals" and "gt"/,
  );
  assert.throws(
    () => make({ field: "data" }),
    /"cases\.1\.when": A predicate needs one test: equals, not_equals, in/,
  );
  assert.throws(
    () => make({ field: "level", equals: 1 }),
    /"cases\.1\.when\.field": Field path "level" must start with "data" or "header"/,
  );
});
