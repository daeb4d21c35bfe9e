/**
 * A reload plan in words, like `terraform plan`: one line an actor
 * (`= keep`, `~ replace`, `+ add`, `- remove`) with what changes below it,
 * the connections that come and go, and a summary line.
 *
 * @module
 */

import { plural } from "../admin/client.ts";
import type {
  FieldChange,
  PlannedConnection,
  ReloadOutcome,
  ReloadPlan,
  ReplacedActor,
} from "../core/config/mod.ts";

/**
 * The outcome of a reload as text for people, without a final newline: a
 * line saying what happened, then the errors of an invalid file, or the
 * plan and what goes on in the background.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatReload } from "./plan_text.ts";
 * const text = formatReload({
 *   at: "2026-01-01T03:00:00.000Z",
 *   trigger: "SIGHUP",
 *   file: "a.yaml",
 *   status: "invalid",
 *   errors: ["a.yaml:3:7: Unknown actor type \"genertor\""],
 *   durationMs: 3,
 * });
 * assert.equal(
 *   text,
 *   'Reload (SIGHUP) of "a.yaml": the file is invalid, nothing changed:\na.yaml:3:7: Unknown actor type "genertor"',
 * );
 * ```
 */
export function formatReload(outcome: ReloadOutcome): string {
  const head = `Reload (${outcome.trigger}) of "${outcome.file}": `;
  const change = outcome.change;
  switch (outcome.status) {
    case "invalid":
      return head + "the file is invalid, nothing changed:\n" +
        (outcome.errors ?? []).join("\n");
    case "unchanged":
      return head + "the file changes nothing";
    case "refused":
      return head + `refused, nothing changed: ${outcome.reason}`;
    case "rolled_back":
      return head +
        `rolled back, the pipeline runs on unchanged: ${outcome.reason}\n` +
        formatPlan(outcome.plan!).trimEnd();
    case "applied": {
      const done = change === undefined ? [] : [
        ...([
          ["replaced", change.replaced],
          ["made again (connections changed)", change.renewed],
          ["added", change.added],
          ["removed", change.removed],
          ["kept listening (socket handed over)", change.takenOver],
        ] as const).flatMap(([what, names]) =>
          names.length === 0 ? [] : [`${names.join(", ")} ${what}`]
        ),
        ...(change.moved === 0
          ? []
          : [`${change.moved} queued event(s) moved`]),
      ];
      return [
        head + `applied in ${outcome.durationMs} ms` +
        (done.length === 0 ? "" : `: ${done.join("; ")}`),
        formatPlan(outcome.plan!).trimEnd(),
        ...change?.warnings ?? [],
      ].join("\n");
    }
  }
}

/**
 * A plan as text for people, ending with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig, planReload } from "../core/config/mod.ts";
 * import { formatPlan } from "./plan_text.ts";
 * const before = await loadConfig({
 *   file: "old.yaml",
 *   text: "actors:\n  input: { type: generator }\n",
 * });
 * const after = await loadConfig({
 *   file: "new.yaml",
 *   text: "actors:\n  input: { type: generator, options: { count: 5 } }\n",
 * });
 * const lines = formatPlan(planReload(before, after)).split("\n");
 * assert.equal(lines.at(-2), "Plan: 0 to add, 1 to replace, 0 to remove, 0 unchanged.");
 * ```
 */
export function formatPlan(plan: ReloadPlan): string {
  const { actors, connections } = plan;
  if (!plan.changed) {
    return `No changes: "${plan.oldFile}" and "${plan.newFile}" describe the same pipeline (${
      plural(actors.keep.length, "actor")
    }, ${plural(connections.keep.length, "connection")}).\n`;
  }
  const lines = [`Reload plan from "${plan.oldFile}" to "${plan.newFile}":`];
  lines.push("", "Actors:");
  const replaced = new Map(actors.replace.map((actor) => [actor.name, actor]));
  const added = new Set(actors.add.map((actor) => actor.name));
  const order = [...actors.keep, ...actors.replace, ...actors.add];
  for (const { name, type } of order) {
    const actor = replaced.get(name);
    if (actor !== undefined) {
      lines.push(`  ~ replace  ${name} (${type})`, ...replacedLines(actor));
    } else if (added.has(name)) {
      lines.push(`  + add      ${name} (${type})`);
    } else {
      lines.push(`  = keep     ${name} (${type})`);
    }
  }
  for (const { name, type } of actors.remove) {
    lines.push(`  - remove   ${name} (${type})`);
  }
  if (
    connections.add.length + connections.remove.length + plan.queues.length > 0
  ) {
    lines.push("", "Connections:");
    for (const connection of connections.add) {
      lines.push(`  + add      ${connectionText(connection)}`);
    }
    for (const connection of connections.remove) {
      lines.push(`  - remove   ${connectionText(connection)}`);
    }
    for (const queue of plan.queues) {
      lines.push(
        `  ~ queue    ${queue.from} -> ${queue.to}`,
        ...queue.changes.map(changeText),
      );
    }
  }
  for (const side of ["logs", "metrics"] as const) {
    const change = plan[side];
    if (change === undefined) continue;
    lines.push(
      "",
      `${side === "logs" ? "Logs" : "Metrics"}: ${sideText(change.before)} -> ${
        sideText(change.after)
      }`,
    );
  }
  if (plan.expose !== undefined) {
    lines.push("", "Exposed queues:");
    for (const address of plan.expose.add) {
      lines.push(`  + add      ${address}`);
    }
    for (const address of plan.expose.remove) {
      lines.push(`  - remove   ${address}`);
    }
  }
  lines.push("", summary(plan));
  return lines.join("\n") + "\n";
}

function replacedLines(actor: ReplacedActor): string[] {
  const lines = actor.changes.map(changeText);
  if (actor.listen !== undefined) {
    const { before, after, same } = actor.listen;
    lines.push(
      same
        ? `      listens on ${after} before and after: its socket can be kept`
        : `      listens on ${before}, then on ${after}`,
    );
  }
  const before = actor.connectionsBefore.map(connectionText);
  const after = actor.connectionsAfter.map(connectionText);
  if (before.join("\n") === after.join("\n")) {
    if (after.length > 0) {
      lines.push(`      connections: ${after.join(", ")}`);
    }
  } else {
    lines.push(
      `      connections before: ${before.join(", ") || "none"}`,
      `      connections after: ${after.join(", ") || "none"}`,
    );
  }
  return lines;
}

function changeText(change: FieldChange): string {
  return `      ${change.field}: ${valueText(change.before)} -> ${
    valueText(change.after)
  }`;
}

function valueText(value: unknown): string {
  if (value === undefined) return "(not set)";
  if (value === "(secret)") return value;
  return JSON.stringify(value);
}

function sideText(name: string | null): string {
  return name === null ? "(none)" : `"${name}"`;
}

function connectionText(connection: PlannedConnection): string {
  const { capacity, whenFull } = connection.options;
  const settings = [
    capacity === undefined ? "" : `capacity ${capacity}`,
    whenFull === undefined ? "" : `when_full ${whenFull}`,
  ].filter((setting) => setting !== "");
  return `${connection.from} -> ${connection.to}${
    settings.length === 0 ? "" : ` (${settings.join(", ")})`
  }`;
}

/** `Plan: 1 to add, 2 to replace, 0 to remove, 5 unchanged.` and the rest. */
function summary(plan: ReloadPlan): string {
  const { actors, connections } = plan;
  const parts = [
    `Plan: ${actors.add.length} to add, ${actors.replace.length} to replace, ${actors.remove.length} to remove, ${actors.keep.length} unchanged`,
  ];
  if (connections.add.length + connections.remove.length > 0) {
    parts.push(
      `connections: ${connections.add.length} to add, ${connections.remove.length} to remove`,
    );
  }
  if (plan.queues.length > 0) {
    parts.push(`queues: ${plan.queues.length} to change`);
  }
  for (const side of ["logs", "metrics"] as const) {
    if (plan[side] !== undefined) parts.push(`"${side}" changes`);
  }
  if (plan.expose !== undefined) {
    parts.push(
      `exposed queues: ${plan.expose.add.length} to add, ${plan.expose.remove.length} to remove`,
    );
  }
  return parts.join("; ") + ".";
}
