/**
 * `tcp_server`: accepts TCP connections and makes one event per line or
 * length-prefixed frame they send.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  describe,
  sleep,
} from "../../core/actor.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  CodecSchema,
  DEFAULT_MAX_LINE_BYTES,
  InputSink,
  LengthFrameDecoder,
  listenOptions,
  READ_BUFFER_BYTES,
  StreamDecoder,
} from "./codec.ts";
import { SyslogFrameDecoder } from "./syslog_framing.ts";

/** Options of the `tcp_server` actor. */
export const TcpServerOptions = z.strictObject({
  ...listenOptions("TCP", 5170),
  framing: z.enum(["newline", "length", "syslog"]).default("newline").describe(
    'How messages are delimited: "newline" (each ends with "\\n"), "length" (each starts with its length as a 4-byte big-endian unsigned integer) or "syslog" (per connection: octet counting as RFC 6587 when the first byte is a digit, else newline).',
  ),
  codec: CodecSchema.default("lines").describe(
    'How to decode each message: "lines" (its UTF-8 text), "ndjson" or "json" (its JSON value), "syslog" (its syslog record), "raw" (its bytes as a Uint8Array).',
  ),
  max_connections: z.number().int().min(1).default(1000).describe(
    "Most connections open at once; a connection over it is closed at once and a warning logged.",
  ),
  max_line_bytes: z.number().int().min(1).default(DEFAULT_MAX_LINE_BYTES)
    .describe(
      'With framing "newline" (or "syslog" without octet counting): longest line in bytes; a longer one becomes an event on the "error" queue and reading goes on after it.',
    ),
  max_frame_bytes: z.number().int().min(1).default(DEFAULT_MAX_LINE_BYTES)
    .describe(
      'With framing "length" or "syslog" (octet counting): longest frame in bytes; a longer one is skipped, becomes an event on the "error" queue, and reading goes on after it.',
    ),
  drain_timeout: z.number().min(0).default(2).describe(
    "On stop, seconds to wait for each client to close its side after the server closed its own; what arrives meanwhile is read.",
  ),
});

/** Parsed options of the `tcp_server` actor. */
export type TcpServerOptions = z.infer<typeof TcpServerOptions>;

/**
 * Listens on `hostname:port` and makes `{ header: { <name>: { remote, line }
 * }, data }` for each message a client sends (`remote` is `"host:port"`,
 * `line` the line number in the connection when it is newline-framed).
 *
 * With framing `"newline"` a `"\r"` before the `"\n"` is dropped (codecs
 * `lines`, `ndjson`, `json`) and the JSON codecs skip blank lines. A message
 * that is too long or does not decode becomes an event on the `error` queue
 * whose `header.error` says why; the connection goes on.
 *
 * Framing `"syslog"` with codec `"syslog"` receives syslog as rsyslog,
 * syslog-ng and `logger` send it over TCP: each connection is octet-counted
 * (RFC 6587) when its first byte is a digit, else newline-framed (see
 * `SyslogFrameDecoder`); a connection whose octet counting is lost is closed
 * after its failure event.
 * Back-pressure: a connection is not read while its last events wait for
 * room downstream, so TCP flow control slows its client.
 *
 * On stop the server stops accepting, shuts down the sending side of every
 * connection (clients read end-of-stream), reads what the clients still send
 * until they close or `drain_timeout` passes, then closes them. An
 * unfinished last line counts when the client closes; it is dropped (and
 * logged) when the connection is closed by the timeout.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { TcpServer, tcpServer } from "./tcp_server.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * const server = router.register(tcpServer, "input", { port: 0, codec: "ndjson" }) as TcpServer;
 * router.register(nullOutput, "sink");
 * router.connect("input.outbox", "sink.inbox");
 * await router.start();
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
 * await conn.write(new TextEncoder().encode('{"n":1}\n'));
 * conn.close();
 * await router.stop();
 * ```
 */
export const tcpServer: ActorSpec<TcpServerOptions> = {
  type: "tcp_server",
  kind: "input",
  summary:
    "Accepts TCP connections and makes an event per line or length-prefixed frame.",
  options: TcpServerOptions,
  example: { hostname: "127.0.0.1", port: 5170, codec: "ndjson" },
  create: (name, options, settings) => new TcpServer(name, options, settings),
};

/** The `tcp_server` input actor. */
export class TcpServer extends Actor {
  readonly kind = "input";
  #options: TcpServerOptions;
  #listener: Deno.TcpListener | undefined;
  #port: number | undefined;
  #open = new Set<Deno.TcpConn>();

  /** Makes a TCP server input; see {@link TcpServerOptions}. */
  constructor(
    name: string,
    options: Partial<TcpServerOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    this.#options = TcpServerOptions.parse(options);
  }

  /** The port listened on, known once the actor is set up. */
  get port(): number {
    if (this.#port === undefined) {
      throw new TypeError(`Actor "${this.name}" has not been set up`);
    }
    return this.#port;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  /** Starts listening, so that a port in use fails the start. */
  override setup(): void {
    const { hostname, port } = this.#options;
    this.#listener = Deno.listen({ hostname, port, transport: "tcp" });
    this.#port = this.#listener.addr.port;
    this.log.info("Listening on {hostname}:{port}", {
      hostname,
      port: this.#port,
    });
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const listener = this.#listener!;
    const stopAccepting = () => this.#closeListener();
    signal.addEventListener("abort", stopAccepting, { once: true });
    const serving = new Set<Promise<void>>();
    try {
      while (!signal.aborted) {
        let conn: Deno.TcpConn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (signal.aborted || this.#listener === undefined) break;
          this.log.error("Failed to accept a connection: {error}", {
            error: describe(error),
          });
          if (!await sleep(100, signal)) break;
          continue;
        }
        if (this.#open.size >= this.#options.max_connections) {
          this.log.warn(
            "Closed a connection from {remote}: {max} connections are open (max_connections)",
            {
              remote: address(conn.remoteAddr),
              max: this.#options.max_connections,
            },
          );
          conn.close();
          continue;
        }
        this.#open.add(conn);
        const served = this.#serve(conn, signal).finally(() => {
          serving.delete(served);
        });
        serving.add(served);
      }
    } finally {
      signal.removeEventListener("abort", stopAccepting);
      this.#closeListener();
    }
    await Promise.all(serving);
  }

  override teardown(): void {
    this.#closeListener();
    for (const conn of this.#open) conn.close();
    this.#open.clear();
  }

  async #serve(conn: Deno.TcpConn, signal: AbortSignal): Promise<void> {
    const remote = address(conn.remoteAddr);
    const sink = new InputSink(
      this,
      (line) => line > 0 ? { remote, line } : { remote },
      (failure) => {
        this.log.warn(
          "Skipped an unreadable message from {remote}: {message}",
          { remote, message: failure.message },
        );
      },
    );
    const { framing, codec, max_line_bytes, max_frame_bytes } = this.#options;
    const decoder = framing === "newline"
      ? new StreamDecoder(codec, max_line_bytes, sink, true)
      : framing === "length"
      ? new LengthFrameDecoder(codec, max_frame_bytes, sink)
      : new SyslogFrameDecoder(codec, max_line_bytes, max_frame_bytes, sink);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let closedByTimeout = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drain = () => {
      conn.closeWrite().catch(() => {});
      timer = setTimeout(() => {
        closedByTimeout = true;
        this.#closeConn(conn);
      }, this.#options.drain_timeout * 1000);
    };
    if (signal.aborted) drain();
    else signal.addEventListener("abort", drain, { once: true });
    try {
      for (;;) {
        let read: number | null;
        try {
          read = await conn.read(buffer);
        } catch (error) {
          if (!closedByTimeout) {
            this.log.debug("Connection from {remote} failed: {error}", {
              remote,
              error: describe(error),
            });
          }
          break;
        }
        if (read === null) {
          decoder.end();
          break;
        }
        decoder.write(buffer.subarray(0, read));
        await sink.takeWaiting();
        if (decoder instanceof SyslogFrameDecoder && decoder.broken) break;
      }
      await sink.takeWaiting();
      if (closedByTimeout && decoder.pendingBytes > 0) {
        this.log.warn(
          "Dropped {bytes} bytes of an unfinished message from {remote}: it did not close within drain_timeout",
          { bytes: decoder.pendingBytes, remote },
        );
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", drain);
      this.#closeConn(conn);
    }
  }

  #closeConn(conn: Deno.TcpConn): void {
    if (this.#open.delete(conn)) conn.close();
  }

  #closeListener(): void {
    const listener = this.#listener;
    if (listener !== undefined) {
      this.#listener = undefined;
      listener.close();
    }
  }
}

/** `"host:port"` of a connection's peer. */
function address(addr: Deno.NetAddr): string {
  return `${addr.hostname}:${addr.port}`;
}
