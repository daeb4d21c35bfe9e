/**
 * The standalone executable of `deno task compile` (scripts/compile.ts).
 *
 * `deno compile` needs the Deno runtime binary (denort) of the target: it
 * downloads it, or takes the file named by DENORT_BIN. Where neither works,
 * the tests that run the executable are reported as skipped, with the reason
 * in their name and on the console; the tests that need no executable (the
 * permissions it gets, the packages it holds) always run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { PERMISSIONS, runtimeImports } from "../scripts/compile.ts";
import { ROOT, runProgram, spawnProgram } from "./cli_helpers.ts";
import { withTempDir } from "./helpers.ts";

/**
 * Builds the executable into a temporary directory once, at load: with
 * DENORT_BIN when it is set, else by letting `deno compile` download the
 * runtime. Returns its path, or why it could not be built.
 */
async function build(): Promise<
  { binary: string; dir: string } | { skip: string }
> {
  if (Deno.build.os === "windows") {
    return { skip: "the test runs the Unix executable" };
  }
  const dir = await Deno.makeTempDir({ prefix: "compysition_compile_" });
  const result = await runProgram(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    join(ROOT, "scripts", "compile.ts"),
    "--output",
    dir,
  ]);
  const binary = join(dir, "compysition");
  if (result.code === 0) return { binary, dir };
  await Deno.remove(dir, { recursive: true });
  // deno compile's own words when it cannot fetch the runtime binary.
  const cannotDownload = /dl\.deno\.land|Setting up base binary/.test(
    result.stderr,
  );
  if (Deno.env.get("DENORT_BIN") === undefined && cannotDownload) {
    return {
      skip: "DENORT_BIN not set and the runtime cannot be downloaded here",
    };
  }
  throw new Error(`deno task compile failed:\n${result.stderr}`);
}

const built = await build();
const skipped = "skip" in built ? built.skip : undefined;
if (skipped !== undefined) {
  console.log(
    `tests/compile_test.ts: the tests that run the standalone executable are skipped: ${skipped}. Set DENORT_BIN to a denort ${Deno.version.deno} binary to run them.`,
  );
}

/** A test of the executable, or its report as skipped and why. */
function testBinary(name: string, fn: (binary: string) => Promise<void>): void {
  if ("skip" in built) {
    Deno.test({
      name: `${name} (skipped: ${built.skip})`,
      ignore: true,
      fn() {},
    });
    return;
  }
  Deno.test(name, () => fn(built.binary));
}

/**
 * A `module:` actor importing the library and zod by name, as a module
 * for the executable must: it upper-cases the data and appends `suffix`.
 */
const UPPER_MODULE = `
import { Actor, type ActorSettings, type Event } from "@compysition/compysition";
import { z } from "zod";

const Options = z.strictObject({
  suffix: z.string().default("!").describe("Appended to the data."),
});

class Upper extends Actor {
  readonly kind = "transform";
  #suffix: string;
  constructor(name: string, suffix: string, settings: ActorSettings) {
    super(name, settings);
    this.#suffix = suffix;
  }
  override consume(event: Event): Promise<void> | undefined {
    event.data = String(event.data).toUpperCase() + this.#suffix;
    return this.send(event);
  }
}

export default {
  type: "upper",
  kind: "transform",
  summary: "Upper-cases the data.",
  options: Options,
  create: (name: string, options: z.infer<typeof Options>, settings: ActorSettings) =>
    new Upper(name, options.suffix, settings),
};
`;

function pipeline(module: string): string {
  return [
    "actors:",
    "  input:",
    "    type: generator",
    "    options: { interval: 0, count: 3, data: 'hi {{seq}}' }",
    "  up:",
    `    module: ${module}`,
    "    options: { suffix: '?' }",
    "  print:",
    "    type: stdout",
    "connections:",
    "  - input.outbox -> up.inbox",
    "  - up.outbox -> print.inbox",
    "",
  ].join("\n");
}

// --- always ------------------------------------------------------------------

Deno.test("the executable holds only the npm packages cli.ts imports, not the test-only ones", async () => {
  const info = await runProgram(Deno.execPath(), ["info", "--json", "cli.ts"]);
  assert.equal(info.code, 0, info.stderr);
  const npm = (JSON.parse(info.stdout) as { modules: { specifier: string }[] })
    .modules.map((module) => module.specifier)
    .filter((specifier) => specifier.startsWith("npm:"));
  const kept = runtimeImports(denoJson.imports, npm);
  for (const name of ["zod", "yaml", "@logtape/logtape"]) {
    assert.ok(name in kept, `${name} is built in`);
  }
  assert.ok(!("ajv" in kept), "ajv is only used by the tests");
});

Deno.test("the permissions the executable gets are enough to run a pipeline with a module, a PID file and files", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "upper.ts"), UPPER_MODULE);
    const file = join(dir, "pipeline.yaml");
    await Deno.writeTextFile(file, pipeline("./upper.ts"));
    const pidFile = join(dir, "run.pid");
    const result = await runProgram(Deno.execPath(), [
      "run",
      "--no-prompt",
      ...PERMISSIONS,
      "cli.ts",
      "run",
      file,
      "--pid-file",
      pidFile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "HI 1?\nHI 2?\nHI 3?\n");
    assert.match(result.stderr, /\bStopped \(the pipeline finished\)/);
    await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound);
  });
});

// --- the executable ----------------------------------------------------------

testBinary(
  "the executable prints its name and version from deno.json",
  async (binary) => {
    const result = await runProgram(binary, ["version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${denoJson.name} ${denoJson.version}\n`);
  },
);

testBinary(
  "the executable runs examples/hello.yaml, prints every event and the stop report",
  async (binary) => {
    const result = await runProgram(binary, ["run", "examples/hello.yaml"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 20);
    assert.deepEqual(
      lines.filter((line) => line.startsWith("one: ")),
      [1, 3, 5, 7, 9, 11, 13, 15, 17, 19].map((n) => `one: hello ${n}`),
    );
    assert.match(
      result.stderr,
      /\nStopped \(the pipeline finished\) after \d+\.\d s: 20 created, 20 delivered, 0 errors, 0 filtered, 0 dropped, 0 failed, 0 abandoned, 0 discarded\n$/,
    );
  },
);

testBinary(
  "the executable loads a module: actor from disk that imports the library and zod by name",
  async (binary) => {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "upper.ts"), UPPER_MODULE);
      await Deno.writeTextFile(
        join(dir, "pipeline.yaml"),
        pipeline("./upper.ts"),
      );
      // Run from the temporary directory: nothing of the repository around.
      const result = await runProgram(binary, ["run", "pipeline.yaml"], {
        cwd: dir,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "HI 1?\nHI 2?\nHI 3?\n");
    });
  },
);

testBinary(
  "the executable says what a module: can import when one cannot be loaded",
  async (binary) => {
    await withTempDir(async (dir) => {
      // A module by URL: not built in, and the executable loads none.
      await Deno.writeTextFile(
        join(dir, "url.yaml"),
        pipeline("https://example.invalid/upper.ts"),
      );
      const result = await runProgram(binary, ["validate", "url.yaml"], {
        cwd: dir,
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /^url\.yaml:6:13: Cannot load module "https:\/\/example\.invalid\/upper\.ts" for actor "up": /,
      );
      assert.match(
        result.stderr,
        /\nNote: this is the standalone executable\./,
      );
      assert.match(result.stderr, /"@compysition\/compysition"/);
    });
  },
);

testBinary(
  "the executable runs stages with threads: built-in ones and a module: actor",
  async (binary) => {
    await withTempDir(async (dir) => {
      const stateless = UPPER_MODULE.replace(
        'kind: "transform",\n  summary',
        'kind: "transform",\n  stateless: true,\n  summary',
      );
      assert.notEqual(stateless, UPPER_MODULE);
      await Deno.writeTextFile(join(dir, "upper.ts"), stateless);
      await Deno.writeTextFile(
        join(dir, "pipeline.yaml"),
        [
          "actors:",
          "  input:",
          "    type: generator",
          `    options: { interval: 0, count: 3, data: '{"n":{{seq}}}' }`,
          "  decode: { type: json_decode, threads: 2 }",
          "  double:",
          "    type: jsonata",
          '    options: { expression: "$string(n * 2)" }',
          "    threads: 2",
          "  up: { module: ./upper.ts, threads: 2 }",
          "  print: { type: stdout }",
          "connections:",
          "  - input.outbox -> decode.inbox",
          "  - decode.outbox -> double.inbox",
          "  - double.outbox -> up.inbox",
          "  - up.outbox -> print.inbox",
          "",
        ].join("\n"),
      );
      const result = await runProgram(binary, ["run", "pipeline.yaml"], {
        cwd: dir,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "2!\n4!\n6!\n");
    });
  },
);

testBinary(
  "the executable's service unit starts the executable itself",
  async (binary) => {
    const result = await runProgram(binary, [
      "service",
      "examples/service.yaml",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(
      result.stdout.includes(
        `\nExecStart=${binary} run ${join(ROOT, "examples", "service.yaml")} `,
      ),
      result.stdout,
    );
  },
);

testBinary(
  "the executable stops by draining on SIGTERM and exits 0",
  async (binary) => {
    const cli = spawnProgram(binary, ["run", "examples/service.yaml"]);
    await cli.stdout.until((text) => text.includes("heartbeat: beat 2\n"));
    cli.child.kill("SIGTERM");
    const result = await cli.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /\bStopped \(SIGTERM\) after /);
  },
);

if (!("skip" in built)) {
  // Removed once every test above has run (tests run in file order).
  Deno.test("the executable's build directory is removed", async () => {
    await Deno.remove(built.dir, { recursive: true });
  });
}
