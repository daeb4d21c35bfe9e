import assert from "node:assert/strict";
import {
  closest,
  ConfigError,
  didYouMean,
  formatConfigProblem,
  GraphError,
} from "../../core/errors.ts";

Deno.test("GraphError lists every problem on its own line", () => {
  const one = new GraphError([{ message: "First" }]);
  assert.equal(one.name, "GraphError");
  assert.equal(one.message, "The pipeline graph has 1 problem:\n  - First");
  const two = new GraphError([
    { message: "First", connection: 0 },
    { message: "Second" },
  ]);
  assert.equal(
    two.message,
    "The pipeline graph has 2 problems:\n  - First\n  - Second",
  );
  assert.equal(two.problems.length, 2);
  assert.ok(two instanceof Error);
});

Deno.test("ConfigError writes each problem as FILE:LINE:COL: message and exposes the first", () => {
  const error = new ConfigError([
    {
      file: "p.yaml",
      line: 3,
      column: 11,
      path: ["actors", "a", "type"],
      message: 'Unknown actor type "genrator"; did you mean "generator"?',
    },
    { file: "p.yaml", line: 9, column: 5, path: ["logs"], message: "Bad" },
  ]);
  assert.equal(error.name, "ConfigError");
  assert.equal(
    error.message,
    'p.yaml:3:11: Unknown actor type "genrator"; did you mean "generator"?\n' +
      "p.yaml:9:5: Bad",
  );
  assert.equal(error.file, "p.yaml");
  assert.equal(error.line, 3);
  assert.equal(error.column, 11);
  assert.deepEqual(error.path, ["actors", "a", "type"]);
  assert.equal(
    formatConfigProblem({
      file: "a.yaml",
      line: 1,
      column: 2,
      path: [],
      message: "Bad",
    }),
    "a.yaml:1:2: Bad",
  );
});

Deno.test("closest() finds likely misspellings: typos, swaps, case", () => {
  const names = ["generator", "stdout", "inbox", "outbox", "input"];
  assert.equal(closest("genrator", names), "generator");
  assert.equal(closest("inptu", names), "input", "two letters swapped");
  assert.equal(closest("STDOUT", names), "stdout");
  assert.equal(closest("inbx", names), "inbox");
  assert.equal(closest("xyz", names), undefined);
  assert.equal(closest("anything", []), undefined);
});

Deno.test("didYouMean() makes the suffix of a message, or nothing", () => {
  assert.equal(
    didYouMean("outbx", ["inbox", "outbox"]),
    '; did you mean "outbox"?',
  );
  assert.equal(didYouMean("zzzz", ["inbox", "outbox"]), "");
});
