/**
 * A bootstrap file's YAML with source positions: parsing, finding nodes by
 * key path, and collecting problems as `FILE:LINE:COL: message`.
 *
 * @module
 */

import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLMap,
} from "yaml";
import { errorMessage } from "../actor.ts";
import { ConfigError, type ConfigProblem, quoteList } from "../errors.ts";
import { BOOTSTRAP_KEYS } from "../schema.ts";
import { describeValue } from "./messages.ts";

/** A key path in a bootstrap file, e.g. `["actors", "input", "options"]`. */
export type Path = (string | number)[];

/**
 * The YAML of one bootstrap file with its positions, and the problems found
 * in it so far: every check adds its problems here, and {@link error} makes
 * one {@link ConfigError} of all of them, in file order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "actors:\n  a: { type: x }\n");
 * const root = yaml.parse();
 * yaml.add(yaml.nodeAt(root, ["actors", "a", "type"]), [], "Bad type");
 * assert.equal(yaml.error().message, "p.yaml:2:14: Bad type");
 * ```
 */
export class YamlFile {
  /** The file name used in messages. */
  readonly file: string;
  /** The file's text. */
  readonly text: string;
  #lines = new LineCounter();
  #problems: ConfigProblem[] = [];
  #doc: Document.Parsed | undefined;

  /** Holds `text`, named `file` in messages; parses nothing yet. */
  constructor(file: string, text: string) {
    this.file = file;
    this.text = text;
  }

  /** Whether a problem was found. */
  get hasProblems(): boolean {
    return this.#problems.length > 0;
  }

  /**
   * Parses the text; throws a {@link ConfigError} for a syntax error, an
   * empty file or a document that is not a mapping.
   */
  parse(): YAMLMap {
    const doc = parseDocument(this.text, {
      lineCounter: this.#lines,
      prettyErrors: false,
      uniqueKeys: false,
    });
    this.#doc = doc;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        this.add(error.pos[0], [], `YAML syntax error: ${error.message}`);
      }
      throw this.error();
    }
    const contents = doc.contents;
    if (contents === null) {
      this.add(
        0,
        [],
        'The file is empty; a bootstrap file needs at least an "actors" mapping',
      );
      throw this.error();
    }
    if (!isMap(contents)) {
      this.add(
        contents,
        [],
        `The document is ${
          describeNode(contents)
        }, not a mapping; a bootstrap file is a mapping with the keys ${
          quoteList(BOOTSTRAP_KEYS)
        }`,
      );
      throw this.error();
    }
    return contents;
  }

  /** Reports keys defined twice in the same mapping, anywhere below `node`. */
  findDuplicates(node: unknown, path: Path): void {
    if (isSeq(node)) {
      node.items.forEach((item, i) => this.findDuplicates(item, [...path, i]));
      return;
    }
    if (!isMap(node)) return;
    const seen = new Map<string, Node>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = keyText(keyNode);
      const first = seen.get(key);
      if (first !== undefined && keyNode !== null) {
        const line = this.position(first.range?.[0] ?? 0).line;
        const what = path.length === 1 && path[0] === "actors"
          ? `Duplicate actor name "${key}"`
          : `Duplicate key "${key}"`;
        this.add(
          keyNode,
          [...path, key],
          `${what}: it is already defined at line ${line}`,
        );
        continue;
      }
      if (keyNode !== null) seen.set(key, keyNode);
      this.findDuplicates(pair.value, [...path, key]);
    }
  }

  /** Adds a problem at `at` (a node or an offset in the text). */
  add(
    at: number | Node | null | undefined,
    path: Path,
    message: string,
  ): void {
    const offset = typeof at === "number" ? at : at?.range?.[0] ?? 0;
    const { line, column } = this.position(offset);
    this.#problems.push({ file: this.file, line, column, path, message });
  }

  /** The 1-based line and column of `offset`. */
  position(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  }

  /** One error holding every problem found, in file order. */
  error(): ConfigError {
    const sorted = this.#problems
      .map((problem, i) => ({ problem, i }))
      .sort((a, b) =>
        a.problem.line - b.problem.line ||
        a.problem.column - b.problem.column || a.i - b.i
      )
      .map(({ problem }) => problem);
    return new ConfigError(sorted);
  }

  /** The offset of `part` inside a scalar's source, or the scalar's start. */
  offsetOf(node: Node, part: string, after = 0): number {
    const range = node.range;
    if (range === undefined || range === null) return 0;
    const source = this.text.slice(range[0], range[1]);
    const index = source.indexOf(part, after);
    return index < 0 ? range[0] : range[0] + index;
  }

  /** The value of key `key` in `node` when `node` is a mapping. */
  child(node: Node | null | undefined, key: string): Node | undefined {
    if (!isMap(node)) return undefined;
    for (const pair of node.items) {
      if (keyText(pair.key as Node) === key) {
        return (pair.value ?? undefined) as Node | undefined;
      }
    }
    return undefined;
  }

  /** The deepest node along `path` below `node`. */
  nodeAt(
    node: Node | null | undefined,
    path: readonly (string | number)[],
  ): Node | undefined {
    let current: Node | null | undefined = node;
    for (const key of path) {
      let next: Node | null | undefined;
      if (isMap(current)) {
        const pair = current.items.find((item) =>
          keyText(item.key as Node) === String(key)
        );
        next = pair === undefined
          ? undefined
          : (pair.value ?? pair.key) as Node;
      } else if (isSeq(current) && typeof key === "number") {
        next = current.items[key] as Node | undefined;
      }
      if (next === undefined || next === null) break;
      current = next;
    }
    return current ?? node ?? undefined;
  }

  /** The key node of the last element of `path` below `node`, if any. */
  keyNode(
    node: Node | null | undefined,
    path: readonly (string | number)[],
  ): Node | undefined {
    if (path.length === 0) return node ?? undefined;
    const parent = this.nodeAt(node, path.slice(0, -1));
    const last = String(path[path.length - 1]);
    if (isMap(parent)) {
      const pair = parent.items.find((item) =>
        keyText(item.key as Node) === last
      );
      if (pair !== undefined) return pair.key as Node;
    }
    return parent ?? undefined;
  }

  /** The JavaScript value of a node; reports alias problems. */
  toJs(node: Node, path: Path): unknown {
    try {
      return node.toJS(this.#doc!, { maxAliasCount: 1000 });
    } catch (error) {
      this.add(node, path, `Cannot read this value: ${firstLine(error)}`);
      return undefined;
    }
  }
}

/**
 * The text of a mapping key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Scalar } from "yaml";
 * import { keyText } from "./yaml.ts";
 * assert.equal(keyText(new Scalar(42)), "42");
 * ```
 */
export function keyText(node: Node | null | undefined): string {
  if (node === null || node === undefined) return "";
  if (isScalar(node)) return String(node.value);
  return String(node);
}

/**
 * The first line of an error's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstLine } from "./yaml.ts";
 * assert.equal(firstLine(new Error("Not found\n  at x.ts:1")), "Not found");
 * ```
 */
export function firstLine(error: unknown): string {
  const text = errorMessage(error);
  return text.split("\n")[0] ?? text;
}

function describeNode(node: Node): string {
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return describeValue(node.value);
  return "not a mapping";
}
