/**
 * Bootstrap files: load a YAML pipeline description, check all of it, and
 * build a router ready to start.
 *
 * Every problem of a file is reported at once, as one {@link ConfigError}
 * whose message has one `FILE:LINE:COL: message` line per problem, with a
 * did-you-mean for misspelt names. Nothing is started by loading.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parse as parseYaml,
  parseDocument,
  type Scalar,
  type YAMLMap,
} from "yaml";
import type { z } from "zod";
import { BUILTIN_ACTORS } from "../actors/mod.ts";
import { Actor, type ActorSettings, describe, errorMessage } from "./actor.ts";
import {
  ConfigError,
  type ConfigProblem,
  didYouMean,
  GraphError,
  quoteList,
} from "./errors.ts";
import {
  type ActorSpec,
  isActorSpec,
  missingSpecMembers,
  Registry,
} from "./registry.ts";
import {
  type ConnectionOptions,
  Router,
  type RouterOptions,
  splitAddress,
} from "./router.ts";
import {
  ACTOR_ENTRY_KEYS,
  ActorEntrySchema,
  BOOTSTRAP_KEYS,
  BootstrapSchema,
  CONNECTION_KEYS,
  ConnectionObjectSchema,
  optionKeysAt,
  RETRY_KEYS,
} from "./schema.ts";

/**
 * Where a bootstrap file comes from: a path (relative to the working
 * directory), a URL (`file:`, `http:`, `https:`), or its text with the name to
 * show in messages (and to resolve `module:` paths against).
 *
 * @example
 * ```ts
 * import { type BootstrapSource, loadPipeline } from "./config.ts";
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
 * await router.stop();
 * ```
 */
export type BootstrapSource = string | URL | { text: string; file?: string };

/**
 * How {@link loadPipeline} works.
 *
 * @example
 * ```ts
 * import { loadPipeline, type LoadOptions } from "./config.ts";
 * const options: LoadOptions = {
 *   env: { COUNT: "2" },
 *   routerOptions: { logLevel: "warning" },
 * };
 * const text = [
 *   "actors:",
 *   "  input:",
 *   "    type: generator",
 *   "    options:",
 *   "      count: ${COUNT}",
 * ].join("\n");
 * const { config, router } = await loadPipeline({ text }, options);
 * config.actors[0]!.options; // { interval: 1, count: 2, data: "hello {{seq}}" }
 * await router.stop();
 * ```
 */
export interface LoadOptions {
  /** The actor types `type:` may name (default: the built-in actors). */
  registry?: Registry;
  /** The variables `${VAR}` reads (default: the process environment). */
  env?: Record<string, string | undefined>;
  /** Settings of the router made. */
  routerOptions?: RouterOptions;
}

/**
 * One actor of a loaded bootstrap file.
 *
 * @example
 * ```ts
 * import { type ActorConfig, loadPipeline } from "./config.ts";
 * const { config, router } = await loadPipeline({
 *   text: "actors:\n  sink: { type: \"null\", capacity: 10 }\n",
 * });
 * const sink: ActorConfig = config.actors[0]!;
 * sink.settings.capacity; // 10
 * await router.stop();
 * ```
 */
export interface ActorConfig {
  /** Its name. */
  name: string;
  /** Its spec's type name. */
  type: string;
  /** The `module:` it came from, as written, if any. */
  module?: string;
  /** Its spec. */
  spec: ActorSpec;
  /** Its options, parsed (defaults filled in). */
  options: unknown;
  /** Its queue settings and retries. */
  settings: ActorSettings;
  /** 1-based line of its name. */
  line: number;
  /** 1-based column of its name. */
  column: number;
}

/**
 * One connection of a loaded bootstrap file.
 *
 * @example
 * ```ts
 * import { type ConnectionConfig, loadPipeline } from "./config.ts";
 * const source = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const { config, router } = await loadPipeline(source);
 * const connection: ConnectionConfig = config.connections[0]!;
 * connection.to; // "sink.inbox"
 * connection.line; // 6
 * await router.stop();
 * ```
 */
export interface ConnectionConfig {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Queue settings of the connection. */
  options: ConnectionOptions;
  /** 1-based line of the connection. */
  line: number;
  /** 1-based column of the connection. */
  column: number;
}

/**
 * A loaded bootstrap file.
 *
 * @example
 * ```ts
 * import { loadPipeline, type PipelineConfig } from "./config.ts";
 * const source = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const { config, router } = await loadPipeline(source);
 * const pipeline: PipelineConfig = config;
 * pipeline.actors.map((actor) => actor.type); // ["generator", "null"]
 * await router.stop();
 * ```
 */
export interface PipelineConfig {
  /** The file name used in messages. */
  file: string;
  /** The actors in file order. */
  actors: ActorConfig[];
  /** The connections in file order. */
  connections: ConnectionConfig[];
  /** The actor receiving log events, or `null`. */
  logs: string | null;
  /** The actor receiving metric events, or `null`. */
  metrics: string | null;
}

/**
 * What {@link loadPipeline} returns: a router ready to start.
 *
 * @example
 * ```ts
 * import { type LoadedPipeline, loadPipeline } from "./config.ts";
 * const source = {
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * };
 * const loaded: LoadedPipeline = await loadPipeline(source);
 * await loaded.router.start();
 * await loaded.router.finished;
 * (await loaded.router.stop()).delivered; // 3
 * ```
 */
export interface LoadedPipeline {
  /** The router with every actor registered and connected; not started. */
  router: Router;
  /** The file's content, checked. */
  config: PipelineConfig;
}

/**
 * Loads a bootstrap file and builds its pipeline: parses the YAML, checks the
 * structure, substitutes `${VAR}` and `${VAR:-default}` in the actors'
 * values, loads `module:` actors, validates every actor's options with its
 * schema, makes the actors, connects them and checks the graph. Throws one
 * {@link ConfigError} listing every problem; then nothing was started.
 *
 * @example
 * ```ts
 * import { loadPipeline } from "./config.ts";
 *
 * const { router } = await loadPipeline({
 *   file: "inline.yaml",
 *   text: `
 * actors:
 *   input: { type: generator, options: { interval: 0, count: 3 } }
 *   sink: { type: "null" }
 * connections:
 *   - input.outbox -> sink.inbox
 * `,
 * });
 * await router.start();
 * await router.finished;
 * (await router.stop()).delivered; // 3
 * ```
 */
export async function loadPipeline(
  source: BootstrapSource,
  options: LoadOptions = {},
): Promise<LoadedPipeline> {
  const registry = options.registry ?? new Registry(BUILTIN_ACTORS);
  const vars = options.env;
  const env = vars === undefined
    ? (name: string) => Deno.env.get(name)
    : (name: string) => vars[name];
  const { file, text, base } = await readSource(source);
  const loader = new Loader(file, text, base, registry, env);
  return await loader.load(options.routerOptions ?? {});
}

type Path = (string | number)[];

interface Entry {
  name: string;
  keyNode: Node;
  node: Node | null;
  spec?: ActorSpec;
  module?: string;
  actor?: Actor;
  options?: unknown;
  settings: ActorSettings;
}

interface Route {
  index: number;
  node: Node;
  from: string;
  to: string;
  options: ConnectionOptions;
}

const ARROW = "->";
const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

class Loader {
  #file: string;
  #text: string;
  #base: URL;
  #registry: Registry;
  #env: (name: string) => string | undefined;
  #lines = new LineCounter();
  #problems: ConfigProblem[] = [];
  /** Paths of values whose `${VAR}` could not be substituted. */
  #unresolved: string[] = [];
  #doc!: Document.Parsed;

  constructor(
    file: string,
    text: string,
    base: URL,
    registry: Registry,
    env: (name: string) => string | undefined,
  ) {
    this.#file = file;
    this.#text = text;
    this.#base = base;
    this.#registry = registry;
    this.#env = env;
  }

  async load(routerOptions: RouterOptions): Promise<LoadedPipeline> {
    const root = this.#parse();
    this.#findDuplicates(root, []);
    const actorsNode = this.#child(root, "actors");
    if (isMap(actorsNode)) this.#substitute(actorsNode, ["actors"]);
    const top = this.#toJs(root, []);
    if (top === undefined) throw this.#error();
    this.#checkTop(top, root);
    const entries = isMap(actorsNode) ? this.#entries(actorsNode) : [];
    for (const entry of entries) await this.#resolve(entry);
    const router = new Router(routerOptions);
    try {
      const config = this.#build(router, root, entries);
      if (this.#problems.length > 0) throw this.#error();
      return { router, config };
    } catch (error) {
      await router.stop();
      throw error;
    }
  }

  // --- parsing -------------------------------------------------------------

  #parse(): YAMLMap {
    const doc = parseDocument(this.#text, {
      lineCounter: this.#lines,
      prettyErrors: false,
      uniqueKeys: false,
    });
    this.#doc = doc;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        this.#add(error.pos[0], [], `YAML syntax error: ${error.message}`);
      }
      throw this.#error();
    }
    const contents = doc.contents;
    if (contents === null) {
      this.#add(
        0,
        [],
        'The file is empty; a bootstrap file needs at least an "actors" mapping',
      );
      throw this.#error();
    }
    if (!isMap(contents)) {
      this.#add(
        contents,
        [],
        `The document is ${
          describeNode(contents)
        }, not a mapping; a bootstrap file is a mapping with the keys ${
          quoteList(BOOTSTRAP_KEYS)
        }`,
      );
      throw this.#error();
    }
    return contents;
  }

  /** Reports keys defined twice in the same mapping, anywhere. */
  #findDuplicates(node: unknown, path: Path): void {
    if (isSeq(node)) {
      node.items.forEach((item, i) => this.#findDuplicates(item, [...path, i]));
      return;
    }
    if (!isMap(node)) return;
    const seen = new Map<string, Node>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = keyText(keyNode);
      const first = seen.get(key);
      if (first !== undefined && keyNode !== null) {
        const line = this.#position(first.range?.[0] ?? 0).line;
        const what = path.length === 1 && path[0] === "actors"
          ? `Duplicate actor name "${key}"`
          : `Duplicate key "${key}"`;
        this.#add(
          keyNode,
          [...path, key],
          `${what}: it is already defined at line ${line}`,
        );
        continue;
      }
      if (keyNode !== null) seen.set(key, keyNode);
      this.#findDuplicates(pair.value, [...path, key]);
    }
  }

  // --- ${VAR} substitution ---------------------------------------------------

  /** Substitutes `${VAR}` in every value below `node`. */
  #substitute(node: unknown, path: Path): void {
    if (isMap(node)) {
      for (const pair of node.items) {
        this.#substitute(pair.value, [...path, keyText(pair.key as Node)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => this.#substitute(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === "string") {
      this.#substituteScalar(node, path);
    }
  }

  #substituteScalar(node: Scalar, path: Path): void {
    const value = node.value as string;
    if (!value.includes("${")) return;
    let result = "";
    let changed = false;
    let failed = false;
    let i = 0;
    while (i < value.length) {
      const start = value.indexOf("${", i);
      if (start < 0) {
        result += value.slice(i);
        break;
      }
      if (start > 0 && value[start - 1] === "$") {
        result += value.slice(i, start - 1) + "${";
        i = start + 2;
        changed = true;
        continue;
      }
      result += value.slice(i, start);
      const end = value.indexOf("}", start + 2);
      const reference = end < 0
        ? value.slice(start)
        : value.slice(start, end + 1);
      const match = end < 0 ? null : VARIABLE.exec(value.slice(start + 2, end));
      if (match === null) {
        this.#add(
          this.#offsetOf(node, reference),
          path,
          `Invalid variable reference "${reference}": write "\${NAME}" or "\${NAME:-default}" (and "$\${" for a literal "\${")`,
        );
        failed = true;
        i = end < 0 ? value.length : end + 1;
        continue;
      }
      const name = match[1]!;
      const fallback = match[2];
      const found = this.#env(name);
      if (fallback !== undefined && (found === undefined || found === "")) {
        result += fallback;
      } else if (found !== undefined) {
        result += found;
      } else {
        this.#add(
          this.#offsetOf(node, reference),
          path,
          `Environment variable "${name}" is not set; set it or give a default: "\${${name}:-value}"`,
        );
        failed = true;
      }
      changed = true;
      i = end + 1;
    }
    if (failed) this.#unresolved.push(path.join("."));
    if (failed || !changed) return;
    node.value = node.type === "PLAIN" ? typedScalar(result) : result;
  }

  // --- structure -----------------------------------------------------------

  #checkTop(top: unknown, root: YAMLMap): void {
    const parsed = BootstrapSchema.safeParse(top);
    if (parsed.success) return;
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          this.#add(
            this.#keyNode(root, [key]),
            [key],
            `Unknown top-level key "${key}"${suggest(key, BOOTSTRAP_KEYS)}`,
          );
        }
        continue;
      }
      const path = issue.path.map(pathKey);
      if (path[0] === "actors" && path.length === 1) {
        const value = (top as Record<string, unknown>).actors;
        this.#add(
          value === undefined ? root : this.#nodeAt(root, path),
          path,
          value === undefined
            ? 'The file has no "actors"; a bootstrap file needs at least one actor'
            : `"actors" must be a mapping of actor names to actors, not ${
              describeValue(value)
            }`,
        );
        continue;
      }
      this.#addIssue(issue, root, [], `"${path.join(".")}"`, top);
    }
  }

  /** The actors in file order, each once, with their checked settings. */
  #entries(actorsNode: YAMLMap): Entry[] {
    const entries: Entry[] = [];
    const seen = new Set<string>();
    if (actorsNode.items.length === 0) {
      this.#add(
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
        this.#add(
          keyNode,
          ["actors", name],
          `Actor name "${name}" must be a non-empty word without spaces`,
        );
        continue;
      }
      this.#checkEntry(entry);
    }
    return entries;
  }

  #checkEntry(entry: Entry): void {
    const { name, node } = entry;
    const path: Path = ["actors", name];
    const value = node === null ? null : this.#toJs(node, path);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.#add(
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
      this.#add(
        this.#keyNode(node, ["module"]),
        [...path, "module"],
        `Actor "${name}" has both "type" and "module"; give one of them`,
      );
    } else if (!hasType && !hasModule) {
      this.#add(
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
            : [];
          for (const key of issue.keys) {
            this.#add(
              this.#keyNode(node, [...where, key]),
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
        this.#addIssue(issue, node, path, subject, value);
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
    entry.options = data.options ?? {};
    if (data.type !== undefined) {
      const spec = this.#registry.get(data.type);
      if (spec === undefined) {
        this.#add(
          this.#nodeAt(node, ["type"]),
          [...path, "type"],
          `Unknown actor type "${data.type}" for actor "${name}"${
            didYouMean(data.type, this.#registry.types()) ||
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

  /** Loads the module of a `module:` actor, then makes the actor. */
  async #resolve(entry: Entry): Promise<void> {
    if (entry.module !== undefined) {
      const spec = await this.#importSpec(entry);
      if (spec !== undefined) entry.spec = spec;
    }
    if (entry.spec !== undefined) this.#create(entry, entry.spec);
  }

  async #importSpec(entry: Entry): Promise<ActorSpec | undefined> {
    const specifier = entry.module!;
    const path = ["actors", entry.name, "module"];
    const at = this.#nodeAt(entry.node, ["module"]);
    let url: string;
    try {
      url = /^[a-z][a-z0-9+.-]+:/i.test(specifier)
        ? new URL(specifier).href
        : new URL(specifier, this.#base).href;
    } catch {
      this.#add(at, path, `Module "${specifier}" is not a valid path or URL`);
      return undefined;
    }
    let module: Record<string, unknown>;
    try {
      module = await import(url);
    } catch (error) {
      this.#add(
        at,
        path,
        `Cannot load module "${specifier}" for actor "${entry.name}": ${
          firstLine(error)
        }`,
      );
      return undefined;
    }
    for (const exported of ["default", "spec"]) {
      if (isActorSpec(module[exported])) return module[exported];
    }
    const reasons = ["default", "spec"].flatMap((exported) =>
      exported in module
        ? [`"${exported}" ${whyNotSpec(module[exported])}`]
        : []
    );
    this.#add(
      at,
      path,
      `Module "${specifier}" for actor "${entry.name}" does not export an actor spec as "default" or "spec"${
        reasons.length > 0 ? ` (${reasons.join("; ")})` : ""
      }`,
    );
    return undefined;
  }

  /** Validates the options with the spec's schema and makes the actor. */
  #create(entry: Entry, spec: ActorSpec): void {
    const { name, node } = entry;
    const optionsPath = ["actors", name, "options"];
    const optionsNode = this.#child(node, "options");
    const raw = entry.options ?? {};
    const parsed = spec.options.safeParse(raw);
    if (!parsed.success) {
      // Options schemas are zod schemas (see OptionsSchema), so the issues
      // carry zod's details; describeIssue falls back to the message.
      const issues = parsed.error.issues as readonly z.core.$ZodIssue[];
      for (const issue of issues) {
        if (issue.code === "unrecognized_keys") {
          const where = issue.path.map(pathKey);
          const known = optionKeysAt(spec, where);
          for (const key of issue.keys) {
            const option = [...where, key].join(".");
            this.#add(
              this.#keyNode(optionsNode ?? node, [...where, key]),
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
        if (this.#isUnresolved([...optionsPath, ...path])) continue;
        const subject = path.length === 0
          ? `The options of actor "${name}"`
          : `Option "${path.join(".")}" of actor "${name}"`;
        this.#addIssue(
          issue,
          optionsNode ?? entry.keyNode,
          optionsPath,
          subject,
          raw,
          optionsNode === undefined ? entry.keyNode : undefined,
        );
      }
      return;
    }
    entry.options = parsed.data;
    try {
      const actor = spec.create(name, parsed.data, entry.settings);
      if (!(actor instanceof Actor)) {
        this.#add(
          entry.keyNode,
          ["actors", name],
          `Actor type "${spec.type}" made something that is not an Actor for actor "${name}"; a module must import "Actor" from the same copy of Compysition`,
        );
        return;
      }
      entry.actor = actor;
    } catch (error) {
      this.#add(
        entry.keyNode,
        ["actors", name],
        `Cannot make actor "${name}" (type "${spec.type}"): ${describe(error)}`,
      );
    }
  }

  // --- the graph -------------------------------------------------------------

  #build(router: Router, root: YAMLMap, entries: Entry[]): PipelineConfig {
    const declared = new Map(entries.map((entry) => [entry.name, entry]));
    for (const entry of entries) {
      if (entry.actor !== undefined) router.register(entry.actor);
    }
    const side = {
      logs: null as string | null,
      metrics: null as string | null,
    };
    for (const key of ["logs", "metrics"] as const) {
      const node = this.#child(root, key);
      if (!isScalar(node) || typeof node.value !== "string") continue;
      const name = node.value;
      const entry = declared.get(name);
      if (entry === undefined) {
        this.#add(
          node,
          [key],
          `Unknown actor "${name}" in "${key}"${
            didYouMean(name, declared.keys())
          }`,
        );
        continue;
      }
      side[key] = name;
      if (entry.actor === undefined) continue;
      if (key === "logs") router.registerLogActor(entry.actor);
      else router.registerMetricActor(entry.actor);
    }
    const routes = this.#routes(root, declared);
    for (const route of routes) {
      router.connect(route.from, route.to, route.options);
    }
    try {
      router.check();
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
      const connectionsNode = this.#child(root, "connections");
      for (const problem of error.problems) {
        const route = problem.connection === undefined
          ? undefined
          : routes[problem.connection];
        this.#add(
          route?.node ?? this.#keyNode(root, ["connections"]) ??
            connectionsNode ?? root,
          route === undefined ? ["connections"] : ["connections", route.index],
          problem.message,
        );
      }
    }
    return {
      file: this.#file,
      actors: entries.flatMap((entry) => {
        if (entry.spec === undefined) return [];
        const position = this.#position(entry.keyNode.range?.[0] ?? 0);
        const config: ActorConfig = {
          name: entry.name,
          type: entry.spec.type,
          spec: entry.spec,
          options: entry.options,
          settings: entry.settings,
          line: position.line,
          column: position.column,
        };
        if (entry.module !== undefined) config.module = entry.module;
        return [config];
      }),
      connections: routes.map((route) => {
        const position = this.#position(route.node.range?.[0] ?? 0);
        return {
          from: route.from,
          to: route.to,
          options: route.options,
          line: position.line,
          column: position.column,
        };
      }),
      logs: side.logs,
      metrics: side.metrics,
    };
  }

  /** The connections whose actors and queues exist, in file order. */
  #routes(root: YAMLMap, declared: Map<string, Entry>): Route[] {
    const node = this.#child(root, "connections");
    if (!isSeq(node)) return [];
    const routes: Route[] = [];
    node.items.forEach((item, index) => {
      const itemNode = item as Node;
      const path = ["connections", index];
      const value = this.#toJs(itemNode, path);
      if (value === undefined) return;
      let from: string;
      let to: string;
      let fromAt: number | Node;
      let toAt: number | Node;
      let line = "";
      const options: ConnectionOptions = {};
      if (typeof value === "string") {
        const parsed = this.#parseRoute(itemNode as Scalar, value, path);
        if (parsed === undefined) return;
        ({ from, to, fromAt, toAt } = parsed);
        line = ` in routing line "${value.trim()}"`;
      } else if (
        typeof value === "object" && value !== null && !Array.isArray(value)
      ) {
        const parsed = ConnectionObjectSchema.safeParse(value);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            if (issue.code === "unrecognized_keys") {
              for (const key of issue.keys) {
                this.#add(
                  this.#keyNode(itemNode, [key]),
                  [...path, key],
                  `Unknown key "${key}" in connection ${index + 1}${
                    suggest(key, CONNECTION_KEYS)
                  }`,
                );
              }
              continue;
            }
            const subject = issue.path.length === 0
              ? `Connection ${index + 1}`
              : `"${issue.path.map(pathKey).join(".")}" of connection ${
                index + 1
              }`;
            this.#addIssue(issue, itemNode, path, subject, value, itemNode);
          }
          return;
        }
        ({ from, to } = parsed.data);
        line = ` in connection ${index + 1}`;
        fromAt = this.#nodeAt(itemNode, ["from"]) ?? itemNode;
        toAt = this.#nodeAt(itemNode, ["to"]) ?? itemNode;
        if (parsed.data.capacity !== undefined) {
          options.capacity = parsed.data.capacity;
        }
        if (parsed.data.when_full !== undefined) {
          options.whenFull = parsed.data.when_full;
        }
        const fromOk = this.#checkAddress(
          from,
          fromAt,
          [...path, "from"],
          "outbox",
        );
        const toOk = this.#checkAddress(to, toAt, [...path, "to"], "inbox");
        if (!fromOk || !toOk) return;
      } else {
        this.#add(
          itemNode,
          path,
          `Connection ${
            index + 1
          } must be a routing line "a.outbox -> b.inbox" or a mapping with "from" and "to", not ${
            describeValue(value)
          }`,
        );
        return;
      }
      const source = this.#checkEndpoint(
        from,
        fromAt,
        "outbound",
        declared,
        line,
        path,
      );
      const target = this.#checkEndpoint(
        to,
        toAt,
        "inbound",
        declared,
        line,
        path,
      );
      if (source && target) {
        routes.push({ index, node: itemNode, from, to, options });
      }
    });
    return routes;
  }

  /** Splits a routing line; reports what is wrong with it. */
  #parseRoute(
    node: Scalar,
    value: string,
    path: Path,
  ): { from: string; to: string; fromAt: number; toAt: number } | undefined {
    const line = value.trim();
    const arrows = line.split(ARROW).length - 1;
    if (arrows === 0) {
      const words = line.split(/\s+/).filter((word) => word !== "");
      const hint = words.length === 2
        ? `"${words[0]} -> ${words[1]}"`
        : '"a.outbox -> b.inbox"';
      this.#add(
        node,
        path,
        `Routing line "${line}" has no arrow "->"; write ${hint}`,
      );
      return undefined;
    }
    if (arrows > 1) {
      this.#add(
        node,
        path,
        `Routing line "${line}" has more than one arrow; write one connection per line`,
      );
      return undefined;
    }
    const [left, right] = line.split(ARROW).map((side) => side.trim()) as [
      string,
      string,
    ];
    const arrowAt = this.#offsetOf(node, ARROW);
    const fromAt = left === "" ? arrowAt : this.#offsetOf(node, left);
    const toAt = right === ""
      ? arrowAt
      : this.#offsetOf(node, right, arrowAt - (node.range?.[0] ?? 0));
    let ok = true;
    for (
      const [side, text, at, example] of [
        ["sending", left, fromAt, "outbox"],
        ["receiving", right, toAt, "inbox"],
      ] as const
    ) {
      if (text === "") {
        this.#add(
          at,
          path,
          `Routing line "${line}" has no ${side} queue ${
            side === "sending" ? "before" : "after"
          } the arrow; write "a.outbox -> b.inbox"`,
        );
        ok = false;
      } else if (/\s/.test(text)) {
        this.#add(
          at,
          path,
          `Routing line "${line}": "${text}" is not one "actor.queue"; write one connection per line as "a.outbox -> b.inbox"`,
        );
        ok = false;
      } else if (
        !this.#checkAddress(text, at, path, example, `routing line "${line}"`)
      ) {
        ok = false;
      }
    }
    return ok ? { from: left, to: right, fromAt, toAt } : undefined;
  }

  /**
   * Checks `actor.queue` has both parts; reports what is missing, with
   * `queue` as the example queue name.
   */
  #checkAddress(
    address: string,
    at: number | Node,
    path: Path,
    queue: "outbox" | "inbox",
    where?: string,
  ): boolean {
    const dot = address.lastIndexOf(".");
    const context = where === undefined ? "" : ` in ${where}`;
    if (dot <= 0) {
      this.#add(
        at,
        path,
        `"${address}"${context} has no queue; write "actor.queue", e.g. "${
          dot === 0 ? "actor" : address
        }.${queue}"`,
      );
      return false;
    }
    if (dot === address.length - 1) {
      this.#add(
        at,
        path,
        `"${address}"${context} has an empty queue name after the dot`,
      );
      return false;
    }
    return true;
  }

  /** Checks the actor and queue of one side of a connection exist. */
  #checkEndpoint(
    address: string,
    at: number | Node,
    direction: "inbound" | "outbound",
    declared: Map<string, Entry>,
    where: string,
    path: Path,
  ): boolean {
    const [name, queue] = splitAddress(address);
    const entry = declared.get(name);
    if (entry === undefined) {
      this.#add(
        at,
        path,
        `Unknown actor "${name}"${where}${didYouMean(name, declared.keys())}`,
      );
      return false;
    }
    const actor = entry.actor;
    if (actor === undefined) return false;
    const pool = actor.pool;
    const accepts = direction === "inbound"
      ? pool.acceptsInbound(queue)
      : pool.acceptsOutbound(queue);
    if (accepts) return true;
    const known = [
      ...(direction === "inbound" ? pool.inbound.keys() : pool.outbound.keys()),
    ];
    const queueAt = typeof at === "number" ? at + name.length + 1 : at;
    this.#add(
      queueAt,
      path,
      `Actor "${name}" (type "${entry.spec?.type}") has no ${direction} queue "${queue}"${
        known.length === 0
          ? `; it has no ${direction} queues`
          : suggest(queue, known, `its ${direction} queues`)
      }`,
    );
    return false;
  }

  // --- zod issues ----------------------------------------------------------

  /** Reports one zod issue of the value at `base`/`basePath`. */
  #addIssue(
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
      ? this.#keyNode(base, path.slice(0, -1)) ?? this.#nodeAt(base, path)
      : this.#nodeAt(base, path);
    this.#add(
      node ?? missingAt ?? 0,
      [...basePath, ...path],
      describeIssue(issue, subject, value),
    );
  }

  // --- positions -----------------------------------------------------------

  /**
   * Whether the value at `path` holds a `${VAR}` that could not be
   * substituted: that error is reported, so its value is not checked again.
   */
  #isUnresolved(path: Path): boolean {
    const key = path.join(".");
    return this.#unresolved.some((unresolved) =>
      key === unresolved || key.startsWith(`${unresolved}.`)
    );
  }

  #add(
    at: number | Node | null | undefined,
    path: Path,
    message: string,
  ): void {
    const offset = typeof at === "number" ? at : at?.range?.[0] ?? 0;
    const { line, column } = this.#position(offset);
    this.#problems.push({ file: this.#file, line, column, path, message });
  }

  #position(offset: number): { line: number; column: number } {
    const { line, col } = this.#lines.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  }

  #error(): ConfigError {
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
  #offsetOf(node: Node, part: string, after = 0): number {
    const range = node.range;
    if (range === undefined || range === null) return 0;
    const source = this.#text.slice(range[0], range[1]);
    const index = source.indexOf(part, after);
    return index < 0 ? range[0] : range[0] + index;
  }

  /** The value of key `key` in `node` when `node` is a mapping. */
  #child(node: Node | null | undefined, key: string): Node | undefined {
    if (!isMap(node)) return undefined;
    for (const pair of node.items) {
      if (keyText(pair.key as Node) === key) {
        return (pair.value ?? undefined) as Node | undefined;
      }
    }
    return undefined;
  }

  /** The deepest node along `path` below `node`. */
  #nodeAt(node: Node | null | undefined, path: readonly (string | number)[]) {
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
  #keyNode(
    node: Node | null | undefined,
    path: readonly (string | number)[],
  ): Node | undefined {
    if (path.length === 0) return node ?? undefined;
    const parent = this.#nodeAt(node, path.slice(0, -1));
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
  #toJs(node: Node, path: Path): unknown {
    try {
      return node.toJS(this.#doc, { maxAliasCount: 1000 });
    } catch (error) {
      this.#add(node, path, `Cannot read this value: ${firstLine(error)}`);
      return undefined;
    }
  }
}

// --- reading -----------------------------------------------------------------

async function readSource(
  source: BootstrapSource,
): Promise<{ file: string; text: string; base: URL }> {
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

// --- values ------------------------------------------------------------------

/** The text of a mapping key. */
function keyText(node: Node | null | undefined): string {
  if (node === null || node === undefined) return "";
  if (isScalar(node)) return String(node.value);
  return String(node);
}

function pathKey(key: PropertyKey): string | number {
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

function describeNode(node: Node): string {
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return describeValue(node.value);
  return "not a mapping";
}

/** A value in a few words: `the string "x"`, `a list`. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `the string "${shown}"`;
  }
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value === "boolean") return `${value}`;
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  map: "a mapping",
  array: "a list",
  tuple: "a list",
  null: "empty",
  bigint: "a whole number",
  date: "a date",
};

/** One zod issue as a sentence about `subject`. */
function describeIssue(
  issue: z.core.$ZodIssue,
  subject: string,
  value: unknown,
): string {
  switch (issue.code) {
    case "invalid_type": {
      const expected = EXPECTED[issue.expected] ?? `"${issue.expected}"`;
      if (value === undefined) return `${subject} is missing (${expected})`;
      if (issue.expected === "int" && typeof value === "number") {
        return `${subject} must be a whole number, not the number ${value}`;
      }
      return `${subject} must be ${expected}, not ${describeValue(value)}`;
    }
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const suggestion = typeof value === "string"
        ? didYouMean(value, issue.values.map(String))
        : "";
      return values.length === 1
        ? `${subject} must be ${values[0]}, not ${describeValue(value)}`
        : `${subject} must be one of ${values.join(", ")}, not ${
          describeValue(value)
        }${suggestion}`;
    }
    case "too_small": {
      const limit = String(issue.minimum);
      if (issue.origin === "string") {
        return limit === "1"
          ? `${subject} must not be empty`
          : `${subject} must have at least ${limit} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return `${subject} must have at least ${limit} items`;
      }
      return issue.inclusive === false
        ? `${subject} must be greater than ${limit}, not ${
          describeValue(value)
        }`
        : `${subject} must be at least ${limit}, not ${describeValue(value)}`;
    }
    case "too_big": {
      const limit = String(issue.maximum);
      if (issue.origin === "string") {
        return `${subject} must have at most ${limit} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return `${subject} must have at most ${limit} items`;
      }
      return issue.inclusive === false
        ? `${subject} must be less than ${limit}, not ${describeValue(value)}`
        : `${subject} must be at most ${limit}, not ${describeValue(value)}`;
    }
    case "not_multiple_of":
      return `${subject} must be a multiple of ${issue.divisor}`;
    case "invalid_format":
      return `${subject} must be a valid ${issue.format}: ${issue.message}`;
    default:
      return `${subject} is invalid: ${issue.message}`;
  }
}

/**
 * `; did you mean "x"?` for the closest of `known` to `name`, or else the
 * list of them: `; the keys are "a", "b"` (`listed` names them).
 */
function suggest(
  name: string,
  known: readonly string[],
  listed = "the keys",
): string {
  return didYouMean(name, known) || `; ${listed} are ${quoteList(known)}`;
}

function firstLine(error: unknown): string {
  const text = errorMessage(error);
  return text.split("\n")[0] ?? text;
}

/** Why `value` is not an actor spec, in a few words. */
function whyNotSpec(value: unknown): string {
  if (typeof value !== "object" || value === null) {
    return `is ${describeValue(value)}, not an actor spec`;
  }
  return `lacks ${quoteList(missingSpecMembers(value))}`;
}
