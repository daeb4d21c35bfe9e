/**
 * `tcp_client`: an output that writes each event as a frame on a TCP
 * connection, reconnecting with exponential backoff when it breaks.
 *
 * @module
 */

import { z } from "zod";
import { Actor, type ActorSettings, sleep } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { ByteBuilder, payload } from "../payload.ts";

/** Options of the `tcp_client` actor. */
export const TcpClientOptions = z.strictObject({
  hostname: z.string().min(1).default("127.0.0.1").describe(
    "The host to connect to: a name or an IP address.",
  ),
  port: z.number().int().min(1).max(65_535).describe(
    "The port to connect to.",
  ),
  framing: z.enum(["newline", "length"]).default("newline").describe(
    'How events are delimited: "newline" writes each one followed by "\\n"; "length" writes a 4-byte big-endian length, then the bytes.',
  ),
  reconnect_min_ms: z.number().min(0).default(100).describe(
    "Milliseconds before the first new attempt to connect; doubled after each failed attempt.",
  ),
  reconnect_max_ms: z.number().min(0).default(10_000).describe(
    "The longest wait between two attempts to connect, in milliseconds.",
  ),
  connect_timeout: z.number().positive().default(10).describe(
    "Seconds one attempt to connect may take.",
  ),
  max_wait: z.number().positive().optional().describe(
    'Seconds a batch of events may wait for the connection (connecting, reconnecting, sending again) before its events go to the "error" queue; without it, they wait until the peer is back or the actor stops.',
  ),
}).superRefine((options, ctx) => {
  if (options.reconnect_max_ms < options.reconnect_min_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["reconnect_max_ms"],
      message:
        `Must be at least "reconnect_min_ms" (${options.reconnect_min_ms})`,
    });
  }
});

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
 * A batch whose write failed is written again, whole, on the next connection:
 * delivery is at-least-once, and the peer may get the start of a batch twice
 * (the first time on the broken connection). TCP itself cannot tell whether
 * the peer read what was written: events written just before the peer went
 * away without closing may be lost; a protocol with acknowledgements is needed
 * for more. Anything the peer sends is read and ignored.
 *
 * @example
 * ```ts
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
 * await received; // "n=1\nn=2\n"
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
    max_wait: 60,
  },
  create: (name, options, settings) => new TcpClient(name, options, settings),
};

const NEWLINE = 10;

/** The `tcp_client` output actor. */
export class TcpClient extends Actor {
  readonly kind = "output";
  #hostname: string;
  #port: number;
  #address: string;
  #lengthFraming: boolean;
  #minMs: number;
  #maxMs: number;
  #connectTimeoutMs: number;
  #maxWaitMs: number;
  #conn: Deno.TcpConn | undefined;
  #connecting: Promise<Deno.TcpConn> | undefined;
  #watchers = new Set<Promise<void>>();
  #connections = 0;
  #bytes = new ByteBuilder();
  #stop = new AbortController();

  /** Makes a TCP client; see {@link TcpClientOptions}. */
  constructor(
    name: string,
    options: Partial<TcpClientOptions> & Pick<TcpClientOptions, "port">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { outbound: ["error"] });
    const parsed = TcpClientOptions.parse(options);
    this.#hostname = parsed.hostname;
    this.#port = parsed.port;
    this.#address = `${parsed.hostname}:${parsed.port}`;
    this.#lengthFraming = parsed.framing === "length";
    this.#minMs = parsed.reconnect_min_ms;
    this.#maxMs = parsed.reconnect_max_ms;
    this.#connectTimeoutMs = parsed.connect_timeout * 1000;
    this.#maxWaitMs = (parsed.max_wait ?? Infinity) * 1000;
  }

  /** Whether the connection is open now. */
  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Connections opened so far (the first one and every reconnection). */
  get connections(): number {
    return this.#connections;
  }

  override setup(): void {
    this.#reconnect();
  }

  override async consumeBatch(events: Event[], queue: string): Promise<void> {
    const failed = this.#encode(events);
    const bytes = this.#bytes.bytes();
    const deadline = Date.now() + this.#maxWaitMs;
    while (bytes.length > 0) {
      const conn = this.#conn ?? await this.#connection(deadline);
      try {
        let at = 0;
        while (at < bytes.length) at += await conn.write(bytes.subarray(at));
        break;
      } catch (error) {
        if (this.#stop.signal.aborted) throw error;
        this.log.warn(
          "Writing to {address} failed; sending {count} event(s) again on a new connection: {error}",
          {
            address: this.#address,
            count: events.length,
            error: error instanceof Error ? error.message : String(error),
          },
        );
        this.#drop(conn);
      }
    }
    if (failed !== undefined) {
      for (const [event, error] of failed) {
        await this.fail(event, queue, error);
      }
    }
  }

  /**
   * Stops at once: gives up waiting for the connection (the batch waiting goes
   * to the `error` queue), then stops reading.
   */
  override abort(): void {
    this.#stop.abort();
    super.abort();
  }

  override async teardown(): Promise<void> {
    this.#stop.abort();
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) closeQuietly(conn);
    await this.#connecting?.catch(() => {});
    await Promise.all(this.#watchers);
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
      if (this.#lengthFraming) {
        const start = bytes.length;
        bytes.addUint32(0);
        if (typeof data === "string") bytes.addText(data);
        else bytes.addBytes(data);
        bytes.setUint32(start, bytes.length - start - 4);
      } else {
        if (typeof data === "string") bytes.addText(data);
        else bytes.addBytes(data);
        bytes.addByte(NEWLINE);
      }
    }
    return failed;
  }

  /** The connection once open; throws after `deadline` or when stopping. */
  async #connection(deadline: number): Promise<Deno.TcpConn> {
    const connecting = this.#reconnect();
    if (deadline === Infinity) return await connecting;
    const done = new AbortController();
    const expired = sleep(
      Math.max(0, deadline - Date.now()),
      AbortSignal.any([done.signal, this.#stop.signal]),
    ).then((elapsed): never => {
      throw elapsed
        ? new Error(
          `No connection to ${this.#address} within ${
            this.#maxWaitMs / 1000
          } s`,
        )
        : this.#stopped();
    });
    try {
      return await Promise.race([connecting, expired]);
    } finally {
      done.abort();
    }
  }

  /** Starts connecting unless it is connected or connecting already. */
  #reconnect(): Promise<Deno.TcpConn> {
    if (this.#conn !== undefined) return Promise.resolve(this.#conn);
    if (this.#connecting === undefined) {
      const connecting = this.#connectWithBackoff().finally(() => {
        this.#connecting = undefined;
      });
      connecting.catch(() => {});
      this.#connecting = connecting;
    }
    return this.#connecting;
  }

  async #connectWithBackoff(): Promise<Deno.TcpConn> {
    for (let failures = 0;; failures++) {
      if (this.#stop.signal.aborted) throw this.#stopped();
      try {
        const conn = await this.#dial();
        if (this.#stop.signal.aborted) {
          closeQuietly(conn);
          throw this.#stopped();
        }
        this.#conn = conn;
        this.#connections++;
        const watcher = this.#watch(conn).finally(() =>
          this.#watchers.delete(watcher)
        );
        this.#watchers.add(watcher);
        this.log.info(
          this.#connections === 1
            ? "Connected to {address}"
            : "Reconnected to {address}",
          { address: this.#address },
        );
        return conn;
      } catch (error) {
        if (this.#stop.signal.aborted) throw this.#stopped();
        const delay = Math.min(this.#maxMs, this.#minMs * 2 ** failures);
        const message =
          "Cannot connect to {address}: {error}; trying again in {delay} ms";
        const values = {
          address: this.#address,
          error: error instanceof Error ? error.message : String(error),
          delay,
        };
        if (failures === 0) this.log.warn(message, values);
        else this.log.debug(message, values);
        if (!await sleep(delay, this.#stop.signal)) throw this.#stopped();
      }
    }
  }

  /** One attempt to connect, bounded by `connect_timeout`. */
  async #dial(): Promise<Deno.TcpConn> {
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(), this.#connectTimeoutMs);
    const stop = this.#stop.signal;
    const onStop = () => attempt.abort();
    stop.addEventListener("abort", onStop, { once: true });
    try {
      const conn = await Deno.connect({
        hostname: this.#hostname,
        port: this.#port,
        signal: attempt.signal,
      });
      conn.setNoDelay(true);
      return conn;
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
   * Reads the connection until it ends, ignoring what arrives, to learn at
   * once when the peer closes it; then connects again.
   */
  async #watch(conn: Deno.TcpConn): Promise<void> {
    const sink = new Uint8Array(4096);
    let reason = "the peer closed it";
    try {
      while (await conn.read(sink) !== null) { /* ignored */ }
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    if (this.#conn !== conn) return;
    this.log.warn("Lost the connection to {address}: {reason}", {
      address: this.#address,
      reason,
    });
    this.#drop(conn);
  }

  /** Closes `conn` if it is the current one, and starts connecting again. */
  #drop(conn: Deno.TcpConn): void {
    if (this.#conn === conn) {
      this.#conn = undefined;
      closeQuietly(conn);
    }
    if (!this.#stop.signal.aborted) this.#reconnect();
  }

  #stopped(): Error {
    return new Error(
      `Gave up waiting for a connection to ${this.#address}: the actor stopped`,
    );
  }
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
