import assert from "node:assert/strict";
import {
  compilePredicate,
  deepEqual,
  Predicate,
} from "../../actors/predicate.ts";

const on = (data: unknown) => ({ header: {}, data });

Deno.test("predicates compare deeply and by type, never converting", () => {
  const five = compilePredicate(Predicate.parse({ field: "data", equals: 5 }));
  assert.equal(five(on(5)), true);
  assert.equal(five(on("5")), false);
  const list = compilePredicate(
    Predicate.parse({ field: "data", in: [1, "two", null] }),
  );
  assert.deepEqual([1, "1", "two", null, undefined].map((v) => list(on(v))), [
    true,
    false,
    true,
    true,
    false,
  ]);
  const nan = compilePredicate(Predicate.parse({ field: "data", equals: NaN }));
  assert.equal(nan(on(NaN)), true);
  const after = compilePredicate(Predicate.parse({ field: "data", gt: "m" }));
  assert.deepEqual(["z", "a", 100].map((v) => after(on(v))), [
    true,
    false,
    false,
  ]);
});

Deno.test("matches only tests strings, and a regular expression keeps no state between events", () => {
  const err = compilePredicate(
    Predicate.parse({ field: "data", matches: "err", flags: "i" }),
  );
  assert.deepEqual(["ERROR", "Error", "ok", 404].map((v) => err(on(v))), [
    true,
    true,
    false,
    false,
  ]);
});

Deno.test("exists tells absent fields from null ones", () => {
  const present = compilePredicate(
    Predicate.parse({ field: "header.trace", exists: true }),
  );
  assert.equal(present({ header: { trace: null }, data: 1 }), true);
  assert.equal(present({ header: {}, data: 1 }), false);
});

Deno.test("deepEqual compares arrays and plain objects key by key", () => {
  assert.equal(deepEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), true);
  assert.equal(deepEqual({ a: 1 }, { a: 1, b: undefined }), false);
  assert.equal(deepEqual([1], { 0: 1 }), false);
  assert.equal(deepEqual(null, {}), false);
});

Deno.test("compilePredicate refuses a predicate with no test", () => {
  assert.throws(
    () => compilePredicate({ field: "data" }),
    /A predicate on "data" needs exactly one test, got 0/,
  );
});
