/**
 * `compysition graph FILE`: a pipeline's topology as Graphviz dot or Mermaid.
 *
 * @module
 */

import type { PipelineConfig } from "../../core/config/mod.ts";
import { splitAddress } from "../../core/router.ts";
import { choice, onePositional, parse } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { checkFile, out } from "../output.ts";

/** `graph`: prints a pipeline's topology as Graphviz dot or Mermaid. */
export const graphCommand: Command = {
  summary: "Print a pipeline's topology as Graphviz dot or Mermaid",
  help: `Usage: ${NAME} graph FILE [--format dot|mermaid]

Prints the actors of FILE as nodes and its connections as edges labelled
"outbound queue -> inbound queue". The queues of "expose:" are external
ends: nodes of their own, dotted, joined to their actor by an edge labelled
"writable -> inbox" (a program writes there) or "outbox -> readable" (a
program reads there).

Options:
  --format FORMAT  dot (Graphviz, the default) or mermaid
  -h, --help       Show this help
`,
  main,
};

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    format: { type: "string" },
  });
  const file = onePositional(positionals, "FILE");
  const format = choice(values.format ?? "dot", "--format", [
    "dot",
    "mermaid",
  ]);
  const config = await checkFile(file);
  if (config === undefined) return EXIT_CODES.invalid;
  out(format === "dot" ? toDot(config) : toMermaid(config));
  return EXIT_CODES.ok;
}

function sideRole(config: PipelineConfig, name: string): string {
  const roles = [
    config.logs === name ? "receives logs" : "",
    config.metrics === name ? "receives metrics" : "",
  ].filter((role) => role !== "");
  return roles.length === 0 ? "" : `, ${roles.join(", ")}`;
}

function toDot(config: PipelineConfig): string {
  const id = (text: string) =>
    `"${text.replace(/["\\]/g, "\\$&").replace(/\n/g, "\\n")}"`;
  const name = config.file.split(/[\\/]/).pop()!.replace(/\.ya?ml$/i, "");
  const lines = [
    `digraph ${id(name)} {`,
    "  rankdir=LR;",
    '  node [shape=box, style=rounded, fontname="sans-serif"];',
    '  edge [fontname="sans-serif", fontsize=10];',
  ];
  for (const actor of config.actors) {
    const role = sideRole(config, actor.name);
    lines.push(
      `  ${id(actor.name)} [label=${
        id(`${actor.name}\n(${actor.type}${role})`)
      }${role === "" ? "" : ', style="rounded,dashed"'}];`,
    );
  }
  for (const end of config.expose ?? []) {
    lines.push(
      `  ${id(end.address)} [label=${
        id(`${end.address}\n(external ${end.direction} end)`)
      }, style="dotted"];`,
    );
  }
  for (const { from, to } of edges(config)) {
    const [source, out] = splitAddress(from);
    const [target, inbound] = splitAddress(to);
    lines.push(
      `  ${id(source)} -> ${id(target)} [label=${id(`${out} -> ${inbound}`)}];`,
    );
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

/**
 * The connections of `config`, then one per external end: from the end
 * (`"parse.inbox.writable"`) or to it (`"format.outbox.readable"`), so that
 * the end is the node named after its address.
 */
function edges(config: PipelineConfig): { from: string; to: string }[] {
  return [
    ...config.connections,
    ...(config.expose ?? []).map(({ address, direction }) =>
      direction === "writable"
        ? { from: `${address}.writable`, to: address }
        : { from: address, to: `${address}.readable` }
    ),
  ];
}

function toMermaid(config: PipelineConfig): string {
  const ids = new Map(config.actors.map((actor, i) => [actor.name, `a${i}`]));
  const label = (text: string) =>
    `"${text.replace(/"/g, "#quot;").replace(/\n/g, "<br/>")}"`;
  const lines = ["flowchart LR"];
  for (const actor of config.actors) {
    const role = sideRole(config, actor.name);
    lines.push(
      `  ${ids.get(actor.name)}[${
        label(`${actor.name}\n(${actor.type}${role})`)
      }]`,
    );
  }
  for (const [i, end] of (config.expose ?? []).entries()) {
    ids.set(end.address, `e${i}`);
    lines.push(
      `  e${i}([${label(`${end.address}\n(external ${end.direction} end)`)}])`,
    );
  }
  for (const { from, to } of edges(config)) {
    const [source, out] = splitAddress(from);
    const [target, inbound] = splitAddress(to);
    lines.push(
      `  ${ids.get(source)} -->|${label(`${out} -> ${inbound}`)}| ${
        ids.get(target)
      }`,
    );
  }
  return lines.join("\n") + "\n";
}
