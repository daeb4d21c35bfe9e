/**
 * What the commands print: to stdout and stderr, wrapped and indented text,
 * and the problems of a bootstrap file.
 *
 * @module
 */

import { writeAllSync } from "../actors/payload.ts";
import { loadConfig, type PipelineConfig } from "../core/config/mod.ts";
import { ConfigError, quoteList } from "../core/errors.ts";
import { isStandalone, standaloneModuleHint } from "./standalone.ts";

/**
 * The problems of a bootstrap file, one per line; in the standalone
 * executable, with what a `module:` can import there when one is at fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, quoteList } from "../core/errors.ts";
 * import { configErrorText } from "./output.ts";
 * const problem = { file: "a.yaml", line: 1, column: 1, path: [], message: "Bad" };
 * assert.equal(configErrorText(new ConfigError([problem])), "a.yaml:1:1: Bad\n");
 * ```
 */
export function configErrorText(error: ConfigError): string {
  const hint = isStandalone() ? standaloneModuleHint(error) : undefined;
  return error.message + "\n" + (hint === undefined ? "" : hint + "\n");
}

const encoder = new TextEncoder();

/**
 * Writes `text` to stdout, all of it.
 *
 * @example
 * ```ts
 * import { out } from "./output.ts";
 * out("hello\n");
 * ```
 */
export function out(text: string): void {
  writeAllSync(Deno.stdout, encoder.encode(text));
}

/**
 * Writes `text` to stderr, all of it.
 *
 * @example
 * ```ts
 * import { err } from "./output.ts";
 * err("careful\n");
 * ```
 */
export function err(text: string): void {
  writeAllSync(Deno.stderr, encoder.encode(text));
}

/**
 * `text` with every line indented by `by` spaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indent } from "./output.ts";
 * assert.equal(indent("a\nb", 2), "  a\n  b");
 * ```
 */
export function indent(text: string, by: number): string {
  const pad = " ".repeat(by);
  return text.split("\n").map((line) => pad + line).join("\n");
}

/**
 * Wraps `text` at 78 columns, every line indented by `by`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrap } from "./output.ts";
 * assert.equal(wrap("one two", 4), "    one two");
 * ```
 */
export function wrap(text: string, by: number): string {
  const width = Math.max(78 - by, 30);
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/\s+/)) {
      if (word === "") continue;
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return indent(lines.join("\n"), by);
}

/**
 * Loads `file` as "run" would, without starting anything; on problems,
 * prints them on stderr and returns `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFile } from "./output.ts";
 * assert.equal((await checkFile("examples/hello.yaml"))?.actors.length, 4);
 * ```
 */
export async function checkFile(
  file: string,
): Promise<PipelineConfig | undefined> {
  try {
    return await loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    err(configErrorText(error));
    return undefined;
  }
}

/**
 * Whether the command can run `config` by itself; a file that exposes
 * queues (`expose:`) is a stage of a program, which feeds and reads those
 * queues: says so on stderr and returns `false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFile, runsAlone } from "./output.ts";
 * assert.equal(runsAlone((await checkFile("examples/hello.yaml"))!), true);
 * ```
 */
export function runsAlone(config: PipelineConfig): boolean {
  const exposed = config.expose ?? [];
  if (exposed.length === 0) return true;
  err(
    `${config.file}: it exposes ${
      quoteList(exposed.map(({ address }) => address))
    }, which only a program can feed or read (loadPipeline(), then router.writable(), readable() or stream()); the command cannot run it by itself\n`,
  );
  return false;
}
