/**
 * Actor specs and the registry that maps type names to them.
 *
 * @module
 */

import type { Actor, ActorKind, ActorSettings } from "./actor.ts";
import { didYouMean } from "./errors.ts";
import { createMaybeThreaded } from "./threads.ts";

/**
 * One problem an {@link OptionsSchema} found, as zod reports it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import type { OptionsIssue } from "./registry.ts";
 * const result = z.strictObject({ count: z.number() }).safeParse({ count: "x" });
 * const issue: OptionsIssue | undefined = result.error?.issues[0];
 * assert.deepEqual(issue?.path, ["count"]);
 * ```
 */
export interface OptionsIssue {
  /** The kind of problem, e.g. `"invalid_type"` or `"unrecognized_keys"`. */
  readonly code?: string;
  /** Where it is in the options, e.g. `["retry", "max"]`; `[]` for all. */
  readonly path: readonly PropertyKey[];
  /** The problem in words. */
  readonly message: string;
}

/**
 * What the core needs of an actor's options schema: a zod-style `safeParse`
 * returning the options with defaults filled in, or the problems. Every zod
 * schema fits; write options schemas with zod (`z.strictObject`, every field
 * `.describe`d), because the JSON Schema for editors and the option tables of
 * `compysition actors` are made with zod's `z.toJSONSchema` (any other schema
 * shows there as taking any value) and because messages about bad options
 * read zod's issue details.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import type { OptionsSchema } from "./registry.ts";
 * const options: OptionsSchema<{ count: number }> = z.strictObject({
 *   count: z.number().default(1),
 * });
 * assert.deepEqual(options.safeParse({}), { success: true, data: { count: 1 } });
 * ```
 */
export interface OptionsSchema<Options = unknown> {
  /** Validates `value`, filling in defaults; never throws for bad values. */
  safeParse(
    value: unknown,
  ):
    | {
      readonly success: true;
      readonly data: Options;
      readonly error?: undefined;
    }
    | {
      readonly success: false;
      readonly data?: undefined;
      readonly error: { readonly issues: readonly OptionsIssue[] };
    };
}

/**
 * Everything needed to make an actor of one type from a bootstrap file: its
 * registry name, kind, one-line summary, zod schema of its options (with
 * defaults, unknown keys rejected) and a factory.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { Actor, type ActorSpec, type Event } from "../mod.ts";
 *
 * const options = z.strictObject({ suffix: z.string().default("!") });
 * class Shout extends Actor {
 *   readonly kind = "transform";
 *   #suffix: string;
 *   constructor(name: string, opts: z.infer<typeof options>) {
 *     super(name);
 *     this.#suffix = opts.suffix;
 *   }
 *   override consume(event: Event): Promise<void> | undefined {
 *     event.data = `${event.data}${this.#suffix}`;
 *     return this.send(event);
 *   }
 * }
 * export const spec: ActorSpec<z.infer<typeof options>> = {
 *   type: "shout",
 *   kind: "transform",
 *   summary: "Appends a suffix to string data.",
 *   options,
 *   create: (name, opts) => new Shout(name, opts),
 * };
 * ```
 */
export interface ActorSpec<Options = unknown> {
  /** The registry name used as `type:` in bootstrap files. */
  readonly type: string;
  /** What the actor does. */
  readonly kind: ActorKind;
  /** One sentence for `compysition actors`. */
  readonly summary: string;
  /** Longer documentation for `compysition actors show`. */
  readonly description?: string;
  /**
   * The options schema, a zod schema: defaults filled in, unknown keys
   * rejected.
   */
  readonly options: OptionsSchema<Options>;
  /** Example options shown in documentation and used by the contract test. */
  readonly example?: Record<string, unknown>;
  /**
   * The actor keeps nothing from one event to the next (no counters, no
   * connections, no timers), so that `threads: N` may run N copies of it in
   * Web Workers.
   */
  readonly stateless?: boolean;
  /**
   * The URL of the module that exports this spec as `default` or `spec`
   * (write `module: import.meta.url`): where a thread loads it from when the
   * actor runs with `threads: N`. A bootstrap file's `module:` gives it.
   */
  readonly module?: string;
  /** Makes an actor from parsed options. */
  create(name: string, options: Options, settings: ActorSettings): Actor;
}

/**
 * Whether `value` looks like an {@link ActorSpec} (for specs loaded from user
 * modules).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isActorSpec } from "./registry.ts";
 * assert.equal(isActorSpec({ type: "x" }), false);
 * ```
 */
export function isActorSpec(value: unknown): value is ActorSpec {
  return typeof value === "object" && value !== null &&
    missingSpecMembers(value).length === 0;
}

/**
 * The members an {@link ActorSpec} needs that `value` lacks (or has of the
 * wrong type), in the order `type`, `kind`, `summary`, `create`, `options`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { missingSpecMembers } from "./registry.ts";
 * assert.deepEqual(missingSpecMembers({ type: "x", kind: "input" }), ["summary", "create", "options"]);
 * ```
 */
export function missingSpecMembers(value: object): string[] {
  const spec = value as Record<string, unknown>;
  const missing = ["type", "kind", "summary"].filter((key) =>
    typeof spec[key] !== "string"
  );
  if (typeof spec.create !== "function") missing.push("create");
  const options = spec.options as { safeParse?: unknown } | undefined;
  if (typeof options?.safeParse !== "function") missing.push("options");
  return missing;
}

/**
 * An explicit map from actor type name to spec. Nothing registers itself by
 * being imported: specs are passed in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./registry.ts";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * const registry = new Registry(BUILTIN_ACTORS);
 * assert.equal(registry.get("generator")?.kind, "input");
 * ```
 */
export class Registry {
  #specs = new Map<string, ActorSpec>();

  /** Makes a registry holding `specs`. */
  constructor(specs: Iterable<ActorSpec> = []) {
    for (const spec of specs) this.add(spec);
  }

  /** Adds a spec; a type name can be added once. */
  add(spec: ActorSpec): void {
    if (this.#specs.has(spec.type)) {
      throw new TypeError(`Actor type "${spec.type}" is already registered`);
    }
    this.#specs.set(spec.type, spec);
  }

  /** The spec of `type`, if registered. */
  get(type: string): ActorSpec | undefined {
    return this.#specs.get(type);
  }

  /** Every spec, sorted by type name. */
  specs(): ActorSpec[] {
    return [...this.#specs.values()].sort((a, b) =>
      a.type.localeCompare(b.type)
    );
  }

  /** Every type name, sorted. */
  types(): string[] {
    return this.specs().map((spec) => spec.type);
  }

  /**
   * Makes actor `name` of `type` from raw options, validated by the spec.
   * Throws a `TypeError` naming the actor for an unknown type or bad options.
   */
  create(
    type: string,
    name: string,
    options: unknown = {},
    settings: ActorSettings = {},
  ): Actor {
    const spec = this.#specs.get(type);
    if (spec === undefined) {
      throw new TypeError(
        `Unknown actor type "${type}" for actor "${name}"${
          didYouMean(type, this.#specs.keys())
        }`,
      );
    }
    return createActor(spec, name, options, settings);
  }
}

/**
 * Makes actor `name` from `spec` and raw options, validating them. Throws a
 * `TypeError` naming the actor and each bad option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createActor } from "./registry.ts";
 * import { generator } from "../actors/input/generator.ts";
 * const actor = createActor(generator, "input", { count: 3 });
 * assert.equal(actor.kind, "input");
 * ```
 */
export function createActor<Options>(
  spec: ActorSpec<Options>,
  name: string,
  options: unknown = {},
  settings: ActorSettings = {},
): Actor {
  const parsed = spec.options.safeParse(options ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.join(".");
      return path === "" ? issue.message : `"${path}": ${issue.message}`;
    });
    throw new TypeError(
      `Invalid options for actor "${name}" (type "${spec.type}"): ${
        problems.join("; ")
      }`,
    );
  }
  return createMaybeThreaded(spec, name, parsed.data, settings);
}
