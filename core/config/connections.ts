/**
 * The checks of a bootstrap file's `connections`: routing lines
 * `a.outbox -> b.inbox` or mappings with `from`, `to` and queue settings,
 * whose actors and queues must exist.
 *
 * @module
 */

import { resolve } from "node:path";
import type { Node, Scalar, YAMLMap } from "yaml";
import { isSeq } from "yaml";
import { bufferPath, bufferPathProblem } from "../disk_buffer.ts";
import { didYouMean } from "../errors.ts";
import { type ConnectionOptions, splitAddress } from "../router.ts";
import {
  BUFFER_KEYS,
  CONNECTION_KEYS,
  ConnectionObjectSchema,
} from "../schema.ts";
import { describeValue, suggest } from "./messages.ts";
import { type Entry, pathKey, reportIssue } from "./schema_check.ts";
import type { Path, YamlFile } from "./yaml.ts";

/** One connection whose actors and queues exist. */
export interface Route {
  /** Its index in `connections`. */
  index: number;
  /** Its node. */
  node: Node;
  /** `actor.queue` of the sending side. */
  from: string;
  /** `actor.queue` of the receiving side. */
  to: string;
  /** Its queue settings. */
  options: ConnectionOptions;
}

const ARROW = "->";

/**
 * The connections of the file whose actors (in `declared`) and queues exist,
 * in file order; every problem of the others is reported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS } from "../../actors/mod.ts";
 * import { Registry } from "../registry.ts";
 * import { checkConnections } from "./connections.ts";
 * import { YamlFile } from "./yaml.ts";
 * const registry = new Registry(BUILTIN_ACTORS);
 * const yaml = new YamlFile("p.yaml", "connections:\n  - a.outbox -> b.inbx\n");
 * const root = yaml.parse();
 * const entry = (name: string, type: string) => ({
 *   name,
 *   keyNode: root,
 *   node: null,
 *   settings: {},
 *   spec: registry.get(type)!,
 *   actor: registry.create(type, name),
 * });
 * const declared = new Map([
 *   ["a", entry("a", "generator")],
 *   ["b", entry("b", "null")],
 * ]);
 * assert.deepEqual(checkConnections(yaml, root, declared), []);
 * assert.equal(
 *   yaml.error().message,
 *   'p.yaml:2:19: Actor "b" (type "null") has no inbound queue "inbx"; did you mean "inbox"?',
 * );
 * ```
 */
export function checkConnections(
  yaml: YamlFile,
  root: YAMLMap,
  declared: ReadonlyMap<string, Entry>,
): Route[] {
  const node = yaml.child(root, "connections");
  if (!isSeq(node)) return [];
  const routes: Route[] = [];
  /** The connection using each disk buffer directory, by absolute path. */
  const buffers = new Map<string, number>();
  node.items.forEach((item, index) => {
    const itemNode = item as Node;
    const path = ["connections", index];
    const value = yaml.toJs(itemNode, path);
    if (value === undefined) return;
    let from: string;
    let to: string;
    let fromAt: number | Node;
    let toAt: number | Node;
    let line = "";
    const options: ConnectionOptions = {};
    if (typeof value === "string") {
      const parsed = parseRoute(yaml, itemNode as Scalar, value, path);
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
            // In the connection, or in its "buffer".
            const inner = issue.path.map(String);
            const keys = inner.length === 0 ? CONNECTION_KEYS : BUFFER_KEYS;
            const where = inner.length === 0 ? "" : ` "${inner.join(".")}" of`;
            for (const key of issue.keys) {
              yaml.add(
                yaml.keyNode(itemNode, [...inner, key]) ?? itemNode,
                [...path, ...inner, key],
                `Unknown key "${key}" in${where} connection ${index + 1}${
                  suggest(key, keys)
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
          reportIssue(yaml, issue, itemNode, path, subject, value, itemNode);
        }
        return;
      }
      ({ from, to } = parsed.data);
      line = ` in connection ${index + 1}`;
      fromAt = yaml.nodeAt(itemNode, ["from"]) ?? itemNode;
      toAt = yaml.nodeAt(itemNode, ["to"]) ?? itemNode;
      if (parsed.data.capacity !== undefined) {
        options.capacity = parsed.data.capacity;
      }
      if (parsed.data.when_full !== undefined) {
        options.whenFull = parsed.data.when_full;
      }
      const buffer = parsed.data.buffer;
      if (buffer !== undefined) {
        options.buffer = {
          type: buffer.type,
          maxBytes: buffer.max_bytes,
          whenFull: buffer.when_full,
          fsync: buffer.fsync,
        };
        if (buffer.path !== undefined) options.buffer.path = buffer.path;
        if (
          !checkBuffer(yaml, itemNode, path, index, to, options, buffers)
        ) return;
      }
      const fromOk = checkAddress(
        yaml,
        from,
        fromAt,
        [...path, "from"],
        "outbox",
      );
      const toOk = checkAddress(yaml, to, toAt, [...path, "to"], "inbox");
      if (!fromOk || !toOk) return;
    } else {
      yaml.add(
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
    const source = checkEndpoint(
      yaml,
      from,
      fromAt,
      "outbound",
      declared,
      line,
      path,
    );
    const target = checkEndpoint(
      yaml,
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

/**
 * Checks the disk buffer of connection `index` (to `to`): no `when_full`
 * beside it, a directory it can use, not another connection's.
 */
function checkBuffer(
  yaml: YamlFile,
  node: Node,
  path: Path,
  index: number,
  to: string,
  options: ConnectionOptions,
  buffers: Map<string, number>,
): boolean {
  const buffer = options.buffer!;
  let ok = true;
  if (options.whenFull !== undefined) {
    yaml.add(
      yaml.keyNode(node, ["when_full"]) ?? node,
      [...path, "when_full"],
      `Connection ${
        index + 1
      } has a disk buffer: "when_full" does not apply (events wait on disk); write "when_full" inside "buffer" for when the disk is full`,
    );
    ok = false;
  }
  const dir = bufferPath(to, buffer);
  const at = yaml.nodeAt(node, ["buffer", "path"]) ??
    yaml.keyNode(node, ["buffer"]) ?? node;
  const where = [...path, "buffer", "path"];
  const problem = bufferPathProblem(dir);
  if (problem !== undefined) {
    yaml.add(at, where, `Disk buffer of connection ${index + 1}: ${problem}`);
    return false;
  }
  const absolute = resolve(dir);
  const other = buffers.get(absolute);
  if (other !== undefined) {
    yaml.add(
      at,
      where,
      `Disk buffer of connection ${
        index + 1
      }: "${dir}" is already the disk buffer of connection ${
        other + 1
      }; give each one its own directory`,
    );
    return false;
  }
  buffers.set(absolute, index);
  return ok;
}

/** Splits a routing line; reports what is wrong with it. */
function parseRoute(
  yaml: YamlFile,
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
    yaml.add(
      node,
      path,
      `Routing line "${line}" has no arrow "->"; write ${hint}`,
    );
    return undefined;
  }
  if (arrows > 1) {
    yaml.add(
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
  const arrowAt = yaml.offsetOf(node, ARROW);
  const fromAt = left === "" ? arrowAt : yaml.offsetOf(node, left);
  const toAt = right === ""
    ? arrowAt
    : yaml.offsetOf(node, right, arrowAt - (node.range?.[0] ?? 0));
  let ok = true;
  for (
    const [side, text, at, example] of [
      ["sending", left, fromAt, "outbox"],
      ["receiving", right, toAt, "inbox"],
    ] as const
  ) {
    if (text === "") {
      yaml.add(
        at,
        path,
        `Routing line "${line}" has no ${side} queue ${
          side === "sending" ? "before" : "after"
        } the arrow; write "a.outbox -> b.inbox"`,
      );
      ok = false;
    } else if (/\s/.test(text)) {
      yaml.add(
        at,
        path,
        `Routing line "${line}": "${text}" is not one "actor.queue"; write one connection per line as "a.outbox -> b.inbox"`,
      );
      ok = false;
    } else if (
      !checkAddress(yaml, text, at, path, example, `routing line "${line}"`)
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
function checkAddress(
  yaml: YamlFile,
  address: string,
  at: number | Node,
  path: Path,
  queue: "outbox" | "inbox",
  where?: string,
): boolean {
  const dot = address.lastIndexOf(".");
  const context = where === undefined ? "" : ` in ${where}`;
  if (dot <= 0) {
    yaml.add(
      at,
      path,
      `"${address}"${context} has no queue; write "actor.queue", e.g. "${
        dot === 0 ? "actor" : address
      }.${queue}"`,
    );
    return false;
  }
  if (dot === address.length - 1) {
    yaml.add(
      at,
      path,
      `"${address}"${context} has an empty queue name after the dot`,
    );
    return false;
  }
  return true;
}

/** Checks the actor and queue of one side of a connection exist. */
function checkEndpoint(
  yaml: YamlFile,
  address: string,
  at: number | Node,
  direction: "inbound" | "outbound",
  declared: ReadonlyMap<string, Entry>,
  where: string,
  path: Path,
): boolean {
  const [name, queue] = splitAddress(address);
  const entry = declared.get(name);
  if (entry === undefined) {
    yaml.add(
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
  yaml.add(
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
