/**
 * Reloading a running pipeline from its bootstrap file: the new file is
 * loaded and checked in full (any problem: nothing changes, and each is
 * reported as `FILE:LINE:COL: message`), compared with the running one
 * ({@link planReload}), and the plan applied by `Router.change()`, which
 * rolls it back when the new actors fail to start. Every outcome is kept
 * (the last 20) for the log, the admin API and the dashboard.
 *
 * @module
 */

import { type Actor, describe } from "../actor.ts";
import { bufferPath } from "../disk_buffer.ts";
import { ConfigError } from "../errors.ts";
import {
  type ChangeResult,
  type Connection,
  type Router,
  splitAddress,
} from "../router.ts";
import { makeActor } from "./build.ts";
import { loadConfig, type LoadOptions } from "./load.ts";
import { planReload, type ReloadPlan } from "./plan.ts";
import type { BootstrapSource } from "./source.ts";
import type { PipelineConfig } from "./types.ts";

/** How many outcomes a {@link Reloader} keeps. */
export const RELOAD_HISTORY = 20;

/**
 * What a reload did:
 *
 * - `"applied"`: the pipeline now runs the new file;
 * - `"unchanged"`: the new file changes nothing;
 * - `"invalid"`: the new file has problems (`errors`): nothing changed;
 * - `"refused"`: the change needs a restart (`reason`): nothing changed;
 * - `"rolled_back"`: the new actors failed to start (`reason`): the
 *   pipeline runs on as before.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ReloadOutcome } from "./reload.ts";
 * const outcome: ReloadOutcome = {
 *   at: "2026-01-01T03:00:00.000Z",
 *   trigger: "SIGHUP",
 *   file: "pipeline.yaml",
 *   status: "invalid",
 *   errors: ["pipeline.yaml:3:7: Unknown actor type \"genertor\""],
 *   durationMs: 4,
 * };
 * assert.equal(outcome.status, "invalid");
 * ```
 */
export interface ReloadOutcome {
  /** When it started, ISO 8601. */
  at: string;
  /** What asked for it: `"SIGHUP"`, `"api"`, `"watch"`... */
  trigger: string;
  /** The file loaded. */
  file: string;
  /** What it did (see above). */
  status: "applied" | "unchanged" | "invalid" | "refused" | "rolled_back";
  /** Why it was refused or rolled back. */
  reason?: string;
  /** The problems of an invalid file, each `FILE:LINE:COL: message`. */
  errors?: string[];
  /** What the reload was to do (absent for an invalid file). */
  plan?: ReloadPlan;
  /**
   * What the switch did: actors replaced, renewed (kept, but made again as
   * their connections changed), added, removed, listening sockets taken
   * over, events moved, and what goes on in the background.
   */
  change?: ChangeResult;
  /** How long it took, in ms. */
  durationMs: number;
}

/**
 * Settings of a {@link Reloader}.
 *
 * @example
 * ```ts
 * import type { ReloaderOptions } from "./reload.ts";
 * const options: ReloaderOptions = { drainTimeoutMs: 10_000 };
 * ```
 */
export interface ReloaderOptions extends Omit<LoadOptions, "routerOptions"> {
  /** Longest wait for the new actors' setup, in ms (default 30 000). */
  setupTimeoutMs?: number;
  /**
   * Longest wait for replaced and removed actors to finish before the
   * outcome is reported, in ms (default 30 000): the rest goes on in the
   * background.
   */
  drainTimeoutMs?: number;
  /** Called with each outcome, once it is known (e.g. to log it). */
  onOutcome?: (outcome: ReloadOutcome) => void;
}

/**
 * Reloads a running router from its bootstrap file, one reload at a time:
 * one asked for during another runs after it, from the file as it is then,
 * and those asked for meanwhile join it (a burst of signals reloads once
 * more, not once each).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPipeline } from "./mod.ts";
 * import { Reloader } from "./reload.ts";
 * const text = (interval: number) =>
 *   `actors:\n  input: { type: generator, options: { interval: ${interval} } }\n  sink: { type: "null" }\nconnections:\n  - input.outbox -> sink.inbox\n`;
 * const { router, config } = await loadPipeline({ text: text(0.01), file: "a.yaml" });
 * await router.start();
 * let source = { text: text(0.02), file: "a.yaml" };
 * const reloader = new Reloader(router, config, () => source);
 * assert.equal((await reloader.reload("test")).status, "applied");
 * source = { text: "actors: [", file: "a.yaml" };
 * assert.ok((await reloader.reload("test")).errors!.length > 0);
 * assert.deepEqual(reloader.history().map((outcome) => outcome.status), ["applied", "invalid"]);
 * assert.equal((await router.stop()).unaccounted, 0);
 * ```
 */
export class Reloader {
  #router: Router;
  #config: PipelineConfig;
  #source: () => BootstrapSource;
  #options: ReloaderOptions;
  #history: ReloadOutcome[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  /** The reload waiting for the one in progress, which others join. */
  #waiting: Promise<ReloadOutcome> | undefined;

  /**
   * Reloads `router`, which runs `config`, from what `source` returns (the
   * file's path, usually) when a reload is asked for.
   */
  constructor(
    router: Router,
    config: PipelineConfig,
    source: () => BootstrapSource,
    options: ReloaderOptions = {},
  ) {
    this.#router = router;
    this.#config = config;
    this.#source = source;
    this.#options = options;
  }

  /** The configuration running now. */
  get config(): PipelineConfig {
    return this.#config;
  }

  /** The last {@link RELOAD_HISTORY} outcomes, oldest first. */
  history(): ReloadOutcome[] {
    return [...this.#history];
  }

  /**
   * Loads the file again and applies it; resolves with the outcome (never
   * rejects for a bad file or a failed start: the outcome says so). While
   * a reload waits for the one in progress, the same promise is returned.
   */
  reload(trigger: string): Promise<ReloadOutcome> {
    if (this.#waiting !== undefined) return this.#waiting;
    const next = this.#queue.then(() => {
      this.#waiting = undefined;
      return this.#reload(trigger);
    });
    this.#waiting = next;
    this.#queue = next.catch(() => {});
    return next;
  }

  async #reload(trigger: string): Promise<ReloadOutcome> {
    const started = performance.now();
    const at = new Date().toISOString();
    const source = this.#source();
    const outcome = await this.#attempt(source, trigger, at);
    outcome.durationMs = Math.round(performance.now() - started);
    this.#history.push(outcome);
    if (this.#history.length > RELOAD_HISTORY) this.#history.shift();
    this.#options.onOutcome?.(outcome);
    return outcome;
  }

  async #attempt(
    source: BootstrapSource,
    trigger: string,
    at: string,
  ): Promise<ReloadOutcome> {
    const file = typeof source === "string"
      ? source
      : source instanceof URL
      ? source.href
      : source.file ?? "(inline)";
    const base = { at, trigger, file, durationMs: 0 };
    let config: PipelineConfig;
    try {
      config = await loadConfig(source, this.#options);
    } catch (error) {
      if (!(error instanceof ConfigError)) {
        return {
          ...base,
          status: "invalid",
          errors: [`${file}: ${describe(error)}`],
        };
      }
      return {
        ...base,
        status: "invalid",
        errors: error.message.split("\n"),
      };
    }
    const plan = planReload(this.#config, config);
    if (!plan.changed) return { ...base, status: "unchanged", plan };
    const refusal = restartOnly(plan) ?? this.#bufferMove(config, plan);
    if (refusal !== undefined) {
      return { ...base, status: "refused", reason: refusal, plan };
    }
    let actors: Map<string, Actor>;
    try {
      actors = this.#actors(config, plan);
    } catch (error) {
      return {
        ...base,
        status: "rolled_back",
        reason: describe(error),
        plan,
      };
    }
    const router = this.#router;
    const byName = new Map(config.actors.map((actor) => [actor.name, actor]));
    let change: ChangeResult;
    try {
      change = await router.change({
        actors,
        connections: this.#connections(config),
        remake: (name) => makeActor(byName.get(name)!),
        sameAddress: new Set(
          plan.actors.replace.flatMap((actor) =>
            actor.listen?.same === true ? [actor.name] : []
          ),
        ),
      }, {
        ...(this.#options.setupTimeoutMs === undefined
          ? {}
          : { setupTimeoutMs: this.#options.setupTimeoutMs }),
        ...(this.#options.drainTimeoutMs === undefined
          ? {}
          : { drainTimeoutMs: this.#options.drainTimeoutMs }),
      });
    } catch (error) {
      return { ...base, status: "refused", reason: describe(error), plan };
    }
    if (!change.applied) {
      return {
        ...base,
        status: "rolled_back",
        reason: change.reason ?? "the new actors failed to start",
        plan,
        change,
      };
    }
    this.#config = config;
    return { ...base, status: "applied", plan, change };
  }

  /**
   * Why the plan cannot be applied now because it moves a disk buffer
   * (`buffer.path` changes) that holds events: a process killed before
   * they drained would leave them where the next run does not look.
   */
  #bufferMove(config: PipelineConfig, plan: ReloadPlan): string | undefined {
    for (const { from, to } of plan.queues) {
      const find = (pipeline: PipelineConfig) =>
        pipeline.connections.find((connection) =>
          connection.from === from && connection.to === to
        )?.options.buffer;
      const [before, after] = [find(this.#config), find(config)];
      if (before === undefined || after === undefined) continue;
      const [oldPath, newPath] = [
        bufferPath(to, before),
        bufferPath(to, after),
      ];
      if (oldPath === newPath) continue;
      const [actor, queue] = splitAddress(to);
      const figures = this.#router.actor(actor)?.pool.inbound.get(queue)
        ?.figures();
      const events = figures?.disk_events ?? 0;
      if (events === 0) continue;
      return `Connection ${from} -> ${to}: buffer.path cannot change from "${oldPath}" to "${newPath}" while its disk buffer holds ${events} event(s): reload again once it drained (disk_events 0 in /metrics), or remove the buffer in one reload and add it with the new path in the next`;
    }
    return undefined;
  }

  /**
   * The actors of the pipeline to be: those the plan keeps (the running
   * objects), new ones for those it replaces or adds, and the actors the
   * router runs that no file names (the log actor `run` adds).
   */
  #actors(config: PipelineConfig, plan: ReloadPlan): Map<string, Actor> {
    const router = this.#router;
    const kept = new Set(plan.actors.keep.map(({ name }) => name));
    const actors = new Map<string, Actor>();
    for (const actor of config.actors) {
      actors.set(
        actor.name,
        kept.has(actor.name) ? router.actor(actor.name)! : makeActor(actor),
      );
    }
    const named = new Set(this.#config.actors.map(({ name }) => name));
    for (const actor of router.actors()) {
      if (!named.has(actor.name) && !actors.has(actor.name)) {
        actors.set(actor.name, actor);
      }
    }
    return actors;
  }

  /**
   * The connections of the pipeline to be: the file's, and those of the
   * router that join actors no file names.
   */
  #connections(config: PipelineConfig): Connection[] {
    const named = new Set(this.#config.actors.map(({ name }) => name));
    const extra = this.#router.connections().filter(({ from, to }) =>
      !named.has(splitAddress(from)[0]) && !named.has(splitAddress(to)[0])
    );
    return [
      ...config.connections.map(({ from, to, options }) => ({
        from,
        to,
        options,
      })),
      ...extra,
    ];
  }
}

/**
 * Why `plan` needs a restart rather than a reload, or `undefined`: another
 * actor is to receive the router's log or metric events, or the queues a
 * program exposes change.
 */
function restartOnly(plan: ReloadPlan): string | undefined {
  const what = [
    ...(plan.logs === undefined ? [] : ['"logs:"']),
    ...(plan.metrics === undefined ? [] : ['"metrics:"']),
    ...(plan.expose === undefined ? [] : ['"expose:"']),
  ];
  return what.length === 0
    ? undefined
    : `${what.join(" and ")} changed: that needs a restart`;
}
