/**
 * The errors Compysition throws for bad graphs and bad bootstrap files.
 *
 * @module
 */

/**
 * One problem in a pipeline's graph. `connection` is the index of the
 * `connect()` call (or routing line) it belongs to, when it belongs to one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GraphError, type GraphProblem } from "./errors.ts";
 * const problem: GraphProblem = {
 *   message: 'Cannot connect "a.outbox": actor "a" is not registered',
 *   connection: 0,
 * };
 * assert.equal(new GraphError([problem]).problems.length, 1);
 * ```
 */
export interface GraphProblem {
  /** What is wrong, in one sentence. */
  message: string;
  /** Index of the connection in the order it was made, if any. */
  connection?: number;
}

/**
 * Every problem of a pipeline's graph at once: unknown actors or queues,
 * queues connected twice, cycles that could never drain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GraphError } from "./errors.ts";
 * const error = new GraphError([
 *   { message: 'Cannot connect "a.outbox": actor "a" is not registered' },
 * ]);
 * assert.equal(error.message.includes('actor "a"'), true);
 * ```
 */
export class GraphError extends Error {
  /** Each problem found. */
  readonly problems: readonly GraphProblem[];

  /** Makes an error whose message lists every problem on its own line. */
  constructor(problems: readonly GraphProblem[]) {
    const count = problems.length === 1
      ? "1 problem"
      : `${problems.length} problems`;
    super(
      `The pipeline graph has ${count}:\n` +
        problems.map((problem) => `  - ${problem.message}`).join("\n"),
    );
    this.name = "GraphError";
    this.problems = problems;
  }
}

/**
 * Where a {@link ConfigError} was found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, type ConfigProblem } from "./errors.ts";
 * const problem: ConfigProblem = {
 *   file: "p.yaml",
 *   line: 2,
 *   column: 9,
 *   path: ["actors", "a", "type"],
 *   message: 'Unknown actor type "genrator"',
 * };
 * assert.equal(new ConfigError([problem]).message, 'p.yaml:2:9: Unknown actor type "genrator"');
 * ```
 */
export interface ConfigProblem {
  /** The bootstrap file's path, or a name such as `<text>`. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The path of keys to the value at fault, e.g. `["actors", "a", "type"]`. */
  path: readonly (string | number)[];
  /** What is wrong, in one sentence. */
  message: string;
}

/**
 * Every problem of a bootstrap file at once, each as `FILE:LINE:COL: message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError } from "./errors.ts";
 * const error = new ConfigError([{
 *   file: "p.yaml",
 *   line: 3,
 *   column: 11,
 *   path: ["actors", "a", "type"],
 *   message: 'Unknown actor type "genrator"; did you mean "generator"?',
 * }]);
 * assert.equal(error.message, 'p.yaml:3:11: Unknown actor type "genrator"; did you mean "generator"?');
 * ```
 */
export class ConfigError extends Error {
  /** Each problem found, in file order. */
  readonly problems: readonly ConfigProblem[];

  /** Makes an error whose message has one line per problem. */
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatConfigProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }

  /** The file of the first problem. */
  get file(): string {
    return this.problems[0]?.file ?? "";
  }

  /** The line of the first problem. */
  get line(): number {
    return this.problems[0]?.line ?? 0;
  }

  /** The column of the first problem. */
  get column(): number {
    return this.problems[0]?.column ?? 0;
  }

  /** The key path of the first problem. */
  get path(): readonly (string | number)[] {
    return this.problems[0]?.path ?? [];
  }
}

/**
 * One problem as `FILE:LINE:COL: message`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatConfigProblem } from "./errors.ts";
 * const problem = { file: "a.yaml", line: 1, column: 2, path: [], message: "Bad" };
 * assert.equal(formatConfigProblem(problem), "a.yaml:1:2: Bad");
 * ```
 */
export function formatConfigProblem(problem: ConfigProblem): string {
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`;
}

/**
 * The closest of `candidates` to `name` by edit distance, when it is close
 * enough to be a likely misspelling.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closest } from "./errors.ts";
 * assert.equal(closest("genrator", ["generator", "stdout"]), "generator");
 * assert.equal(closest("xyz", ["generator"]), undefined);
 * ```
 */
export function closest(
  name: string,
  candidates: Iterable<string>,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(name.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/**
 * `'; did you mean "x"?'` for the closest candidate, or `""`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { didYouMean } from "./errors.ts";
 * assert.equal(didYouMean("inbx", ["inbox", "outbox"]), '; did you mean "inbox"?');
 * ```
 */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const match = closest(name, candidates);
  return match === undefined ? "" : `; did you mean "${match}"?`;
}

/**
 * The names quoted and separated by commas, as problem messages list them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteList } from "./errors.ts";
 * assert.equal(quoteList(["inbox", "outbox"]), '"inbox", "outbox"');
 * ```
 */
export function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(", ");
}

/**
 * Edits (insert, delete, replace, swap two neighbours) that turn `a` into
 * `b`: "inptu" is one edit from "input".
 */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row[j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        rows[i - 1]![j]! + 1,
        row[j - 1]! + 1,
        rows[i - 1]![j - 1]! + cost,
      );
      if (
        i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]
      ) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
