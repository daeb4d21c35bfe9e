import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { loadPipeline } from "../../../core/config/mod.ts";
import { ConfigError } from "../../../core/errors.ts";
import { createActor } from "../../../core/registry.ts";
import { Jsonata, jsonata } from "../../../actors/transform/jsonata.ts";
import { Router } from "../../../core/router.ts";
import { Collector, ListInput } from "../../helpers.ts";
import { runStage } from "../stage.ts";

Deno.test("jsonata replaces data with the result of the expression, in order", async () => {
  const orders = [
    { id: 1, items: [{ price: 2, qty: 3 }, { price: 5, qty: 1 }] },
    { id: 2, items: [{ price: 10, qty: 2 }] },
  ];
  const { out, errors } = await runStage(
    new Jsonata("total", {
      expression: "{ 'order': id, 'total': $sum(items.(price * qty)) }",
    }),
    orders.map((data) => ({ header: {}, data })),
  );
  assert.deepEqual(out.outbox!.data(), [
    { order: 1, total: 11 },
    { order: 2, total: 20 },
  ]);
  assert.equal(errors.events.length, 0);
});

Deno.test("jsonata reads $header and bindings, and writes to the target field", async () => {
  const { out } = await runStage(
    createActor(jsonata, "price", {
      expression: "amount * $rate & ' ' & $header.currency",
      field: "data.order",
      target: "header.label",
      bindings: { rate: 2 },
    }),
    [{ header: { currency: "EUR" }, data: { order: { amount: 21 } } }],
  );
  const [event] = out.outbox!.events;
  assert.equal(event?.header.label, "42 EUR");
  assert.deepEqual(event?.data, { order: { amount: 21 } });
});

Deno.test("jsonata sends an event whose evaluation fails to the error queue with code and position", async () => {
  const { out, errors } = await runStage(
    new Jsonata("cast", { expression: "$number(value) + 1" }),
    [{ header: {}, data: { value: "41" } }, {
      header: {},
      data: { value: "x" },
    }],
  );
  assert.deepEqual(out.outbox!.data(), [42]);
  const failure = errors.events[0]?.header.error as EventError;
  assert.equal(failure.name, "JsonataError");
  assert.equal(
    failure.message,
    'JSONata error D3030 at position 8: Unable to cast value to a number: "x"',
  );
});

Deno.test("jsonata fails alone an event whose target cannot be written; the rest of its batch goes on", async () => {
  const { out, errors } = await runStage(
    new Jsonata("mark", { expression: "1", target: "data.n.x" }),
    [{ n: {} }, { n: 2 }, { n: { v: 3 } }].map((data) => ({
      header: {},
      data,
    })),
  );
  assert.deepEqual(out.outbox!.data(), [{ n: { x: 1 } }, {
    n: { v: 3, x: 1 },
  }]);
  assert.deepEqual(errors.data(), [{ n: 2 }]);
  assert.equal(
    (errors.events[0]?.header.error as EventError).message,
    'Cannot set "data.n.x": "data.n" is a number, not an object',
  );
});

Deno.test("jsonata reports a compile error when it is made, naming the option and the position", () => {
  assert.throws(
    () => createActor(jsonata, "broken", { expression: "$sum(items.price" }),
    {
      name: "TypeError",
      message:
        'Invalid options for actor "broken" (type "jsonata"): "expression": JSONata error S0203 at position 16: Expected ")" before end of expression',
    },
  );
  assert.throws(
    () => createActor(jsonata, "broken", { expression: "a +" }),
    /"expression": JSONata error S0207 at position 3: Unexpected end of expression/,
  );
});

Deno.test("jsonata results are plain objects and arrays", async () => {
  const { out } = await runStage(
    new Jsonata("shape", {
      expression: "{ 'names': items.name, 'one': { 'a': 1 } }",
    }),
    [{ header: {}, data: { items: [{ name: "x" }, { name: "y" }] } }],
  );
  const result = out.outbox!.data()[0] as { names: string[]; one: object };
  assert.equal(Object.getPrototypeOf(result), Object.prototype);
  assert.equal(Object.getPrototypeOf(result.one), Object.prototype);
  assert.deepEqual(Object.keys(result.names), ["0", "1"], "no sequence flag");
  assert.deepEqual(result, { names: ["x", "y"], one: { a: 1 } });
});

Deno.test("new Jsonata() throws a TypeError naming the option and the position", () => {
  assert.throws(() => new Jsonata("broken", { expression: "a +" }), {
    name: "TypeError",
    message:
      'Invalid option "expression" of actor "broken": JSONata error S0207 at position 3: Unexpected end of expression',
  });
});

Deno.test("a JSONata compile error in a bootstrap file is reported at the expression's position", async () => {
  const text = [
    "actors:",
    "  input: { type: generator, options: { count: 1 } }",
    "  total:",
    "    type: jsonata",
    "    options:",
    '      expression: "$sum(items.price"',
    '  sink: { type: "null" }',
    "connections:",
    "  - input.outbox -> total.inbox",
    "  - total.outbox -> sink.inbox",
  ].join("\n");
  const error = await loadPipeline({ text, file: "p.yaml" }).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(error instanceof ConfigError, String(error));
  const [problem] = error.problems;
  assert.deepEqual(
    [problem?.line, problem?.column, problem?.path.at(-1)],
    [6, 19, "expression"],
  );
  assert.match(
    problem?.message ?? "",
    /JSONata error S0203 at position 16: Expected "\)" before end of expression/,
  );
});

Deno.test("jsonata sends the results of a batch on as one batch, in order, the failed event to error", async () => {
  const router = new Router();
  const values = Array.from({ length: 300 }, (_, i) => ({
    header: {},
    data: { n: i === 150 ? "x" : i },
  }));
  router.register(new ListInput("input", values));
  // A linger longer than the test: only the end of the batch writes it on.
  router.register(
    new Jsonata("plus", { expression: "$number(n) + 1" }, {
      lingerMs: 600_000,
    }),
  );
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "plus.inbox");
  router.connect("plus.outbox", "sink.inbox");
  router.connect("plus.error", "errors.inbox");
  const batches: number[] = [];
  sink.pool.inbound.get("inbox")!.observe((batch) =>
    batches.push(batch.length)
  );
  await router.start();
  await router.finished;
  const report = await router.stop();

  const expected = Array.from({ length: 300 }, (_, i) => i + 1);
  expected.splice(150, 1);
  assert.deepEqual(sink.data(), expected);
  assert.deepEqual(batches, [299]);
  assert.deepEqual(errors.events.map((event) => event.data), [{ n: "x" }]);
  assert.equal(report.delivered + report.errors, 300);
  assert.equal(report.unaccounted, 0);
});
