/**
 * `${VAR}` and `${VAR:-default}` in the values of a bootstrap file: the
 * variables are read when the file is loaded, and a plain (unquoted) value
 * that becomes a number, `true`/`false` or `null` keeps that type.
 *
 * @module
 */

import { isMap, isScalar, isSeq, type Node, parse as parseYaml } from "yaml";
import { keyText, type Path, type YamlFile } from "./yaml.ts";

/** Reads one variable; `undefined` when it is not set. */
export type Lookup = (name: string) => string | undefined;

/** One reference that could not be substituted. */
export interface SubstitutionProblem {
  /** The reference as written, e.g. `"${NAME}"`. */
  reference: string;
  /** What is wrong, as a sentence. */
  message: string;
}

/** What {@link substituteText} made of a text. */
export interface Substitution {
  /** The text with every reference that could be substituted replaced. */
  text: string;
  /** Whether the text had a reference or an escaped `$${`. */
  changed: boolean;
  /** The references that could not be substituted. */
  problems: SubstitutionProblem[];
}

const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/**
 * Substitutes `${VAR}` and `${VAR:-default}` (the default also when `VAR` is
 * empty) in `text`; `$${` stands for a literal `${`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { substituteText } from "./env.ts";
 * const env = { HOST: "example.com" };
 * const { text } = substituteText("${HOST}:${PORT:-80} $${x}", (name) => env[name as "HOST"]);
 * assert.equal(text, "example.com:80 ${x}");
 * assert.equal(substituteText("${NOPE}", () => undefined).problems[0]!.reference, "${NOPE}");
 * ```
 */
export function substituteText(text: string, lookup: Lookup): Substitution {
  const problems: SubstitutionProblem[] = [];
  if (!text.includes("${")) return { text, changed: false, problems };
  let result = "";
  let changed = false;
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf("${", i);
    if (start < 0) {
      result += text.slice(i);
      break;
    }
    if (start > 0 && text[start - 1] === "$") {
      result += text.slice(i, start - 1) + "${";
      i = start + 2;
      changed = true;
      continue;
    }
    result += text.slice(i, start);
    const end = text.indexOf("}", start + 2);
    const reference = end < 0 ? text.slice(start) : text.slice(start, end + 1);
    const match = end < 0 ? null : VARIABLE.exec(text.slice(start + 2, end));
    if (match === null) {
      problems.push({
        reference,
        message:
          `Invalid variable reference "${reference}": write "\${NAME}" or "\${NAME:-default}" (and "$\${" for a literal "\${")`,
      });
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    const name = match[1]!;
    const fallback = match[2];
    const found = lookup(name);
    if (fallback !== undefined && (found === undefined || found === "")) {
      result += fallback;
    } else if (found !== undefined) {
      result += found;
    } else {
      problems.push({
        reference,
        message:
          `Environment variable "${name}" is not set; set it or give a default: "\${${name}:-value}"`,
      });
    }
    changed = true;
    i = end + 1;
  }
  return { text: result, changed, problems };
}

/**
 * Substitutes `${VAR}` in every string value below `node` (at `path`), in
 * place, and reports each reference that cannot be substituted at its
 * position. Returns the paths (joined with `.`) of the values left as they
 * were because of such a problem, so that they are not checked again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { substituteVariables } from "./env.ts";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "a: ${N}\nb: ${MISSING}\n");
 * const root = yaml.parse();
 * const lookup = (name: string) => name === "N" ? "3" : undefined;
 * assert.deepEqual(substituteVariables(yaml, root, [], lookup), ["b"]);
 * assert.deepEqual(root.toJSON(), { a: 3, b: "${MISSING}" });
 * assert.equal(
 *   yaml.error().message,
 *   'p.yaml:2:4: Environment variable "MISSING" is not set; set it or give a default: "${MISSING:-value}"',
 * );
 * ```
 */
export function substituteVariables(
  yaml: YamlFile,
  node: unknown,
  path: Path,
  lookup: Lookup,
): string[] {
  const unresolved: string[] = [];
  const walk = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        walk(pair.value, [...path, keyText(pair.key as Node)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === "string") {
      const { text, changed, problems } = substituteText(node.value, lookup);
      for (const problem of problems) {
        yaml.add(yaml.offsetOf(node, problem.reference), path, problem.message);
      }
      if (problems.length > 0) unresolved.push(path.join("."));
      else if (changed) {
        node.value = node.type === "PLAIN" ? typedScalar(text) : text;
      }
    }
  };
  walk(node, path);
  return unresolved;
}

/** A substituted plain scalar read as YAML: numbers, booleans, null stay typed. */
function typedScalar(text: string): unknown {
  if (text.trim() === "") return text;
  try {
    const value = parseYaml(text);
    if (
      typeof value === "number" || typeof value === "boolean" || value === null
    ) {
      return value;
    }
  } catch {
    // Not a YAML scalar: keep the text.
  }
  return text;
}
