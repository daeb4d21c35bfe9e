/**
 * The built-in actors, statically imported so that a compiled binary carries
 * them all.
 *
 * @module
 */

import type { ActorSpec } from "../core/registry.ts";
import { generator } from "./input/generator.ts";
import { nullOutput } from "./output/null.ts";

/**
 * Every built-in actor spec. Pass them to a `Registry`.
 *
 * @example
 * ```ts
 * import { BUILTIN_ACTORS } from "./mod.ts";
 * BUILTIN_ACTORS.some((spec) => spec.type === "generator"); // true
 * ```
 */
export const BUILTIN_ACTORS: readonly ActorSpec[] = [
  generator,
  nullOutput,
] as ActorSpec[];
