/**
 * Tests that need a program a fresh machine may lack (`nats-server`,
 * Chromium, `syslog-ng`, `openssl`...): {@link findProgram} looks for it, and
 * {@link testWith} registers a test that runs when it is there.
 *
 * When the program is missing, the test is reported as ignored (skipped),
 * with the reason and the command that installs it printed once per file, so
 * that the README's test command passes on a machine with only Node and npm.
 * Under `CI=true` a missing program is a failure instead: `.ci/run` installs
 * every program the tests need, so a missing one there is a broken CI setup.
 *
 * @module
 */

/** A program a test needs, and how a user installs it. */
export interface Program {
  /** The command name, e.g. `"nats-server"`. */
  name: string;
  /**
   * Where to look before the PATH, e.g. `["/usr/sbin/nats-server"]`: Debian
   * puts servers in `/usr/sbin`, which an unprivileged PATH may lack.
   */
  paths?: string[];
  /** The command that installs it, e.g. `"apt-get install -y nats-server"`. */
  install: string;
}

/** The path of an executable file, or `undefined`. */
function executable(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0
      ? path
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The full path of `program`: one of its `paths`, or the first match on the
 * PATH; `undefined` when it is nowhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findProgram } from "./requires.ts";
 * assert.ok(findProgram({ name: "sh", install: "apt-get install -y dash" }) !== undefined);
 * assert.equal(findProgram({ name: "no-such-program-here", install: "-" }), undefined);
 * ```
 */
export function findProgram(program: Program): string | undefined {
  for (const path of program.paths ?? []) {
    const found = executable(path);
    if (found !== undefined) return found;
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    const found = executable(`${dir}/${program.name}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Whether tests run under CI (`CI=true`), where nothing may be skipped. */
export const IN_CI: boolean = Deno.env.get("CI") === "true";

/** Files that already printed why they skip, so that it is printed once. */
const explained = new Set<string>();

/**
 * Registers test `name`, run with the path of every program it needs (in the
 * order of `programs`) and its test context. When one is missing, the test is ignored with the reason in its name and in a
 * line printed once per program (or, under `CI=true`, it fails saying what
 * is missing and how to install it).
 *
 * @example
 * ```ts ignore
 * import { testWith } from "./requires.ts";
 * const NATS = { name: "nats-server", paths: ["/usr/sbin/nats-server"], install: "apt-get install -y nats-server" };
 * testWith("nats_in reads a stream", [NATS], async ([natsServer]) => {
 *   // start `natsServer`...
 * });
 * ```
 */
export function testWith(
  name: string,
  programs: readonly Program[],
  fn: (paths: string[], t: Deno.TestContext) => void | Promise<void>,
  options: Omit<Deno.TestDefinition, "name" | "fn" | "ignore"> = {},
): void {
  const paths: string[] = [];
  const missing: Program[] = [];
  for (const program of programs) {
    const path = findProgram(program);
    if (path === undefined) missing.push(program);
    else paths.push(path);
  }
  if (missing.length === 0) {
    Deno.test({ ...options, name, fn: (t) => fn(paths, t) });
    return;
  }
  const reason = missing.map((program) =>
    `${program.name} is not installed (install it with "${program.install}")`
  ).join("; ");
  if (IN_CI) {
    Deno.test({
      ...options,
      name,
      fn() {
        throw new Error(
          `${reason}: under CI=true a missing program is a failure; .ci/run should have installed it`,
        );
      },
    });
    return;
  }
  for (const program of missing) {
    if (explained.has(program.name)) continue;
    explained.add(program.name);
    console.log(
      `Skipping the tests that need ${program.name}: it is not installed (install it with "${program.install}")`,
    );
  }
  Deno.test({
    ...options,
    name: `${name} (skipped: ${reason})`,
    ignore: true,
    fn() {},
  });
}

/**
 * A `Deno.test(name, fn)` for tests that all need `programs`, each registered
 * with {@link testWith}. Named `test` where it is used, it keeps the test
 * files in the shape of `Deno.test` calls.
 *
 * @example
 * ```ts ignore
 * import { testNeeding } from "./requires.ts";
 * const NATS = { name: "nats-server", paths: ["/usr/sbin/nats-server"], install: "apt-get install -y nats-server" };
 * const test = testNeeding(NATS);
 * test("nats_in reads a stream", async ([natsServer]) => {
 *   // start `natsServer`...
 * });
 * ```
 */
export function testNeeding(
  ...programs: Program[]
): (
  name: string,
  fn: (paths: string[], t: Deno.TestContext) => void | Promise<void>,
) => void {
  return (name, fn) => testWith(name, programs, fn);
}
