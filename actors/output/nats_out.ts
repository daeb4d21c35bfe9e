/**
 * `nats_out`: publishes each event as a NATS message, to JetStream with a
 * publish acknowledgement (the write is confirmed once the stream stored it),
 * or, in `core` mode, as a plain NATS publish.
 *
 * @module
 */

import { z } from "zod";
import {
  jetstream,
  type JetStreamClient,
  jetstreamManager,
  type JetStreamPublishOptions,
} from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  type Context,
  describe,
  errorMessage,
  sleep,
  whenAborted,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  checkConnectionOptions,
  connectNats,
  ensureStream,
  linkHealth,
  NATS_CONNECTION_FIELDS,
  type NatsConnectionFigures,
  type NatsLink,
  NOT_CONNECTED,
} from "../nats_connection.ts";
import { kindOf } from "../field.ts";
import { payloadBytes, toJson } from "../payload.ts";
import { compileTemplate, type Template, templateSchema } from "../template.ts";

/** Options of the `nats_out` actor. */
export const NatsOutOptions = z.strictObject({
  ...NATS_CONNECTION_FIELDS,
  mode: z.enum(["jetstream", "core"]).default("jetstream").describe(
    '"jetstream": publish and wait for the stream\'s acknowledgement; "core": plain publish, confirmed by a flush (the server received it; nothing is stored).',
  ),
  subject: templateSchema().describe(
    'The subject of each message, a template filled from the event: "orders.{data.region}", "{header.route.subject}". An event whose placeholder has no value goes to "error".',
  ),
  headers: z.record(z.string().min(1), templateSchema()).default({})
    .describe(
      'NATS message headers, name -> template: { "Trace-Id": "{header.http.trace}" }. A header whose placeholder has no value is left out.',
    ),
  msg_id: templateSchema().optional().describe(
    'Mode "jetstream": a template for the message id (Nats-Msg-Id); the stream drops a message whose id it saw within its duplicate window, so that a retried publish is stored once.',
  ),
  codec: z.enum(["json", "text", "raw"]).default("json").describe(
    'How event data becomes message data: "json" (JSON text, strings included), "text" (strings and bytes as they are, anything else as JSON), "raw" (bytes or strings only; anything else goes to "error").',
  ),
  max_in_flight: z.number().int().min(1).default(256).describe(
    'Mode "jetstream": most publishes waiting for their acknowledgement at once.',
  ),
  retries: z.number().int().min(0).default(3).describe(
    'Mode "jetstream": publish attempts after a failed one (no acknowledgement in time, no stream, connection lost) before the event goes to "error".',
  ),
  retry_backoff_ms: z.number().int().min(0).default(100).describe(
    "Wait before the first retry, in ms; doubled before each next one.",
  ),
  ack_timeout_ms: z.number().int().min(1).default(5000).describe(
    'Mode "jetstream": longest wait for the stream\'s acknowledgement of one publish, in ms.',
  ),
  stream: z.string().min(1).optional().describe(
    'Mode "jetstream": a stream that must exist at start (it is checked then), or that is made with "subjects" when "create" is true.',
  ),
  subjects: z.array(z.string().min(1)).default([]).describe(
    'The subjects of "stream" when it is created.',
  ),
  create: z.boolean().default(false).describe(
    'Create "stream" when it does not exist.',
  ),
}).superRefine((options, ctx) => {
  checkConnectionOptions(options, ctx);
  if (options.mode === "core") {
    for (const key of ["msg_id", "stream"] as const) {
      if (options[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `"${key}" is for mode "jetstream"`,
        });
      }
    }
  }
  if (options.create && options.stream === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["stream"],
      message: '"create" needs the "stream" to create',
    });
  }
});

/** Parsed options of the `nats_out` actor. */
export type NatsOutOptions = z.infer<typeof NatsOutOptions>;

/**
 * Publishes each event to the subject made from `subject`, with `headers`,
 * its data encoded by `codec`.
 *
 * Mode `jetstream`: up to `max_in_flight` publishes of an inbox batch wait
 * for their acknowledgement at once, and the batch counts as consumed (the
 * confirmation that lets an acknowledging input such as `nats_in` settle its
 * messages) only once each of its events was acknowledged by the stream. A
 * failed publish is retried `retries` times with a doubling backoff; then the
 * event goes to the `error` queue (the rest of the batch is unaffected). A
 * retried publish may be stored twice unless `msg_id` is set.
 *
 * Mode `core`: each batch is published, then flushed (a round trip to the
 * server) before it counts as consumed; nothing is stored by the server.
 *
 * An event whose subject template has no value, or whose data the codec
 * cannot encode, goes to `error` at once.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { natsOut } from "./nats_out.ts";
 *
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 10, data: { n: 1 } });
 * router.register(natsOut, "publish", {
 *   servers: "nats://127.0.0.1:4222",
 *   subject: "events.{header.input.seq}",
 *   stream: "EVENTS",
 *   subjects: ["events.>"],
 *   create: true,
 * });
 * router.connect("input.outbox", "publish.inbox");
 * await router.start();
 * await router.finished;
 * assert.equal((await router.stop()).delivered, 10); // every event was stored by the stream
 * ```
 */
export const natsOut: ActorSpec<NatsOutOptions> = {
  type: "nats_out",
  kind: "output",
  summary:
    "Publishes each event to NATS JetStream (confirmed by the stream's acknowledgement) or core NATS.",
  options: NatsOutOptions,
  example: {
    servers: "nats://127.0.0.1:4222",
    subject: "events.{header.input.seq}",
    headers: { "Event-Seq": "{header.input.seq}" },
    stream: "EVENTS",
    subjects: ["events.>"],
    create: true,
  },
  create: (name, options, settings) => new NatsOut(name, options, settings),
};

/** The `nats_out` output actor. */
export class NatsOut extends Actor {
  readonly kind = "output";
  #options: NatsOutOptions;
  #subject: Template;
  #headers: [string, Template][];
  #msgId: Template | undefined;
  #encode: (data: unknown) => Uint8Array;
  #link: NatsLink | undefined;
  #js: JetStreamClient | undefined;
  #abort = new AbortController();

  /** Makes a NATS output; see {@link NatsOutOptions}. */
  constructor(
    name: string,
    options: Partial<NatsOutOptions> & Pick<NatsOutOptions, "subject">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    this.#options = NatsOutOptions.parse(options);
    this.#subject = compileTemplate(this.#options.subject);
    this.#headers = Object.entries(this.#options.headers).map((
      [key, text],
    ) => [key, compileTemplate(text, { missing: "empty" })]);
    this.#msgId = this.#options.msg_id === undefined
      ? undefined
      : compileTemplate(this.#options.msg_id);
    this.#encode = encoder(this.#options.codec);
  }

  /** The NATS connection once set up: its state, for readiness and metrics. */
  get connection(): NatsLink | undefined {
    return this.#link;
  }

  /** Ready while connected to NATS. */
  override health(): { ready: boolean; reason?: string } {
    return linkHealth(this.#link);
  }

  /** The core's counters, with the connection's. */
  override figures(): ActorFigures & NatsConnectionFigures {
    return { ...super.figures(), ...(this.#link?.figures() ?? NOT_CONNECTED) };
  }

  /** Connects, and checks (or creates) `stream` when one is named. */
  override async setup(): Promise<void> {
    const options = this.#options;
    const link = await connectNats(options, this.name, this.log);
    this.#link = link;
    if (options.mode === "core") return;
    try {
      if (options.stream !== undefined) {
        await ensureStream(
          await jetstreamManager(link.connection),
          options.stream,
          options.subjects,
          options.create,
          this.log,
        );
      }
      this.#js = jetstream(link.connection);
    } catch (error) {
      this.#link = undefined;
      await link.close();
      throw error;
    }
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    // Stopped at once: stop waiting between retries.
    using _ = whenAborted(context.signal, () => this.#abort.abort());
    const failures: [Event, unknown][] = [];
    if (this.#options.mode === "core") {
      const connection = this.#link!.connection;
      for (const event of events) {
        try {
          const headers = this.#headersOf(event);
          connection.publish(
            this.#subject(event),
            this.#encode(event.data),
            headers === undefined ? {} : { headers },
          );
        } catch (error) {
          failures.push([event, error]);
        }
      }
      await connection.flush();
    } else {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < events.length) {
          const event = events[next++]!;
          try {
            await this.#publish(event);
          } catch (error) {
            failures.push([event, error]);
          }
        }
      };
      const lanes = Math.min(this.#options.max_in_flight, events.length);
      await Promise.all(Array.from({ length: lanes }, lane));
    }
    for (const [event, error] of failures) context.fail(event, error);
  }

  /** Disconnects once every publish is done. */
  override async teardown(): Promise<void> {
    this.#abort.abort();
    const link = this.#link;
    this.#js = undefined;
    if (link !== undefined) await link.close();
  }

  /** Publishes one event to JetStream, retrying; resolves on its ack. */
  async #publish(event: Event): Promise<void> {
    const subject = this.#subject(event);
    const data = this.#encode(event.data);
    const options: Partial<JetStreamPublishOptions> = {
      timeout: this.#options.ack_timeout_ms,
    };
    const headers = this.#headersOf(event);
    if (headers !== undefined) options.headers = headers;
    if (this.#msgId !== undefined) options.msgID = this.#msgId(event);
    const { retries, retry_backoff_ms } = this.#options;
    for (let attempt = 1;; attempt++) {
      try {
        await this.#js!.publish(subject, data, options);
        return;
      } catch (error) {
        if (
          attempt > retries ||
          !await sleep(
            retry_backoff_ms * 2 ** (attempt - 1),
            this.#abort.signal,
          )
        ) {
          throw publishError(subject, attempt, error);
        }
        this.log.debug(
          'Retrying a publish to "{subject}" after: {error}',
          { subject, error: describe(error) },
        );
      }
    }
  }

  /** The message headers of `event`, or `undefined` when there are none. */
  #headersOf(event: Event): MsgHdrs | undefined {
    let headers: MsgHdrs | undefined;
    for (const [key, template] of this.#headers) {
      const value = template(event);
      if (value === "") continue;
      headers ??= natsHeaders();
      headers.set(key, value);
    }
    return headers;
  }
}

/** Why a publish failed, after how many attempts, keeping the error's name. */
function publishError(
  subject: string,
  attempts: number,
  error: unknown,
): Error {
  const why = error instanceof Error && error.name === "JetStreamNotEnabled"
    ? "no stream takes this subject (or JetStream is not enabled)"
    : errorMessage(error);
  const failure = new Error(
    `Publish to "${subject}" failed after ${attempts} attempt${
      attempts === 1 ? "" : "s"
    }: ${why}`,
    { cause: error },
  );
  if (error instanceof Error) failure.name = error.name;
  return failure;
}

/** Turns event data into message bytes. */
function encoder(
  codec: NatsOutOptions["codec"],
): (data: unknown) => Uint8Array {
  const text = new TextEncoder();
  switch (codec) {
    case "json":
      return (data) => text.encode(toJson(data));
    case "text":
      return payloadBytes;
    case "raw":
      return (data) => {
        if (data instanceof Uint8Array) return data;
        if (typeof data === "string") return text.encode(data);
        throw new TypeError(
          `Codec "raw" publishes bytes or strings, not ${kindOf(data)}`,
        );
      };
  }
}
