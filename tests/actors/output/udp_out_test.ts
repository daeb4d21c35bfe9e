import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import { type UdpOut, udpOut } from "../../../actors/output/udp_out.ts";
import { type Collector, counted, sequenced } from "../../helpers.ts";
import { runStage } from "../stage.ts";
import { UdpReceiver } from "./fixtures.ts";

async function send(
  hostname: string,
  port: number,
  values: unknown[],
): Promise<{ subject: UdpOut; errors: Collector }> {
  const subject = createActor(udpOut, "send", { hostname, port }) as UdpOut;
  const { errors } = await runStage(subject, sequenced(values), []);
  return { subject, errors };
}

Deno.test("udp_out sends one datagram per event: text, JSON or bytes", async () => {
  const receiver = new UdpReceiver();
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
      receiver.datagrams.map((datagram) => [...datagram]),
      [
        [...new TextEncoder().encode("hello")],
        [...new TextEncoder().encode('{"a":[1,2]}')],
        [...new TextEncoder().encode("7")],
        [0, 255, 10],
      ],
    );
    assert.deepEqual(counted(subject.figures()), {
      consumed_total: 4,
      failed_total: 0,
    });
  } finally {
    await receiver.close();
  }
});

Deno.test("udp_out sends the datagrams of a batch in the order of its events", async () => {
  const receiver = new UdpReceiver();
  try {
    const port = await receiver.bind();
    const values = Array.from({ length: 200 }, (_, i) => `event ${i}`);
    const { errors } = await send("127.0.0.1", port, values);
    await receiver.waitFor(200);
    assert.deepEqual(errors.events, []);
    assert.deepEqual(receiver.texts(), values);
  } finally {
    await receiver.close();
  }
});

Deno.test("udp_out looks a host name up once and sends to its address", async () => {
  const { address, family } = await lookup("localhost");
  const receiver = new UdpReceiver(address, family);
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
  const receiver = new UdpReceiver();
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
    assert.deepEqual(counted(subject.figures()), {
      consumed_total: 2,
      failed_total: 2,
    });
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
