/**
 * The listening sockets of `tcp_server`, `http_server`, `prometheus` and the
 * admin server: plain TCP, or TLS, with certificates read again on demand
 * (SIGHUP) without closing the connections already open.
 *
 * TLS is served by `node:tls`, not by `Deno.listenTls`, for three reasons:
 * `Deno.listenTls` cannot ask for client certificates (mutual TLS); it takes
 * its certificate once, so a reload would have to listen anew; and a client
 * that never completes its handshake keeps its socket open for ever (closing
 * the connection during `handshake()` cancels the call, not the socket).
 * `node:tls` asks for client certificates (`requestCert`, `ca`), swaps its
 * certificate in place (`setSecureContext`: a reload refuses nothing and
 * leaves open connections alone), and its plain TCP socket can be destroyed
 * when the handshake times out. The decrypted bytes are handed over through
 * a private Unix socket (see `tls_bridge.ts`), so that the consumers (and
 * Deno's HTTP engine) read a Deno connection as they do without TLS. That
 * costs a copy of every byte (see the README for what that costs).
 *
 * @module
 */

import type net from "node:net";
import tls from "node:tls";
import type { ActorLog } from "./actor.ts";
import { describe } from "./actor.ts";
import {
  type ClientAuth,
  loadServerTls,
  type ServerTlsMaterial,
  type ServerTlsOptions,
} from "./tls.ts";
import { destroyTls, tcpOf, TlsBridge } from "./tls_bridge.ts";

/** A connection accepted by a {@link StreamListener}. */
export interface Accepted {
  /** The connection, carrying plain bytes (TLS is handled beneath). */
  conn: Deno.Conn;
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
  /**
   * The subject of the certificate the client presented, e.g.
   * `"CN=agent-7, O=Example"` (only with `client_auth`).
   */
  clientCertificate?: string;
}

/** Settings of {@link listenStream}. */
export interface StreamListenerOptions {
  /** The address to listen on, e.g. `"127.0.0.1"`. */
  hostname: string;
  /** The TCP port to listen on; 0 picks a free one. */
  port: number;
  /** Serve TLS with these files (see `ServerTlsSchema`); plain TCP without. */
  tls?: ServerTlsOptions | undefined;
  /** ALPN protocols offered with TLS, e.g. `["h2", "http/1.1"]`. */
  alpnProtocols?: string[];
  /**
   * Milliseconds a client has to complete its TLS handshake, before its
   * connection is accepted (default 10 000); it is closed after.
   */
  handshakeTimeoutMs?: number;
  /** Where failed handshakes, refused clients and reloads are logged. */
  log: ActorLog;
}

/** Accepts connections, as `Deno.Listener` does, with TLS or without. */
export interface StreamListener {
  /** The address listened on (the port picked when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** `"https"`-like: whether connections are TLS. */
  readonly secure: boolean;
  /** Whether clients are asked for a certificate; `"none"` without TLS. */
  readonly clientAuth: ClientAuth;
  /** The next connection; rejects once closed. */
  accept(): Promise<Accepted>;
  /** Stops accepting; connections accepted stay open. */
  close(): void;
  /**
   * Reads the certificate files again for the connections from now on;
   * `false` without TLS. Throws a `TlsFileError` (and keeps serving the
   * certificate it had) when a file is unusable.
   */
  reloadCertificates(): boolean;
}

/**
 * Listens on `options.hostname:options.port`, with TLS when `options.tls`
 * is given (see the module documentation). Rejects when the address cannot
 * be bound or a TLS file is unusable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { listenStream } from "./stream_listener.ts";
 *
 * const listener = await listenStream({ hostname: "127.0.0.1", port: 0, log: getLogger(["demo"]) });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const accepted = await listener.accept();
 * assert.equal(accepted.remoteAddr.hostname, "127.0.0.1");
 * assert.equal(listener.secure, false);
 * accepted.conn.close();
 * client.close();
 * listener.close();
 * ```
 */
export async function listenStream(
  options: StreamListenerOptions,
): Promise<StreamListener> {
  if (options.tls === undefined) {
    return listenPlain(options.hostname, options.port);
  }
  const material = loadServerTls(options.tls);
  return await TlsListener.listen(options, options.tls, material);
}

/**
 * Listens on `hostname:port` with plain TCP, at once: a port in use throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenPlain } from "./stream_listener.ts";
 * const listener = listenPlain("127.0.0.1", 0);
 * assert.equal(listener.reloadCertificates(), false);
 * listener.close();
 * ```
 */
export function listenPlain(hostname: string, port: number): StreamListener {
  return new PlainListener(hostname, port);
}

/** Milliseconds a TLS handshake may take unless told otherwise. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Plain TCP. */
class PlainListener implements StreamListener {
  readonly addr: Deno.NetAddr;
  readonly secure = false;
  readonly clientAuth = "none";
  #listener: Deno.TcpListener;

  constructor(hostname: string, port: number) {
    this.#listener = Deno.listen({ hostname, port, transport: "tcp" });
    this.addr = this.#listener.addr;
  }

  async accept(): Promise<Accepted> {
    const conn = await this.#listener.accept();
    return { conn, remoteAddr: conn.remoteAddr };
  }

  close(): void {
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  reloadCertificates(): boolean {
    return false;
  }
}

/**
 * `node:tls`, for client certificates: each TLS connection is handed to the
 * consumer as a Deno connection through a {@link TlsBridge}.
 */
class TlsListener implements StreamListener {
  readonly addr: Deno.NetAddr;
  readonly secure = true;
  readonly clientAuth: ClientAuth;
  #log: ActorLog;
  #tls: ServerTlsOptions;
  #server: tls.Server;
  /** Hands each TLS connection over with its client's address and name. */
  #bridge = new TlsBridge<Omit<Accepted, "conn">>();
  /** The TCP sockets of connections in their handshake. */
  #handshaking = new Set<net.Socket>();
  #closed = false;

  /** Listens; rejects when the address cannot be bound. */
  static async listen(
    options: StreamListenerOptions,
    tlsOptions: ServerTlsOptions,
    material: ServerTlsMaterial,
  ): Promise<TlsListener> {
    const server = tls.createServer({
      ...secureContextOptions(material),
      requestCert: material.clientAuth !== "none",
      rejectUnauthorized: material.clientAuth === "require",
      allowHalfOpen: true,
      handshakeTimeout: options.handshakeTimeoutMs ??
        DEFAULT_HANDSHAKE_TIMEOUT_MS,
      ...(options.alpnProtocols === undefined
        ? {}
        : { ALPNProtocols: options.alpnProtocols }),
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new TlsListener(options, tlsOptions, material, server);
  }

  private constructor(
    options: StreamListenerOptions,
    tlsOptions: ServerTlsOptions,
    material: ServerTlsMaterial,
    server: tls.Server,
  ) {
    this.#log = options.log;
    this.#tls = tlsOptions;
    this.clientAuth = material.clientAuth;
    this.#server = server;
    const address = server.address() as net.AddressInfo;
    this.addr = {
      transport: "tcp",
      hostname: address.address,
      port: address.port,
    };
    server.on("connection", (socket: net.Socket) => {
      this.#handshaking.add(socket);
      socket.once("close", () => this.#handshaking.delete(socket));
    });
    server.on("secureConnection", (socket) => {
      const tcp = tcpOf(socket);
      if (tcp !== undefined) this.#handshaking.delete(tcp);
      this.#secured(socket);
    });
    server.on("tlsClientError", (error, socket) => {
      const remote = remoteOf(tcpOf(socket) ?? socket);
      this.#log.warn("TLS handshake with {remote} failed: {error}", {
        remote,
        error: describe(error),
      });
      destroyTls(socket);
    });
    server.on("error", (error) => {
      this.#log.error("The TLS listener failed: {error}", {
        error: describe(error),
      });
    });
  }

  async accept(): Promise<Accepted> {
    const { conn, value } = await this.#bridge.accept();
    return { conn, ...value };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    // TLS connections whose Deno end was never accepted have no consumer,
    // nor have those in their handshake.
    this.#bridge.close();
    for (const socket of this.#handshaking) socket.destroy();
    this.#handshaking.clear();
  }

  reloadCertificates(): boolean {
    const material = loadServerTls(this.#tls);
    if (material.clientAuth !== this.clientAuth) {
      throw new TypeError(
        `client_auth changed from "${this.clientAuth}" to "${material.clientAuth}": that takes a restart`,
      );
    }
    this.#server.setSecureContext(secureContextOptions(material));
    this.#log.info(
      "Serving TLS with the certificate of {subject}, valid until {expires}",
      { subject: material.subject, expires: material.expires },
    );
    return true;
  }

  /** A client completed its handshake: bridge it, or refuse it. */
  #secured(socket: tls.TLSSocket): void {
    const remote = remoteOf(socket);
    const peer = socket.getPeerX509Certificate();
    if (peer !== undefined && !socket.authorized) {
      // client_auth "request": a certificate presented must be valid.
      this.#log.warn(
        "Refused {remote}: its client certificate ({subject}) is not valid: {error}",
        {
          remote,
          subject: peer.subject.split("\n").join(", "),
          error: String(socket.authorizationError),
        },
      );
      destroyTls(socket);
      return;
    }
    if (this.#closed) {
      destroyTls(socket);
      return;
    }
    const clientCertificate = peer?.subject.split("\n").join(", ");
    this.#bridge.hand(socket, {
      remoteAddr: {
        transport: "tcp",
        hostname: socket.remoteAddress ?? "",
        port: socket.remotePort ?? 0,
      },
      ...(clientCertificate === undefined ? {} : { clientCertificate }),
    });
  }
}

/** `"HOST:PORT"` of the client of `socket`. */
function remoteOf(socket: net.Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

/** What `node:tls` serves `material` with. */
function secureContextOptions(
  material: ServerTlsMaterial,
): tls.SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
  };
}
