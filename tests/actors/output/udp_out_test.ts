import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns/promises";
import type { EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import { type UdpOut, udpOut } from "../../../actors/output/udp_out.ts";
import { Collector, ListInput } from "../../helpers.ts";

function events(values: unknown[]): Event[] {
  return values.map((data, i) => ({ header: { seq: i + 1 }, data }));
}

/** A UDP socket on 127.0.0.1 that keeps every datagram it receives. */
class Receiver {
  readonly datagrams: Uint8Array[] = [];
  #socket: Socket;
  #address: string;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(address = "127.0.0.1", family = 4) {
    this.#socket = createSocket(family === 6 ? "udp6" : "udp4");
    this.#address = address;
  }

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

  waitFor(count: number): Promise<void> {
    if (this.datagrams.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ count, resolve });
    return promise;
  }

  texts(): string[] {
    return this.datagrams.map((datagram) => new TextDecoder().decode(datagram));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

async function send(
  hostname: string,
  port: number,
  values: unknown[],
): Promise<{ subject: UdpOut; errors: Collector }> {
  const router = new Router();
  router.register(new ListInput("input", events(values)));
  const subject = router.register(udpOut, "send", { hostname, port }) as UdpOut;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "send.inbox");
  router.connect("send.error", "errors.inbox");
  await router.start();
  await router.finished;
  await router.stop();
  return { subject, errors };
}

Deno.test("udp_out sends one datagram per event: text, JSON or bytes", async () => {
  const receiver = new Receiver();
  try {
    const port = await receiver.bind();
    const { subject, errors } = await send("127.0.0.1", port, [
      "hello",
      { a: [1, 2] },
      7,
      new Uint8Array([0, 255, 10]),
    ]);
    await receiver.waitFor(4);
    assert.deepEqual(errors.events, []);
    assert.deepEqual(
      receiver.datagrams.map((datagram) => [...datagram]).sort(),
      [
        [...new TextEncoder().encode("hello")],
        [...new TextEncoder().encode('{"a":[1,2]}')],
        [...new TextEncoder().encode("7")],
        [0, 255, 10],
      ].sort(),
    );
    assert.deepEqual(subject.figures(), { consumed_total: 4, failed_total: 0 });
  } finally {
    await receiver.close();
  }
});

Deno.test("udp_out looks a host name up once and sends to its address", async () => {
  const { address, family } = await lookup("localhost");
  const receiver = new Receiver(address, family);
  try {
    const port = await receiver.bind();
    const values = Array.from({ length: 50 }, (_, i) => `n${i}`);
    await send("localhost", port, values);
    await receiver.waitFor(values.length);
    assert.deepEqual(receiver.texts().sort(), [...values].sort());
  } finally {
    await receiver.close();
  }
});

Deno.test("udp_out sends an event too large for a datagram, or not writable as JSON, to error", async () => {
  const receiver = new Receiver();
  try {
    const port = await receiver.bind();
    const { subject, errors } = await send("127.0.0.1", port, [
      "small",
      "x".repeat(70_000),
      { big: 1n },
      "also small",
    ]);
    await receiver.waitFor(2);
    assert.deepEqual(receiver.texts().sort(), ["also small", "small"]);
    const failed = errors.events.map((event) => [
      event.header.seq,
      (event.header.error as EventError).message,
    ]).sort();
    assert.equal(failed.length, 2);
    assert.equal(failed[0]![0], 2);
    assert.match(String(failed[0]![1]), /EMSGSIZE/);
    assert.equal(failed[1]![0], 3);
    assert.match(String(failed[1]![1]), /^Cannot write the data as JSON/);
    assert.deepEqual(subject.figures(), { consumed_total: 2, failed_total: 2 });
  } finally {
    await receiver.close();
  }
});

Deno.test("udp_out fails to start when the host name cannot be found", async () => {
  const router = new Router();
  router.register(udpOut, "send", {
    hostname: "no-such-host.invalid",
    port: 9,
  });
  await assert.rejects(
    router.start(),
    /Actor "send" failed to set up: Error: Cannot find the address of "no-such-host.invalid"/,
  );
});

Deno.test("udp_out options: port is required", () => {
  assert.throws(() => createActor(udpOut, "send", {}), /"port": /);
  assert.throws(
    () => createActor(udpOut, "send", { port: 70_000 }),
    /"port": /,
  );
});
