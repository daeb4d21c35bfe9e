/**
 * Contract-test fixtures of the outputs that write files and sockets: each
 * gives the output something real to write to on 127.0.0.1 or in a temporary
 * directory, and checks afterwards that what it consumed arrived there.
 * Listed in `FIXTURES` of `tests/actors/contract_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import type { Event } from "../../../core/event.ts";
import { numbered } from "../../helpers.ts";
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
      const names: string[] = [];
      for await (const entry of Deno.readDir(dir)) names.push(entry.name);
      // Oldest first: out.log.N … out.log.1, then out.log.
      const order = (name: string) => -Number(name.split(".")[2] ?? 0);
      names.sort((a, b) => order(a) - order(b));
      let text = "";
      for (const name of names) {
        text += await Deno.readTextFile(`${dir}/${name}`);
      }
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
 * A UDP socket on 127.0.0.1; it must get one datagram per event consumed. Fed
 * fewer events than the default, so that none can be lost to a full socket
 * buffer on the loopback.
 */
export async function udpOutFixture(): Promise<Fixture> {
  const socket = createSocket("udp4");
  const datagrams: string[] = [];
  let expected = Infinity;
  const all = Promise.withResolvers<void>();
  socket.on("message", (message: Uint8Array) => {
    datagrams.push(new TextDecoder().decode(message));
    if (datagrams.length >= expected) all.resolve();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    options: { port: socket.address().port },
    events: numbered(100),
    badEvent: BAD_EVENT,
    verify: async (consumed) => {
      expected = consumed.length;
      if (datagrams.length < expected) await withinSeconds(all.promise, 10);
      assert.deepEqual(datagrams.sort(), lines(consumed).sort());
    },
    cleanup: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/** `promise`, or a failure after `seconds`; leaves no timer behind. */
async function withinSeconds(
  promise: Promise<void>,
  seconds: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Nothing more arrived within ${seconds} s`)),
      seconds * 1000,
    );
  });
  try {
    await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
