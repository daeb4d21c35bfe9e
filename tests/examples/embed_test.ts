import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, spawnProgram } from "../cli_helpers.ts";

const EMBED = join(ROOT, "examples", "embed.ts");

Deno.test("examples/embed.ts runs its router until SIGINT, then drains: every event made is printed, in order", async () => {
  // No permission flags: embedding needs none of its own.
  const embed = spawnProgram(Deno.execPath(), ["run", "--no-prompt", EMBED]);
  await embed.stdout.until((text) => text.includes("HELLO 3\n"));
  embed.child.kill("SIGINT");
  const { code, stdout: out, stderr: err } = await embed.finish();
  assert.equal(code, 0, err);
  const lines = out.trimEnd().split("\n");
  assert.ok(lines.length >= 3);
  lines.forEach((line, i) => assert.equal(line, `HELLO ${i + 1}`));
  assert.equal(
    err,
    `Stopped: ${lines.length} made, ${lines.length} delivered\n`,
  );
});

Deno.test("the README's embedding example is examples/embed.ts, word for word", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const code = await Deno.readTextFile(EMBED);
  assert.ok(
    readme.includes("```ts ignore\n" + code + "```\n"),
    "README.md shows examples/embed.ts in a ```ts ignore block",
  );
});
