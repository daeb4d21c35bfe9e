/**
 * The checks of a bootstrap file's structure against its schemas: the top
 * level, each actor entry (type or module, queue settings, retries) and each
 * actor's options against its type's schema. Every problem is added to the
 * {@link YamlFile} at the position of the value at fault.
 *
 * @module
 */

import type { Node, YAMLMap } from "yaml";
import type { z } from "zod";
import type { Actor, ActorSettings } from "../actor.ts";
import { didYouMean } from "../errors.ts";
import type { ActorSpec, Registry } from "../registry.ts";
import {
  ACTOR_ENTRY_KEYS,
  ActorEntrySchema,
  BOOTSTRAP_KEYS,
  BootstrapSchema,
  optionKeysAt,
  RESTART_KEYS,
  RETRY_KEYS,
} from "../schema.ts";
import { describeIssue, describeValue, suggest } from "./messages.ts";
import { keyText, type Path, type YamlFile } from "./yaml.ts";

/** One actor of the file as it is being checked. */
export interface Entry {
  /** Its name. */
  name: string;
  /** The node of its name. */
  keyNode: Node;
  /** The node of its value. */
  node: Node | null;
  /** Its spec, once known. */
  spec?: ActorSpec;
  /** Its `module:` as written. */
  module?: string;
  /** The actor made of it, once its options are valid. */
  actor?: Actor;
  /** Its options: raw, then parsed by the spec's schema. */
  options?: unknown;
  /** Its queue settings and retries. */
  settings: ActorSettings;
}

/**
 * Checks the top level of the file (`top` is its value) against the
 * bootstrap schema.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTop } from "./schema_check.ts";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "actors: {}\nlog: x\n");
 * const root = yaml.parse();
 * checkTop(yaml, root.toJSON(), root);
 * assert.equal(yaml.error().message, 'p.yaml:2:1: Unknown top-level key "log"; did you mean "logs"?');
 * ```
 */
export function checkTop(yaml: YamlFile, top: unknown, root: YAMLMap): void {
  const parsed = BootstrapSchema.safeParse(top);
  if (parsed.success) return;
  for (const issue of parsed.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        yaml.add(
          yaml.keyNode(root, [key]),
          [key],
          `Unknown top-level key "${key}"${suggest(key, BOOTSTRAP_KEYS)}`,
        );
      }
      continue;
    }
    const path = issue.path.map(pathKey);
    if (path[0] === "actors" && path.length === 1) {
      const value = (top as Record<string, unknown>).actors;
      yaml.add(
        value === undefined ? root : yaml.nodeAt(root, path),
        path,
        value === undefined
          ? 'The file has no "actors"; a bootstrap file needs at least one actor'
          : `"actors" must be a mapping of actor names to actors, not ${
            describeValue(value)
          }`,
      );
      continue;
    }
    reportIssue(yaml, issue, root, [], `"${path.join(".")}"`, top);
  }
}

/**
 * The actors of the `actors` mapping in file order, each once, with their
 * entries checked: `type` (known to `registry`) or `module`, queue settings
 * and retries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { YAMLMap } from "yaml";
 * import { BUILTIN_ACTORS } from "../../actors/mod.ts";
 * import { Registry } from "../registry.ts";
 * import { checkEntries } from "./schema_check.ts";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "actors:\n  a: { type: generator, capacity: 5 }\n");
 * const actors = yaml.child(yaml.parse(), "actors") as YAMLMap;
 * const [entry] = checkEntries(yaml, actors, new Registry(BUILTIN_ACTORS));
 * assert.deepEqual([entry!.spec!.type, entry!.settings.capacity], ["generator", 5]);
 * ```
 */
export function checkEntries(
  yaml: YamlFile,
  actorsNode: YAMLMap,
  registry: Registry,
): Entry[] {
  const entries: Entry[] = [];
  const seen = new Set<string>();
  if (actorsNode.items.length === 0) {
    yaml.add(
      actorsNode,
      ["actors"],
      'The "actors" mapping is empty; a pipeline needs at least one actor',
    );
  }
  for (const pair of actorsNode.items) {
    const keyNode = pair.key as Node | null;
    const name = keyText(keyNode);
    if (seen.has(name) || keyNode === null) continue;
    seen.add(name);
    const node = (pair.value ?? null) as Node | null;
    const entry: Entry = { name, keyNode, node, settings: {} };
    entries.push(entry);
    if (name === "" || /\s/.test(name)) {
      yaml.add(
        keyNode,
        ["actors", name],
        `Actor name "${name}" must be a non-empty word without spaces`,
      );
      continue;
    }
    checkEntry(yaml, entry, registry);
  }
  return entries;
}

function checkEntry(yaml: YamlFile, entry: Entry, registry: Registry): void {
  const { name, node } = entry;
  const path: Path = ["actors", name];
  const value = node === null ? null : yaml.toJs(node, path);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    yaml.add(
      node ?? entry.keyNode,
      path,
      `Actor "${name}" must be a mapping such as "{ type: generator }", not ${
        describeValue(value)
      }`,
    );
    return;
  }
  const record = value as Record<string, unknown>;
  const hasType = record.type !== undefined && record.type !== null;
  const hasModule = record.module !== undefined && record.module !== null;
  if (hasType && hasModule) {
    yaml.add(
      yaml.keyNode(node, ["module"]),
      [...path, "module"],
      `Actor "${name}" has both "type" and "module"; give one of them`,
    );
  } else if (!hasType && !hasModule) {
    yaml.add(
      entry.keyNode,
      path,
      `Actor "${name}" needs a "type" (or a "module"); the types are listed by "compysition actors"`,
    );
  }
  const parsed = ActorEntrySchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        const where = issue.path.map(pathKey);
        const known = where.length === 0
          ? ACTOR_ENTRY_KEYS
          : where[0] === "retry"
          ? RETRY_KEYS
          : where[0] === "restart"
          ? RESTART_KEYS
          : [];
        for (const key of issue.keys) {
          yaml.add(
            yaml.keyNode(node, [...where, key]),
            [...path, ...where, key],
            `Unknown key "${[...where, key].join(".")}" in actor "${name}"${
              suggest(key, known)
            }`,
          );
        }
        continue;
      }
      const subject = issue.path.length === 0
        ? `Actor "${name}"`
        : `"${issue.path.map(pathKey).join(".")}" of actor "${name}"`;
      reportIssue(yaml, issue, node, path, subject, value);
    }
    return;
  }
  if (hasType === hasModule) return;
  const data = parsed.data;
  if (data.capacity !== undefined) entry.settings.capacity = data.capacity;
  if (data.when_full !== undefined) entry.settings.whenFull = data.when_full;
  if (data.retry !== undefined) {
    entry.settings.retry = {
      max: data.retry.max,
      backoffMs: data.retry.backoff_ms,
    };
  }
  if (data.restart !== undefined) {
    entry.settings.restart = {
      max: data.restart.max,
      withinMs: data.restart.within * 1000,
      backoffMs: data.restart.backoff_ms,
    };
  }
  if (data.linger_ms !== undefined) entry.settings.lingerMs = data.linger_ms;
  if (data.threads !== undefined) entry.settings.threads = data.threads;
  entry.options = data.options ?? {};
  if (data.type !== undefined) {
    const spec = registry.get(data.type);
    if (spec === undefined) {
      yaml.add(
        yaml.nodeAt(node, ["type"]),
        [...path, "type"],
        `Unknown actor type "${data.type}" for actor "${name}"${
          didYouMean(data.type, registry.types()) ||
          `; the types are listed by "compysition actors"`
        }`,
      );
      return;
    }
    entry.spec = spec;
  } else {
    entry.module = data.module!;
  }
}

/**
 * Validates an entry's options with `spec`'s schema; returns the parsed
 * options, or `undefined` after reporting every problem. Values below a path
 * of `unresolved` (a `${VAR}` that could not be substituted, already
 * reported) are not reported again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Node } from "yaml";
 * import { generator as spec } from "../../actors/input/generator.ts";
 * import { checkOptions } from "./schema_check.ts";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "actors:\n  a: { options: { count: x } }\n");
 * const root = yaml.parse();
 * const entry = {
 *   name: "a",
 *   keyNode: yaml.keyNode(root, ["actors", "a"])!,
 *   node: yaml.nodeAt(root, ["actors", "a"]) as Node,
 *   options: { count: "x" },
 *   settings: {},
 * };
 * assert.equal(checkOptions(yaml, entry, spec, []), undefined);
 * assert.equal(
 *   yaml.error().message,
 *   'p.yaml:2:26: Option "count" of actor "a" must be a number, not the string "x"',
 * );
 * ```
 */
export function checkOptions(
  yaml: YamlFile,
  entry: Entry,
  spec: ActorSpec,
  unresolved: readonly string[],
): { data: unknown } | undefined {
  const { name, node } = entry;
  const optionsPath = ["actors", name, "options"];
  const optionsNode = yaml.child(node, "options");
  const raw = entry.options ?? {};
  const parsed = spec.options.safeParse(raw);
  if (parsed.success) return { data: parsed.data };
  // Options schemas are zod schemas (see OptionsSchema), so the issues
  // carry zod's details; describeIssue falls back to the message.
  const issues = parsed.error.issues as readonly z.core.$ZodIssue[];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.map(pathKey);
      const known = optionKeysAt(spec, where);
      for (const key of issue.keys) {
        const option = [...where, key].join(".");
        yaml.add(
          yaml.keyNode(optionsNode ?? node, [...where, key]),
          [...optionsPath, ...where, key],
          `Unknown option "${option}" for actor "${name}" (type "${spec.type}")${
            known.length === 0
              ? where.length === 0 ? "; it takes no options" : ""
              : suggest(key, known, "the options")
          }`,
        );
      }
      continue;
    }
    const path = issue.path.map(pathKey);
    if (isUnresolved(unresolved, [...optionsPath, ...path])) continue;
    const subject = path.length === 0
      ? `The options of actor "${name}"`
      : `Option "${path.join(".")}" of actor "${name}"`;
    reportIssue(
      yaml,
      issue,
      optionsNode ?? entry.keyNode,
      optionsPath,
      subject,
      raw,
      optionsNode === undefined ? entry.keyNode : undefined,
    );
  }
  return undefined;
}

/**
 * Reports one zod issue of `input`, the value of node `base` at `basePath`,
 * at the position of the value at fault (or of its key when it is missing,
 * or at `missingAt` when `base` is missing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { reportIssue } from "./schema_check.ts";
 * import { YamlFile } from "./yaml.ts";
 * const yaml = new YamlFile("p.yaml", "a: { n: x }\n");
 * const root = yaml.parse();
 * const input = root.toJSON();
 * const issue = z.object({ a: z.object({ n: z.number() }) }).safeParse(input).error!.issues[0]!;
 * reportIssue(yaml, issue, root, [], '"a.n"', input);
 * assert.equal(yaml.error().message, 'p.yaml:1:9: "a.n" must be a number, not the string "x"');
 * ```
 */
export function reportIssue(
  yaml: YamlFile,
  issue: z.core.$ZodIssue,
  base: Node | null | undefined,
  basePath: Path,
  subject: string,
  input: unknown,
  missingAt?: Node,
): void {
  const path = issue.path.map(pathKey);
  const value = valueAt(input, path);
  const node = base === undefined || base === null
    ? missingAt
    : path.length === 0
    ? base
    : value === undefined
    ? yaml.keyNode(base, path.slice(0, -1)) ?? yaml.nodeAt(base, path)
    : yaml.nodeAt(base, path);
  yaml.add(
    node ?? missingAt ?? 0,
    [...basePath, ...path],
    describeIssue(issue, subject, value),
  );
}

/**
 * A zod path element as a key path element.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathKey } from "./schema_check.ts";
 * assert.equal(pathKey(0), 0);
 * assert.equal(pathKey("port"), "port");
 * ```
 */
export function pathKey(key: PropertyKey): string | number {
  return typeof key === "number" ? key : String(key);
}

function valueAt(input: unknown, path: readonly (string | number)[]): unknown {
  let current = input;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/**
 * Whether the value at `path` holds a `${VAR}` that could not be
 * substituted: that error is reported, so its value is not checked again.
 */
function isUnresolved(unresolved: readonly string[], path: Path): boolean {
  const key = path.join(".");
  return unresolved.some((prefix) =>
    key === prefix || key.startsWith(`${prefix}.`)
  );
}
