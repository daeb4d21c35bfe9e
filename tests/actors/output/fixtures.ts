/**
 * Contract-test fixtures of the outputs that write files, streams and
 * sockets: each gives the output something real to write to on 127.0.0.1, in
 * a temporary directory or in memory, and checks afterwards that what it
 * consumed arrived there. Listed in `FIXTURES` of
 * `tests/actors/contract_test.ts`. The stream and the UDP socket serve the
 * output tests too.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import type { Event } from "../../../core/event.ts";
import { Stdout, type StdoutOptions } from "../../../actors/output/stdout.ts";
import { numbered, readRotated, within } from "../../helpers.ts";
import type { Fixture } from "../contract_test.ts";

/** Data JSON cannot hold: the bad event of every output here. */
const BAD_EVENT: Event = { header: {}, data: { big: 1n } };

/** Lines as the outputs write numbered events: their data as JSON. */
function lines(consumed: Event[]): string[] {
  return consumed.map((event) => JSON.stringify(event.data));
}

/** A file in a temporary directory; its lines must be the events consumed. */
export async function fileOutFixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "contract_file_out_" });
  const path = `${dir}/out.log`;
  return {
    options: { path, max_bytes: 4096, max_files: 1000 },
    badEvent: BAD_EVENT,
    verify: async (consumed) => {
      const { text } = await readRotated(dir);
      assert.deepEqual(text.split("\n").slice(0, -1), lines(consumed));
    },
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

/**
 * A server on 127.0.0.1 that echoes the body of `POST /events/<n>` as text;
 * the requests must be the events consumed (in any order: they run
 * concurrently). The echo is forwarded on `outbox` as the event's new data,
 * so the data seen by `verify` is the text the server got.
 */
export function httpClientFixture(): Promise<Fixture> {
  const paths: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const body = await request.text();
      paths.push(`${new URL(request.url).pathname} ${body}`);
      return new Response(body, { headers: { "content-type": "text/plain" } });
    },
  );
  return Promise.resolve({
    // The URL needs `data`: the bad event has none a URL can hold.
    options: { url: `http://127.0.0.1:${server.addr.port}/events/{data}` },
    badEvent: { header: {}, data: null },
    verify: (consumed) =>
      assert.deepEqual(
        paths.sort(),
        consumed.map((event) => `/events/${event.data} ${event.data}`).sort(),
      ),
    cleanup: () => server.shutdown(),
  });
}

/** A listener on 127.0.0.1 that reads one connection to its end. */
export function tcpClientFixture(): Promise<Fixture> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received = listener.accept().then(
    (conn) => new Response(conn.readable).text(),
    () => "",
  );
  return Promise.resolve({
    options: { port: listener.addr.port },
    badEvent: BAD_EVENT,
    verify: async (consumed) => {
      // The stop closed the connection, so the read ends.
      const text = await received;
      assert.deepEqual(text.split("\n").slice(0, -1), lines(consumed));
    },
    cleanup: async () => {
      listener.close();
      await received;
    },
  });
}

/**
 * A byte stream that keeps what is written to it, as text. While closed, each
 * write waits until `open()`; `started` resolves at the first write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const target = new StreamTarget();
 * // an actor writes to it, e.g. new Stdout("out", {}, {}, target.stream)
 * const writer = target.stream.getWriter();
 * await writer.write(new TextEncoder().encode("a\nb\n"));
 * assert.deepEqual(target.lines(), ["a", "b"]);
 * ```
 */
export class StreamTarget {
  /** Everything written so far. */
  text = "";
  /** How many writes the stream got. */
  writes = 0;
  /** The stream to hand to the actor. */
  readonly stream: WritableStream<Uint8Array>;
  #open: boolean;
  #gate = Promise.withResolvers<void>();
  #started = Promise.withResolvers<void>();

  /** Makes a target, open unless `open` is false; see {@link open}. */
  constructor(open = true) {
    this.#open = open;
    const decoder = new TextDecoder();
    this.stream = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        this.writes++;
        this.#started.resolve();
        if (!this.#open) await this.#gate.promise;
        this.text += decoder.decode(chunk, { stream: true });
      },
    });
  }

  /** Resolves at the first write. */
  get started(): Promise<void> {
    return this.#started.promise;
  }

  /** Lets every write through from now on. */
  open(): void {
    this.#open = true;
    this.#gate.resolve();
  }

  /** The lines written, without their line ends. */
  lines(): string[] {
    return this.text === "" ? [] : this.text.replace(/\n$/, "").split("\n");
  }
}

/** A stream for `stdout` to write to; its lines must be the events consumed. */
export function stdoutFixture(): Promise<Fixture> {
  const target = new StreamTarget();
  return Promise.resolve({
    options: { prefix: "> ", format: "json" },
    create: (name, options, settings) =>
      new Stdout(name, options as StdoutOptions, settings, target.stream),
    badEvent: { header: {}, data: { big: 1n } },
    verify: (consumed) =>
      assert.deepEqual(
        target.lines(),
        consumed.map((event) => `> ${JSON.stringify(event.data)}`),
      ),
    cleanup: () => Promise.resolve(),
  });
}

/**
 * A UDP socket that keeps every datagram it receives and lets a test wait
 * until a number of them has arrived.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSocket } from "node:dgram";
 * const receiver = new UdpReceiver();
 * const port = await receiver.bind();
 * const socket = createSocket("udp4");
 * await new Promise((sent) => socket.send("hi", port, "127.0.0.1", sent));
 * await receiver.waitFor(1);
 * assert.deepEqual(receiver.texts(), ["hi"]);
 * await new Promise<void>((closed) => socket.close(() => closed()));
 * await receiver.close();
 * ```
 */
export class UdpReceiver {
  /** Every datagram received, in arrival order. */
  readonly datagrams: Uint8Array[] = [];
  #socket: Socket;
  #address: string;
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Makes a receiver for `address` of IP version `family` (4 or 6). */
  constructor(address = "127.0.0.1", family = 4) {
    this.#socket = createSocket(family === 6 ? "udp6" : "udp4");
    this.#address = address;
  }

  /** Binds a free port; returns it. */
  async bind(): Promise<number> {
    this.#socket.on("message", (message: Uint8Array) => {
      this.datagrams.push(new Uint8Array(message));
      this.#waiters = this.#waiters.filter((waiter) => {
        if (this.datagrams.length < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    });
    await new Promise<void>((resolve) =>
      this.#socket.bind(0, this.#address, resolve)
    );
    return this.#socket.address().port;
  }

  /** Resolves once at least `count` datagrams have arrived. */
  waitFor(count: number): Promise<void> {
    if (this.datagrams.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return promise;
  }

  /** The datagrams as UTF-8 text. */
  texts(): string[] {
    return this.datagrams.map((datagram) => new TextDecoder().decode(datagram));
  }

  /** Closes the socket. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/**
 * A UDP socket on 127.0.0.1; it must get one datagram per event consumed. Fed
 * fewer events than the default, so that none can be lost to a full socket
 * buffer on the loopback.
 */
export async function udpOutFixture(): Promise<Fixture> {
  const receiver = new UdpReceiver();
  return {
    options: { port: await receiver.bind() },
    events: numbered(100),
    badEvent: BAD_EVENT,
    verify: async (consumed) => {
      await within(
        receiver.waitFor(consumed.length),
        10_000,
        `${consumed.length} datagrams`,
      );
      assert.deepEqual(receiver.texts().sort(), lines(consumed).sort());
    },
    cleanup: () => receiver.close(),
  };
}
