/**
 * The built-in stateless actors: those that can run as several copies in
 * threads (`threads: N`). A thread imports them statically from here, so
 * that a compiled binary carries them.
 *
 * @module
 */

import type { ActorSpec } from "../core/registry.ts";
import { filter } from "./transform/filter.ts";
import { header } from "./transform/header.ts";
import { jsonDecode } from "./transform/json_decode.ts";
import { jsonEncode } from "./transform/json_encode.ts";
import { jsonata } from "./transform/jsonata.ts";
import { syslogEncode } from "./transform/syslog_encode.ts";

/**
 * The specs of the built-in stateless actors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { THREADABLE_ACTORS } from "./threadable.ts";
 * assert.equal(THREADABLE_ACTORS.every((spec) => spec.stateless === true), true);
 * ```
 */
export const THREADABLE_ACTORS: readonly ActorSpec[] = [
  filter,
  header,
  jsonDecode,
  jsonEncode,
  jsonata,
  syslogEncode,
];
