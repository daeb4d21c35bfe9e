/**
 * A raw TCP client for the tests of the HTTP servers: it writes whatever
 * bytes a test gives (half a request head, garbage, a head without its
 * body) and keeps what the server answers, so that a test can tell an answer
 * from a closed connection.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Most bytes of answers a {@link RawClient} keeps. */
const KEEP_BYTES = 1_048_576;

/**
 * One TCP connection to 127.0.0.1 that reads everything the server sends
 * until the server closes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("hi"));
 * const client = await RawClient.open(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * await client.until((text) => text.endsWith("\r\n\r\nhi"));
 * assert.match(client.text, /^HTTP\/1\.1 200 OK\r\n/);
 * await client.close();
 * await server.shutdown();
 * ```
 */
export class RawClient {
  /** What the server sent so far (its first MiB). */
  text = "";
  /** Resolves with all the server sent once it closed the connection. */
  readonly closed: Promise<string>;
  #conn: Deno.TcpConn;
  #waiters: { test: (text: string) => boolean; resolve: () => void }[] = [];
  #ended = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.closed = this.#read();
  }

  /** Connects to 127.0.0.1:`port` and writes `bytes` when given. */
  static async open(
    port: number,
    bytes?: string | Uint8Array,
  ): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const client = new RawClient(conn);
    if (bytes !== undefined) await client.write(bytes);
    return client;
  }

  /** Whether the server closed the connection (or reset it). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Writes `bytes`; `false` when the connection is gone. */
  async write(bytes: string | Uint8Array): Promise<boolean> {
    const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    try {
      for (let at = 0; at < data.length;) {
        at += await this.#conn.write(data.subarray(at));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the sending side: the server reads end-of-stream. */
  async closeWrite(): Promise<void> {
    await this.#conn.closeWrite().catch(() => {});
  }

  /**
   * Resolves once the text received passes `test`; rejects when the
   * connection ends first.
   */
  until(test: (text: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    if (this.#ended) {
      return Promise.reject(
        new Error(`The connection ended without the answer expected:
${this.text}`),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({
      test,
      resolve: () =>
        test(this.text) ? resolve() : reject(
          new Error(`The connection ended without the answer expected:
${this.text}`),
        ),
    });
    return promise;
  }

  /** Closes the connection and waits for the reading to end. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.closed;
  }

  async #read(): Promise<string> {
    const buffer = new Uint8Array(65_536);
    let kept = 0;
    try {
      for (;;) {
        const read = await this.#conn.read(buffer);
        if (read === null) break;
        if (kept < KEEP_BYTES) {
          this.text += decoder.decode(buffer.subarray(0, read));
          kept += read;
        }
        this.#waiters = this.#waiters.filter((waiter) => {
          if (!waiter.test(this.text)) return true;
          waiter.resolve();
          return false;
        });
      }
    } catch {
      // Reset by the server, or closed by close().
    }
    this.#ended = true;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
    try {
      this.#conn.close();
    } catch {
      // Closed by close().
    }
    return this.text;
  }
}

/** `text` without the interim (1xx) answers at its start. */
function final(text: string): string {
  return text.replace(
    /^(?:HTTP\/1\.1 1\d\d [^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+/,
    "",
  );
}

/**
 * The status of the first final answer in `text` (after any interim `100
 * Continue`), or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusOf } from "./raw_http.ts";
 * assert.equal(statusOf("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n\r\n"), 503);
 * ```
 */
export function statusOf(text: string): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(final(text));
  return match === null ? undefined : Number(match[1]);
}

/**
 * The body of the first final answer in `text` (after its head).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bodyOf } from "./raw_http.ts";
 * assert.equal(bodyOf("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"), "hi");
 * ```
 */
export function bodyOf(text: string): string {
  const answer = final(text);
  const at = answer.indexOf("\r\n\r\n");
  return at < 0 ? "" : answer.slice(at + 4);
}
