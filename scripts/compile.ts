/**
 * `deno task compile`: builds the standalone `compysition` executable with
 * `deno compile`, for this machine or for other targets.
 *
 * ```sh
 * deno task compile                                  # dist/compysition (this machine)
 * deno task compile --target all                     # dist/compysition-<target> for every target
 * deno task compile --target aarch64-apple-darwin    # one (or a comma-separated list)
 * ```
 *
 * The executable holds cli.ts with every built-in actor and the admin
 * dashboard (all imported statically, deno.json included as a JSON import),
 * and core/thread_worker.ts, the Web Worker of stages with `threads: N`,
 * and only the npm packages they import: the build uses a copy of deno.json
 * whose "imports" keep just those, so that test-only packages stay out. It
 * gets the narrowest permissions that let it work: `--allow-net`,
 * `--allow-read`, `--allow-write`, `--allow-env`, plus `--allow-run` on macOS
 * and Windows, where telling whether the process of a `--pid-file` is still
 * running takes a signal (Linux reads /proc).
 *
 * `deno compile` needs the Deno runtime binary (denort) of the target: it
 * downloads it on first use into DENO_DIR, or takes the file named by the
 * DENORT_BIN environment variable (for the host target only).
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SERVICE_PERMISSIONS } from "../cli/service.ts";
import { errorMessage } from "../core/actor.ts";

/** The targets `--target all` builds. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/**
 * The permissions every executable gets: the same as a service running the
 * script (cli/service.ts).
 */
export const PERMISSIONS: readonly string[] = SERVICE_PERMISSIONS;

/** The repository root. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * The permission flags of the executable for `target`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissionsFor } from "./compile.ts";
 * assert.equal(permissionsFor("x86_64-unknown-linux-gnu").includes("--allow-run"), false);
 * assert.equal(permissionsFor("aarch64-apple-darwin").includes("--allow-run"), true);
 * ```
 */
export function permissionsFor(target: string): string[] {
  return target.includes("linux")
    ? [...PERMISSIONS]
    : [...PERMISSIONS, "--allow-run"];
}

/**
 * The `imports` of `imports` that the module graph uses: `npmModules` are
 * the graph's npm modules as `deno info` names them (`npm:/zod@4.6.7`).
 * Entries that are not `npm:` specifiers are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runtimeImports } from "./compile.ts";
 * const used = runtimeImports(
 *   { zod: "npm:zod@4.6.7", ajv: "npm:ajv@8.20.0", "@a/b": "npm:@a/b@1.0.0" },
 *   ["npm:/zod@4.6.7", "npm:/@a/b@1.0.0/sub"],
 * );
 * assert.deepEqual(used, { zod: "npm:zod@4.6.7", "@a/b": "npm:@a/b@1.0.0" });
 * ```
 */
export function runtimeImports(
  imports: Record<string, string>,
  npmModules: readonly string[],
): Record<string, string> {
  const used = new Set(npmModules.map((specifier) => packageOf(specifier)));
  return Object.fromEntries(
    Object.entries(imports).filter(([, value]) =>
      !value.startsWith("npm:") || used.has(packageOf(value))
    ),
  );
}

/** `name@version` of an npm specifier (`npm:/@a/b@1.0.0/sub` -> `@a/b@1.0.0`). */
function packageOf(specifier: string): string {
  const bare = specifier.replace(/^npm:\/?/, "");
  const parts = bare.split("/");
  return bare.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** What one `deno` subprocess printed. */
interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function deno(args: string[]): Promise<Output> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The npm modules of cli.ts's module graph, as `deno info` names them. */
async function npmModulesOfCli(): Promise<string[]> {
  const info = await deno(["info", "--json", "cli.ts"]);
  if (info.code !== 0) {
    throw new Error(`"deno info cli.ts" failed:\n${info.stderr}`);
  }
  const graph = JSON.parse(info.stdout) as {
    modules: { specifier: string }[];
  };
  return graph.modules.map((module) => module.specifier).filter((specifier) =>
    specifier.startsWith("npm:")
  );
}

/** Builds the executable for each of `targets` into `outDir`; returns the files. */
async function compile(
  targets: readonly string[] | undefined,
  outDir: string,
): Promise<string[]> {
  const denoJson = JSON.parse(
    await Deno.readTextFile(join(ROOT, "deno.json")),
  ) as { imports?: Record<string, string> };
  const config = join(ROOT, `.compile-${Deno.pid}.json`);
  const temp = await Deno.makeTempDir({ prefix: "compysition_compile_" });
  const lock = join(temp, "deno.lock");
  const built: string[] = [];
  try {
    // A copy of deno.json with only the imports the program uses, and a copy
    // of the lock file for deno to update, so that neither file changes.
    const imports = runtimeImports(
      denoJson.imports ?? {},
      await npmModulesOfCli(),
    );
    await Deno.writeTextFile(
      config,
      JSON.stringify({ ...denoJson, imports }, null, 2),
    );
    await Deno.copyFile(join(ROOT, "deno.lock"), lock);
    await Deno.mkdir(outDir, { recursive: true });
    for (const target of targets ?? [Deno.build.target]) {
      const output = join(
        outDir,
        targets === undefined ? "compysition" : `compysition-${target}`,
      );
      console.error(`Compiling ${relative(Deno.cwd(), output)} (${target})`);
      const result = await deno([
        "compile",
        "--config",
        config,
        "--lock",
        lock,
        "--target",
        target,
        "--output",
        output,
        ...permissionsFor(target),
        // Started as a Web Worker by stages with `threads: N`: deno compile
        // carries a worker's module only when told.
        "--include",
        "core/thread_worker.ts",
        "cli.ts",
      ]);
      if (result.code !== 0) {
        throw new Error(
          `deno compile failed for ${target}:\n${result.stderr.trim()}\n\n` +
            `deno compile needs the Deno runtime binary (denort) of ${target}: ` +
            `it downloads it on first use, or takes the file named by DENORT_BIN ` +
            `(a denort of Deno ${Deno.version.deno}, for the host target only).`,
        );
      }
      built.push(output + (target.includes("windows") ? ".exe" : ""));
    }
  } finally {
    await Deno.remove(config).catch(() => {});
    await Deno.remove(temp, { recursive: true });
  }
  return built;
}

/** Parses the command line and builds; returns the exit code. */
async function main(args: string[]): Promise<number> {
  const usage =
    "Usage: deno task compile [--target all|TARGET[,TARGET...]] [--output DIR]\n" +
    `Targets: ${
      TARGETS.join(", ")
    } (default: this machine's, ${Deno.build.target})`;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        target: { type: "string" },
        output: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${errorMessage(error)}\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    console.log(usage);
    return 0;
  }
  const targets = values.target === undefined
    ? undefined
    : values.target === "all"
    ? TARGETS
    : values.target.split(",").map((target) => target.trim());
  const unknown = targets?.filter((target) => !TARGETS.includes(target)) ?? [];
  if (unknown.length > 0) {
    console.error(`Unknown target "${unknown[0]}"\n${usage}`);
    return 2;
  }
  if (
    Deno.env.get("DENORT_BIN") !== undefined &&
    targets?.some((target) => target !== Deno.build.target)
  ) {
    console.error(
      `DENORT_BIN is set: it names the runtime of one target, so only ${Deno.build.target} can be built with it; unset it to build for other targets`,
    );
    return 2;
  }
  const outDir = resolve(values.output ?? join(ROOT, "dist"));
  try {
    for (const file of await compile(targets, outDir)) {
      const { size } = await Deno.stat(file);
      console.error(
        `Built ${relative(Deno.cwd(), file)} (${
          (size / 1024 / 1024).toFixed(1)
        } MB)`,
      );
    }
  } catch (error) {
    console.error(errorMessage(error));
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
