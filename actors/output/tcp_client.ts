/**
 * `tcp_client`: an output that writes each event as a frame on a TCP
 * connection, reconnecting with exponential backoff when it breaks.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  errorMessage,
  whenAborted,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { type CertificateHolder, TcpClientTlsSchema } from "../../core/tls.ts";
import { ByteBuilder, payload, utf8Length } from "../payload.ts";
import {
  checkReconnectWaits,
  TcpConnection,
  tcpReconnectFields,
} from "../tcp_connection.ts";

/** Options of the `tcp_client` actor. */
export const TcpClientOptions = z.strictObject({
  hostname: z.string().min(1).default("127.0.0.1").describe(
    "The host to connect to: a name or an IP address.",
  ),
  port: z.number().int().min(1).max(65_535).describe(
    "The port to connect to.",
  ),
  framing: z.enum(["newline", "length", "octet_counting"]).default("newline")
    .describe(
      'How events are delimited: "newline" writes each one followed by "\\n" (string data holding "\\n" makes several frames: encode such data as JSON first, or use "length" or "octet_counting"); "length" writes a 4-byte big-endian length, then the bytes; "octet_counting" writes the length in decimal digits and a space, then the bytes (RFC 6587, what syslog receivers expect over TCP).',
    ),
  ...tcpReconnectFields(10_000),
  max_wait: z.number().positive().optional().describe(
    'Seconds a batch of events may wait for the connection (connecting, reconnecting, sending again after a failed or timed-out write) before its events go to the "error" queue; without it, they wait until the peer is back or the actor stops.',
  ),
  tls: TcpClientTlsSchema.optional(),
}).superRefine(checkReconnectWaits);

/** Parsed options of the `tcp_client` actor. */
export type TcpClientOptions = z.infer<typeof TcpClientOptions>;

/**
 * Writes each event to a TCP connection, framed by a newline or by a length
 * prefix: string data as UTF-8 text, bytes as they are, anything else as
 * JSON. Each batch of the inbox is one write, and it counts as consumed once
 * the operating system took all of it.
 *
 * The connection is opened when the pipeline starts. When it cannot be opened,
 * or breaks (the peer closes it, a write fails), the actor connects again
 * after `reconnect_min_ms`, doubling the wait up to `reconnect_max_ms`. Events
 * wait meanwhile: the batch being written waits for the connection, and the
 * inbox fills up to its capacity, then back-pressure holds the producers. With
 * `max_wait`, a batch that waited that long goes to the `error` queue instead.
 *
 * A peer that accepts but does not read fills the socket's buffers, and the
 * write waits. From one second without progress, `health()` says the actor is
 * not ready and why (the admin server's `/ready` answers 503 naming it); after
 * `write_timeout` seconds without progress (default 30) the connection is
 * logged as lost, closed and replaced by a new one, and the batch is written
 * again there. The actor stays not ready until a write is complete.
 *
 * A batch whose write failed or timed out is written again, whole, on the
 * next connection (or goes to `error` once `max_wait` has passed): delivery is
 * at-least-once, and the peer may get the start of a batch twice (the first
 * time on the broken connection). The events are retried rather than failed
 * because a new connection often reaches a peer that reads again (restarted,
 * or another one behind a load balancer), and back-pressure meanwhile holds
 * the producers instead of losing events. TCP itself cannot tell whether the
 * peer read what was written: events written just before the peer went away
 * without closing, or left in the buffers of a connection replaced after a
 * timeout, may be lost; a protocol with acknowledgements is needed for more.
 * Anything the peer sends is read and ignored.
 *
 * With `tls` it connects with TLS (see `TcpClientTlsSchema`): the server's
 * certificate must chain to a trusted CA (the system's, or `tls.ca`) and
 * name `tls.server_name` (or `hostname`); `tls.cert` and `tls.key` are
 * presented when the server asks for a client certificate.
 * `reloadCertificates()` (SIGHUP under `compysition run`) reads the files
 * again for the next connection. With `tls.insecure_skip_verify: true` the
 * server's certificate is not verified at all (a lab peer with a
 * self-signed one): a warning says so at start, and the connection is
 * `node:tls`'s, handed over through a private Unix socket; writes, timeouts,
 * reconnection, back-pressure and the drain at stop are the same. A peer
 * that never answers the handshake is warned about once, and `node:tls`,
 * verifying the server as Deno does, makes the connections until a
 * handshake completes (see `TcpConnection`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { tcpClient } from "./tcp_client.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const received = (async () => {
 *   const conn = await listener.accept();
 *   return await new Response(conn.readable).text();
 * })();
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 2, data: "n={{seq}}" });
 * router.register(tcpClient, "send", { port: listener.addr.port });
 * router.connect("input.outbox", "send.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * assert.equal(await received, "n=1\nn=2\n");
 * listener.close();
 * ```
 */
export const tcpClient: ActorSpec<TcpClientOptions> = {
  type: "tcp_client",
  kind: "output",
  summary:
    "Writes each event as a frame on a TCP connection, reconnecting with backoff.",
  options: TcpClientOptions,
  example: {
    hostname: "127.0.0.1",
    port: 5140,
    framing: "newline",
    reconnect_min_ms: 100,
    reconnect_max_ms: 10_000,
    write_timeout: 30,
    max_wait: 60,
  },
  create: (name, options, settings) => new TcpClient(name, options, settings),
};

const NEWLINE = 10;

/** The `tcp_client` output actor. */
export class TcpClient extends Actor implements CertificateHolder {
  readonly kind = "output";
  #tcp: TcpConnection;
  #framing: TcpClientOptions["framing"];
  #maxWaitMs: number;
  #bytes = new ByteBuilder();
  /** Failed writes since the last one that succeeded. */
  #failures = 0;

  /** Makes a TCP client; see {@link TcpClientOptions}. */
  constructor(
    name: string,
    options: Partial<TcpClientOptions> & Pick<TcpClientOptions, "port">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = TcpClientOptions.parse(options);
    this.#tcp = new TcpConnection(parsed, () => this.log);
    this.#framing = parsed.framing;
    this.#maxWaitMs = (parsed.max_wait ?? Infinity) * 1000;
  }

  /** Whether the connection is open now. */
  get connected(): boolean {
    return this.#tcp.current !== undefined;
  }

  /** Connections opened so far (the first one and every reconnection). */
  get connections(): number {
    return this.#tcp.connections;
  }

  /**
   * Not ready while not connected, while a write has made no progress for a
   * second, and after a write timed out until one is complete.
   */
  override health(): { ready: boolean; reason?: string } {
    return this.#tcp.health();
  }

  /**
   * Reads the `tls` files again for the connections from now on; `false`
   * without `tls` (see `CertificateHolder`).
   */
  reloadCertificates(): boolean {
    return this.#tcp.reloadCertificates();
  }

  override setup(): void {
    this.#tcp.connect();
  }

  override async consumeBatch(
    events: Event[],
    context: Context,
  ): Promise<void> {
    // Stopped at once: give up waiting for the connection.
    using _ = whenAborted(context.signal, () => this.#tcp.abort());
    const failed = this.#encode(events);
    for (const [event, error] of failed ?? []) context.fail(event, error);
    const bytes = this.#bytes.bytes();
    const deadline = Date.now() + this.#maxWaitMs;
    /** Why the last write of this batch failed. */
    let failure: string | undefined;
    while (bytes.length > 0) {
      const conn = this.#tcp.current ??
        await this.#connection(deadline, failure);
      try {
        await this.#tcp.write(conn, bytes);
        this.#failures = 0;
        break;
      } catch (error) {
        if (this.#tcp.stopped) throw error;
        const reason = errorMessage(error);
        failure = reason;
        this.#tcp.drop(conn, reason);
        if (Date.now() >= deadline) {
          throw new Error(
            `Could not write to ${this.#tcp.address} within ${
              this.#maxWaitMs / 1000
            } s: ${reason}`,
            { cause: error },
          );
        }
        // The first failure of a run is a warning, the next ones debug.
        const text =
          "Writing to {address} failed; sending {count} event(s) again on a new connection: {error}";
        const values = {
          address: this.#tcp.address,
          count: events.length,
          error: reason,
        };
        if (this.#failures++ === 0) this.log.warn(text, values);
        else this.log.debug(text, values);
      }
    }
  }

  override async teardown(): Promise<void> {
    await this.#tcp.close();
  }

  /**
   * Encodes `events` into the byte builder, one frame each. Returns the events
   * that could not be encoded with their errors.
   */
  #encode(events: Event[]): [Event, unknown][] | undefined {
    const bytes = this.#bytes;
    bytes.clear();
    let failed: [Event, unknown][] | undefined;
    for (let i = 0; i < events.length; i++) {
      let data: string | Uint8Array;
      try {
        data = payload(events[i]!.data);
      } catch (error) {
        (failed ??= []).push([events[i]!, error]);
        continue;
      }
      const start = bytes.length;
      const framing = this.#framing;
      if (framing === "length") bytes.addUint32(0);
      else if (framing === "octet_counting") {
        const length = typeof data === "string"
          ? utf8Length(data)
          : data.length;
        bytes.addText(`${length} `);
      }
      if (typeof data === "string") bytes.addText(data);
      else bytes.addBytes(data);
      if (framing === "length") {
        bytes.setUint32(start, bytes.length - start - 4);
      } else if (framing === "newline") bytes.addByte(NEWLINE);
    }
    return failed;
  }

  /**
   * The connection once open; throws after `deadline` or when stopping,
   * naming `failure`, why the batch's last write failed, when there is one.
   */
  async #connection(
    deadline: number,
    failure: string | undefined,
  ): Promise<Deno.Conn> {
    if (deadline === Infinity) return await this.#tcp.connect();
    const expired = new AbortController();
    const seconds = this.#maxWaitMs / 1000;
    const address = this.#tcp.address;
    const timer = setTimeout(
      () =>
        expired.abort(
          new Error(
            failure === undefined
              ? `No connection to ${address} within ${seconds} s`
              : `Could not write to ${address} within ${seconds} s: ${failure}`,
          ),
        ),
      Math.max(0, deadline - Date.now()),
    );
    try {
      return await this.#tcp.connectWithin(expired.signal);
    } finally {
      clearTimeout(timer);
    }
  }
}
