/**
 * Hands the decrypted bytes of `node:tls` connections to code that reads and
 * writes `Deno.Conn`s: the TLS listeners (see `stream_listener.ts`) and
 * `tcp_client` with `tls.insecure_skip_verify` (see `tcp_connection.ts`)
 * use `node:tls` for what Deno's own TLS cannot do, and their consumers read
 * a Deno connection as they do without TLS.
 *
 * Each TLS socket is piped to a connection on a private Unix socket (in a
 * directory of its own, readable by this user only), which starts with a
 * random token saying which TLS socket it carries. Back-pressure holds both
 * ways (`pipe`); closing the Deno end ends the TLS socket once what was
 * written to it has been flushed. That costs a copy of every byte.
 *
 * @module
 */

import net from "node:net";
import type tls from "node:tls";

/** Bytes of the token a bridged connection starts with (hex of 16 bytes). */
const TOKEN_LENGTH = 32;

/** Milliseconds the token may take to arrive; it is sent at once. */
const TOKEN_TIMEOUT_MS = 2000;

/** A connection handed over by a {@link TlsBridge}. */
export interface Handed<T> {
  /** The Deno end: plain bytes, what the TLS socket decrypts and encrypts. */
  conn: Deno.Conn;
  /** What was handed with it (see {@link TlsBridge.hand}). */
  value: T;
}

/**
 * Pipes TLS sockets to Deno connections (see the module documentation):
 * {@link hand} a handshaken socket, {@link accept} its Deno end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import tls from "node:tls";
 * import { TlsBridge } from "./tls_bridge.ts";
 *
 * // A TLS socket over an in-process duplex is enough to show the hand-over;
 * // any handshaken `tls.TLSSocket` is handed the same way.
 * const bridge = new TlsBridge<string>();
 * const socket = new tls.TLSSocket(undefined as never);
 * const closed = bridge.hand(socket, "peer-1");
 * const handed = await bridge.accept();
 * assert.equal(handed.value, "peer-1");
 * handed.conn.close();
 * socket.destroy();
 * await closed;
 * bridge.close();
 * ```
 */
export class TlsBridge<T> {
  #dir: string;
  #path: string;
  #listener: Deno.UnixListener;
  /** TLS sockets by token, until their Deno end is accepted. */
  #waiting = new Map<string, { socket: tls.TLSSocket; value: T }>();
  #closed = false;

  /** Listens on a new private Unix socket. */
  constructor() {
    this.#dir = Deno.makeTempDirSync({ prefix: "compysition-tls-" });
    this.#path = `${this.#dir}/bridge.sock`;
    this.#listener = Deno.listen({ transport: "unix", path: this.#path });
  }

  /**
   * Pipes `socket`, handshaken, to a new Deno connection that
   * {@link accept} returns with `value`. Resolves once `socket` is done
   * writing: the Deno end was closed and `socket` has flushed what it wrote
   * and ended (the peer may still be sending), or `socket` closed (the peer
   * closed it, or either side failed). A bridge closed already destroys
   * `socket`.
   */
  hand(socket: tls.TLSSocket, value: T): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    if (this.#closed) {
      destroyTls(socket);
      return Promise.resolve();
    }
    const token = randomToken();
    this.#waiting.set(token, { socket, value });
    const inner = net.connect({ path: this.#path, allowHalfOpen: true });
    inner.write(token);
    socket.pipe(inner);
    inner.pipe(socket);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#waiting.delete(token);
      destroyTls(socket);
      destroyBridge(inner);
      resolve();
    };
    socket.on("error", end);
    inner.on("error", end);
    socket.on("close", end);
    inner.on("close", end);
    socket.once("finish", () => resolve());
    return promise;
  }

  /** The Deno end of the next socket handed; rejects once closed. */
  async accept(): Promise<Handed<T>> {
    for (;;) {
      const conn = await this.#listener.accept();
      const token = await readToken(conn);
      const waiting = token === undefined
        ? undefined
        : this.#waiting.get(token);
      if (waiting === undefined) {
        closeQuietly(conn);
        continue;
      }
      this.#waiting.delete(token!);
      return { conn, value: waiting.value };
    }
  }

  /**
   * Stops accepting, destroys the sockets whose Deno end was not accepted
   * (they have no consumer) and removes the Unix socket. Connections
   * accepted stay open.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const { socket } of this.#waiting.values()) destroyTls(socket);
    this.#waiting.clear();
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch {
      // Already removed.
    }
  }
}

/**
 * The TCP socket under `socket` (`_parent`, as in Node), when it wraps one:
 * destroying the TLS socket of a failed handshake does not close its TCP
 * socket in Deno, destroying that one does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import net from "node:net";
 * import tls from "node:tls";
 * import { tcpOf } from "./tls_bridge.ts";
 * const tcp = new net.Socket();
 * const socket = new tls.TLSSocket(tcp);
 * assert.equal(tcpOf(socket), tcp);
 * socket.destroy();
 * tcp.destroy();
 * ```
 */
export function tcpOf(socket: tls.TLSSocket): net.Socket | undefined {
  return (socket as tls.TLSSocket & { _parent?: net.Socket })._parent;
}

/**
 * Destroys `socket` and the TCP socket under it (see {@link tcpOf}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import tls from "node:tls";
 * import { destroyTls } from "./tls_bridge.ts";
 * const socket = new tls.TLSSocket(undefined as never);
 * destroyTls(socket);
 * assert.equal(socket.destroyed, true);
 * ```
 */
export function destroyTls(socket: tls.TLSSocket): void {
  socket.destroy();
  tcpOf(socket)?.destroy();
}

/**
 * Milliseconds the shutdown of a bridge's Unix socket may take before the
 * socket is destroyed anyway; it takes well under one.
 */
const SHUTDOWN_WAIT_MS = 1000;

/**
 * Destroys `inner`, the Unix end of a bridge, once the shutdown it sent
 * (when the TLS peer ended its side) is complete. Deno's `node:net` never
 * completes a shutdown whose socket is destroyed meanwhile, and keeps that
 * socket reachable for ever, with the TLS socket it carried: some 10 KB for
 * each peer that ended its side first.
 */
function destroyBridge(inner: net.Socket): void {
  if (!inner.writableEnded || inner.writableFinished || inner.destroyed) {
    inner.destroy();
    return;
  }
  const timer = setTimeout(() => inner.destroy(), SHUTDOWN_WAIT_MS);
  inner.once("finish", () => inner.destroy());
  inner.once("close", () => clearTimeout(timer));
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_LENGTH / 2));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * The token a bridged connection starts with, read exactly (the bytes
 * after it are left for the consumer); `undefined` when it does not come.
 */
async function readToken(conn: Deno.Conn): Promise<string | undefined> {
  const buffer = new Uint8Array(TOKEN_LENGTH);
  let read = 0;
  const timer = setTimeout(() => closeQuietly(conn), TOKEN_TIMEOUT_MS);
  try {
    while (read < TOKEN_LENGTH) {
      const count = await conn.read(buffer.subarray(read));
      if (count === null) return undefined;
      read += count;
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
  return new TextDecoder().decode(buffer);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
