/**
 * `nats_in`: takes messages from a NATS JetStream durable consumer shared by
 * any number of workers, and acknowledges each one only once every event made
 * from it has been handled downstream; or, in `core` mode, from a plain NATS
 * subscription.
 *
 * @module
 */

import { z } from "zod";
import {
  AckPolicy,
  type Consumer,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import {
  type Msg,
  type MsgHdrs,
  nanos,
  type Subscription,
} from "@nats-io/transport-node";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  describe,
  errorMessage,
  type EventError,
  sleep,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  attachTracker,
  CountingTracker,
  type TrackerOwner,
} from "../../core/tracking.ts";
import { failureEvent } from "./codec.ts";
import {
  checkConnectionOptions,
  connectNats,
  ensureStream,
  isNotFound,
  linkHealth,
  NATS_CONNECTION_FIELDS,
  type NatsConnectionFigures,
  type NatsLink,
  NOT_CONNECTED,
} from "../nats_connection.ts";

/** Longest wait at teardown for `produce` to stop pulling, in ms. */
const TEARDOWN_WAIT_MS = 2000;

/**
 * How long one pull request waits for messages, in ms (the client's minimum
 * is 1000): a stopping worker waits at most this long for its last request
 * to end, so that no message is sent to it after it stopped listening.
 */
const PULL_EXPIRES_MS = 1000;

/** Longest wait between two pull attempts after failures, in ms. */
const PULL_RETRY_MAX_MS = 5000;

/** A JetStream stream or consumer name: no spaces, dots, `*` or `>`. */
const NAME = /^[^\s.*>/\\]+$/;

/** Options of the `nats_in` actor. */
export const NatsInOptions = z.strictObject({
  ...NATS_CONNECTION_FIELDS,
  mode: z.enum(["jetstream", "core"]).default("jetstream").describe(
    '"jetstream": a durable pull consumer, each message acknowledged once handled (at least once); "core": a plain subscription, no acknowledgement (at most once).',
  ),
  stream: z.string().regex(NAME, "must have no spaces, dots, * or >")
    .optional().describe(
      'The JetStream stream to read (mode "jetstream").',
    ),
  subjects: z.array(z.string().min(1)).default([]).describe(
    'Mode "jetstream": the stream\'s subjects, used when the stream is created. Mode "core": the subjects to subscribe to (wildcards allowed).',
  ),
  durable: z.string().regex(NAME, "must have no spaces, dots, * or >")
    .optional().describe(
      'The durable consumer\'s name (mode "jetstream"); workers that share it share the messages.',
    ),
  create: z.boolean().default(false).describe(
    "Create the stream and the consumer when they do not exist (and update the consumer's max_ack_pending and ack_wait); otherwise bind to existing ones and fail to start when they are missing.",
  ),
  queue_group: z.string().min(1).optional().describe(
    'Mode "core": the queue group; subscribers of one group share the messages.',
  ),
  codec: z.enum(["json", "text", "raw"]).default("json").describe(
    'How message data becomes event data: "json" (parsed; a message that does not parse goes to "error"), "text" (UTF-8), "raw" (a Uint8Array).',
  ),
  batch: z.number().int().min(1).default(256).describe(
    "Messages asked for in one pull request; the next request goes out once they all arrived.",
  ),
  max_ack_pending: z.number().int().min(1).default(1000).describe(
    "Messages the consumer hands out without acknowledgement, across all workers: the back-pressure (set on the consumer when it is created).",
  ),
  ack_wait_ms: z.number().int().min(1).default(30_000).describe(
    "How long the server waits for an acknowledgement before it redelivers a message, in ms (set on the consumer when it is created).",
  ),
  nak_delay_ms: z.number().int().min(0).default(1000).describe(
    "When the events of a message failed, ask for its redelivery after this many ms.",
  ),
  max_deliver: z.number().int().min(1).default(5).describe(
    'Deliveries of a message before, failing again, it goes to the "error" queue with its delivery count and is then terminated.',
  ),
}).superRefine((options, ctx) => {
  checkConnectionOptions(options, ctx);
  if (options.mode === "jetstream") {
    for (const key of ["stream", "durable"] as const) {
      if (options[key] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `Mode "jetstream" needs "${key}"`,
        });
      }
    }
    if (options.queue_group !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["queue_group"],
        message:
          '"queue_group" is for mode "core"; in mode "jetstream" workers share a "durable" consumer',
      });
    }
  } else if (options.subjects.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["subjects"],
      message: 'Mode "core" needs at least one subject',
    });
  }
});

/** Parsed options of the `nats_in` actor. */
export type NatsInOptions = z.infer<typeof NatsInOptions>;

/** What `nats_in` writes under `header[<actor name>]`. */
export interface NatsInHeader {
  /** The subject the message was published to. */
  subject: string;
  /** The message's sequence number in the stream (mode "jetstream"). */
  seq?: number;
  /** How many times the message has been delivered, this time included. */
  delivered?: number;
  /** The message's NATS headers (several values joined with ", "). */
  headers: Record<string, string>;
}

/**
 * Reads a JetStream durable pull consumer (`stream`, `durable`) and makes one
 * event per message: data decoded by `codec`, `header[<name>]` =
 * {@link NatsInHeader}. Any number of workers can share the consumer; each
 * message goes to one of them at a time.
 *
 * Acknowledgement: each event carries a delivery tracker. The message is
 * acknowledged once every event derived from it was handled (written by an
 * output that confirmed the write, or dropped by a filter); when one of them
 * is lost (failed with no `error` queue, dropped by a full queue) the message
 * is negatively acknowledged and redelivered after `nak_delay_ms`. After
 * `max_deliver` failed deliveries it goes to this actor's `error` queue,
 * with `header.error.delivered`, and once handled there it is terminated
 * (`term`: never redelivered; it stays in the stream). When `error` is not
 * connected, it is logged and terminated. A message that does not decode goes
 * to `error` the same way at once.
 *
 * Back-pressure: the consumer's `max_ack_pending` bounds what all workers
 * hold unacknowledged, and pulling waits while the outbox is full.
 *
 * Speed: the messages that arrive together (one read of the socket, up to
 * `batch`) go on as one batch of events, and the acknowledgements of the
 * messages an output finished together leave in one write to the server.
 * Once a pull request has brought all it asked for, the next one goes out
 * before its messages are handled, so that the server has work queued for
 * this worker while it works: a worker holds at most `2 * batch` messages
 * it has not sent on yet.
 *
 * On stop, pulling stops at once (messages already pulled but not yet sent
 * are released for redelivery), and the actor waits, as long as the router's
 * stop allows, for the messages in flight to be handled and acknowledged;
 * those still unfinished at teardown are released for redelivery to other
 * workers. A worker that dies leaves its messages to be redelivered after
 * `ack_wait_ms`. Delivery is at least once: a message can be handled twice.
 *
 * Mode `core` subscribes to `subjects` (with an optional `queue_group`):
 * nothing is acknowledged and what arrives while the process is down is lost.
 *
 * @example
 * ```ts ignore
 * import { Router } from "../../core/router.ts";
 * import { natsIn } from "./nats_in.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * router.register(natsIn, "input", {
 *   servers: "nats://127.0.0.1:4222",
 *   stream: "EVENTS",
 *   subjects: ["events.>"],
 *   durable: "workers",
 *   create: true,
 * });
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * // ... each message is acknowledged once the sink has consumed it.
 * await router.stop();
 * ```
 */
export const natsIn: ActorSpec<NatsInOptions> = {
  type: "nats_in",
  kind: "input",
  summary:
    "Takes messages from a NATS JetStream durable consumer (acknowledged once handled) or a NATS subscription.",
  options: NatsInOptions,
  example: {
    servers: "nats://127.0.0.1:4222",
    stream: "EVENTS",
    subjects: ["events.>"],
    durable: "workers",
    create: true,
  },
  create: (name, options, settings) => new NatsIn(name, options, settings),
};

/** The figures of a `nats_in` actor (see {@link NatsIn.figures}). */
export type NatsInFigures = ActorFigures & NatsConnectionFigures & {
  /** Messages received and not yet acknowledged, released or terminated. */
  messages_in_flight: number;
};

/** The `nats_in` input actor. */
export class NatsIn extends Actor {
  readonly kind = "input";
  // Its only work is `produce`: nothing to tell `this.send` about.
  protected override readonly implicitSend = false;
  #options: NatsInOptions;
  #decode: (msg: Payload) => unknown;
  #link: NatsLink | undefined;
  #consumer: Consumer | undefined;
  #subscriptions: Subscription[] = [];
  #errorsConnected = false;
  /** Messages received and not yet acknowledged, released or terminated. */
  #inFlight = new Set<JsMsg>();
  #idle: (() => void) | undefined;
  #closed = Promise.withResolvers<void>();
  /** Resolves once `produce` has stopped pulling (if it started). */
  #pulled: Promise<void> | undefined;
  /** Set once the router stops: failed messages are then only released. */
  #stopping = false;
  /** Messages to release once the last pull request has ended. */
  #released: JsMsg[] | undefined;
  /** Events of the messages received, not sent yet: sent as one batch. */
  #ready: Event[] = [];
  /** Acknowledges a message once its events were handled, or redelivers it. */
  #tracking: TrackerOwner<JsMsg> = {
    handled: (msg) => this.#reply(msg, "ack"),
    lost: (msg, reason) => this.#lost(msg, reason),
  };
  /** Terminates a message once its error event was handled. */
  #errorTracking: TrackerOwner<JsMsg> = {
    handled: (msg) => this.#reply(msg, "term"),
    lost: (msg, reason) => {
      this.log.error(
        'Message {seq} on "{subject}" was lost on the error queue: {reason}; redelivering it in {delay} ms',
        {
          seq: msg.seq,
          subject: msg.subject,
          reason,
          delay: this.#options.nak_delay_ms,
        },
      );
      this.#reply(msg, "nak", this.#options.nak_delay_ms);
    },
  };

  /** Makes a NATS input; see {@link NatsInOptions}. */
  constructor(
    name: string,
    options: Partial<NatsInOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    this.#options = NatsInOptions.parse(options);
    this.#decode = decoder(this.#options.codec);
  }

  /** The NATS connection once set up: its state, for readiness and metrics. */
  get connection(): NatsLink | undefined {
    return this.#link;
  }

  /** Ready while connected to NATS. */
  override health(): { ready: boolean; reason?: string } {
    return linkHealth(this.#link);
  }

  /** The core's counters, with the connection's (and messages in flight). */
  override figures(): NatsInFigures {
    return {
      ...super.figures(),
      ...(this.#link?.figures() ?? NOT_CONNECTED),
      messages_in_flight: this.#inFlight.size,
    };
  }

  /** Messages received and not yet settled (mode "jetstream"). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Connects, then binds to (or creates) the stream and the consumer, or
   * subscribes in mode "core", so that a missing stream fails the start.
   */
  override async setup(): Promise<void> {
    this.#errorsConnected = this.pool.isConnected("error");
    const options = this.#options;
    const link = await connectNats(options, this.name, this.log);
    this.#link = link;
    try {
      if (options.mode === "core") {
        const queue = options.queue_group;
        for (const subject of options.subjects) {
          this.#subscriptions.push(
            link.connection.subscribe(
              subject,
              queue === undefined ? {} : { queue },
            ),
          );
        }
        // The server has the subscriptions once the flush returns.
        await link.connection.flush();
        return;
      }
      const manager = await jetstreamManager(link.connection);
      await ensureStream(
        manager,
        options.stream!,
        options.subjects,
        options.create,
        this.log,
      );
      await this.#ensureConsumer(manager);
      this.#consumer = await jetstream(link.connection).consumers.get(
        options.stream!,
        options.durable!,
      );
    } catch (error) {
      this.#link = undefined;
      this.#subscriptions = [];
      await link.close();
      throw error;
    }
  }

  override async produce(signal: AbortSignal): Promise<void> {
    if (this.#consumer === undefined) return this.#produceCore(signal);
    this.#pulled = this.#pull(this.#consumer, signal);
    await this.#pulled;
    await this.#settled();
  }

  /**
   * Lets the messages still in flight go for redelivery, then disconnects.
   * Waits a moment for `produce` to stop pulling first, so that the
   * messages it pulled but did not send are released while connected.
   */
  override async teardown(): Promise<void> {
    this.#stopping = true;
    this.#closed.resolve();
    if (this.#pulled !== undefined) {
      const abandon = new AbortController();
      await Promise.race([
        this.#pulled,
        sleep(TEARDOWN_WAIT_MS, abandon.signal),
      ]);
      abandon.abort();
      this.#flushReleased();
    }
    if (this.#inFlight.size > 0) {
      this.log.warn(
        "Released {count} unfinished messages for redelivery",
        { count: this.#inFlight.size },
      );
      for (const msg of this.#inFlight) this.#reply(msg, "nak", 0);
    }
    const link = this.#link;
    this.#subscriptions = [];
    if (link !== undefined) await link.close();
  }

  /**
   * Pulls batches of messages and sends their events until `signal` aborts.
   * Once a pull request has brought all it asked for, the next one goes out,
   * before its messages are handled: the server is never left waiting for
   * this worker. (One request waits at the server at a time: nats-server 2.9
   * sends the idle heartbeats of the first one only.) The events of the
   * messages that arrived together are sent on together, as one batch. Once
   * stopping, the last request is left to end (at most
   * {@link PULL_EXPIRES_MS}) so that no message is sent to a worker that no
   * longer listens; what it brings is released for redelivery.
   */
  async #pull(consumer: Consumer, signal: AbortSignal): Promise<void> {
    const onAbort = () => {
      this.#stopping = true;
      this.#released ??= [];
    };
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    const batch = this.#options.batch;
    const pull = () => {
      const request = consumer.fetch({
        max_messages: batch,
        expires: PULL_EXPIRES_MS,
      });
      // Read (and its failure handled) once the request before it is done.
      request.catch(() => {});
      return request;
    };
    let failures = 0;
    let next: Promise<ConsumerMessages> | undefined = signal.aborted
      ? undefined
      : pull();
    try {
      while (next !== undefined) {
        const current = next;
        next = undefined;
        try {
          const messages = await current;
          for await (const msg of messages) {
            if (
              next === undefined && !signal.aborted &&
              messages.getReceived() >= batch
            ) {
              next = pull();
            }
            if (signal.aborted) {
              this.#releaseSoon(msg);
            } else {
              const waiting = this.#receive(msg);
              if (waiting !== undefined) await waiting;
            }
            if (
              messages.getPending() === 0 || this.#ready.length >= MAX_BATCH
            ) {
              await this.#sendReady();
            }
          }
          failures = 0;
        } catch (error) {
          if (!signal.aborted) {
            const waitMs = Math.min(PULL_RETRY_MAX_MS, 100 * 2 ** failures++);
            this.log.warn(
              "Failed to pull messages: {error}; trying again in {waitMs} ms",
              { error: describe(error), waitMs },
            );
            await sleep(waitMs, signal);
          }
        }
        await this.#sendReady();
        if (next === undefined && !signal.aborted) next = pull();
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#flushReleased();
    }
  }

  /** Sends the events of the messages received so far, as one batch. */
  async #sendReady(): Promise<void> {
    const events = this.#ready;
    if (events.length === 0) return;
    this.#ready = [];
    for (const event of events) {
      const waiting = this.send(event);
      if (waiting !== undefined) await waiting;
    }
  }

  /**
   * Releases `msg` for redelivery once the last pull request has ended (at
   * once when it has).
   */
  #releaseSoon(msg: JsMsg): void {
    if (this.#released !== undefined) this.#released.push(msg);
    else this.#nak(msg, 0);
  }

  /**
   * Releases the messages held back while the last pull request ran; later
   * ones are released at once.
   */
  #flushReleased(): void {
    const released = this.#released;
    if (released === undefined) return;
    this.#released = undefined;
    for (const msg of released) this.#nak(msg, 0);
  }

  /**
   * Makes the event of `msg`, tracked, ready to send; or sends it to `error`
   * (resolving once there is room there) when it cannot be handled.
   */
  #receive(msg: JsMsg): Promise<void> | undefined {
    this.#inFlight.add(msg);
    const info = msg.info;
    const delivered = info.deliveryCount;
    let data: unknown;
    try {
      data = this.#decode(msg);
    } catch (error) {
      return this.#toError(msg, {
        name: error instanceof Error ? error.name : "Error",
        message:
          `Message ${info.streamSequence} on "${msg.subject}" cannot be decoded as ${this.#options.codec}: ${
            errorMessage(error)
          }`,
      }, msg.string());
    }
    const max = this.#options.max_deliver;
    if (delivered > max) {
      return this.#toError(msg, {
        name: "DeliveryError",
        message:
          `Message ${info.streamSequence} on "${msg.subject}" was delivered ${delivered} times, more than max_deliver (${max})`,
      }, data);
    }
    const event: Event = { header: { [this.name]: headerOf(msg) }, data };
    attachTracker(event, new CountingTracker(msg, this.#tracking));
    this.#ready.push(event);
    return undefined;
  }

  /** The events of `msg` were lost: redeliver it, or give up on it. */
  #lost(msg: JsMsg, reason: string): void {
    if (!this.#inFlight.has(msg)) return;
    const delivered = msg.info.deliveryCount;
    const max = this.#options.max_deliver;
    if (delivered < max || this.#stopping) {
      // While stopping, hand it to another worker at once.
      const delay = this.#stopping ? 0 : this.#options.nak_delay_ms;
      const text =
        'Message {seq} on "{subject}" failed (delivery {delivered} of {max}): {reason}; redelivering it in {delay} ms';
      const values = { seq: msg.seq, subject: msg.subject, delivered, max };
      // A stop that times out fails many at once: keep those out of sight.
      if (this.#stopping) this.log.debug(text, { ...values, reason, delay });
      else this.log.warn(text, { ...values, reason, delay });
      this.#reply(msg, "nak", delay);
      return;
    }
    let data: unknown;
    try {
      data = this.#decode(msg);
    } catch {
      data = msg.string();
    }
    void this.#toError(msg, {
      name: "DeliveryError",
      message:
        `Message ${msg.seq} on "${msg.subject}" failed ${delivered} deliveries (max_deliver ${max}): ${reason}`,
    }, data);
  }

  /**
   * Sends `msg` to the `error` queue as an event; once handled there the
   * message is terminated. Without an `error` queue it is logged and
   * terminated at once.
   */
  #toError(
    msg: JsMsg,
    failure: { name: string; message: string },
    data: unknown,
  ): Promise<void> | undefined {
    if (!this.#errorsConnected) {
      this.log.error("{message}; terminated it (no error queue)", {
        message: failure.message,
      });
      this.#reply(msg, "term");
      return undefined;
    }
    const header = headerOf(msg);
    const error: EventError & { delivered: number } = {
      actor: this.name,
      queue: "",
      name: failure.name,
      message: failure.message,
      time: new Date().toISOString(),
      delivered: header.delivered ?? 1,
    };
    const event: Event = { header: { [this.name]: header, error }, data };
    attachTracker(event, new CountingTracker(msg, this.#errorTracking));
    return this.send(event, "error");
  }

  /**
   * Acknowledges (`ack`), releases for redelivery after `delayMs` (`nak`) or
   * terminates (`term`: never redelivered) an in-flight message, once.
   */
  #reply(msg: JsMsg, how: "ack" | "nak" | "term", delayMs = 0): void {
    if (!this.#inFlight.delete(msg)) return;
    if (how === "nak") {
      // While the last pull request runs, it could take the message back.
      if (this.#released !== undefined) this.#released.push(msg);
      else this.#nak(msg, delayMs);
    } else {
      try {
        if (how === "ack") msg.ack();
        // No reason: servers before 2.10 ignore a "+TERM" that carries one.
        else msg.term();
      } catch (error) {
        // The connection is closed: the server redelivers after ack_wait.
        this.log.warn(
          'Cannot {how} message {seq} on "{subject}": {error}; the server will redeliver it',
          { how, seq: msg.seq, subject: msg.subject, error: describe(error) },
        );
      }
    }
    if (this.#inFlight.size === 0) this.#idle?.();
  }

  /** Has `msg` redelivered after `delayMs`. */
  #nak(msg: JsMsg, delayMs: number): void {
    try {
      msg.nak(delayMs);
    } catch {
      // The connection is closed: the server redelivers after ack_wait.
    }
  }

  /** Resolves once nothing is in flight, or at teardown. */
  async #settled(): Promise<void> {
    if (this.#inFlight.size === 0) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#idle = resolve;
    await Promise.race([promise, this.#closed.promise]);
    this.#idle = undefined;
  }

  async #produceCore(signal: AbortSignal): Promise<void> {
    const subscriptions = this.#subscriptions;
    const stop = () => {
      for (const subscription of subscriptions) {
        subscription.drain().catch(() => {});
      }
    };
    signal.addEventListener("abort", stop, { once: true });
    if (signal.aborted) stop();
    try {
      await Promise.all(
        subscriptions.map((subscription) => this.#pump(subscription)),
      );
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  async #pump(subscription: Subscription): Promise<void> {
    const name = this.name;
    try {
      for await (const msg of subscription) {
        const header = {
          subject: msg.subject,
          headers: headerRecord(msg.headers),
        } satisfies NatsInHeader;
        let data: unknown;
        try {
          data = this.#decode(msg);
        } catch (error) {
          const message =
            `A message on "${msg.subject}" cannot be decoded as ${this.#options.codec}: ${
              errorMessage(error)
            }`;
          if (this.#errorsConnected) {
            const waiting = this.send(
              failureEvent(name, header, {
                name: error instanceof Error ? error.name : "Error",
                message,
                sample: msg.string(),
              }),
              "error",
            );
            if (waiting !== undefined) await waiting;
          } else {
            this.log.error("{message}", { message });
          }
          continue;
        }
        const waiting = this.send({ header: { [name]: header }, data });
        if (waiting !== undefined) await waiting;
      }
    } catch (error) {
      this.log.error('Stopped reading subject "{subject}": {error}', {
        subject: subscription.getSubject(),
        error: describe(error),
      });
    }
  }

  /**
   * Binds to the durable consumer, or creates (or updates) it with `create`.
   * The consumer must be a pull consumer with explicit acknowledgement.
   */
  async #ensureConsumer(manager: JetStreamManager): Promise<void> {
    const options = this.#options;
    const stream = options.stream!;
    const durable = options.durable!;
    let info: ConsumerInfo | undefined;
    try {
      info = await manager.consumers.info(stream, durable);
    } catch (error) {
      if (!isNotFound(error, "consumer")) throw error;
    }
    if (info === undefined) {
      if (!options.create) {
        throw new Error(
          `Consumer "${durable}" does not exist on stream "${stream}": create it, or set "create: true" to have it made`,
        );
      }
      await manager.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(options.ack_wait_ms),
        max_ack_pending: options.max_ack_pending,
        // Redelivery is bounded by this actor (max_deliver), which sends the
        // message to "error" instead of letting the server drop it silently.
        max_deliver: -1,
      });
      this.log.info('Created consumer "{durable}" on stream "{stream}"', {
        durable,
        stream,
      });
      return;
    }
    const config = info.config;
    if (config.deliver_subject !== undefined && config.deliver_subject !== "") {
      throw new Error(
        `Consumer "${durable}" of stream "${stream}" is a push consumer: nats_in needs a pull consumer`,
      );
    }
    if (config.ack_policy !== AckPolicy.Explicit) {
      throw new Error(
        `Consumer "${durable}" of stream "${stream}" has ack_policy "${config.ack_policy}": nats_in needs "explicit"`,
      );
    }
    if (
      options.create &&
      (config.max_ack_pending !== options.max_ack_pending ||
        config.ack_wait !== nanos(options.ack_wait_ms))
    ) {
      await manager.consumers.update(stream, durable, {
        max_ack_pending: options.max_ack_pending,
        ack_wait: nanos(options.ack_wait_ms),
      });
    }
    const serverMax = config.max_deliver ?? -1;
    if (serverMax > 0 && serverMax <= options.max_deliver) {
      this.log.warn(
        'Consumer "{durable}" stops delivering a message after {serverMax} deliveries, before max_deliver ({max}) sends it to the error queue',
        { durable, serverMax, max: options.max_deliver },
      );
    }
  }
}

/** What a core or JetStream message gives to decode. */
type Payload = Pick<Msg, "data" | "string">;

/** The header values of a JetStream message. */
function headerOf(msg: JsMsg): NatsInHeader {
  const info = msg.info;
  return {
    subject: msg.subject,
    seq: info.streamSequence,
    delivered: info.deliveryCount,
    headers: headerRecord(msg.headers),
  };
}

/** NATS headers as a plain record; several values joined with ", ". */
function headerRecord(headers: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  for (const [key, values] of headers) record[key] = values.join(", ");
  return record;
}

/** Turns message data into event data. */
function decoder(codec: NatsInOptions["codec"]): (msg: Payload) => unknown {
  switch (codec) {
    case "json":
      return (msg) => JSON.parse(msg.string());
    case "text":
      return (msg) => msg.string();
    case "raw":
      // A copy, as a plain Uint8Array (the client hands out Node buffers).
      return (msg) => new Uint8Array(msg.data);
  }
}
