import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "../cli_helpers.ts";

Deno.test("examples/upper.yaml loads the actor type of examples/upper.ts with module: and runs it", async () => {
  const result = await runCli(["run", "examples/upper.yaml"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "HELLO 1!\nHELLO 2!\nHELLO 3!\n");
  assert.match(
    result.stderr,
    /\bStopped \(the pipeline finished\) .*: 3 created, 3 delivered,/,
  );
});

Deno.test("the README's user actor module is examples/upper.ts, word for word", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const code = await Deno.readTextFile(join(ROOT, "examples", "upper.ts"));
  assert.ok(
    readme.includes("```ts ignore\n" + code + "```\n"),
    "README.md shows examples/upper.ts in a ```ts ignore block",
  );
});
