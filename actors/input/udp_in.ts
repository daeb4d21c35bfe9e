/**
 * `udp_in`: receives UDP datagrams and makes one event per datagram.
 *
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  errorMessage,
  type Takeover,
} from "../../core/actor.ts";
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
import { RepeatedLog } from "./repeated_log.ts";

/** Options of the `udp_in` actor. */
export const UdpInOptions = z.strictObject({
  ...listenOptions("UDP", 5170),
  codec: CodecSchema.default("lines").describe(
    'How to decode each datagram: "lines" (its UTF-8 text, kept whole), "ndjson" or "json" (its JSON value), "syslog" (its syslog record), "raw" (its bytes as a Uint8Array).',
  ),
  max_waiting_datagrams: z.number().int().min(1).default(10_000).describe(
    "Most datagrams kept in memory while the input waits for room downstream (empty ones count); the ones past it are dropped, counted in the outbox's dropped_total and logged at most once a second.",
  ),
  max_waiting_bytes: z.number().int().min(1).default(1_048_576).describe(
    "Most bytes of datagrams kept in memory while the input waits for room downstream; the ones past it are dropped, counted and logged like those past max_waiting_datagrams.",
  ),
});

/** Parsed options of the `udp_in` actor. */
export type UdpInOptions = z.infer<typeof UdpInOptions>;

/**
 * Listens on `hostname:port` and makes `{ header: { <name>: { remote } },
 * data }` for each datagram received (`remote` is `"host:port"`). A datagram
 * that does not decode becomes an event on the `error` queue whose
 * `header.error` says why (without an `error` queue it is logged, at most
 * once a second with a count).
 *
 * UDP has no flow control: while the input waits for room downstream, the
 * datagrams received meanwhile wait in memory, at most
 * `max_waiting_datagrams` of them and `max_waiting_bytes` in all. The ones
 * past either bound are dropped as they arrive: counted at once in the
 * `dropped_total` of the input's `outbox` (so `/metrics` and the stop report
 * show them) and logged at warning level at most once a second with a count.
 * Datagrams that overflow the system's socket buffer are lost without a trace
 * here.
 *
 * On stop the socket is closed and the datagrams waiting are sent on as
 * there is room; if the stop times out first, those left are dropped and
 * counted at once.
 *
 * Figures (besides the common ones): `waiting_datagrams` and `waiting_bytes`
 * kept now, `dropped_datagrams_total` dropped so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSocket } from "node:dgram";
 * import { Router } from "../../core/router.ts";
 * import { UdpIn, udpIn } from "./udp_in.ts";
 *
 * const router = new Router();
 * const input = router.register(udpIn, "input", { port: 0, codec: "json" }) as UdpIn;
 * const events = router.readable("input.outbox").getReader();
 * await router.start();
 * const socket = createSocket("udp4");
 * await new Promise((sent) => socket.send('{"n":1}', input.port, "127.0.0.1", sent));
 * await new Promise<void>((closed) => socket.close(() => closed()));
 * assert.deepEqual((await events.read()).value?.data, { n: 1 });
 * const end = events.read(); // asks for more: the event was delivered
 * assert.equal((await router.stop()).delivered, 1);
 * assert.equal((await end).done, true);
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

/**
 * The figures of a `udp_in`: the common ones and its waiting datagrams'.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UdpIn, type UdpInFigures } from "./udp_in.ts";
 * const figures: UdpInFigures = new UdpIn("input").figures();
 * assert.equal(figures.waiting_datagrams, 0);
 * ```
 */
export interface UdpInFigures extends ActorFigures {
  /** Datagrams kept in memory now, waiting for room downstream. */
  waiting_datagrams: number;
  /** Their bytes. */
  waiting_bytes: number;
  /** Datagrams dropped so far because too many waited. */
  dropped_datagrams_total: number;
}

/** The `udp_in` input actor. */
export class UdpIn extends Actor {
  readonly kind = "input";
  #options: UdpInOptions;
  #socket: Socket | undefined;
  #closed: Promise<void> | undefined;
  /** The socket of the actor this one replaces, taken over in setup. */
  #inherited: { socket: Socket; closed: Promise<void> } | undefined;
  #port: number | undefined;
  #errorsConnected = false;
  #sink: DecodeSink;
  /** The source of the datagram being decoded. */
  #remote = "";
  /** Set while the outbox has no room: what to wait for. */
  #waiting: Promise<void> | undefined;
  /** Datagrams received while waiting (copies), with their sources. */
  #queued: DatagramRing;
  #dropped: RepeatedLog<{ waiting: number; bytes: number }>;
  #skipped: RepeatedLog<{ remote: string; message: string }>;
  #socketErrors: RepeatedLog<string>;

  /** Makes a UDP input; see {@link UdpInOptions}. */
  constructor(
    name: string,
    options: Partial<UdpInOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    this.#options = UdpInOptions.parse(options);
    this.#queued = new DatagramRing(this.#options.max_waiting_datagrams);
    this.#sink = {
      value: (data) =>
        this.#deliver({
          header: { [this.name]: { remote: this.#remote } },
          data,
        }),
      failure: (failure) => this.#fail(failure),
    };
    this.#dropped = new RepeatedLog((count, { waiting, bytes }) =>
      this.log.warn(
        "Dropped {count} datagram(s) while waiting for room downstream: {waiting} datagram(s) of {bytes} bytes were waiting (max_waiting_datagrams, max_waiting_bytes)",
        { count, waiting, bytes },
      )
    );
    this.#skipped = new RepeatedLog((count, { remote, message }) =>
      this.log.warn(
        "Skipped {count} unreadable datagram(s), the last from {remote}: {message}",
        { count, remote, message },
      )
    );
    this.#socketErrors = new RepeatedLog((count, error) =>
      this.log.error("UDP socket error ({count} time(s)): {error}", {
        count,
        error,
      })
    );
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
    return this.#dropped.total;
  }

  /** The common figures and the waiting datagrams'. */
  override figures(): UdpInFigures {
    return {
      ...super.figures(),
      waiting_datagrams: this.#queued.length,
      waiting_bytes: this.#queued.bytes,
      dropped_datagrams_total: this.#dropped.total,
    };
  }

  /**
   * Binds the socket, so that a port in use fails the start; or, replacing
   * a `udp_in` on the same address in a reload, receives on its socket (see
   * {@link UdpIn.takeOver}).
   */
  override async setup(): Promise<void> {
    this.#errorsConnected = this.pool.isConnected("error");
    const { hostname, port } = this.#options;
    const inherited = this.#inherited;
    if (inherited !== undefined) {
      this.#socket = inherited.socket;
      this.#closed = inherited.closed;
      this.#port = inherited.socket.address().port;
      this.log.info(
        "Taking over the socket listening on {hostname}:{port} (UDP)",
        { hostname, port: this.#port },
      );
      return;
    }
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
      (error: Error) => this.#socketErrors.note(error.message),
    );
    this.#socket = socket;
    this.#port = socket.address().port;
    this.log.info("Listening on {hostname}:{port} (UDP)", {
      hostname,
      port: this.#port,
    });
  }

  /**
   * Reload: receives on the socket of `previous`, a `udp_in` on the same
   * address, instead of binding its own: from the moment the reload
   * commits, datagrams are this actor's, and none is lost to a closed
   * port. `previous` still hands on those waiting for room.
   */
  override takeOver(previous: Actor): Takeover | undefined {
    const socket = previous instanceof UdpIn ? previous.#socket : undefined;
    if (socket === undefined) return undefined;
    const old = previous as UdpIn;
    this.#inherited = { socket, closed: old.#closed! };
    return {
      commit: () => {
        this.#inherited = undefined;
        old.#socket = undefined;
        socket.off("message", old.#receive);
        socket.off("message", this.#receive);
        socket.on("message", this.#receive);
      },
      cancel: () => {
        this.#inherited = undefined;
        if (this.#socket === socket) {
          this.#socket = undefined;
          this.#closed = undefined;
        }
      },
    };
  }

  /**
   * Receives until the router stops, then hands on the datagrams still
   * waiting for room.
   */
  override async produce(signal: AbortSignal): Promise<void> {
    const socket = this.#socket!;
    socket.off("message", this.#receive);
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
    this.#flushLogs();
  }

  override async teardown(): Promise<void> {
    await this.#close();
    this.#flushLogs();
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
    const queued = this.#queued;
    if (
      queued.length >= this.#options.max_waiting_datagrams ||
      queued.bytes + message.length > this.#options.max_waiting_bytes
    ) {
      this.#drop(1);
      return;
    }
    // The socket may reuse `message`'s memory: keep a copy of its own size.
    queued.push(new Uint8Array(message), remote);
  };

  /** Drops `count` datagrams received, counting and logging them. */
  #drop(count: number): void {
    this.dropCreated(count);
    const queued = this.#queued;
    this.#dropped.note({ waiting: queued.length, bytes: queued.bytes }, count);
  }

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
    const queued = this.#queued;
    if (this.outbound("outbox").closed && queued.length > 0) {
      // A stop that timed out threw the queues away: nothing can be sent.
      this.#drop(queued.length);
      queued.clear();
      return;
    }
    while (queued.length > 0 && this.#waiting === undefined) {
      const remote = queued.remote;
      this.#decode(queued.shift(), remote, true);
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
    this.#skipped.note({ remote: this.#remote, message: failure.message });
  }

  #flushLogs(): void {
    this.#dropped.flush();
    this.#skipped.flush();
    this.#socketErrors.flush();
  }
}

/**
 * Datagrams and their sources, first in first out, in a ring that grows up
 * to `capacity`: taking the oldest costs the same however many wait.
 */
class DatagramRing {
  readonly #capacity: number;
  #messages: (Uint8Array | undefined)[] = [undefined];
  #remotes: string[] = [""];
  #head = 0;
  #length = 0;
  #bytes = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Datagrams held. */
  get length(): number {
    return this.#length;
  }

  /** Their bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The source of the oldest datagram (hold one first). */
  get remote(): string {
    return this.#remotes[this.#head]!;
  }

  /** Adds a datagram (there must be room: fewer than `capacity` held). */
  push(message: Uint8Array, remote: string): void {
    if (this.#length === this.#messages.length) this.#grow();
    const at = (this.#head + this.#length) % this.#messages.length;
    this.#messages[at] = message;
    this.#remotes[at] = remote;
    this.#length++;
    this.#bytes += message.length;
  }

  /** Takes the oldest datagram (hold one first). */
  shift(): Uint8Array {
    const head = this.#head;
    const message = this.#messages[head]!;
    this.#messages[head] = undefined;
    this.#remotes[head] = "";
    this.#head = (head + 1) % this.#messages.length;
    this.#length--;
    this.#bytes -= message.length;
    return message;
  }

  /** Forgets every datagram. */
  clear(): void {
    this.#messages = [undefined];
    this.#remotes = [""];
    this.#head = 0;
    this.#length = 0;
    this.#bytes = 0;
  }

  /** Doubles the room (at most to `capacity`), oldest first. */
  #grow(): void {
    const size = Math.min(this.#capacity, this.#messages.length * 2);
    const messages: (Uint8Array | undefined)[] = new Array(size);
    const remotes: string[] = new Array(size);
    for (let i = 0; i < this.#length; i++) {
      const at = (this.#head + i) % this.#messages.length;
      messages[i] = this.#messages[at];
      remotes[i] = this.#remotes[at]!;
    }
    this.#messages = messages;
    this.#remotes = remotes;
    this.#head = 0;
  }
}
