/**
 * The graph of a pipeline: which connections are valid, which cycles can
 * never drain, in which order actors start, which actors belong to the log
 * and metric side streams, and which outbound queues of an input lead back
 * to it. Pure functions of the registered actors and their connections; the
 * router composes them.
 *
 * @module
 */

import type { Actor } from "./actor.ts";
import { didYouMean, type GraphProblem } from "./errors.ts";
import { queueOptionProblems, type QueueOptions } from "./queue.ts";

/**
 * Per-connection queue settings.
 *
 * @example
 * ```ts
 * import type { ConnectionOptions } from "./graph.ts";
 * const options: ConnectionOptions = { capacity: 10, whenFull: "drop_oldest" };
 * const buffered: ConnectionOptions = {
 *   capacity: 1000,
 *   buffer: { type: "disk", maxBytes: 1024 ** 3, whenFull: "block" },
 * };
 * ```
 */
export type ConnectionOptions = Pick<
  QueueOptions,
  "capacity" | "whenFull" | "buffer"
>;

/**
 * One `from -> to` connection as made by `Router.connect`.
 *
 * @example
 * ```ts
 * import type { Connection } from "./graph.ts";
 * const connection: Connection = { from: "input.outbox", to: "sink.inbox", options: {} };
 * ```
 */
export interface Connection {
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Queue settings for this connection. */
  options: ConnectionOptions;
}

/**
 * The actors and connections a graph is made of, with the actors that
 * receive the router's log and metric events.
 *
 * @example
 * ```ts
 * import type { PipelineGraph } from "./graph.ts";
 * const graph: PipelineGraph = { actors: new Map(), connections: [] };
 * ```
 */
export interface PipelineGraph {
  /** Registered actors by name. */
  readonly actors: ReadonlyMap<string, Actor>;
  /** Connections in the order made. */
  readonly connections: readonly Connection[];
  /** The actor that receives log events, if any. */
  readonly logActor?: Actor | undefined;
  /** The actor that receives metric events, if any. */
  readonly metricActor?: Actor | undefined;
}

/**
 * The actor and queue names of an `"actor.queue"` address (split at the last
 * dot, so actor names may hold dots).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitAddress } from "./graph.ts";
 * assert.deepEqual(splitAddress("input.outbox"), ["input", "outbox"]);
 * ```
 */
export function splitAddress(address: string): [string, string] {
  const dot = address.lastIndexOf(".");
  return [address.slice(0, dot), address.slice(dot + 1)];
}

/**
 * The actor and queue names of an address written `"actor.queue"`, or
 * `undefined` when it is not (no dot, or nothing before or after the last).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressParts } from "./graph.ts";
 * assert.deepEqual(addressParts("parse.inbox"), ["parse", "inbox"]);
 * assert.equal(addressParts("parse"), undefined);
 * ```
 */
export function addressParts(address: string): [string, string] | undefined {
  const dot = address.lastIndexOf(".");
  if (dot <= 0 || dot === address.length - 1) return undefined;
  return [address.slice(0, dot), address.slice(dot + 1)];
}

/**
 * The actor of `actors` that address `"actor.queue"` names, and the queue's
 * name; else throws a `problem` error saying `Cannot <doing> "<address>": `
 * what is wrong (not written `"actor.queue"`, or no such actor, with a
 * did-you-mean).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator } from "../actors/input/generator.ts";
 * import { addressedActor } from "./graph.ts";
 * const actors = new Map([["input", new Generator("input", {})]]);
 * assert.equal(addressedActor(actors, "input.outbox", "tap", RangeError)[1], "outbox");
 * try {
 *   addressedActor(actors, "inptu.outbox", "tap", RangeError);
 * } catch (error) {
 *   assert.equal((error as Error).message, 'Cannot tap "inptu.outbox": actor "inptu" is not registered; did you mean "input"?');
 * }
 * ```
 */
export function addressedActor(
  actors: ReadonlyMap<string, Actor>,
  address: string,
  doing: string,
  problem: new (message: string) => Error,
): [Actor, string] {
  const parts = addressParts(address);
  if (parts === undefined) {
    throw new problem(
      `Cannot ${doing} "${address}": write the queue as "actor.queue"`,
    );
  }
  const [name, queue] = parts;
  const actor = actors.get(name);
  if (actor === undefined) {
    throw new problem(
      `Cannot ${doing} "${address}": actor "${name}" is not registered${
        didYouMean(name, actors.keys())
      }`,
    );
  }
  return [actor, queue];
}

/**
 * Whether `actor` is an input: it makes events (`produce`), so a cycle
 * through it drains once it stops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Generator } from "../actors/input/generator.ts";
 * import { isInput } from "./graph.ts";
 * assert.equal(isInput(new Generator("input", { count: 1 })), true);
 * ```
 */
export function isInput(actor: Actor): boolean {
  return actor.produce !== undefined;
}

/**
 * Every problem of the graph at once: bad addresses, unknown actors and
 * queues (with a did-you-mean), breaches of one-to-one, connections into the
 * log or metric actor's inbox, bad queue settings, and cycles that can never
 * drain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { graphProblems } from "./graph.ts";
 * const problems = graphProblems({
 *   actors: new Map(),
 *   connections: [{ from: "a.outbox", to: "b.inbox", options: {} }],
 * });
 * assert.equal(problems[0]!.message, 'Cannot connect "a.outbox": actor "a" is not registered');
 * ```
 */
export function graphProblems(graph: PipelineGraph): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const valid: Connection[] = [];
  const fromSeen = new Map<string, Connection>();
  const toSeen = new Map<string, Connection>();
  for (const [index, connection] of graph.connections.entries()) {
    const { from, to, options } = connection;
    const problem = (message: string) =>
      problems.push({ message, connection: index });
    const count = problems.length;
    const source = endpoint(graph, from, "outbound", problem);
    const target = endpoint(graph, to, "inbound", problem);
    if (source !== undefined) {
      const earlier = fromSeen.get(from);
      if (earlier === undefined) fromSeen.set(from, connection);
      else {
        problem(
          `Cannot connect "${from}": it is already connected to "${earlier.to}"`,
        );
      }
    }
    if (target !== undefined) {
      const earlier = toSeen.get(to);
      if (earlier === undefined) toSeen.set(to, connection);
      else {
        problem(
          `Cannot connect "${to}": it is already connected from "${earlier.from}"`,
        );
      }
      for (
        const [side, actor] of [["log", graph.logActor], [
          "metric",
          graph.metricActor,
        ]] as const
      ) {
        if (actor?.name === target.actor && target.queue === "inbox") {
          problem(
            `Cannot connect "${to}": it receives the router's ${side} events`,
          );
        }
      }
    }
    for (const message of queueOptionProblems(options)) {
      problem(`Cannot connect "${from}" to "${to}": ${message}`);
    }
    if (problems.length === count) valid.push(connection);
  }
  return [...problems, ...cycleProblems(graph.actors, valid)];
}

/** Resolves `actor.queue` for one side of a connection. */
function endpoint(
  graph: PipelineGraph,
  address: string,
  direction: "inbound" | "outbound",
  problem: (message: string) => void,
): { actor: string; queue: string } | undefined {
  const dot = address.lastIndexOf(".");
  if (dot <= 0 || dot === address.length - 1) {
    problem(`Cannot connect "${address}": write the queue as "actor.queue"`);
    return undefined;
  }
  const name = address.slice(0, dot);
  const queue = address.slice(dot + 1);
  const actor = graph.actors.get(name);
  if (actor === undefined) {
    problem(
      `Cannot connect "${address}": actor "${name}" is not registered${
        didYouMean(name, graph.actors.keys())
      }`,
    );
    return undefined;
  }
  const accepts = direction === "inbound"
    ? actor.pool.acceptsInbound(queue)
    : actor.pool.acceptsOutbound(queue);
  if (!accepts) {
    const known = direction === "inbound"
      ? actor.pool.inbound.keys()
      : actor.pool.outbound.keys();
    problem(
      `Cannot connect "${address}": actor "${name}" has no ${direction} queue "${queue}"${
        didYouMean(queue, known)
      }`,
    );
    return undefined;
  }
  return { actor: name, queue };
}

/**
 * The actor each actor sends to, by name, following `connections`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { successors } from "./graph.ts";
 * assert.deepEqual(successors([{ from: "a.outbox", to: "b.inbox", options: {} }]).get("a"), ["b"]);
 * ```
 */
export function successors(
  connections: readonly Connection[],
): Map<string, string[]> {
  const next = new Map<string, string[]>();
  for (const { from, to } of connections) {
    const [source] = splitAddress(from);
    const [target] = splitAddress(to);
    const targets = next.get(source);
    if (targets === undefined) next.set(source, [target]);
    else targets.push(target);
  }
  return next;
}

/**
 * The strongly connected components of a directed graph (Tarjan's
 * algorithm, without recursion), each a list of node names; every node is
 * in exactly one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stronglyConnected } from "./graph.ts";
 * const next = new Map([["a", ["b"]], ["b", ["a", "c"]]]);
 * assert.deepEqual(stronglyConnected(["a", "b", "c"], next).map((c) => c.sort()), [["c"], ["a", "b"]]);
 * ```
 */
export function stronglyConnected(
  nodes: Iterable<string>,
  next: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    // Each frame: a node and the position of its next successor to visit.
    const frames: [string, number][] = [[root, 0]];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const [node, position] = frame;
      const successors = next.get(node) ?? [];
      if (position < successors.length) {
        frame[1]++;
        const successor = successors[position]!;
        if (!index.has(successor)) {
          index.set(successor, counter);
          low.set(successor, counter++);
          stack.push(successor);
          onStack.add(successor);
          frames.push([successor, 0]);
        } else if (onStack.has(successor)) {
          low.set(node, Math.min(low.get(node)!, index.get(successor)!));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) {
        low.set(parent[0], Math.min(low.get(parent[0])!, low.get(node)!));
      }
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        for (;;) {
          const member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
          if (member === node) break;
        }
        components.push(component);
      }
    }
  }
  return components;
}

/**
 * The cycles that can never drain: with the edges that leave inputs removed
 * (a cycle through an input drains once it stops), every strongly connected
 * component of more than one actor, or an actor connected to itself, is a
 * problem naming its actors and one cycle through them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Actor, type Context, type Event } from "../mod.ts";
 * import { cycleProblems } from "./graph.ts";
 * class Pass extends Actor {
 *   readonly kind = "transform";
 *   override consume(event: Event, context: Context) {
 *     return context.send(event);
 *   }
 * }
 * const actors = new Map<string, Actor>([["a", new Pass("a")], ["b", new Pass("b")]]);
 * const problems = cycleProblems(actors, [
 *   { from: "a.outbox", to: "b.inbox", options: {} },
 *   { from: "b.outbox", to: "a.inbox", options: {} },
 * ]);
 * assert.equal(problems[0]!.message, 'Cycle "a -> b -> a" can never drain: none of its actors ("a", "b") is an input');
 * ```
 */
export function cycleProblems(
  actors: ReadonlyMap<string, Actor>,
  connections: readonly Connection[],
): GraphProblem[] {
  const staying = connections.filter(({ from }) => {
    const actor = actors.get(splitAddress(from)[0]);
    return actor === undefined || !isInput(actor);
  });
  const next = successors(staying);
  const problems: GraphProblem[] = [];
  for (const component of stronglyConnected(actors.keys(), next)) {
    const members = new Set(component);
    // Named in registration order, the cycle from the first of them.
    const names = [...actors.keys()].filter((name) => members.has(name));
    const first = names[0]!;
    const loops = names.length > 1 || (next.get(first) ?? []).includes(first);
    if (!loops) continue;
    const cycle = cycleThrough(first, members, next);
    problems.push({
      message: `Cycle "${
        cycle.join(" -> ")
      }" can never drain: none of its actors (${
        names.map((name) => `"${name}"`).join(", ")
      }) is an input`,
    });
  }
  return problems;
}

/** The shortest path from `start` back to itself within `members`. */
function cycleThrough(
  start: string,
  members: ReadonlySet<string>,
  next: ReadonlyMap<string, readonly string[]>,
): string[] {
  const previous = new Map<string, string>();
  const queue: string[] = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const successor of next.get(node) ?? []) {
      if (!members.has(successor)) continue;
      if (successor === start) {
        const back: string[] = [];
        for (let at = node; at !== start; at = previous.get(at)!) {
          back.push(at);
        }
        return [start, ...back.reverse(), start];
      }
      if (!previous.has(successor)) {
        previous.set(successor, node);
        queue.push(successor);
      }
    }
  }
  return [start, start];
}

/**
 * The log and metric actors and every actor downstream of them: the side
 * streams, which drain after the pipeline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sideActors } from "./graph.ts";
 * assert.equal(sideActors({ actors: new Map(), connections: [] }).size, 0);
 * ```
 */
export function sideActors(graph: PipelineGraph): Map<string, Actor> {
  const side = new Map<string, Actor>();
  const next = successors(graph.connections);
  const visit = (actor: Actor | undefined): void => {
    if (actor === undefined || side.has(actor.name)) return;
    side.set(actor.name, actor);
    for (const name of next.get(actor.name) ?? []) {
      visit(graph.actors.get(name));
    }
  };
  visit(graph.logActor);
  visit(graph.metricActor);
  return side;
}

/**
 * Log and metric actors first, then every other actor after the actors it
 * sends to (consumers before producers); actors on cycles in any order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startOrder } from "./graph.ts";
 * assert.deepEqual(startOrder({ actors: new Map(), connections: [] }), []);
 * ```
 */
export function startOrder(graph: PipelineGraph): Actor[] {
  const next = successors(graph.connections);
  const order: Actor[] = [];
  const placed = new Set<string>();
  const place = (root: string): void => {
    if (placed.has(root)) return;
    const visiting = new Set<string>([root]);
    const frames: [string, number][] = [[root, 0]];
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const [node, position] = frame;
      const successors = next.get(node) ?? [];
      if (position < successors.length) {
        frame[1]++;
        const successor = successors[position]!;
        if (!placed.has(successor) && !visiting.has(successor)) {
          visiting.add(successor);
          frames.push([successor, 0]);
        }
        continue;
      }
      frames.pop();
      placed.add(node);
      order.push(graph.actors.get(node)!);
    }
  };
  for (const side of [graph.logActor, graph.metricActor]) {
    if (side !== undefined) place(side.name);
  }
  for (const name of graph.actors.keys()) place(name);
  return order;
}

/**
 * The outbound queues of `actor` whose events come back to it (a
 * request/reply cycle through an input): they close as soon as it stops
 * producing, while its other outbound queues (`error`, say) stay open
 * until its own inbound queues drained.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closedWhenProduced } from "./graph.ts";
 * const connections = [
 *   { from: "http.outbox", to: "work.inbox", options: {} },
 *   { from: "work.outbox", to: "http.inbox", options: {} },
 * ];
 * assert.deepEqual([...closedWhenProduced("http", connections)], ["outbox"]);
 * ```
 */
export function closedWhenProduced(
  actor: string,
  connections: readonly Connection[],
): Set<string> {
  const next = successors(connections);
  const reaches = (start: string): boolean => {
    const seen = new Set<string>();
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      const node = queue[i]!;
      if (node === actor) return true;
      for (const successor of next.get(node) ?? []) {
        if (!seen.has(successor)) {
          seen.add(successor);
          queue.push(successor);
        }
      }
    }
    return false;
  };
  const names = new Set<string>();
  for (const { from, to } of connections) {
    const [source, queue] = splitAddress(from);
    if (source === actor && reaches(splitAddress(to)[0])) names.add(queue);
  }
  return names;
}
