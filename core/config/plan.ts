/**
 * What a reload from one bootstrap file to another would do: which actors
 * are kept as they run, replaced, added or removed, which connections come
 * and go, which queues change their settings, and whether `logs:` and
 * `metrics:` name other actors. A plan is computed from two loaded (so fully
 * checked) files and changes nothing.
 *
 * Values shown in a plan are for people: options whose name says they hold
 * a secret (a token, a password, a key...) and the password of a URL show as
 * `"(secret)"`. Apply a plan with the new file's {@link PipelineConfig}.
 *
 * @module
 */

import { type ConnectionOptions, splitAddress } from "../router.ts";
import type { ActorConfig, ConnectionConfig, PipelineConfig } from "./types.ts";

/**
 * One field of an actor or a queue whose value changes, named as in the
 * file: `"type"`, `"module"`, `"capacity"`, `"when_full"`, `"retry.max"`,
 * `"retry.backoff_ms"`, `"restart.max"`, `"restart.within"`,
 * `"restart.backoff_ms"`, `"linger_ms"`, `"threads"` or `"options.NAME"`
 * (`"options.a.b"` when nested).
 * A value that is not set in one of the files has no `before` or `after`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FieldChange } from "./plan.ts";
 * const change: FieldChange = { field: "options.interval", before: 1, after: 0.5 };
 * assert.equal(change.after, 0.5);
 * ```
 */
export interface FieldChange {
  /** The field, e.g. `"options.port"`. */
  field: string;
  /** Its value in the old file; `"(secret)"` for a secret. */
  before?: unknown;
  /** Its value in the new file; `"(secret)"` for a secret. */
  after?: unknown;
}

/**
 * A connection of a plan: the sending and the receiving queue, and the
 * receiving queue's settings when the file gives some.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PlannedConnection } from "./plan.ts";
 * const connection: PlannedConnection = {
 *   from: "input.outbox",
 *   to: "sink.inbox",
 *   options: { capacity: 10 },
 * };
 * assert.equal(connection.to, "sink.inbox");
 * ```
 */
export interface PlannedConnection {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** The receiving queue's settings given by the connection. */
  options: ConnectionOptions;
}

/**
 * An actor that runs on as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { KeptActor } from "./plan.ts";
 * const kept: KeptActor = { name: "input", type: "generator" };
 * assert.equal(kept.type, "generator");
 * ```
 */
export interface KeptActor {
  /** Its name. */
  name: string;
  /** Its type. */
  type: string;
}

/**
 * An actor of the new file only, or of the old file only, with the
 * connections that touch it there: attached once it runs, or detached once
 * it has drained.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AddedOrRemovedActor } from "./plan.ts";
 * const added: AddedOrRemovedActor = {
 *   name: "audit",
 *   type: "stdout",
 *   connections: [{ from: "tee.copy", to: "audit.inbox", options: {} }],
 * };
 * assert.equal(added.connections.length, 1);
 * ```
 */
export interface AddedOrRemovedActor {
  /** Its name. */
  name: string;
  /** Its type. */
  type: string;
  /** The connections that touch it in the file it is in. */
  connections: PlannedConnection[];
}

/**
 * An actor of both files whose type, module, options or settings change: it
 * is drained, detached from its old connections, and made again from the new
 * file, then attached to its new connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ReplacedActor } from "./plan.ts";
 * const replaced: ReplacedActor = {
 *   name: "web",
 *   type: "http_server",
 *   changes: [{ field: "options.max_body_bytes", before: 1000, after: 2000 }],
 *   connectionsBefore: [{ from: "web.outbox", to: "out.inbox", options: {} }],
 *   connectionsAfter: [{ from: "web.outbox", to: "out.inbox", options: {} }],
 *   listen: { before: "127.0.0.1:8000", after: "127.0.0.1:8000", same: true },
 * };
 * assert.equal(replaced.listen?.same, true);
 * ```
 */
export interface ReplacedActor {
  /** Its name. */
  name: string;
  /** Its type in the new file. */
  type: string;
  /** What changes, field by field. */
  changes: FieldChange[];
  /** The connections that touch it in the old file. */
  connectionsBefore: PlannedConnection[];
  /** The connections that touch it in the new file. */
  connectionsAfter: PlannedConnection[];
  /**
   * For an input that listens on a socket (`hostname` and `port` options) in
   * both files: its address before and after, and whether they are the same
   * (then a reload can hand the socket over instead of closing it).
   */
  listen?: { before: string; after: string; same: boolean };
}

/**
 * A connection of both files whose receiving queue's settings change.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { QueueChange } from "./plan.ts";
 * const change: QueueChange = {
 *   from: "input.outbox",
 *   to: "sink.inbox",
 *   changes: [{ field: "capacity", before: 10, after: 100 }],
 * };
 * assert.equal(change.changes[0]!.after, 100);
 * ```
 */
export interface QueueChange {
  /** `actor.queue` of the sending side. */
  from: string;
  /** The receiving queue, `actor.queue`. */
  to: string;
  /** `capacity` and `when_full`, when they change. */
  changes: FieldChange[];
}

/**
 * What a reload from one bootstrap file to another would do. Actors are
 * listed in the new file's order (removed ones in the old file's order),
 * connections too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig, planReload, type ReloadPlan } from "./mod.ts";
 * const before = await loadConfig({
 *   file: "old.yaml",
 *   text: "actors:\n  input: { type: generator }\n",
 * });
 * const after = await loadConfig({
 *   file: "new.yaml",
 *   text: "actors:\n  input: { type: generator, options: { count: 5 } }\n",
 * });
 * const plan: ReloadPlan = planReload(before, after);
 * assert.deepEqual(plan.actors.replace[0]!.changes, [{ field: "options.count", after: 5 }]);
 * ```
 */
export interface ReloadPlan {
  /** The old file, as named in messages. */
  oldFile: string;
  /** The new file, as named in messages. */
  newFile: string;
  /** Whether anything changes. */
  changed: boolean;
  /** The actors, by what happens to them. */
  actors: {
    keep: KeptActor[];
    replace: ReplacedActor[];
    add: AddedOrRemovedActor[];
    remove: AddedOrRemovedActor[];
  };
  /**
   * The connections, by what happens to them; a connection is identified by
   * its two queues (`keep` holds those of both files, whose queue settings
   * may change: see `queues`).
   */
  connections: {
    keep: PlannedConnection[];
    add: PlannedConnection[];
    remove: PlannedConnection[];
  };
  /** The kept connections whose receiving queue's settings change. */
  queues: QueueChange[];
  /** The actor `logs:` names, when that changes. */
  logs?: { before: string | null; after: string | null };
  /** The actor `metrics:` names, when that changes. */
  metrics?: { before: string | null; after: string | null };
  /** The queues `expose:` adds and removes, when it changes. */
  expose?: { add: string[]; remove: string[] };
}

/**
 * Compares two loaded bootstrap files: what a reload from `before` to
 * `after` would keep, replace, add and remove. Options are compared as
 * parsed (defaults filled in, so key order and writing a default out make
 * no difference) after `${VAR}` substitution. A `module:` actor is compared
 * by its `module:` as written, not by the module's code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig, planReload } from "./mod.ts";
 * const before = await loadConfig({
 *   text: "actors:\n  a: { type: generator }\n  b: { type: \"null\" }\nconnections:\n  - a.outbox -> b.inbox\n",
 * });
 * const after = await loadConfig({
 *   text: "actors:\n  a: { type: generator }\n  c: { type: stdout }\nconnections:\n  - a.outbox -> c.inbox\n",
 * });
 * const plan = planReload(before, after);
 * assert.deepEqual(plan.actors.keep.map((actor) => actor.name), ["a"]);
 * assert.deepEqual(plan.actors.add.map((actor) => actor.name), ["c"]);
 * assert.deepEqual(plan.actors.remove.map((actor) => actor.name), ["b"]);
 * assert.equal(plan.connections.add[0]!.to, "c.inbox");
 * ```
 */
export function planReload(
  before: PipelineConfig,
  after: PipelineConfig,
): ReloadPlan {
  const oldActors = new Map(before.actors.map((actor) => [actor.name, actor]));
  const newActors = new Map(after.actors.map((actor) => [actor.name, actor]));
  const plan: ReloadPlan = {
    oldFile: before.file,
    newFile: after.file,
    changed: false,
    actors: { keep: [], replace: [], add: [], remove: [] },
    connections: { keep: [], add: [], remove: [] },
    queues: [],
  };
  const touching = (config: PipelineConfig, name: string) =>
    config.connections.filter((connection) =>
      splitAddress(connection.from)[0] === name ||
      splitAddress(connection.to)[0] === name
    ).map(planned);
  for (const actor of after.actors) {
    const old = oldActors.get(actor.name);
    if (old === undefined) {
      plan.actors.add.push({
        name: actor.name,
        type: actor.type,
        connections: touching(after, actor.name),
      });
      continue;
    }
    const changes = actorChanges(old, actor);
    if (changes.length === 0) {
      plan.actors.keep.push({ name: actor.name, type: actor.type });
      continue;
    }
    const replaced: ReplacedActor = {
      name: actor.name,
      type: actor.type,
      changes,
      connectionsBefore: touching(before, actor.name),
      connectionsAfter: touching(after, actor.name),
    };
    const listen = [old, actor].map(listenAddress);
    if (listen[0] !== undefined && listen[1] !== undefined) {
      replaced.listen = {
        before: listen[0],
        after: listen[1],
        same: listen[0] === listen[1],
      };
    }
    plan.actors.replace.push(replaced);
  }
  for (const actor of before.actors) {
    if (newActors.has(actor.name)) continue;
    plan.actors.remove.push({
      name: actor.name,
      type: actor.type,
      connections: touching(before, actor.name),
    });
  }
  const key = (connection: ConnectionConfig) =>
    `${connection.from} -> ${connection.to}`;
  const oldConnections = new Map(
    before.connections.map((connection) => [key(connection), connection]),
  );
  const newKeys = new Set(after.connections.map(key));
  for (const connection of after.connections) {
    const old = oldConnections.get(key(connection));
    if (old === undefined) {
      plan.connections.add.push(planned(connection));
      continue;
    }
    plan.connections.keep.push(planned(connection));
    const changes = settingChanges(old.options, connection.options);
    if (changes.length > 0) {
      plan.queues.push({ from: connection.from, to: connection.to, changes });
    }
  }
  for (const connection of before.connections) {
    if (!newKeys.has(key(connection))) {
      plan.connections.remove.push(planned(connection));
    }
  }
  for (const side of ["logs", "metrics"] as const) {
    if (before[side] !== after[side]) {
      plan[side] = { before: before[side], after: after[side] };
    }
  }
  const exposedBefore = new Set(addresses(before.expose));
  const exposedAfter = new Set(addresses(after.expose));
  const exposes = {
    add: [...exposedAfter].filter((address) => !exposedBefore.has(address)),
    remove: [...exposedBefore].filter((address) => !exposedAfter.has(address)),
  };
  if (exposes.add.length + exposes.remove.length > 0) plan.expose = exposes;
  plan.changed = plan.actors.replace.length + plan.actors.add.length +
          plan.actors.remove.length + plan.connections.add.length +
          plan.connections.remove.length + plan.queues.length > 0 ||
    plan.logs !== undefined || plan.metrics !== undefined ||
    plan.expose !== undefined;
  return plan;
}

/** The addresses of the queues of an `expose:`. */
function addresses(exposed: PipelineConfig["expose"]): string[] {
  return (exposed ?? []).map(({ address }) => address);
}

/** `ms` in seconds, or `undefined`. */
function seconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : ms / 1000;
}

/** The changes of an actor's entry, field by field, secrets masked. */
function actorChanges(before: ActorConfig, after: ActorConfig): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of ["type", "module"] as const) {
    if (before[field] !== after[field]) {
      changes.push(change([field], before[field], after[field]));
    }
  }
  changes.push(...settingChanges(before.settings, after.settings));
  const { retry, restart } = {
    retry: (config: ActorConfig) => config.settings.retry,
    restart: (config: ActorConfig) => config.settings.restart,
  };
  for (
    const [path, read] of [
      [["retry", "max"], (config: ActorConfig) => retry(config)?.max],
      [
        ["retry", "backoff_ms"],
        (config: ActorConfig) => retry(config)?.backoffMs,
      ],
      [["restart", "max"], (config: ActorConfig) => restart(config)?.max],
      [
        ["restart", "within"],
        (config: ActorConfig) => seconds(restart(config)?.withinMs),
      ],
      [
        ["restart", "backoff_ms"],
        (config: ActorConfig) => restart(config)?.backoffMs,
      ],
      [["linger_ms"], (config: ActorConfig) => config.settings.lingerMs],
      [["threads"], (config: ActorConfig) => config.settings.threads ?? 1],
    ] as const
  ) {
    if (read(before) !== read(after)) {
      changes.push(change([...path], read(before), read(after)));
    }
  }
  diffValues(["options"], before.options, after.options, changes);
  return changes;
}

/**
 * The changes of `capacity`, `when_full` and `buffer` of an actor or a
 * connection.
 */
function settingChanges(
  before: ConnectionOptions,
  after: ConnectionOptions,
): FieldChange[] {
  const changes: FieldChange[] = [];
  if (before.capacity !== after.capacity) {
    changes.push(change(["capacity"], before.capacity, after.capacity));
  }
  if (before.whenFull !== after.whenFull) {
    changes.push(change(["when_full"], before.whenFull, after.whenFull));
  }
  if (JSON.stringify(before.buffer) !== JSON.stringify(after.buffer)) {
    changes.push(change(["buffer"], before.buffer, after.buffer));
  }
  return changes;
}

/** Adds the changes between two option values, leaf by leaf, to `changes`. */
function diffValues(
  path: string[],
  before: unknown,
  after: unknown,
  changes: FieldChange[],
): void {
  if (isRecord(before) && isRecord(after)) {
    const keys = new Set([...Object.keys(after), ...Object.keys(before)]);
    for (const key of keys) {
      diffValues([...path, key], before[key], after[key], changes);
    }
    return;
  }
  if (!sameValue(before, after)) changes.push(change(path, before, after));
}

/** Whether two option values are equal, whatever the order of keys. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Date && b instanceof Date) {
    return a.getTime() === b.getTime();
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && sameValue(a[key], b[key]));
  }
  return false;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null &&
    !Array.isArray(value) && !(value instanceof Date);
}

/** A field change, with secrets masked and unset values left out. */
function change(path: string[], before: unknown, after: unknown): FieldChange {
  const field: FieldChange = { field: path.join(".") };
  const secret = path.some(isSecretKey);
  if (before !== undefined) field.before = secret ? SECRET : masked(before);
  if (after !== undefined) field.after = secret ? SECRET : masked(after);
  return field;
}

/** How a secret value shows in a plan. */
const SECRET = "(secret)";

/** Option names that hold a secret. */
const SECRET_KEY =
  /pass(word|phrase)?|secret|token|credential|creds|api_?key|auth|nkey|seed|private_?key|cookie/i;

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** `value` with its secrets masked: secret keys, passwords in URLs. */
function masked(value: unknown): unknown {
  if (typeof value === "string") {
    return value.replace(
      /^([a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:)[^/?#@\s]*@/i,
      `$1${SECRET}@`,
    );
  }
  if (Array.isArray(value)) return value.map(masked);
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map((
        [key, item],
      ) => [key, isSecretKey(key) ? SECRET : masked(item)]),
    );
  }
  return value;
}

/** The address an input listens on, `host:port`, if it listens. */
function listenAddress(actor: ActorConfig): string | undefined {
  if (actor.spec.kind !== "input" || !isRecord(actor.options)) return undefined;
  const { hostname, port } = actor.options;
  if (typeof hostname !== "string" || typeof port !== "number") {
    return undefined;
  }
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

function planned(connection: ConnectionConfig): PlannedConnection {
  return {
    from: connection.from,
    to: connection.to,
    options: { ...connection.options },
  };
}
