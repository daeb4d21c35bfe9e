/**
 * `udp_in`: receives UDP datagrams and makes one event per datagram.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { z } from "zod";
import { Actor, type ActorSettings, errorMessage } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  type DecodeFailure,
  decodeMessage,
  type DecodeSink,
  failureEvent,
  listenOptions,
} from "./codec.ts";

/** Options of the `udp_in` actor. */
export const UdpInOptions = z.strictObject({
  ...listenOptions("UDP", 5170),
  codec: CodecSchema.default("lines").describe(
    'How to decode each datagram: "lines" (its UTF-8 text, kept whole), "ndjson" or "json" (its JSON value), "syslog" (its syslog record), "raw" (its bytes as a Uint8Array).',
  ),
});

/** Parsed options of the `udp_in` actor. */
export type UdpInOptions = z.infer<typeof UdpInOptions>;

/**
 * Bytes of datagrams kept while the input waits for room downstream; the
 * datagrams that would go past it are dropped.
 */
export const WAITING_BYTES = 1_048_576;

/**
 * Listens on `hostname:port` and makes `{ header: { <name>: { remote } },
 * data }` for each datagram received (`remote` is `"host:port"`). A datagram
 * that does not decode becomes an event on the `error` queue whose
 * `header.error` says why.
 *
 * UDP has no flow control: while the input waits for room downstream, the
 * datagrams received meanwhile wait in memory, up to {@link WAITING_BYTES}
 * (1 MiB); the ones past it are dropped, counted and logged at warning level,
 * as are those that overflow the system's socket buffer (without a trace
 * here).
 *
 * @example
 * ```ts
 * import { createSocket } from "node:dgram";
 * import { Router } from "../../core/router.ts";
 * import { UdpIn, udpIn } from "./udp_in.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * const input = router.register(udpIn, "input", { port: 0, codec: "json" }) as UdpIn;
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * const socket = createSocket("udp4");
 * await new Promise((sent) => socket.send('{"n":1}', input.port, "127.0.0.1", sent));
 * await new Promise<void>((closed) => socket.close(() => closed()));
 * await router.stop();
 * ```
 */
export const udpIn: ActorSpec<UdpInOptions> = {
  type: "udp_in",
  kind: "input",
  summary: "Receives UDP datagrams, one event per datagram.",
  options: UdpInOptions,
  example: { hostname: "127.0.0.1", port: 5170, codec: "json" },
  create: (name, options, settings) => new UdpIn(name, options, settings),
};

/** The `udp_in` input actor. */
export class UdpIn extends Actor {
  readonly kind = "input";
  #options: UdpInOptions;
  #socket: Socket | undefined;
  #closed: Promise<void> | undefined;
  #port: number | undefined;
  #errorsConnected = false;
  #sink: DecodeSink;
  /** The source of the datagram being decoded. */
  #remote = "";
  /** Set while the outbox has no room: what to wait for. */
  #waiting: Promise<void> | undefined;
  /** Datagrams received while waiting (copies), with their sources. */
  #queued: [Uint8Array, string][] = [];
  #queuedBytes = 0;
  /** Datagrams dropped since the last warning. */
  #dropped = 0;
  #droppedTotal = 0;

  /** Makes a UDP input; see {@link UdpInOptions}. */
  constructor(
    name: string,
    options: Partial<UdpInOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    this.#options = UdpInOptions.parse(options);
    this.#sink = {
      value: (data) =>
        this.#deliver({
          header: { [this.name]: { remote: this.#remote } },
          data,
        }),
      failure: (failure) => this.#fail(failure),
    };
  }

  /** The port listened on, known once the actor is set up. */
  get port(): number {
    if (this.#port === undefined) {
      throw new TypeError(`Actor "${this.name}" has not been set up`);
    }
    return this.#port;
  }

  /** Datagrams received that wait in memory for room downstream now. */
  get waiting(): number {
    return this.#queued.length;
  }

  /** Datagrams dropped so far because too many waited for room downstream. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /** Binds the socket, so that a port in use fails the start. */
  override async setup(): Promise<void> {
    this.#errorsConnected = this.pool.isConnected("error");
    const { hostname, port } = this.#options;
    const socket = createSocket(isIPv6(hostname) ? "udp6" : "udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, hostname, () => {
        socket.off("error", reject);
        resolve();
      });
    }).catch((error) => {
      socket.close();
      throw new Error(
        `Cannot listen on ${hostname}:${port} (UDP): ${errorMessage(error)}`,
        { cause: error },
      );
    });
    this.#closed = new Promise((resolve) => socket.once("close", resolve));
    socket.on(
      "error",
      (error: Error) =>
        this.log.error("UDP socket error: {error}", { error: error.message }),
    );
    this.#socket = socket;
    this.#port = socket.address().port;
    this.log.info("Listening on {hostname}:{port} (UDP)", {
      hostname,
      port: this.#port,
    });
  }

  /**
   * Receives until the router stops, then hands on the datagrams still
   * waiting for room.
   */
  override async produce(signal: AbortSignal): Promise<void> {
    const socket = this.#socket!;
    socket.on("message", this.#receive);
    const stopped = Promise.withResolvers<void>();
    const stop = () => stopped.resolve();
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    try {
      await Promise.race([this.#closed, stopped.promise]);
    } finally {
      signal.removeEventListener("abort", stop);
    }
    await this.#close();
    while (this.#waiting !== undefined) await this.#waiting;
  }

  override async teardown(): Promise<void> {
    await this.#close();
  }

  async #close(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return;
    this.#socket = undefined;
    socket.off("message", this.#receive);
    socket.close();
    await this.#closed;
  }

  #receive = (message: Uint8Array, from: RemoteInfo): void => {
    const remote = `${from.address}:${from.port}`;
    if (this.#waiting === undefined) {
      this.#decode(message, remote, false);
      return;
    }
    if (this.#queuedBytes + message.length > WAITING_BYTES) {
      this.#dropped++;
      this.#droppedTotal++;
      return;
    }
    // The socket may reuse `message`'s memory: keep a copy of its own size.
    this.#queued.push([new Uint8Array(message), remote]);
    this.#queuedBytes += message.length;
  };

  /**
   * Decodes one datagram into an event, or a failure, and sends it; `owned`
   * says whether `message` is a copy the event may keep.
   */
  #decode(message: Uint8Array, remote: string, owned: boolean): void {
    this.#remote = remote;
    const codec = this.#options.codec;
    decodeMessage(
      codec,
      codec === "raw" && !owned ? new Uint8Array(message) : message,
      this.#sink,
    );
  }

  /** Waits for room, sending the datagrams queued meanwhile. */
  async #wait(waiting: Promise<void>): Promise<void> {
    await waiting;
    this.#waiting = undefined;
    if (this.#dropped > 0) {
      this.log.warn(
        "Dropped {count} datagram(s) while waiting for room downstream",
        { count: this.#dropped },
      );
      this.#dropped = 0;
    }
    while (this.#queued.length > 0 && this.#waiting === undefined) {
      const [message, remote] = this.#queued.shift()!;
      this.#queuedBytes -= message.length;
      this.#decode(message, remote, true);
    }
  }

  /** The one place where this input hands the events it makes on. */
  #deliver(event: Event, queue = "outbox"): void {
    const waiting = this.send(event, queue);
    if (waiting !== undefined) this.#waiting = this.#wait(waiting);
  }

  #fail(failure: DecodeFailure): void {
    if (this.#errorsConnected) {
      this.#deliver(
        failureEvent(this.name, { remote: this.#remote }, failure),
        "error",
      );
      return;
    }
    this.log.warn("Skipped an unreadable datagram from {remote}: {message}", {
      remote: this.#remote,
      message: failure.message,
    });
  }
}
