/**
 * `tcp_server`: accepts TCP connections and makes one event per line or
 * length-prefixed frame they send.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  describe,
  errorMessage,
  sleep,
  type Takeover,
  whenAborted,
} from "../../core/actor.ts";
import { isOutOfResources } from "../../core/accept.ts";
import type { ActorSpec } from "../../core/registry.ts";
import {
  type Accepted,
  listenStream,
  type StreamListener,
} from "../../core/stream_listener.ts";
import { type CertificateHolder, ServerTlsSchema } from "../../core/tls.ts";
import {
  CodecSchema,
  type DecodeFailure,
  DEFAULT_MAX_LINE_BYTES,
  InputSink,
  LengthFrameDecoder,
  listenOptions,
  READ_BUFFER_BYTES,
  SendGate,
  StreamDecoder,
} from "./codec.ts";
import { SyslogFrameDecoder } from "./syslog_framing.ts";
import { RepeatedLog } from "./repeated_log.ts";

/**
 * The default of `max_pending_bytes`: 64 MiB of unfinished messages across
 * all connections.
 */
export const DEFAULT_MAX_PENDING_BYTES = 67_108_864;

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
    "Most connections open at once; a connection over it is closed at once, counted (refused_total) and logged at most once a second.",
  ),
  idle_timeout: z.number().min(0).default(300).describe(
    'Seconds a connection may send nothing before it is closed (0: never), so that idle clients do not hold max_connections; an unfinished message it held becomes an event on the "error" queue. Time spent waiting for room downstream does not count.',
  ),
  max_pending_bytes: z.number().int().min(1).default(DEFAULT_MAX_PENDING_BYTES)
    .describe(
      'Most bytes of unfinished messages (a line without its "\\n" yet, a frame not all arrived) held across all connections; a connection whose unfinished message takes the total past it is closed, and that message becomes an event on the "error" queue.',
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
  tls: ServerTlsSchema.optional(),
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
 * whose `header.error` says why; the connection goes on. Without an `error`
 * queue it is logged instead, at most once a second with a count.
 *
 * Framing `"syslog"` with codec `"syslog"` receives syslog as rsyslog,
 * syslog-ng and `logger` send it over TCP: each connection is octet-counted
 * (RFC 6587) when its first byte is a digit, else newline-framed (see
 * `SyslogFrameDecoder`); a connection whose octet counting is lost is closed
 * after its failure event.
 *
 * TLS: with `tls` every connection is TLS (see `ServerTlsSchema`); with
 * `tls.client_auth` the subject of the client's certificate is in
 * `header[<name>].client_certificate`. A client that does not complete its
 * handshake within 10 s is disconnected. `reloadCertificates()` (SIGHUP
 * under `compysition run`) reads the files again for new connections;
 * those open keep theirs.
 *
 * Back-pressure: a connection is read no further while the events it made
 * wait for room downstream, so TCP flow control slows its client; decoding
 * stops in the middle of what was read (with framing "syslog", after the
 * read), and the connections take turns when there is room again. Memory
 * held for clients is bounded whatever they send: a 64 KiB read buffer per
 * connection (`max_connections`), at most `max_pending_bytes` of unfinished
 * messages in all, and the queues' capacity. Connections that send nothing
 * for `idle_timeout` are closed.
 *
 * On stop the server stops accepting, shuts down the sending side of every
 * connection (clients read end-of-stream), reads what the clients still send
 * until they close or `drain_timeout` passes, then closes them. An
 * unfinished last line counts when the client closes; when the server
 * closes the connection (`drain_timeout`, `idle_timeout`,
 * `max_pending_bytes`), or the client resets it, it becomes an event on the
 * `error` queue.
 *
 * Reload: replaced on the same address with other options, it keeps the
 * listening socket and the open connections of the server it replaces,
 * each with its read in progress and its unfinished message: clients
 * notice nothing, no message is lost, split or repeated, and its own
 * options apply from then on. A change of `framing` ends the connections
 * open as at a stop instead, and says so in the log; a change of `tls`
 * cannot keep the socket (see {@link TcpServer.takeOver}).
 *
 * Figures (besides the common ones): `connections` open now,
 * `refused_total` (over `max_connections`), `idle_closed_total`,
 * `waiting_connections` (stopped until there is room downstream),
 * `kept_events` (decoded and waiting for room: at most one a connection)
 * and `pending_bytes` of unfinished messages held now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { TcpServer, tcpServer } from "./tcp_server.ts";
 *
 * const router = new Router();
 * const server = router.register(tcpServer, "input", { port: 0, codec: "ndjson" }) as TcpServer;
 * const events = router.readable("input.outbox").getReader();
 * await router.start();
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
 * await conn.write(new TextEncoder().encode('{"n":1}\n'));
 * conn.close();
 * assert.deepEqual((await events.read()).value?.data, { n: 1 });
 * const end = events.read(); // asks for more: the event was delivered
 * assert.equal((await router.stop()).delivered, 1);
 * assert.equal((await end).done, true);
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

/**
 * The figures of a `tcp_server`: the common ones and its connections'.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpServer, type TcpServerFigures } from "./tcp_server.ts";
 * const figures: TcpServerFigures = new TcpServer("input").figures();
 * assert.equal(figures.refused_total, 0);
 * ```
 */
export interface TcpServerFigures extends ActorFigures {
  /** Connections open now. */
  connections: number;
  /** Connections closed at once because `max_connections` were open. */
  refused_total: number;
  /** Connections closed because they sent nothing for `idle_timeout`. */
  idle_closed_total: number;
  /** Connections whose decoding stopped until there is room downstream. */
  waiting_connections: number;
  /**
   * Events decoded and kept until there is room downstream (at most one a
   * connection: decoding stops instead).
   */
  kept_events: number;
  /** Bytes of unfinished messages held now, across all connections. */
  pending_bytes: number;
}

/** Why the server closed a connection before its client did. */
type CloseReason = "drain" | "idle" | "pending";

/** What splits a connection's bytes into messages, per `framing`. */
type Framer = StreamDecoder | LengthFrameDecoder | SyslogFrameDecoder;

/** What the server knows of one open connection. */
interface Client {
  readonly conn: Deno.Conn;
  readonly remote: string;
  /** The subject of the client's certificate, with `tls.client_auth`. */
  readonly certificate: string | undefined;
  /** Reads it; goes with it to a reload's replacement, read in progress too. */
  readonly reader: ConnectionReader;
  /** When the read in progress started (`performance.now()`), if one is. */
  readingSince: number | undefined;
  /** Bytes of its unfinished message counted in the server's total. */
  pendingBytes: number;
  /** Set when the server closed it. */
  closedBy: CloseReason | undefined;
  /** What decodes its bytes into events, once serving it started. */
  sink: InputSink | undefined;
  /**
   * Handed over by the actor this one replaces: what splits its bytes
   * there, holding its unfinished message, until serving it here starts.
   */
  carried: Framer | undefined;
  /**
   * Set by a reload: the replacement it goes to, once the events of what
   * was read are sent.
   */
  successor: TcpServer | undefined;
}

/**
 * A promise in progress (an accept, a read) whose waits a reload's
 * hand-over can end: {@link endWait} resolves the wait in progress with
 * `undefined`, and the outcome goes to the next {@link wait}, the
 * replacement's. The promise has one reaction, made here, which hands the
 * outcome to the wait in progress (or keeps it for the next one). Waiting
 * on the promise itself would leave a reaction on it for each wait ended
 * by a hand-over, kept until a client comes or sends, and for each accept
 * raced against a promise that stays pending, each accepted connection
 * kept for ever.
 */
class HandOverWait<T> {
  #waiter: PromiseWithResolvers<T | undefined> | undefined;
  #outcome: { value: T } | { error: unknown } | undefined;

  constructor(pending: Promise<T>) {
    pending.then(
      (value) => this.#settle({ value }),
      (error: unknown) => this.#settle({ error }),
    );
  }

  /** The outcome; `undefined` once {@link endWait} ends the wait. */
  wait(): Promise<T | undefined> {
    const outcome = this.#outcome;
    if (outcome !== undefined) {
      return "error" in outcome
        ? Promise.reject(outcome.error)
        : Promise.resolve(outcome.value);
    }
    this.#waiter = Promise.withResolvers();
    return this.#waiter.promise;
  }

  /** Ends the wait in progress: what it waits for changes hands. */
  endWait(): void {
    this.#waiter?.resolve(undefined);
    this.#waiter = undefined;
  }

  #settle(outcome: { value: T } | { error: unknown }): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter === undefined) this.#outcome = outcome;
    else if ("error" in outcome) waiter.reject(outcome.error);
    else waiter.resolve(outcome.value);
  }
}

/**
 * Reads one connection into its buffer. A read in progress goes with the
 * connection to a reload's replacement: {@link release} ends the wait of
 * the actor that asked, and what the read brings goes to the next
 * {@link read}, the replacement's (see {@link HandOverWait}).
 */
class ConnectionReader {
  readonly buffer = new Uint8Array(READ_BUFFER_BYTES);
  readonly #conn: Deno.Conn;
  /** The read in progress, until its outcome is taken. */
  #reading: HandOverWait<number | null> | undefined;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Bytes read into `buffer` (`null` at the end of the stream), or
   * `undefined` once {@link release} ended the wait.
   */
  async read(): Promise<number | null | undefined> {
    const reading = this.#reading ??= new HandOverWait(
      this.#conn.read(this.buffer),
    );
    try {
      const read = await reading.wait();
      if (read !== undefined) this.#reading = undefined;
      return read;
    } catch (error) {
      this.#reading = undefined;
      throw error;
    }
  }

  /** Ends the wait in progress: the connection changes hands. */
  release(): void {
    this.#reading?.endWait();
  }
}

/** The `tcp_server` input actor. */
export class TcpServer extends Actor implements CertificateHolder {
  readonly kind = "input";
  #options: TcpServerOptions;
  #listener: StreamListener | undefined;
  /** The accept in progress, which a replacement takes over with the socket. */
  #accepting: HandOverWait<Accepted> | undefined;
  /** The listener of the actor this one replaces, taken over in setup. */
  #inherited: StreamListener | undefined;
  /**
   * Why this actor cannot take over the socket of the one it replaces on
   * the same address (its `tls` changed): its setup fails with it.
   */
  #cannotTakeOver: string | undefined;
  /** Whether the listener was handed to a replacement. */
  #handedOver = false;
  #port: number | undefined;
  #clients = new Map<Deno.Conn, Client>();
  /** The connections being served, until each is closed or handed over. */
  #serving = new Set<Promise<void>>();
  /** The signal of `produce`, once it runs: connections handed over start. */
  #signal: AbortSignal | undefined;
  /** Connections handed over before `produce` runs: served once it does. */
  #adopted: Client[] = [];
  /** Set once `produce` ended: no connection can be handed over any more. */
  #over = false;
  /**
   * The replacement that took this actor's connections over: one still on
   * its way here (its events waited for room) goes on there.
   */
  #successor: TcpServer | undefined;
  /** Bytes of unfinished messages held across all connections. */
  #pendingBytes = 0;
  /** Shared by the connections: they take turns when the outbox is full. */
  #gate = new SendGate(this);
  #refused: RepeatedLog<{ remote: string }>;
  #acceptFailed: RepeatedLog<{ error: string }>;
  #idleClosed: RepeatedLog<{ remote: string }>;
  #tooMuchPending: RepeatedLog<{ remote: string }>;
  #unfinished: RepeatedLog<{ remote: string; bytes: number }>;
  #skipped: RepeatedLog<{ remote: string; message: string }>;

  /** Makes a TCP server input; see {@link TcpServerOptions}. */
  constructor(
    name: string,
    options: Partial<TcpServerOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, { inbound: [] });
    const parsed = TcpServerOptions.parse(options);
    this.#options = parsed;
    this.#refused = new RepeatedLog((count, { remote }) =>
      this.log.warn(
        "Refused {count} connection(s), the last from {remote}: {max} connections are open (max_connections)",
        { count, remote, max: parsed.max_connections },
      )
    );
    this.#acceptFailed = new RepeatedLog((count, { error }) =>
      this.log.error("Failed to accept a connection {count} time(s): {error}", {
        count,
        error,
      })
    );
    this.#idleClosed = new RepeatedLog((count, { remote }) =>
      this.log.info(
        "Closed {count} connection(s) that sent nothing for {seconds} s (idle_timeout), the last from {remote}",
        { count, remote, seconds: parsed.idle_timeout },
      )
    );
    this.#tooMuchPending = new RepeatedLog((count, { remote }) =>
      this.log.warn(
        "Closed {count} connection(s), the last from {remote}: unfinished messages held more than {max} bytes (max_pending_bytes)",
        { count, remote, max: parsed.max_pending_bytes },
      )
    );
    this.#unfinished = new RepeatedLog((count, { remote, bytes }) =>
      this.log.warn(
        "Dropped the unfinished messages of {count} connection(s) closed by the server or failed (reset by the client), the last {bytes} bytes from {remote}",
        { count, remote, bytes },
      )
    );
    this.#skipped = new RepeatedLog((count, { remote, message }) =>
      this.log.warn(
        "Skipped {count} unreadable message(s), the last from {remote}: {message}",
        { count, remote, message },
      )
    );
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
    return this.#clients.size;
  }

  /** The common figures and the connections'. */
  override figures(): TcpServerFigures {
    return {
      ...super.figures(),
      connections: this.#clients.size,
      refused_total: this.#refused.total,
      idle_closed_total: this.#idleClosed.total,
      waiting_connections: this.#gate.queued,
      kept_events: this.#keptEvents(),
      pending_bytes: this.#pendingBytes,
    };
  }

  /**
   * Reads the `tls` files again for the connections from now on; `false`
   * without `tls` (see `CertificateHolder`).
   */
  reloadCertificates(): boolean {
    return this.#listener?.reloadCertificates() ?? false;
  }

  /**
   * Starts listening, so that a port in use fails the start; or, replacing
   * a `tcp_server` on the same address in a reload, accepts on its socket
   * (see {@link TcpServer.takeOver}).
   */
  override async setup(): Promise<void> {
    const { hostname, port, tls } = this.#options;
    const inherited = this.#inherited;
    const refusal = this.#cannotTakeOver;
    this.#cannotTakeOver = undefined;
    if (refusal !== undefined) throw new Error(refusal);
    this.#over = false;
    this.#listener = inherited ??
      await listenStream({ hostname, port, tls, log: this.log });
    this.#port = this.#listener.addr.port;
    this.log.info(
      inherited === undefined
        ? "Listening on {hostname}:{port}{tls}"
        : "Taking over the socket listening on {hostname}:{port}{tls}",
      { hostname, port: this.#port, tls: tls === undefined ? "" : " with TLS" },
    );
  }

  /**
   * Reload: accepts on the listening socket of `previous`, a `tcp_server`
   * on the same address with the same `tls`, instead of opening its own, so
   * that no connection is refused meanwhile (those arriving wait in the
   * socket's backlog until this actor runs); with another `tls` it takes
   * nothing (the socket speaks the TLS it was made with): its setup fails
   * saying so, and the reload rolls back.
   *
   * Once the reload commits, the connections `previous` has open go on
   * here, and their clients notice nothing: each is handed over as soon as
   * the events of what `previous` read from it are sent (a read in
   * progress goes with it), with the unfinished message its decoder holds
   * (see `LineSplitter.takeOver`), so that no message is lost, split or
   * repeated; from then on this actor's options apply to it (`codec`,
   * `idle_timeout`, the limits...; those over `max_connections` stay open,
   * new ones are refused until fewer are open). With another `framing`
   * nothing can carry what a connection holds, and its client speaks the
   * old framing: `previous` keeps those connections and ends them as at a
   * stop (it shuts down their sending side, reads what their clients send
   * until they close or `drain_timeout` passes), which is logged with the
   * reason. A reload rolled back hands over nothing.
   */
  override takeOver(previous: Actor): Takeover | undefined {
    const listener = previous instanceof TcpServer
      ? previous.#listener
      : undefined;
    if (listener === undefined) return undefined;
    const old = previous as TcpServer;
    // Its socket speaks the TLS it was made with.
    if (
      JSON.stringify(old.#options.tls) !== JSON.stringify(this.#options.tls)
    ) {
      const { hostname, port } = this.#options;
      this.#cannotTakeOver =
        `Cannot change "tls" in a reload while listening on the same address (${hostname}:${port}): the socket listening there speaks the TLS it was made with; restart, or listen on another port`;
      return undefined;
    }
    this.#inherited = listener;
    return {
      commit: () => {
        this.#inherited = undefined;
        const accepting = old.#accepting;
        old.#accepting = undefined;
        old.#listener = undefined;
        old.#handedOver = true;
        accepting?.endWait();
        this.#accepting = accepting;
        this.#takeConnections(old);
      },
      cancel: () => {
        this.#inherited = undefined;
        if (this.#listener === listener) this.#listener = undefined;
      },
    };
  }

  override async produce(signal: AbortSignal): Promise<void> {
    const listener = this.#listener!;
    using _ = whenAborted(signal, () => this.#closeListener());
    const idleMs = this.#options.idle_timeout * 1000;
    const sweep = idleMs > 0
      ? setInterval(() => this.#closeIdle(idleMs), Math.min(idleMs / 2, 1000))
      : undefined;
    this.#signal = signal;
    for (const client of this.#adopted) this.#startServing(client, signal);
    this.#adopted = [];
    try {
      while (!signal.aborted) {
        let conn: Deno.Conn;
        let remote: string;
        let certificate: string | undefined;
        try {
          // Handed over: the replacement takes the accept in progress.
          if (this.#handedOver) break;
          this.#accepting ??= new HandOverWait(listener.accept());
          const accepted = await this.#accepting.wait();
          if (accepted === undefined) break;
          this.#accepting = undefined;
          conn = accepted.conn;
          remote = address(accepted.remoteAddr);
          certificate = accepted.clientCertificate;
        } catch (error) {
          this.#accepting = undefined;
          if (signal.aborted || this.#listener === undefined) break;
          this.#acceptFailed.note({ error: describe(error) });
          // Out of file handles: wait for some to free. Any other error
          // is one connection's (reset by its client before the accept).
          if (isOutOfResources(error) && !await sleep(100, signal)) break;
          continue;
        }
        if (this.#clients.size >= this.#options.max_connections) {
          this.#refused.note({ remote });
          conn.close();
          continue;
        }
        const client: Client = {
          conn,
          remote,
          certificate,
          reader: new ConnectionReader(conn),
          readingSince: undefined,
          pendingBytes: 0,
          closedBy: undefined,
          sink: undefined,
          carried: undefined,
          successor: undefined,
        };
        this.#clients.set(conn, client);
        this.#startServing(client, signal);
      }
    } finally {
      this.#closeListener();
    }
    try {
      // Connections handed over meanwhile are waited for too.
      while (this.#serving.size > 0) await Promise.all(this.#serving);
    } finally {
      this.#over = true;
      clearInterval(sweep);
      this.#flushLogs();
    }
  }

  override teardown(): void {
    this.#over = true;
    this.#closeListener();
    for (const conn of this.#clients.keys()) conn.close();
    this.#clients.clear();
    this.#adopted = [];
    this.#pendingBytes = 0;
    this.#flushLogs();
  }

  /**
   * Reload (commit): the connections `old` has open come here, each once
   * the events of what `old` read from it are sent; or, with another
   * `framing`, stay there and end as at a stop.
   */
  #takeConnections(old: TcpServer): void {
    const clients = [...old.#clients.values()];
    const [before, after] = [old.#options.framing, this.#options.framing];
    if (before !== after) {
      if (clients.length === 0) return;
      this.log.warn(
        'Closing the {count} connection(s) open at the reload as at a stop: framing changed from "{before}" to "{after}", which their clients do not speak; the complete messages they send until they close (or for {seconds} s, drain_timeout) are read as "{before}"',
        {
          count: clients.length,
          before,
          after,
          seconds: old.#options.drain_timeout,
        },
      );
      return;
    }
    old.#successor = this;
    for (const client of clients) {
      client.successor = this;
      // A wait for the client to send ends: the read goes on here.
      client.reader.release();
    }
    if (clients.length > 0) {
      this.log.info("Taking over {count} open connection(s)", {
        count: clients.length,
      });
    }
  }

  /**
   * Serves `from`, a connection of the actor this one replaces, with
   * `framer` holding its unfinished message; `false` once this actor's run
   * ended (the actor it replaces ends the connection as at a stop).
   */
  #adopt(from: Client, framer: Framer): boolean {
    // Replaced in turn meanwhile (its events waited longer than the reload).
    if (this.#successor !== undefined) {
      return this.#successor.#adopt(from, framer);
    }
    if (this.#over) return false;
    const client: Client = {
      conn: from.conn,
      remote: from.remote,
      certificate: from.certificate,
      reader: from.reader,
      readingSince: from.readingSince,
      pendingBytes: 0,
      closedBy: undefined,
      sink: undefined,
      carried: framer,
      successor: undefined,
    };
    this.#clients.set(client.conn, client);
    const signal = this.#signal;
    if (signal === undefined) this.#adopted.push(client);
    else this.#startServing(client, signal);
    return true;
  }

  #startServing(client: Client, signal: AbortSignal): void {
    const served = this.#serve(client, signal).finally(() => {
      this.#serving.delete(served);
    });
    this.#serving.add(served);
  }

  async #serve(client: Client, signal: AbortSignal): Promise<void> {
    const { conn, remote, certificate, reader } = client;
    const peer = certificate === undefined
      ? { remote }
      : { remote, client_certificate: certificate };
    const sink = new InputSink(
      this,
      (line) => line > 0 ? { ...peer, line } : peer,
      (failure) => this.#skipped.note({ remote, message: failure.message }),
      this.#gate,
    );
    client.sink = sink;
    const decoder = this.#framer(sink);
    const carried = client.carried;
    client.carried = undefined;
    if (carried !== undefined) goOn(decoder, carried);
    const buffer = reader.buffer;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drain = () => {
      // Handed over: the replacement serves it.
      if (client.successor !== undefined) return;
      conn.closeWrite().catch(() => {});
      timer = setTimeout(
        () => this.#closeConn(client, "drain"),
        this.#options.drain_timeout * 1000,
      );
    };
    using _ = whenAborted(signal, drain);
    let handedOver = false;
    /** Why reading the connection failed (a reset by its client). */
    let failed: string | undefined;
    try {
      if (!this.#holdPending(client, decoder.pendingBytes)) {
        this.#closeConn(client, "pending");
      }
      while (client.closedBy === undefined) {
        const successor = client.successor;
        if (successor !== undefined) {
          // What was read is sent: the connection goes on there.
          if (successor.#adopt(client, decoder)) {
            handedOver = true;
            return;
          }
          client.successor = undefined;
          drain();
        }
        let read: number | null | undefined;
        client.readingSince ??= performance.now();
        try {
          read = await reader.read();
        } catch (error) {
          client.readingSince = undefined;
          if (client.closedBy === undefined) {
            failed = errorMessage(error);
            this.log.debug("Connection from {remote} failed: {error}", {
              remote,
              error: describe(error),
            });
          }
          break;
        }
        // Released for a hand-over: the read goes on there, still waited.
        if (read === undefined) continue;
        client.readingSince = undefined;
        if (read === null) {
          decoder.end();
          break;
        }
        if (decoder instanceof SyslogFrameDecoder) {
          // It cannot stop inside a read: what one read makes waits here.
          decoder.write(buffer.subarray(0, read));
          const waiting = sink.takeWaiting();
          if (waiting !== undefined) await waiting;
          if (decoder.broken) break;
        } else {
          const decoding = sink.decode(decoder, buffer.subarray(0, read));
          if (decoding !== undefined) await decoding;
        }
        if (!this.#holdPending(client, decoder.pendingBytes)) {
          this.#closeConn(client, "pending");
          break;
        }
      }
      const unfinished = decoder.pendingBytes;
      if (
        (client.closedBy !== undefined || failed !== undefined) &&
        unfinished > 0
      ) {
        sink.failure(
          unfinishedFailure(this.#options, client, failed, unfinished),
          0,
        );
        this.#unfinished.note({ remote, bytes: unfinished });
      }
      await sink.takeWaiting();
    } finally {
      clearTimeout(timer);
      this.#holdPending(client, 0);
      if (handedOver) this.#clients.delete(conn);
      else this.#closeConn(client, undefined);
    }
  }

  /** What splits a connection's bytes into messages for `sink`. */
  #framer(sink: InputSink): Framer {
    const { framing, codec, max_line_bytes, max_frame_bytes } = this.#options;
    return framing === "newline"
      ? new StreamDecoder(codec, max_line_bytes, sink, true)
      : framing === "length"
      ? new LengthFrameDecoder(codec, max_frame_bytes, sink)
      : new SyslogFrameDecoder(codec, max_line_bytes, max_frame_bytes, sink);
  }

  /**
   * Counts `bytes` as the unfinished message `client` holds now; `false`
   * when it grew and the total went past `max_pending_bytes`.
   */
  #holdPending(client: Client, bytes: number): boolean {
    const grew = bytes > client.pendingBytes;
    this.#pendingBytes += bytes - client.pendingBytes;
    client.pendingBytes = bytes;
    if (!grew || this.#pendingBytes <= this.#options.max_pending_bytes) {
      return true;
    }
    this.#tooMuchPending.note({ remote: client.remote });
    return false;
  }

  #keptEvents(): number {
    let kept = 0;
    for (const client of this.#clients.values()) kept += client.sink?.kept ?? 0;
    return kept;
  }

  /** Closes the connections that have waited longer than `idleMs` to read. */
  #closeIdle(idleMs: number): void {
    const now = performance.now();
    for (const client of this.#clients.values()) {
      const since = client.readingSince;
      if (since !== undefined && now - since >= idleMs) {
        this.#idleClosed.note({ remote: client.remote });
        this.#closeConn(client, "idle");
      }
    }
  }

  #closeConn(client: Client, reason: CloseReason | undefined): void {
    if (!this.#clients.delete(client.conn)) return;
    client.closedBy ??= reason;
    client.conn.close();
  }

  #closeListener(): void {
    const listener = this.#listener;
    if (listener !== undefined) {
      this.#listener = undefined;
      listener.close();
    }
  }

  #flushLogs(): void {
    this.#refused.flush();
    this.#acceptFailed.flush();
    this.#idleClosed.flush();
    this.#tooMuchPending.flush();
    this.#unfinished.flush();
    this.#skipped.flush();
  }
}

/**
 * The failure of an unfinished message dropped when the server closed the
 * connection, or when reading it `failed` (a reset by its client).
 */
function unfinishedFailure(
  options: TcpServerOptions,
  client: Client,
  failed: string | undefined,
  bytes: number,
): DecodeFailure {
  if (client.closedBy === undefined && failed !== undefined) {
    return {
      name: "RangeError",
      message:
        `Dropped an unfinished message of ${bytes} bytes: the connection failed: ${failed}`,
      sample: "",
    };
  }
  const why = client.closedBy === "idle"
    ? `the connection sent nothing for ${options.idle_timeout} s (idle_timeout)`
    : client.closedBy === "drain"
    ? `the client did not close within ${options.drain_timeout} s of the stop (drain_timeout)`
    : `unfinished messages held more than ${options.max_pending_bytes} bytes (max_pending_bytes)`;
  return {
    name: "RangeError",
    message:
      `Dropped an unfinished message of ${bytes} bytes: the server closed the connection because ${why}`,
    sample: "",
  };
}

/**
 * `framer` goes on where `previous`, of the same framing, stopped: it takes
 * the unfinished message and the line count.
 */
function goOn(framer: Framer, previous: Framer): void {
  if (framer instanceof StreamDecoder && previous instanceof StreamDecoder) {
    framer.takeOver(previous);
  } else if (
    framer instanceof LengthFrameDecoder &&
    previous instanceof LengthFrameDecoder
  ) {
    framer.takeOver(previous);
  } else if (
    framer instanceof SyslogFrameDecoder &&
    previous instanceof SyslogFrameDecoder
  ) {
    framer.takeOver(previous);
  } else {
    throw new TypeError("Cannot carry a message across framings");
  }
}

/** `"host:port"` of a connection's peer. */
function address(addr: Deno.NetAddr): string {
  return `${addr.hostname}:${addr.port}`;
}
