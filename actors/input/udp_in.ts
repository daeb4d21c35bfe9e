/**
 * `udp_in`: receives UDP datagrams and makes one event per datagram.
 *
 * `Deno.listenDatagram` is still unstable in Deno 2.9: run with
 * `--unstable-net`, or set `"unstable": ["net"]` in `deno.json`.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, describe } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  type DecodeFailure,
  decodeMessage,
  type DecodeSink,
  failureEvent,
} from "./codec.ts";

/** Options of the `udp_in` actor. */
export const UdpInOptions = z.strictObject({
  hostname: z.string().min(1).default("127.0.0.1").describe(
    'The address to listen on ("0.0.0.0" for every IPv4 interface).',
  ),
  port: z.number().int().min(0).max(65535).default(5170).describe(
    "The UDP port to listen on; 0 picks a free port (see the actor's `port`).",
  ),
  codec: CodecSchema.default("lines").describe(
    'How to decode each datagram: "lines" (its UTF-8 text, kept whole), "ndjson" or "json" (its JSON value), "raw" (its bytes as a Uint8Array).',
  ),
});

/** Parsed options of the `udp_in` actor. */
export type UdpInOptions = z.infer<typeof UdpInOptions>;

/** Largest UDP payload over IPv4 and IPv6 without jumbograms, plus room. */
const DATAGRAM_BUFFER_BYTES = 65_536;

/**
 * Listens on `hostname:port` and makes `{ header: { <name>: { remote } },
 * data }` for each datagram received (`remote` is `"host:port"`). A datagram
 * that does not decode becomes an event on the `error` queue whose
 * `header.error` says why.
 *
 * UDP has no flow control: while the input waits for room downstream it does
 * not receive, and datagrams that overflow the system's socket buffer are
 * lost without a trace here.
 *
 * Needs `--unstable-net` (or `"unstable": ["net"]` in `deno.json`) in Deno
 * 2.9; without it the start fails saying so.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { UdpIn, udpIn } from "./udp_in.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * const input = router.register(udpIn, "input", { port: 0, codec: "json" }) as UdpIn;
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * const socket = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
 * await socket.send(new TextEncoder().encode('{"n":1}'), {
 *   hostname: "127.0.0.1",
 *   port: input.port,
 *   transport: "udp",
 * });
 * socket.close();
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
  #socket: Deno.DatagramConn | undefined;
  #port: number | undefined;
  #errorsConnected = false;

  /** Makes a UDP input; see {@link UdpInOptions}. */
  constructor(
    name: string,
    options: Partial<UdpInOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    this.#options = UdpInOptions.parse(options);
  }

  /** The port listened on, known once the actor is set up. */
  get port(): number {
    if (this.#port === undefined) {
      throw new TypeError(`Actor "${this.name}" has not been set up`);
    }
    return this.#port;
  }

  /** Binds the socket, so that a port in use fails the start. */
  override setup(): void {
    this.#errorsConnected = this.pool.outbound.get("error")?.target != null;
    if (typeof Deno.listenDatagram !== "function") {
      throw new TypeError(
        `Actor "${this.name}" (udp_in) needs Deno's "--unstable-net" flag or "unstable": ["net"] in deno.json`,
      );
    }
    const { hostname, port } = this.#options;
    this.#socket = Deno.listenDatagram({ hostname, port, transport: "udp" });
    this.#port = (this.#socket.addr as Deno.NetAddr).port;
    this.log.info("Listening on {hostname}:{port} (UDP)", {
      hostname,
      port: this.#port,
    });
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const socket = this.#socket!;
    const close = () => this.#close();
    signal.addEventListener("abort", close, { once: true });
    const codec = this.#options.codec;
    const buffer = new Uint8Array(DATAGRAM_BUFFER_BYTES);
    const name = this.name;
    let remote = "";
    let waiting: Promise<void> | undefined;
    const sink: DecodeSink = {
      value: (data) => {
        const sent = this.#deliver({ header: { [name]: { remote } }, data });
        if (sent !== undefined) waiting = sent;
      },
      failure: (failure) => {
        const sent = this.#fail(failure, remote);
        if (sent !== undefined) waiting = sent;
      },
    };
    try {
      while (!signal.aborted) {
        let datagram: Uint8Array;
        let from: Deno.Addr;
        try {
          [datagram, from] = await socket.receive(buffer);
        } catch (error) {
          if (signal.aborted || this.#socket === undefined) break;
          throw error;
        }
        remote = address(from);
        decodeMessage(
          codec,
          codec === "raw" ? datagram.slice() : datagram,
          sink,
        );
        if (waiting !== undefined) {
          const sent = waiting;
          waiting = undefined;
          await sent;
        }
      }
    } finally {
      signal.removeEventListener("abort", close);
      this.#close();
    }
  }

  override teardown(): void {
    this.#close();
  }

  #close(): void {
    const socket = this.#socket;
    if (socket !== undefined) {
      this.#socket = undefined;
      try {
        socket.close();
      } catch (error) {
        this.log.debug("Failed to close the socket: {error}", {
          error: describe(error),
        });
      }
    }
  }

  /** The one place where this input hands the events it makes on. */
  #deliver(event: Event, queue = "outbox"): Promise<void> | undefined {
    return this.send(event, queue);
  }

  #fail(failure: DecodeFailure, remote: string): Promise<void> | undefined {
    if (this.#errorsConnected) {
      return this.#deliver(
        failureEvent(this.name, { remote }, failure),
        "error",
      );
    }
    this.log.warn("Skipped an unreadable datagram from {remote}: {message}", {
      remote,
      message: failure.message,
    });
    return undefined;
  }
}

function address(addr: Deno.Addr): string {
  return "hostname" in addr ? `${addr.hostname}:${addr.port}` : addr.transport;
}
