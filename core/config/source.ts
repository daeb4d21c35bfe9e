/**
 * Reading a bootstrap file from a path, a URL or a text.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.ts";
import { firstLine } from "./yaml.ts";

/**
 * Where a bootstrap file comes from: a path (relative to the working
 * directory), a URL (`file:`, `http:`, `https:`), or its text with the name to
 * show in messages (and to resolve `module:` paths against).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BootstrapSource, loadPipeline } from "./mod.ts";
 * const source: BootstrapSource = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const { router } = await loadPipeline(source);
 * assert.deepEqual(router.actors().map((actor) => actor.name), ["input", "sink"]);
 * await router.stop();
 * ```
 */
export type BootstrapSource = string | URL | { text: string; file?: string };

/** A bootstrap file's text, its name in messages and the URL it is read from. */
export interface SourceText {
  /** The name used in messages. */
  file: string;
  /** The text. */
  text: string;
  /** What `module:` paths are relative to. */
  base: URL;
}

/**
 * Reads a bootstrap file; throws a {@link ConfigError} at line 1 when it
 * cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSource } from "./source.ts";
 * const { file, text } = await readSource({ file: "a.yaml", text: "actors: {}" });
 * assert.deepEqual([file, text], ["a.yaml", "actors: {}"]);
 * ```
 */
export async function readSource(source: BootstrapSource): Promise<SourceText> {
  if (typeof source === "object" && !(source instanceof URL)) {
    const file = source.file ?? "<text>";
    const base = source.file === undefined
      ? pathToFileURL(resolve("bootstrap.yaml"))
      : toUrl(source.file);
    return { file, text: source.text, base };
  }
  const file = source instanceof URL ? source.href : source;
  const url = source instanceof URL ? source : toUrl(source);
  const fail = (message: string) =>
    new ConfigError([{ file, line: 1, column: 1, path: [], message }]);
  if (url.protocol === "http:" || url.protocol === "https:") {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw fail(`Cannot fetch the file: ${firstLine(error)}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw fail(
        `Cannot fetch the file: HTTP ${response.status} ${response.statusText}`,
      );
    }
    return { file, text: await response.text(), base: url };
  }
  try {
    const info = await Deno.stat(url);
    if (info.isDirectory) {
      throw fail(
        `"${file}" is a directory; give the path of a YAML bootstrap file`,
      );
    }
    return { file, text: await Deno.readTextFile(url), base: url };
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw fail("The file does not exist");
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw fail(`Cannot read the file: permission denied`);
    }
    throw fail(`Cannot read the file: ${firstLine(error)}`);
  }
}

function toUrl(path: string): URL {
  if (/^(file|https?):/i.test(path)) return new URL(path);
  return pathToFileURL(resolve(path));
}
