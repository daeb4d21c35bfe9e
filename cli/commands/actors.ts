/**
 * `compysition actors`: the actor types, and the documentation of each.
 *
 * @module
 */

import { stringify as toYaml } from "yaml";
import { BUILTIN_ACTORS } from "../../actors/mod.ts";
import { table } from "../../admin/client.ts";
import type { ActorKind } from "../../core/actor.ts";
import { didYouMean } from "../../core/errors.ts";
import { type ActorSpec, Registry } from "../../core/registry.ts";
import { describeOptions } from "../../core/schema.ts";
import { parse, UsageError } from "../args.ts";
import { type Command, EXIT_CODES, NAME } from "../command.ts";
import { err, indent, out, wrap } from "../output.ts";

/** `actors`: lists the actor types; `actors show TYPE` documents one. */
export const actorsCommand: Command = {
  summary: 'List the actor types; "actors show TYPE" documents one',
  help: `Usage: ${NAME} actors [show TYPE] [--markdown]

  actors             A table of every actor type with its kind and summary
  actors show TYPE   The documentation of TYPE: options with their types and
                     defaults, and an example
  actors --markdown  The reference of every actor type as Markdown
                     (docs/actors.md is made with it)
`,
  main,
};

/** The order kinds are listed in: the way events travel. */
const KIND_ORDER: readonly ActorKind[] = [
  "input",
  "transform",
  "flow",
  "output",
  "log",
  "metric",
];

function main(args: string[]): number {
  const { values, positionals } = parse(args, {
    markdown: { type: "boolean" },
  });
  const registry = new Registry(BUILTIN_ACTORS);
  if (values.markdown === true) {
    if (positionals.length > 0) {
      throw new UsageError("--markdown takes no other argument");
    }
    out(actorsMarkdown(registry));
    return EXIT_CODES.ok;
  }
  if (positionals.length === 0) {
    out(actorsTable(registry));
    return EXIT_CODES.ok;
  }
  if (positionals[0] !== "show") {
    throw new UsageError(
      `unknown subcommand "${positionals[0]}"${
        didYouMean(positionals[0]!, ["show"])
      }`,
    );
  }
  const type = positionals[1];
  if (type === undefined) throw new UsageError('missing TYPE after "show"');
  if (positionals.length > 2) {
    throw new UsageError(`expected one TYPE, got ${positionals.length - 1}`);
  }
  const spec = registry.get(type);
  if (spec === undefined) {
    err(
      `Unknown actor type "${type}"${
        didYouMean(type, registry.types())
      }\nRun "${NAME} actors" for the list of types.\n`,
    );
    return EXIT_CODES.invalid;
  }
  out(actorText(spec));
  return EXIT_CODES.ok;
}

function actorsTable(registry: Registry): string {
  const rows = registry.specs().map((spec) => [
    spec.type,
    spec.kind,
    spec.summary,
  ]);
  return table(["TYPE", "KIND", "SUMMARY"], rows).join("\n") +
    `\n\nRun "${NAME} actors show TYPE" for the options of a type.\n`;
}

function exampleYaml(spec: ActorSpec): string {
  const entry: Record<string, unknown> = { type: spec.type };
  if (spec.example !== undefined && Object.keys(spec.example).length > 0) {
    entry.options = spec.example;
  }
  return toYaml({ actors: { [spec.type]: entry } }, { lineWidth: 0 });
}

/** What the reference says of an actor that runs in threads. */
const STATELESS_NOTE =
  'Stateless: `threads: N` runs N copies of it in Web Workers, output in input order (see the README\'s "Stages on several cores").';

function actorText(spec: ActorSpec): string {
  const lines = [`${spec.type} (${spec.kind})`, "", wrap(spec.summary, 0)];
  if (spec.description !== undefined) {
    lines.push("", wrap(spec.description, 0));
  }
  if (spec.stateless === true) lines.push("", wrap(STATELESS_NOTE, 0));
  const options = describeOptions(spec);
  lines.push("", options.length === 0 ? "Options: none" : "Options:");
  const width = Math.max(...options.map((option) => option.name.length), 0);
  for (const option of options) {
    const facts = [
      option.type,
      option.required
        ? "required"
        : option.default === undefined
        ? "optional"
        : `default ${option.default}`,
    ];
    lines.push(`  ${option.name.padEnd(width)}  ${facts.join(", ")}`);
    if (option.description !== "") {
      lines.push(wrap(option.description, width + 4));
    }
  }
  lines.push(
    "",
    "Example:",
    indent(exampleYaml(spec).trimEnd(), 2),
  );
  return lines.join("\n") + "\n";
}

function actorsMarkdown(registry: Registry): string {
  const byKind = Map.groupBy(registry.specs(), (spec) => spec.kind);
  const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [
    "# Actor reference",
    "",
    `Every built-in actor type, made by \`${NAME} actors --markdown\` (\`deno task docs\`); do not edit by hand.`,
    "Use a type as `type:` of an actor in a bootstrap file; `options:` takes the options listed with it.",
    "Every actor also takes `capacity`, `when_full`, `retry`, `restart` and `linger_ms`; the stateless ones (marked so below) take `threads`.",
    "",
    "| Type | Kind | Summary |",
    "| --- | --- | --- |",
    ...KIND_ORDER.flatMap((kind) => byKind.get(kind) ?? []).map((spec) =>
      `| [\`${spec.type}\`](#${
        spec.type.replace(/[^a-z0-9_-]/gi, "")
      }) | ${spec.kind} | ${cell(spec.summary)} |`
    ),
  ];
  for (const kind of KIND_ORDER) {
    const ofKind = byKind.get(kind);
    if (ofKind === undefined) continue;
    lines.push("", `## ${kind[0]!.toUpperCase()}${kind.slice(1)} actors`);
    for (const spec of ofKind) {
      lines.push("", `### ${spec.type}`, "", spec.summary);
      if (spec.description !== undefined) lines.push("", spec.description);
      if (spec.stateless === true) lines.push("", STATELESS_NOTE);
      const options = describeOptions(spec);
      if (options.length === 0) {
        lines.push("", "Options: none.");
      } else {
        lines.push(
          "",
          "| Option | Type | Default | Description |",
          "| --- | --- | --- | --- |",
          ...options.map((option) =>
            `| \`${option.name}\` | ${cell(option.type)} | ${
              option.required
                ? "required"
                : option.default === undefined
                ? ""
                : `\`${cell(option.default)}\``
            } | ${cell(option.description)} |`
          ),
        );
      }
      lines.push("", "```yaml", exampleYaml(spec).trimEnd(), "```");
    }
  }
  return lines.join("\n") + "\n";
}
