/**
 * The schemas of bootstrap files: the zod schemas the loader validates with,
 * the JSON Schema made from them and from every registered actor's options
 * (for editors), and a readable description of an actor type's options.
 *
 * @module
 */

import { z } from "zod";
import { DEFAULT_LINGER_MS, DEFAULT_RESTART } from "./actor.ts";
import {
  DEFAULT_BUFFER_FSYNC,
  DEFAULT_BUFFER_MAX_BYTES,
  DISK_WHEN_FULL,
  MIN_BUFFER_MAX_BYTES,
  parseByteSize,
} from "./disk_buffer.ts";
import { WHEN_FULL } from "./queue.ts";
import { MAX_THREADS } from "./threads.ts";
import type { ActorSpec, Registry } from "./registry.ts";

/** The full-queue policies, as a zod enum. */
const WhenFullSchema = z.enum(WHEN_FULL);

/** The capacity of a queue in events. */
const CapacitySchema = z.number().int().min(1);

/** `retry:` of an actor entry. */
export const RetrySchema = z.strictObject({
  max: z.number().int().min(0).describe(
    "Extra attempts after the first failure.",
  ),
  backoff_ms: z.number().min(0).default(100).describe(
    "Milliseconds to wait before the first retry; doubled before each next one.",
  ),
}).describe(
  'Retries of an event whose handling failed, before it goes to the "error" queue.',
);

/** `restart:` of an actor entry: its crash policy. */
export const RestartSchema = z.strictObject({
  max: z.number().int().min(0).default(DEFAULT_RESTART.max).describe(
    "Most restarts within `within` seconds; one crash more stops the pipeline (0: the first crash does).",
  ),
  within: z.number().positive().default(DEFAULT_RESTART.withinMs / 1000)
    .describe("The window, in seconds, in which restarts are counted."),
  backoff_ms: z.number().min(0).default(DEFAULT_RESTART.backoffMs).describe(
    "Milliseconds to wait before a restart, doubled for each restart in the window (at most 30 s).",
  ),
}).describe(
  "What happens when the actor crashes (its produce throws, or it throws a CrashError): it is torn down, set up and run again on the same queues, at most max times within `within` seconds; then the pipeline stops.",
);

/** The keys an actor entry takes besides its `options`. */
export const ActorEntrySchema = z.strictObject({
  type: z.string().min(1).optional().describe(
    'The actor type, as listed by "compysition actors".',
  ),
  module: z.string().min(1).optional().describe(
    'Path (relative to this file) or URL of a module that exports an actor spec as "default" or "spec".',
  ),
  options: z.record(z.string(), z.unknown()).nullable().optional().describe(
    "The actor's own options.",
  ),
  capacity: CapacitySchema.optional().describe(
    "Capacity of each inbound queue of the actor, in events (default 1024).",
  ),
  when_full: WhenFullSchema.optional().describe(
    'What the actor\'s inbound queues do when full: "block" the sender (default), "drop_newest" or "drop_oldest".',
  ),
  retry: RetrySchema.optional(),
  restart: RestartSchema.optional(),
  linger_ms: z.number().min(0).optional().describe(
    `While the actor works through a batch, how long what it sends may gather before it is written on, in ms (default ${DEFAULT_LINGER_MS}): the results of an asynchronous stage travel as batches.`,
  ),
  threads: z.number().int().min(1).max(MAX_THREADS).optional().describe(
    "Copies of a stateless actor (json_decode, json_encode, jsonata, filter, header, syslog_encode, or a module whose spec says stateless: true) to run in Web Workers, each on a core of its own (default 1). Output order stays input order.",
  ),
});

/** A number of bytes: a whole number, or text such as "1GiB" or "500 MB". */
const ByteSizeSchema = z.union([z.number(), z.string()]).transform(
  (value, context) => {
    const bytes = typeof value === "number" ? value : parseByteSize(value);
    if (bytes !== undefined && Number.isSafeInteger(bytes)) {
      if (bytes >= MIN_BUFFER_MAX_BYTES) return bytes;
      context.addIssue({
        code: "custom",
        message:
          `Expected at least ${MIN_BUFFER_MAX_BYTES} bytes (64KiB), got ${bytes}`,
      });
      return z.NEVER;
    }
    context.addIssue({
      code: "custom",
      message:
        `Expected a whole number of bytes such as 1073741824, "1GiB" or "500MB", got ${
          JSON.stringify(value)
        }`,
    });
    return z.NEVER;
  },
);

/** When writes are forced to the disk: "never", "batch" or every N ms. */
const FsyncSchema = z.union([z.string(), z.number()]).transform(
  (value, context) => {
    if (
      value === "never" || value === "batch" ||
      (typeof value === "number" && Number.isSafeInteger(value) && value >= 1)
    ) return value;
    context.addIssue({
      code: "custom",
      message:
        `Expected "never", "batch" or a whole number of milliseconds, got ${
          JSON.stringify(value)
        }`,
    });
    return z.NEVER;
  },
);

/** `buffer:` of a connection: a disk buffer. */
export const BufferSchema = z.strictObject({
  type: z.literal("disk").describe('The kind of buffer: "disk".'),
  path: z.string().min(1).optional().describe(
    'The directory of the buffer\'s files, relative to the working directory (default "buffers/<actor.queue>" of the receiving queue). One buffer per directory.',
  ),
  max_bytes: ByteSizeSchema.default(DEFAULT_BUFFER_MAX_BYTES).describe(
    'Most bytes the buffer\'s files take: a number or text such as "1GiB" (default 1 GiB).',
  ),
  when_full: z.enum(DISK_WHEN_FULL).default("block").describe(
    'What happens when the disk buffer is full or cannot be written: "block" the sender until there is room (default) or "drop_newest".',
  ),
  fsync: FsyncSchema.default(DEFAULT_BUFFER_FSYNC).describe(
    'When writes are forced to the disk: "never" (they survive the process being killed, not a power cut), "batch" (each write), or every that many milliseconds (default 1000).',
  ),
}).describe(
  "A disk buffer: every event of the connection is written to disk first and read back in order as the receiving queue's memory (capacity) has room; events wait there through an output outage, and the next run replays what a stop or a crash left.",
);

/** A connection written as a mapping instead of a routing line. */
export const ConnectionObjectSchema = z.strictObject({
  from: z.string().describe('The sending queue, "actor.queue".'),
  to: z.string().describe('The receiving queue, "actor.queue".'),
  capacity: CapacitySchema.optional().describe(
    "Capacity of the receiving queue, in events (in memory, with a buffer).",
  ),
  when_full: WhenFullSchema.optional().describe(
    "What the receiving queue does when full (not with a buffer: see buffer.when_full).",
  ),
  buffer: BufferSchema.optional(),
});

/** The top level of a bootstrap file. */
export const BootstrapSchema = z.strictObject({
  actors: z.record(z.string(), z.unknown()).describe(
    "The actors of the pipeline, by name.",
  ),
  connections: z.array(z.unknown()).nullable().optional().describe(
    'The routing table: lines "a.outbox -> b.inbox", or mappings with "from", "to", "capacity", "when_full" and "buffer".',
  ),
  logs: z.string().nullable().optional().describe(
    "The actor that receives every log record as an event; without it, readable lines go to stderr.",
  ),
  metrics: z.string().nullable().optional().describe(
    "The actor that receives the metric events.",
  ),
  expose: z.array(z.string()).nullable().optional().describe(
    'Queues a program opens as Web Streams when it loads the file (Router.writable, readable, stream): inbound queues no actor feeds ("parse.inbox") and outbound queues not connected ("format.outbox").',
  ),
});

/** The keys of an actor entry. */
export const ACTOR_ENTRY_KEYS: readonly string[] = Object.keys(
  ActorEntrySchema.shape,
);

/** The top-level keys of a bootstrap file. */
export const BOOTSTRAP_KEYS: readonly string[] = Object.keys(
  BootstrapSchema.shape,
);

/**
 * The keys of an actor entry's `retry`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RETRY_KEYS } from "./schema.ts";
 * assert.equal(RETRY_KEYS.includes("max"), true);
 * ```
 */
export const RETRY_KEYS: readonly string[] = Object.keys(RetrySchema.shape);

/**
 * The keys of an actor entry's `restart`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESTART_KEYS } from "./schema.ts";
 * assert.equal(RESTART_KEYS.includes("within"), true);
 * ```
 */
export const RESTART_KEYS: readonly string[] = Object.keys(
  RestartSchema.shape,
);

/**
 * The keys of a connection written as a mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONNECTION_KEYS } from "./schema.ts";
 * assert.equal(CONNECTION_KEYS.includes("when_full"), true);
 * ```
 */
export const CONNECTION_KEYS: readonly string[] = Object.keys(
  ConnectionObjectSchema.shape,
);

/**
 * The keys of a connection's `buffer` mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUFFER_KEYS } from "./schema.ts";
 * assert.equal(BUFFER_KEYS.includes("max_bytes"), true);
 * ```
 */
export const BUFFER_KEYS: readonly string[] = Object.keys(BufferSchema.shape);

/** A `${NAME}` or `${NAME:-default}` reference making up a whole value. */
const SUBSTITUTION_PATTERN = "^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$";

/** A routing line `a.outbox -> b.inbox`. */
const ROUTE_PATTERN = "^\\s*\\S+\\.[^\\s.]+\\s*->\\s*\\S+\\.[^\\s.]+\\s*$";

/** An `actor.queue` address. */
const ADDRESS_PATTERN = "^\\S+\\.[^\\s.]+$";

/**
 * A JSON Schema object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { bootstrapSchema, type JsonSchema } from "./schema.ts";
 * const schema: JsonSchema = bootstrapSchema(new Registry(BUILTIN_ACTORS));
 * assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
 * ```
 */
export type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema (draft 2020-12) of an actor's options, as the user writes
 * them (fields with defaults are optional). Whatever the schema cannot
 * express becomes "any value".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { optionsJsonSchema } from "./schema.ts";
 * import { generator } from "../actors/input/generator.ts";
 * const schema = optionsJsonSchema(generator);
 * assert.deepEqual(Object.keys(schema.properties as object), ["interval", "count", "data"]);
 * ```
 */
export function optionsJsonSchema(spec: ActorSpec): JsonSchema {
  // Options schemas are zod schemas (see OptionsSchema); for any other,
  // z.toJSONSchema throws and toJsonSchema gives "any value".
  return toJsonSchema(spec.options as z.ZodType);
}

/**
 * The JSON Schema of bootstrap files for the actor types in `registry`: per
 * type, a branch whose `type` is that name and whose `options` follow the
 * type's schema; a branch for `module:` actors; the routing table; `logs` and
 * `metrics`. Option values that are not strings also accept a whole
 * `${VAR}` / `${VAR:-default}` reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bootstrapSchema } from "./schema.ts";
 * import { Registry } from "./registry.ts";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * const schema = bootstrapSchema(new Registry(BUILTIN_ACTORS));
 * assert.deepEqual(schema.required, ["actors"]);
 * ```
 */
export function bootstrapSchema(registry: Registry): JsonSchema {
  const defs: Record<string, JsonSchema> = {
    substitution: {
      type: "string",
      pattern: SUBSTITUTION_PATTERN,
      description:
        'An environment variable, "${NAME}" or "${NAME:-default}", whose value is read as YAML.',
    },
  };
  const settings = toJsonSchema(ActorEntrySchema);
  const settingProperties = withSubstitution(
    pick(properties(settings), [
      "capacity",
      "when_full",
      "retry",
      "restart",
      "linger_ms",
    ]),
  );
  // Only stateless actors (and modules, which may be) take `threads`.
  const threadsProperty = withSubstitution(
    pick(properties(settings), ["threads"]),
  );
  const branches: JsonSchema[] = [];
  for (const spec of registry.specs()) {
    const options = hoistDefs(optionsJsonSchema(spec), spec.type, defs);
    const optionProperties = properties(options);
    if (Object.keys(optionProperties).length > 0) {
      options.properties = withSubstitution(optionProperties);
    }
    const required = Array.isArray(options.required) &&
        options.required.length > 0
      ? ["type", "options"]
      : ["type"];
    defs[`actor.${spec.type}`] = {
      title: spec.type,
      description: `${spec.kind}: ${spec.summary}`,
      type: "object",
      properties: {
        type: { const: spec.type, description: spec.summary },
        options: { ...options, description: `Options of "${spec.type}".` },
        ...settingProperties,
        ...(spec.stateless === true ? threadsProperty : {}),
      },
      required,
      additionalProperties: false,
    };
    branches.push({ $ref: `#/$defs/actor.${spec.type}` });
  }
  defs["actor.module"] = {
    title: "module",
    description: "An actor whose spec comes from a module.",
    type: "object",
    properties: {
      module: properties(settings).module,
      options: {
        type: "object",
        description: "Options of the module's actor.",
      },
      ...settingProperties,
      ...threadsProperty,
    },
    required: ["module"],
    additionalProperties: false,
  };
  branches.push({ $ref: "#/$defs/actor.module" });
  defs.actor = {
    description:
      'An actor: "type" names a registered actor type (or "module" loads one), "options" configures it.',
    anyOf: branches,
  };
  const connection = toJsonSchema(ConnectionObjectSchema);
  const connectionProperties = properties(connection);
  for (const key of ["from", "to"]) {
    const property = connectionProperties[key];
    if (property !== undefined) property.pattern = ADDRESS_PATTERN;
  }
  const top = properties(toJsonSchema(BootstrapSchema));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Compysition bootstrap file",
    description:
      "A pipeline of actors and the connections between their queues.",
    type: "object",
    properties: {
      actors: {
        ...top.actors,
        type: "object",
        additionalProperties: { $ref: "#/$defs/actor" },
      },
      connections: {
        description: top.connections?.description,
        type: ["array", "null"],
        items: {
          anyOf: [
            {
              type: "string",
              pattern: ROUTE_PATTERN,
              description: 'A routing line: "a.outbox -> b.inbox".',
            },
            connection,
          ],
        },
      },
      logs: top.logs,
      metrics: top.metrics,
      expose: {
        description: top.expose?.description,
        type: ["array", "null"],
        items: {
          type: "string",
          pattern: ADDRESS_PATTERN,
          description: 'A queue, "actor.queue".',
        },
      },
    },
    required: ["actors"],
    additionalProperties: false,
    $defs: defs,
  };
}

/**
 * One option of an actor type, for documentation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUILTIN_ACTORS } from "../actors/mod.ts";
 * import { Registry } from "./registry.ts";
 * import { describeOptions, type OptionDoc } from "./schema.ts";
 * const spec = new Registry(BUILTIN_ACTORS).get("generator")!;
 * const interval: OptionDoc = describeOptions(spec)[0]!;
 * assert.equal(interval.name, "interval");
 * ```
 */
export interface OptionDoc {
  /** The option's key. */
  name: string;
  /** Its type in a short readable form, e.g. `number`, `"a" | "b"`. */
  type: string;
  /** Whether it must be given. */
  required: boolean;
  /** Its default as JSON, when it has one. */
  default?: string;
  /** Its description. */
  description: string;
}

/**
 * The options of `spec`, in schema order, for `actors show` and the
 * reference document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeOptions } from "./schema.ts";
 * import { generator } from "../actors/input/generator.ts";
 * const { description, ...interval } = describeOptions(generator)[0]!;
 * assert.deepEqual(interval, { name: "interval", type: "number", required: false, default: "1" });
 * assert.match(description, /./);
 * ```
 */
export function describeOptions(spec: ActorSpec): OptionDoc[] {
  const schema = optionsJsonSchema(spec);
  const required = new Set(
    Array.isArray(schema.required) ? schema.required as string[] : [],
  );
  return Object.entries(properties(schema)).map(([name, property]) => {
    const doc: OptionDoc = {
      name,
      type: typeName(property),
      required: required.has(name),
      description: typeof property.description === "string"
        ? property.description
        : "",
    };
    if ("default" in property) doc.default = JSON.stringify(property.default);
    return doc;
  });
}

/**
 * The keys allowed at `path` inside an options schema, for did-you-mean
 * suggestions; empty when unknown.
 */
export function optionKeysAt(
  spec: ActorSpec,
  path: readonly PropertyKey[],
): string[] {
  let schema: JsonSchema | undefined = optionsJsonSchema(spec);
  for (const key of path) {
    schema = properties(schema)[String(key)];
    if (schema === undefined) return [];
  }
  return Object.keys(properties(schema));
}

/** A short readable type of a JSON Schema. */
function typeName(schema: JsonSchema): string {
  if ("const" in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) {
    return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  }
  for (const key of ["anyOf", "oneOf"]) {
    const branches = schema[key];
    if (Array.isArray(branches)) {
      return [...new Set(branches.map((b) => typeName(b as JsonSchema)))]
        .join(" | ");
    }
  }
  const type = schema.type;
  if (Array.isArray(type)) return type.join(" | ");
  if (type === "array") {
    const items = schema.items;
    return typeof items === "object" && items !== null
      ? `${typeName(items as JsonSchema)}[]`
      : "array";
  }
  if (type === "object") {
    return schema.additionalProperties === false ? "object" : "mapping";
  }
  return typeof type === "string" ? type : "any";
}

const schemaCache = new WeakMap<object, JsonSchema>();

/** `z.toJSONSchema` of input values, without `$schema`; cached per schema. */
function toJsonSchema(schema: z.ZodType): JsonSchema {
  let cached = schemaCache.get(schema);
  if (cached === undefined) {
    try {
      cached = z.toJSONSchema(schema, {
        io: "input",
        unrepresentable: "any",
      }) as JsonSchema;
    } catch {
      cached = {};
    }
    delete cached.$schema;
    schemaCache.set(schema, cached);
  }
  return structuredClone(cached);
}

function properties(
  schema: JsonSchema | undefined,
): Record<string, JsonSchema> {
  const value = schema?.properties;
  return typeof value === "object" && value !== null
    ? value as Record<string, JsonSchema>
    : {};
}

function pick(
  from: Record<string, JsonSchema>,
  keys: readonly string[],
): Record<string, JsonSchema> {
  const picked: Record<string, JsonSchema> = {};
  for (const key of keys) {
    const value = from[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

/** Lets each property that does not take strings take a `${VAR}` instead. */
function withSubstitution(
  props: Record<string, JsonSchema>,
): Record<string, JsonSchema> {
  const result: Record<string, JsonSchema> = {};
  for (const [key, property] of Object.entries(props)) {
    if (acceptsString(property)) {
      result[key] = property;
      continue;
    }
    const { description, default: fallback, ...rest } = property;
    const wrapped: JsonSchema = {};
    if (description !== undefined) wrapped.description = description;
    if (fallback !== undefined) wrapped.default = fallback;
    wrapped.anyOf = [rest, { $ref: "#/$defs/substitution" }];
    result[key] = wrapped;
  }
  return result;
}

function acceptsString(schema: JsonSchema): boolean {
  const keys = Object.keys(schema).filter((key) =>
    key !== "description" && key !== "default" && key !== "title"
  );
  if (keys.length === 0) return true;
  const type = schema.type;
  if (type === "string") return !("enum" in schema) && !("pattern" in schema);
  if (Array.isArray(type) && type.includes("string")) return true;
  for (const key of ["anyOf", "oneOf"]) {
    const branches = schema[key];
    if (
      Array.isArray(branches) &&
      branches.some((branch) => acceptsString(branch as JsonSchema))
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Moves the `$defs` of an options schema into the document's `$defs` under
 * names prefixed by the actor type, rewriting the references to them.
 */
function hoistDefs(
  schema: JsonSchema,
  type: string,
  defs: Record<string, JsonSchema>,
): JsonSchema {
  const local = schema.$defs;
  const selfReferenced = JSON.stringify(schema).includes('"$ref":"#"');
  if ((typeof local !== "object" || local === null) && !selfReferenced) {
    return schema;
  }
  delete schema.$defs;
  const prefix = `options.${type}`;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== "object" || value === null) return value;
    const result: JsonSchema = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") {
        result.$ref = item === "#"
          ? `#/$defs/${prefix}`
          : item.replace(/^#\/\$defs\//, `#/$defs/${prefix}.`);
      } else {
        result[key] = rewrite(item);
      }
    }
    return result;
  };
  for (const [name, def] of Object.entries(local ?? {})) {
    defs[`${prefix}.${name}`] = rewrite(def) as JsonSchema;
  }
  const rewritten = rewrite(schema) as JsonSchema;
  if (selfReferenced) {
    defs[prefix] = rewritten;
    return { $ref: `#/$defs/${prefix}` };
  }
  return rewritten;
}
