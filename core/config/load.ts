/**
 * Loading a bootstrap file: read it, parse the YAML with positions, check
 * its structure, substitute `${VAR}`, load `module:` actors, validate every
 * actor's options and the connections, and check the graph.
 *
 * Every problem of a file is reported at once, as one {@link ConfigError}
 * whose message has one `FILE:LINE:COL: message` line per problem, with a
 * did-you-mean for misspelt names. Nothing is started by loading.
 *
 * {@link loadConfig} stops there, with the file's content checked (what a
 * reload compares with the running one); {@link loadPipeline} also keeps the
 * router built of it.
 *
 * @module
 */

import { isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import { BUILTIN_ACTORS } from "../../actors/mod.ts";
import type { Actor } from "../actor.ts";
import { didYouMean, GraphError } from "../errors.ts";
import { type ActorSpec, isActorSpec, Registry } from "../registry.ts";
import type { Router, RouterOptions } from "../router.ts";
import { addressParts } from "../graph.ts";
import { endDirection, makeEnd } from "../router_ends.ts";
import { whyNotThreaded } from "../threads.ts";
import { buildRouter, makeActor } from "./build.ts";
import { checkConnections, type Route } from "./connections.ts";
import { type Lookup, substituteVariables } from "./env.ts";
import { whyNotSpec } from "./messages.ts";
import {
  checkEntries,
  checkOptions,
  checkTop,
  type Entry,
} from "./schema_check.ts";
import { type BootstrapSource, readSource } from "./source.ts";
import type { ActorConfig, ExposedQueue, PipelineConfig } from "./types.ts";
import { firstLine, YamlFile } from "./yaml.ts";

/**
 * How {@link loadPipeline} and {@link loadConfig} work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPipeline, type LoadOptions } from "./mod.ts";
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
 * assert.deepEqual(config.actors[0]!.options, { interval: 1, count: 2, data: "hello {{seq}}" });
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
 * What {@link loadPipeline} returns: a router ready to start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LoadedPipeline, loadPipeline } from "./mod.ts";
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
 * assert.equal((await loaded.router.stop()).delivered, 3);
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
 * import assert from "node:assert/strict";
 * import { loadPipeline } from "./mod.ts";
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
 * assert.equal((await router.stop()).delivered, 3);
 * ```
 */
export async function loadPipeline(
  source: BootstrapSource,
  options: LoadOptions = {},
): Promise<LoadedPipeline> {
  const registry = options.registry ?? new Registry(BUILTIN_ACTORS);
  const vars = options.env;
  const lookup: Lookup = vars === undefined
    ? (name) => Deno.env.get(name)
    : (name) => Object.hasOwn(vars, name) ? vars[name] : undefined;
  const { file, text, base } = await readSource(source);
  const loader = new Loader(new YamlFile(file, text), base, registry, lookup);
  return await loader.load(options.routerOptions ?? {});
}

/**
 * Loads and checks a bootstrap file as {@link loadPipeline} does (every
 * check, the graph's included), and returns its content without keeping a
 * router: what a reload compares with the running pipeline before changing
 * anything. Throws one {@link ConfigError} listing every problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig } from "./mod.ts";
 * const text = "actors:\n  input:\n    type: generator\n    options:\n      count: ${N}\n";
 * const config = await loadConfig({ text }, { env: { N: "3" } });
 * assert.deepEqual(config.actors[0]!.options, { interval: 1, count: 3, data: "hello {{seq}}" });
 * ```
 */
export async function loadConfig(
  source: BootstrapSource,
  options: Omit<LoadOptions, "routerOptions"> = {},
): Promise<PipelineConfig> {
  const { router, config } = await loadPipeline(source, options);
  await router.stop();
  return config;
}

/** A queue of `expose:`, with its item in the file. */
interface Exposed {
  address: string;
  node: Node;
}

class Loader {
  #yaml: YamlFile;
  #base: URL;
  #registry: Registry;
  #lookup: Lookup;
  /** Paths of values whose `${VAR}` could not be substituted. */
  #unresolved: string[] = [];

  constructor(yaml: YamlFile, base: URL, registry: Registry, lookup: Lookup) {
    this.#yaml = yaml;
    this.#base = base;
    this.#registry = registry;
    this.#lookup = lookup;
  }

  async load(routerOptions: RouterOptions): Promise<LoadedPipeline> {
    const yaml = this.#yaml;
    const root = yaml.parse();
    yaml.findDuplicates(root, []);
    const actorsNode = yaml.child(root, "actors");
    if (isMap(actorsNode)) {
      this.#unresolved = substituteVariables(
        yaml,
        actorsNode,
        ["actors"],
        this.#lookup,
      );
    }
    const top = yaml.toJs(root, []);
    if (top === undefined) throw yaml.error();
    checkTop(yaml, top, root);
    const entries = isMap(actorsNode)
      ? checkEntries(yaml, actorsNode, this.#registry)
      : [];
    for (const entry of entries) await this.#resolve(entry);
    const declared = new Map(entries.map((entry) => [entry.name, entry]));
    const side = this.#sideStreams(root, declared);
    const routes = checkConnections(yaml, root, declared);
    const exposed = this.#exposed(root, declared);
    const config = this.#config(entries, routes, side);
    const router = await this.#buildChecked(
      config,
      entries,
      routes,
      exposed,
      root,
      routerOptions,
    );
    if (router === undefined || yaml.hasProblems) {
      await router?.stop();
      throw yaml.error();
    }
    return { router, config };
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
    const yaml = this.#yaml;
    const specifier = entry.module!;
    const path = ["actors", entry.name, "module"];
    const at = yaml.nodeAt(entry.node, ["module"]);
    let url: string;
    try {
      url = /^[a-z][a-z0-9+.-]+:/i.test(specifier)
        ? new URL(specifier).href
        : new URL(specifier, this.#base).href;
    } catch {
      yaml.add(at, path, `Module "${specifier}" is not a valid path or URL`);
      return undefined;
    }
    let module: Record<string, unknown>;
    try {
      module = await import(url);
    } catch (error) {
      yaml.add(
        at,
        path,
        `Cannot load module "${specifier}" for actor "${entry.name}": ${
          firstLine(error)
        }`,
      );
      return undefined;
    }
    for (const exported of ["default", "spec"]) {
      const spec = module[exported];
      if (!isActorSpec(spec)) continue;
      // A thread loads the spec from where this file did.
      const threaded = (entry.settings.threads ?? 1) > 1;
      return threaded && spec.module === undefined
        ? { ...spec, module: url }
        : spec;
    }
    const reasons = ["default", "spec"].flatMap((exported) =>
      exported in module
        ? [`"${exported}" ${whyNotSpec(module[exported])}`]
        : []
    );
    yaml.add(
      at,
      path,
      `Module "${specifier}" for actor "${entry.name}" does not export an actor spec as "default" or "spec"${
        reasons.length > 0 ? ` (${reasons.join("; ")})` : ""
      }`,
    );
    return undefined;
  }

  /**
   * Validates the options with the spec's schema and makes the actor, whose
   * queues the connections are checked against.
   */
  #create(entry: Entry, spec: ActorSpec): void {
    const parsed = checkOptions(this.#yaml, entry, spec, this.#unresolved);
    if (parsed === undefined) return;
    const why = (entry.settings.threads ?? 1) > 1
      ? whyNotThreaded(spec)
      : undefined;
    if (why !== undefined) {
      this.#yaml.add(
        this.#yaml.keyNode(entry.node, ["threads"]) ?? entry.keyNode,
        ["actors", entry.name, "threads"],
        `Actor "${entry.name}" cannot run in threads: ${why}`,
      );
      return;
    }
    entry.options = parsed.data;
    try {
      entry.actor = makeActor({
        name: entry.name,
        spec,
        options: parsed.data,
        settings: entry.settings,
      });
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      this.#yaml.add(entry.keyNode, ["actors", entry.name], error.message);
    }
  }

  /** The actors named by `logs:` and `metrics:`, checked. */
  #sideStreams(
    root: YAMLMap,
    declared: ReadonlyMap<string, Entry>,
  ): Pick<PipelineConfig, "logs" | "metrics"> {
    const yaml = this.#yaml;
    const side = {
      logs: null as string | null,
      metrics: null as string | null,
    };
    for (const key of ["logs", "metrics"] as const) {
      const node = yaml.child(root, key);
      if (!isScalar(node) || typeof node.value !== "string") continue;
      const name = node.value;
      if (!declared.has(name)) {
        yaml.add(
          node,
          [key],
          `Unknown actor "${name}" in "${key}"${
            didYouMean(name, declared.keys())
          }`,
        );
        continue;
      }
      side[key] = name;
    }
    return side;
  }

  /**
   * The queues `expose:` lists, each once, whose actor is declared; what is
   * wrong with the others is reported at their item.
   */
  #exposed(
    root: YAMLMap,
    declared: ReadonlyMap<string, Entry>,
  ): Exposed[] {
    const yaml = this.#yaml;
    const node = yaml.child(root, "expose");
    if (!isSeq(node)) return [];
    const exposed: Exposed[] = [];
    node.items.forEach((item, index) => {
      if (!isScalar(item) || typeof item.value !== "string") return;
      const address = item.value;
      const path = ["expose", index];
      const name = addressParts(address)?.[0];
      if (name === undefined) {
        // Router.expose says what is wrong with the address.
        exposed.push({ address, node: item });
      } else if (exposed.some((other) => other.address === address)) {
        yaml.add(item, path, `"${address}" is listed twice in "expose"`);
      } else if (!declared.has(name)) {
        yaml.add(
          item,
          path,
          `Unknown actor "${name}" in "expose"${
            didYouMean(name, declared.keys())
          }`,
        );
      } else {
        exposed.push({ address, node: item });
      }
    });
    return exposed;
  }

  /** The file's content: the actors whose type is known, the connections. */
  #config(
    entries: readonly Entry[],
    routes: readonly Route[],
    side: Pick<PipelineConfig, "logs" | "metrics">,
  ): PipelineConfig {
    const yaml = this.#yaml;
    return {
      file: yaml.file,
      actors: entries.flatMap((entry) => {
        if (entry.spec === undefined) return [];
        const position = yaml.position(entry.keyNode.range?.[0] ?? 0);
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
        const position = yaml.position(route.node.range?.[0] ?? 0);
        return {
          from: route.from,
          to: route.to,
          options: route.options,
          line: position.line,
          column: position.column,
        };
      }),
      ...side,
    };
  }

  /**
   * Builds the router of the actors made so far and checks its graph,
   * reporting each graph problem at its connection; `undefined` when the
   * graph has problems.
   */
  async #buildChecked(
    config: PipelineConfig,
    entries: readonly Entry[],
    routes: readonly Route[],
    exposed: readonly Exposed[],
    root: YAMLMap,
    routerOptions: RouterOptions,
  ): Promise<Router | undefined> {
    const yaml = this.#yaml;
    const made = new Map<string, Actor>();
    for (const entry of entries) {
      if (entry.actor !== undefined) made.set(entry.name, entry.actor);
    }
    const known = (name: string | null) =>
      name !== null && made.has(name) ? name : null;
    // The ends of actors that were made, each checked as Router.expose
    // checks it; their connections come after those of the file.
    const ends: (ExposedQueue & { node: Node })[] = [];
    for (const { address, node } of exposed) {
      const name = addressParts(address)?.[0];
      if (name !== undefined && !made.has(name)) continue;
      try {
        const direction = endDirection(makeEnd(made, address))!;
        ends.push({ address, direction, node });
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
        yaml.add(node, ["expose"], error.message);
      }
    }
    config.expose = ends.map(({ address, direction }) => ({
      address,
      direction,
    }));
    try {
      return await buildRouter({
        ...config,
        actors: config.actors.filter((actor) => made.has(actor.name)),
        logs: known(config.logs),
        metrics: known(config.metrics),
      }, { routerOptions, actors: made });
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
      const connectionsNode = yaml.child(root, "connections");
      for (const problem of error.problems) {
        const at = problem.connection ?? -1;
        const route = routes[at];
        const end = ends[at - config.connections.length];
        yaml.add(
          route?.node ?? end?.node ?? yaml.keyNode(root, ["connections"]) ??
            connectionsNode ?? root,
          route !== undefined
            ? ["connections", route.index]
            : end !== undefined
            ? ["expose"]
            : ["connections"],
          problem.message,
        );
      }
      return undefined;
    }
  }
}
