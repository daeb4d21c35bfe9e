/**
 * What the README's test command does on a machine that lacks a program a
 * test needs: a real `deno test` in a subprocess, on a test file that needs
 * a program nobody has, with and without `CI=true`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "./helpers.ts";

/** Runs `deno test` on a file whose one test needs a missing program. */
async function testNeedingMissingProgram(
  ci: boolean,
): Promise<{ code: number; output: string }> {
  return await withTempDir(async (dir) => {
    const file = join(dir, "needs_test.ts");
    await Deno.writeTextFile(
      file,
      `import { testWith } from ${
        JSON.stringify(new URL("./requires.ts", import.meta.url).href)
      };
const MISSING = { name: "no-such-server-here", install: "apt-get install -y no-such-server-here" };
testWith("talks to the server", [MISSING], () => {
  throw new Error("ran without the program");
});
`,
    );
    const env: Record<string, string> = { NO_COLOR: "1", CI: "false" };
    if (ci) env.CI = "true";
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", "--no-check", file],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code,
      output: decoder.decode(stdout) + decoder.decode(stderr),
    };
  });
}

Deno.test("A test whose program is missing is skipped with the reason and the install command printed", async () => {
  const { code, output } = await testNeedingMissingProgram(false);
  assert.equal(code, 0, output);
  assert.match(
    output,
    /Skipping the tests that need no-such-server-here: it is not installed \(install it with "apt-get install -y no-such-server-here"\)/,
  );
  assert.match(
    output,
    /talks to the server \(skipped: no-such-server-here is not installed .*\) \.\.\. ignored/,
  );
  assert.match(output, /0 passed \| 0 failed \| 1 ignored/);
});

Deno.test("Under CI=true a test whose program is missing fails, saying what is missing and how to install it", async () => {
  const { code, output } = await testNeedingMissingProgram(true);
  assert.equal(code, 1, output);
  assert.match(
    output,
    /no-such-server-here is not installed \(install it with "apt-get install -y no-such-server-here"\): under CI=true a missing program is a failure/,
  );
  assert.match(output, /0 passed \| 1 failed/);
  assert.doesNotMatch(output, /ran without the program/);
});
