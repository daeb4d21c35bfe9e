/**
 * What `tcp_client` and `graphite` share: the options of a TCP connection
 * that is opened again with exponential backoff when it cannot be opened,
 * breaks or stalls, and {@link TcpConnection}, the connection itself
 * (connecting, watching for the peer to close, writing with a timeout,
 * reconnecting, closing at stop).
 *
 * Not an actor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { checkReconnectWaits, tcpReconnectFields } from "./tcp_connection.ts";
 *
 * const Options = z.strictObject({
 *   port: z.number().int().describe("The port to connect to."),
 *   ...tcpReconnectFields(10_000),
 * }).superRefine(checkReconnectWaits);
 * assert.equal(Options.parse({ port: 5140 }).reconnect_min_ms, 100);
 * ```
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { z } from "zod";
import {
  type ActorLog,
  errorMessage,
  sleep,
  whenAborted,
} from "../core/actor.ts";
import {
  type ClientTlsMaterial,
  loadClientTls,
  type TcpClientTlsSchema,
} from "../core/tls.ts";
import { destroyTls, TlsBridge } from "../core/tls_bridge.ts";

/** The zod shape of the reconnection options (see {@link tcpReconnectFields}). */
export interface TcpReconnectFields {
  /** Milliseconds before the first new attempt to connect. */
  reconnect_min_ms: z.ZodDefault<z.ZodNumber>;
  /** The longest wait between two attempts to connect, in milliseconds. */
  reconnect_max_ms: z.ZodDefault<z.ZodNumber>;
  /** Seconds one attempt to connect may take. */
  connect_timeout: z.ZodDefault<z.ZodNumber>;
  /** Seconds a write may make no progress before the connection is replaced. */
  write_timeout: z.ZodDefault<z.ZodNumber>;
}

/**
 * The reconnection options of an actor that keeps a TCP connection, as a zod
 * shape to spread into its options: `reconnect_min_ms` (default 100),
 * `reconnect_max_ms` (default `maxMs`), `connect_timeout` (seconds, default
 * 10) and `write_timeout` (seconds, default 30). Check them with
 * {@link checkReconnectWaits}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tcpReconnectFields } from "./tcp_connection.ts";
 * assert.equal(tcpReconnectFields(30_000).reconnect_max_ms.parse(undefined), 30000);
 * ```
 */
export function tcpReconnectFields(maxMs: number): TcpReconnectFields {
  return {
    reconnect_min_ms: z.number().min(0).default(100).describe(
      "Milliseconds before the first new attempt to connect; doubled after each failed attempt.",
    ),
    reconnect_max_ms: z.number().min(0).default(maxMs).describe(
      "The longest wait between two attempts to connect, in milliseconds.",
    ),
    connect_timeout: z.number().positive().default(10).describe(
      "Seconds one attempt to connect may take.",
    ),
    write_timeout: z.number().positive().default(30).describe(
      "Seconds a write may make no progress (a peer that does not read) before the connection is closed and replaced; what was being written is written again on the new connection.",
    ),
  };
}

/**
 * A `superRefine` check of the options of {@link tcpReconnectFields}:
 * `reconnect_max_ms` must be at least `reconnect_min_ms`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { checkReconnectWaits, tcpReconnectFields } from "./tcp_connection.ts";
 * const Options = z.strictObject(tcpReconnectFields(10)).superRefine(checkReconnectWaits);
 * assert.equal(Options.safeParse({ reconnect_min_ms: 100 }).success, false);
 * ```
 */
export function checkReconnectWaits(
  options: { reconnect_min_ms: number; reconnect_max_ms: number },
  ctx: z.RefinementCtx,
): void {
  if (options.reconnect_max_ms < options.reconnect_min_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["reconnect_max_ms"],
      message:
        `Must be at least "reconnect_min_ms" (${options.reconnect_min_ms})`,
    });
  }
}

/** What a {@link TcpConnection} logs through: an actor's `log`, or less. */
export type TcpConnectionLog = Pick<ActorLog, "debug" | "info" | "warn">;

/** Where and how a {@link TcpConnection} connects (parsed actor options). */
export interface TcpConnectionOptions {
  /** The host to connect to: a name or an IP address. */
  hostname: string;
  /** The port to connect to. */
  port: number;
  /** Milliseconds before the first new attempt; doubled after each failure. */
  reconnect_min_ms: number;
  /** The longest wait between two attempts, in milliseconds. */
  reconnect_max_ms: number;
  /** Seconds one attempt may take. */
  connect_timeout: number;
  /** Seconds a write may make no progress before the connection is replaced. */
  write_timeout: number;
  /** Connect with TLS (see `TcpClientTlsSchema`); plain TCP without. */
  tls?: TcpClientTlsSchema | undefined;
}

/**
 * A write that has made no progress for this long (or for the write timeout,
 * when shorter) makes the connection not ready, in ms.
 */
const STALLED_MS = 1000;

/**
 * A write timeout that fires later than this, in ms, waits this long again
 * before it counts: the process was not running, so the peer may have read.
 */
const LATE_MS = 50;

/**
 * A TCP connection an actor keeps open. {@link connect} opens it, trying
 * again after `reconnect_min_ms`, doubling the wait up to `reconnect_max_ms`
 * (the first failure of a run of attempts is logged as a warning, the next
 * ones at debug level). Once open, the connection is read (what arrives is
 * ignored) to learn at once when the peer closes it; then it is opened again.
 * With `tls.insecure_skip_verify`, the TLS connection is `node:tls`'s (Deno's
 * own always verifies the server's certificate chain), handed over as a Deno
 * connection through a `TlsBridge`: it behaves as the others do, and
 * {@link close} waits (up to `write_timeout`) for what was written to be
 * flushed to the system. A verified connection is Deno's, except while the
 * peer holds a socket whose handshake it never answered (e.g. a plain-text
 * server given TLS): Deno cannot close such a socket, so until the peer
 * does, connections are made by `node:tls` (verifying as Deno would), which
 * can; the sockets kept that way stay at one, not one per attempt.
 * {@link write} writes with a timeout: a peer that accepts but stops reading
 * fills the socket's buffers, and a write that has made no progress for
 * `write_timeout` seconds closes the connection (logged as lost) and opens a
 * new one. {@link health} says why the connection is not usable: not
 * connected, a write stalled for a second or more, or a connection replaced
 * after a timeout and no write complete since. {@link close} stops all that
 * at the actor's teardown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpConnection } from "./tcp_connection.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const tcp = new TcpConnection({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 *   reconnect_min_ms: 100,
 *   reconnect_max_ms: 1000,
 *   connect_timeout: 10,
 *   write_timeout: 30,
 * }, () => ({ debug() {}, info() {}, warn() {} }));
 * const accepted = listener.accept();
 * const conn = await tcp.connect();
 * await tcp.write(conn, new TextEncoder().encode("hello\n"));
 * await tcp.close();
 * (await accepted).close();
 * listener.close();
 * assert.equal(tcp.connections, 1);
 * ```
 */
export class TcpConnection {
  /** `hostname:port`, for messages. */
  readonly address: string;
  #hostname: string;
  #port: number;
  #minMs: number;
  #maxMs: number;
  #connectTimeoutMs: number;
  #writeTimeoutMs: number;
  #tls: TcpClientTlsSchema | undefined;
  /** The files of `#tls`, read; read again by {@link reloadCertificates}. */
  #material: ClientTlsMaterial | undefined;
  #log: () => TcpConnectionLog;
  #onOpen: (conn: Deno.Conn) => void;
  #conn: Deno.Conn | undefined;
  #connecting: Promise<Deno.Conn> | undefined;
  /** The callers of {@link connectWithin} waiting for `#connecting`. */
  #waiters = new Set<PromiseWithResolvers<Deno.Conn>>();
  #attempted: (() => void) | undefined;
  #watchers = new Set<Promise<void>>();
  #connections = 0;
  #lastError = "not connected yet";
  #stop = new AbortController();
  /** `performance.now()` when the write in progress was last handed bytes. */
  #writingSince: number | undefined;
  /** Why the last connection was replaced, until a write is complete. */
  #timedOut: string | undefined;
  /**
   * The `node:tls` sockets of connections `node:tls` made (see
   * {@link #connectNodeTls}), by their Deno end, and when each is done writing; until it closes.
   */
  #nodeSockets = new Map<
    Deno.Conn,
    { socket: tls.TLSSocket; written: Promise<void> }
  >();
  /** Whether the warning that nothing is verified was logged. */
  #warned = false;
  /**
   * Whether a Deno TLS handshake timed out since a handshake last completed
   * (see {@link #unanswered}): `node:tls` makes the connections meanwhile.
   */
  #handshakeUnanswered = false;

  /**
   * Makes a connection, not opened yet. `log` returns the actor's logger
   * (a function, as an actor's logger changes when a router adopts it);
   * `onOpen` runs each time the connection is opened.
   */
  constructor(
    options: TcpConnectionOptions,
    log: () => TcpConnectionLog,
    onOpen: (conn: Deno.Conn) => void = () => {},
  ) {
    this.address = `${options.hostname}:${options.port}`;
    this.#hostname = options.hostname;
    this.#port = options.port;
    this.#minMs = options.reconnect_min_ms;
    this.#maxMs = options.reconnect_max_ms;
    this.#connectTimeoutMs = options.connect_timeout * 1000;
    this.#writeTimeoutMs = options.write_timeout * 1000;
    this.#tls = options.tls;
    this.#material = options.tls === undefined
      ? undefined
      : loadClientTls(options.tls);
    this.#log = log;
    this.#onOpen = onOpen;
  }

  /**
   * Reads the `tls` files again for the connections from now on (the open
   * one keeps its); `false` without TLS. Throws a `TlsFileError` and keeps
   * what it had when a file is unusable.
   */
  reloadCertificates(): boolean {
    if (this.#tls === undefined) return false;
    this.#material = loadClientTls(this.#tls);
    return true;
  }

  /** The open connection, if any. */
  get current(): Deno.Conn | undefined {
    return this.#conn;
  }

  /** Connections opened so far (the first one and every reconnection). */
  get connections(): number {
    return this.#connections;
  }

  /** Why the last attempt to connect failed or the last connection ended. */
  get lastError(): string {
    return this.#lastError;
  }

  /**
   * Ready when connected and no write is stalled; else not ready, saying why
   * (for an actor's `health()`, shown by the admin server's `/ready`).
   */
  health(): { ready: boolean; reason?: string } {
    const since = this.#writingSince;
    const stalledMs = since === undefined ? 0 : performance.now() - since;
    if (stalledMs >= Math.min(STALLED_MS, this.#writeTimeoutMs)) {
      return {
        ready: false,
        reason: `Writing to ${this.address} has made no progress for ${
          (stalledMs / 1000).toFixed(1)
        } s: the peer is not reading (the connection is replaced after ${
          this.#writeTimeoutMs / 1000
        } s)`,
      };
    }
    if (this.#timedOut !== undefined) {
      return { ready: false, reason: this.#timedOut };
    }
    if (this.#conn === undefined) {
      return {
        ready: false,
        reason: `Not connected to ${this.address}: ${this.#lastError}`,
      };
    }
    return { ready: true };
  }

  /** Whether {@link abort} or {@link close} stopped it. */
  get stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * The open connection, or the connection once it is open: starts
   * connecting unless connecting already. Rejects only when {@link abort} or
   * {@link close} stops it first.
   */
  connect(): Promise<Deno.Conn> {
    if (this.#conn !== undefined) return Promise.resolve(this.#conn);
    if (this.#connecting === undefined) {
      const connecting = this.#connectWithBackoff().finally(() => {
        this.#connecting = undefined;
      });
      connecting.then((conn) => {
        for (const waiter of this.#waiters) waiter.resolve(conn);
        this.#waiters.clear();
      }, (error) => {
        for (const waiter of this.#waiters) waiter.reject(error);
        this.#waiters.clear();
      });
      this.#connecting = connecting;
    }
    return this.#connecting;
  }

  /**
   * Like {@link connect}, but gives up once `signal` aborts, rejecting with
   * its reason. Racing {@link connect} instead would leave a reaction on the
   * attempt to connect, which stays pending for as long as the peer is down:
   * one more for each wait given up, all kept until the peer is back.
   */
  connectWithin(signal: AbortSignal): Promise<Deno.Conn> {
    const connecting = this.connect();
    if (this.#conn !== undefined || this.#stop.signal.aborted) {
      return connecting;
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    const waiter = Promise.withResolvers<Deno.Conn>();
    this.#waiters.add(waiter);
    const givenUp = whenAborted(signal, () => {
      this.#waiters.delete(waiter);
      waiter.reject(signal.reason);
    });
    return waiter.promise.finally(() => givenUp[Symbol.dispose]());
  }

  /**
   * Starts connecting like {@link connect}, and resolves once the next
   * attempt has opened the connection or failed; the later attempts go on in
   * the background.
   */
  tryConnect(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const earlier = this.#attempted;
    this.#attempted = () => {
      earlier?.();
      resolve();
    };
    this.connect().then(() => resolve(), () => resolve());
    return promise;
  }

  /**
   * Closes `conn` if it is still the open connection, and starts connecting
   * again (unless stopped). For a connection that failed a write.
   */
  drop(conn: Deno.Conn, reason: string): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    closeQuietly(conn);
    // As a TCP socket closed: what it was writing is not waited for.
    const bridged = this.#nodeSockets.get(conn);
    if (bridged !== undefined) destroyTls(bridged.socket);
    this.#lastError = reason;
    if (!this.#stop.signal.aborted) this.connect();
  }

  /** Like {@link drop}, and logs a warning that the connection was lost. */
  lost(conn: Deno.Conn, reason: string): void {
    if (this.#conn === conn && !this.#stop.signal.aborted) {
      this.#log().warn("Lost the connection to {address}: {reason}", {
        address: this.address,
        reason,
      });
    }
    this.drop(conn, reason);
  }

  /**
   * Writes all of `bytes` to `conn`. When one write makes no progress for
   * `write_timeout` (the peer does not read), the connection is dropped as
   * lost (a new one is opened) and this rejects saying so; it rejects at
   * once when {@link abort} or {@link close} stops the connection. The bytes
   * already written stay on the old connection: write them again on the
   * next one (at-least-once).
   */
  async write(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
    let written = 0;
    try {
      while (written < bytes.length) {
        this.#writingSince = performance.now();
        written += await this.#writeSome(conn, bytes.subarray(written));
      }
      this.#timedOut = undefined;
    } finally {
      this.#writingSince = undefined;
    }
  }

  /** One write of `bytes` to `conn`, bounded by `write_timeout`. */
  #writeSome(conn: Deno.Conn, bytes: Uint8Array): Promise<number> {
    const stop = this.#stop.signal;
    const stopped = () =>
      new Error(`Gave up writing to ${this.address}: the actor stopped`);
    if (stop.aborted) return Promise.reject(stopped());
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    let failure: Error | undefined;
    // Closing the connection ends the write in progress, which then rejects
    // with `failure`.
    const giveUp = (error: Error) => {
      failure = error;
      this.lost(conn, error.message);
      closeQuietly(conn);
    };
    let due = performance.now() + this.#writeTimeoutMs;
    const expire = () => {
      const now = performance.now();
      if (now - due > LATE_MS) {
        // The process itself did not run in time (a busy event loop, a
        // starved machine): give the write a turn before judging the peer.
        due = now + LATE_MS;
        timer = setTimeout(expire, LATE_MS);
        return;
      }
      const seconds = this.#writeTimeoutMs / 1000;
      this.#timedOut =
        `A write to ${this.address} made no progress for ${seconds} s (the peer is not reading): the connection was replaced`;
      giveUp(
        new Error(
          `No progress writing to ${this.address} for ${seconds} s: the peer is not reading`,
        ),
      );
    };
    let timer = setTimeout(expire, this.#writeTimeoutMs);
    const onStop = () => giveUp(stopped());
    stop.addEventListener("abort", onStop, { once: true });
    conn.write(bytes).then(resolve, (error) => reject(failure ?? error))
      .finally(() => {
        clearTimeout(timer);
        stop.removeEventListener("abort", onStop);
      });
    return promise;
  }

  /** Stops connecting at once: {@link connect} rejects. */
  abort(): void {
    this.#stop.abort();
  }

  /**
   * Stops connecting, closes the connection and waits for its reader (and,
   * for a connection `node:tls` made, up to `write_timeout` for what was
   * written to be flushed to the system).
   */
  async close(): Promise<void> {
    this.#stop.abort();
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) closeQuietly(conn);
    await this.#connecting?.catch(() => {});
    await Promise.all(this.#watchers);
    await this.#flushed();
  }

  /**
   * Waits for the `node:tls` sockets (see {@link #connectNodeTls}) to flush
   * what was written (the system then delivers it, as it does for a TCP
   * socket closed), up to `write_timeout` (a peer that does not read); then
   * destroys them.
   */
  async #flushed(): Promise<void> {
    if (this.#nodeSockets.size === 0) return;
    const timeout = new AbortController();
    const open = [...this.#nodeSockets.values()];
    const late = sleep(this.#writeTimeoutMs, timeout.signal);
    await Promise.race([Promise.all(open.map((each) => each.written)), late]);
    timeout.abort();
    for (const { socket } of open) destroyTls(socket);
  }

  async #connectWithBackoff(): Promise<Deno.Conn> {
    if (this.#tls?.insecure_skip_verify === true && !this.#warned) {
      this.#warned = true;
      this.#log().warn(
        "TLS certificate verification is disabled for {address} (tls.insecure_skip_verify): the server's certificate is neither checked against a CA nor for its name, so anyone on the path can read and change what is sent",
        { address: this.address },
      );
    }
    for (let failures = 0;; failures++) {
      if (this.#stop.signal.aborted) throw this.#stopped();
      try {
        const conn = await this.#dial();
        if (this.#stop.signal.aborted) {
          closeQuietly(conn);
          throw this.#stopped();
        }
        this.#opened(conn);
        return conn;
      } catch (error) {
        if (this.#stop.signal.aborted) throw this.#stopped();
        this.#lastError = errorMessage(error);
        const delay = Math.min(this.#maxMs, this.#minMs * 2 ** failures);
        const text =
          "Cannot connect to {address}: {error}; trying again in {delay} ms";
        const values = {
          address: this.address,
          error: this.#lastError,
          delay,
        };
        if (failures === 0) this.#log().warn(text, values);
        else this.#log().debug(text, values);
        const attempted = this.#attempted;
        this.#attempted = undefined;
        attempted?.();
        if (!await sleep(delay, this.#stop.signal)) throw this.#stopped();
      }
    }
  }

  #opened(conn: Deno.Conn): void {
    this.#conn = conn;
    this.#connections++;
    const watcher = this.#watch(conn).finally(() =>
      this.#watchers.delete(watcher)
    );
    this.#watchers.add(watcher);
    this.#log().info(
      this.#connections === 1
        ? "Connected to {address}"
        : "Reconnected to {address}",
      { address: this.address },
    );
    this.#onOpen(conn);
  }

  /** One attempt to connect, bounded by `connect_timeout`. */
  async #dial(): Promise<Deno.Conn> {
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(), this.#connectTimeoutMs);
    const stop = this.#stop.signal;
    const onStop = () => attempt.abort();
    stop.addEventListener("abort", onStop, { once: true });
    try {
      if (
        this.#tls !== undefined &&
        (this.#tls.insecure_skip_verify === true ||
          this.#handshakeUnanswered)
      ) {
        return await this.#connectNodeTls(attempt.signal);
      }
      const conn = await Deno.connect({
        hostname: this.#hostname,
        port: this.#port,
        signal: attempt.signal,
      });
      conn.setNoDelay(true);
      if (this.#tls === undefined) return conn;
      return await this.#startTls(conn, attempt.signal);
    } catch (error) {
      if (attempt.signal.aborted && !stop.aborted) {
        throw new Error(
          `Timed out after ${this.#connectTimeoutMs / 1000} s`,
          { cause: error },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
    }
  }

  /**
   * The TLS connection over `conn`, handshaken, or a rejection when the
   * handshake fails or `signal` aborts first (`conn` is closed then). With
   * a client certificate, which `Deno.startTls` does not take, `conn` is
   * closed and `Deno.connectTls` connects anew (to `server_name` when set).
   */
  async #startTls(conn: Deno.TcpConn, signal: AbortSignal): Promise<Deno.Conn> {
    const tls = this.#tls!;
    const material = this.#material!;
    const options = {
      hostname: tls.server_name ?? this.#hostname,
      caCerts: material.caCerts,
      unsafelyDisableHostnameVerification: tls.verify_hostname === false,
    };
    let connecting: Promise<Deno.TlsConn>;
    if (material.certifiedKey === undefined) {
      connecting = Deno.startTls(conn, options);
    } else {
      closeQuietly(conn);
      connecting = Deno.connectTls({
        ...options,
        port: this.#port,
        ...material.certifiedKey,
      });
    }
    const aborted = Promise.withResolvers<never>();
    const abort = () => {
      aborted.reject(new Error("The TLS handshake did not complete in time"));
      connecting.then(closeQuietly, () => {});
    };
    if (signal.aborted) abort();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const tlsConn = await Promise.race([connecting, aborted.promise]);
      const handshake = tlsConn.handshake();
      await Promise.race([handshake, aborted.promise]).catch((error) => {
        closeQuietly(tlsConn);
        if (signal.aborted) this.#unanswered();
        throw error;
      });
      return tlsConn;
    } catch (error) {
      if (!/invalid peer certificate/i.test(errorMessage(error))) throw error;
      throw untrusted(error);
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }

  /**
   * A Deno TLS socket whose handshake timed out was closed: Deno keeps its
   * socket open until the peer closes it (`close()` does not end a pending
   * handshake), so until a handshake completes, connections are made by
   * `node:tls`, whose sockets close, and no more of them pile up.
   */
  #unanswered(): void {
    if (this.#handshakeUnanswered) return;
    this.#handshakeUnanswered = true;
    this.#log().warn(
      "{address} did not answer the TLS handshake in time (is it a TLS server?). Deno cannot close a socket in that state until the peer does, so connections to it are made by node:tls until one completes its handshake",
      { address: this.address },
    );
  }

  /**
   * A TLS connection made by `node:tls`, handshaken, as a Deno connection
   * (through a `TlsBridge` of its own); or a rejection when it fails or
   * `signal` aborts first. It verifies the server as `Deno.startTls` would
   * (`tls.ca`, `server_name`, `verify_hostname`), or not at all with
   * `insecure_skip_verify`.
   */
  async #connectNodeTls(signal: AbortSignal): Promise<Deno.Conn> {
    const options = this.#tls!;
    const material = this.#material!;
    const name = options.server_name ?? this.#hostname;
    const verify = options.insecure_skip_verify !== true;
    const socket = tls.connect({
      host: this.#hostname,
      port: this.#port,
      rejectUnauthorized: verify,
      // Deno trusts `tls.ca` beside the usual roots; `node:tls`, instead.
      ...(verify && material.caCerts.length > 0
        ? { ca: [...tls.rootCertificates, ...material.caCerts] }
        : {}),
      checkServerIdentity: verify && options.verify_hostname !== false
        ? (_host, certificate) => tls.checkServerIdentity(name, certificate)
        : () => undefined,
      // SNI carries names, not addresses.
      ...(net.isIP(name) === 0 ? { servername: name } : {}),
      ...(material.certifiedKey ?? {}),
    });
    const handshake = Promise.withResolvers<void>();
    const fail = (error: Error) => handshake.reject(error);
    const abort = () =>
      fail(new Error("The TLS handshake did not complete in time"));
    socket.once("secureConnect", () => handshake.resolve());
    socket.once("error", fail);
    signal.addEventListener("abort", abort, { once: true });
    if (signal.aborted) abort();
    try {
      await handshake.promise;
    } catch (error) {
      socket.on("error", () => {}); // Destroyed: later errors are moot.
      destroyTls(socket);
      throw UNTRUSTED_CODES.has((error as { code?: string }).code ?? "")
        ? untrusted(error)
        : error;
    } finally {
      socket.off("error", fail);
      signal.removeEventListener("abort", abort);
    }
    this.#handshakeUnanswered = false;
    socket.setNoDelay(true);
    const bridge = new TlsBridge<undefined>();
    try {
      const written = bridge.hand(socket, undefined);
      const handed = await Promise.race([
        bridge.accept(),
        written.then(() => {
          throw new Error(
            "The server closed the connection after the handshake",
          );
        }),
      ]);
      this.#nodeSockets.set(handed.conn, { socket, written });
      socket.once("close", () => this.#nodeSockets.delete(handed.conn));
      return handed.conn;
    } finally {
      // The connection handed over stays open.
      bridge.close();
    }
  }

  /** Reads `conn` until it ends, ignoring what arrives; then reconnects. */
  async #watch(conn: Deno.Conn): Promise<void> {
    const sink = new Uint8Array(4096);
    let reason = "the peer closed it";
    try {
      while (await conn.read(sink) !== null) { /* ignored */ }
    } catch (error) {
      reason = errorMessage(error);
    }
    this.lost(conn, reason);
  }

  #stopped(): Error {
    return new Error(
      `Gave up waiting for a connection to ${this.address}: the actor stopped`,
    );
  }
}

/** `node:tls`'s codes for a certificate that chains to no trusted CA. */
const UNTRUSTED_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);

/** `error`, a certificate not trusted, with what to do about it. */
function untrusted(error: unknown): Error {
  return new Error(
    `${
      errorMessage(error)
    }: the server's certificate is not trusted (give the CA it chains to in "tls.ca"; for a lab peer whose certificate cannot be verified, e.g. a self-signed one, "tls.insecure_skip_verify: true")`,
    { cause: error },
  );
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
