import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { Router } from "../../../core/router.ts";
import { UdpIn, type UdpInOptions } from "../../../actors/input/udp_in.ts";
import { Collector } from "../../helpers.ts";
import { within } from "./support.ts";

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

async function pipeline(options: Partial<UdpInOptions>): Promise<{
  router: Router;
  input: UdpIn;
  sink: Collector;
  errors: Collector;
}> {
  const router = new Router();
  const input = router.register(
    new UdpIn("input", { port: 0, ...options }),
  ) as UdpIn;
  const sink = router.register(new Collector("sink")) as Collector;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  router.connect("input.error", "errors.inbox");
  await router.start();
  return { router, input, sink, errors };
}

/** Sends each datagram from one socket; returns the socket's `host:port`. */
async function sendAll(port: number, datagrams: string[]): Promise<string> {
  const socket = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  try {
    for (const datagram of datagrams) {
      await socket.send(encode(datagram), {
        hostname: "127.0.0.1",
        port,
        transport: "udp",
      });
    }
    return `127.0.0.1:${(socket.addr as Deno.NetAddr).port}`;
  } finally {
    socket.close();
  }
}

Deno.test("udp_in makes one event per datagram and sends undecodable ones to error", async () => {
  const { router, input, sink, errors } = await pipeline({ codec: "json" });
  try {
    const remote = await sendAll(input.port, [
      '{"n":1}',
      "not json",
      '{"n":2}\n{"n":3}',
      "[4]",
    ]);
    await within(sink.waitFor(2), "two events");
    await within(errors.waitFor(2), "two errors");
    assert.deepEqual(sink.data(), [{ n: 1 }, [4]]);
    assert.deepEqual(sink.events.map((event) => event.header.input), [
      { remote },
      { remote },
    ]);
    assert.deepEqual(
      errors.events.map((event) => [
        event.data,
        (event.header.error as EventError).name,
        event.header.input,
      ]),
      [
        ["not json", "SyntaxError", { remote }],
        ['{"n":2}\n{"n":3}', "SyntaxError", { remote }],
      ],
    );
    assert.match(
      (errors.events[0]!.header.error as EventError).message,
      /^The message is not valid JSON: /,
    );
  } finally {
    const report = await router.stop();
    assert.equal(report.timedOut, false);
  }
});

Deno.test("udp_in lines keeps each datagram whole and raw keeps each datagram's own bytes", async () => {
  const lines = await pipeline({ codec: "lines" });
  try {
    await sendAll(lines.input.port, ["a\nb", "c"]);
    await within(lines.sink.waitFor(2), "two datagrams");
    assert.deepEqual(lines.sink.data(), ["a\nb", "c"]);
  } finally {
    await lines.router.stop();
  }
  const raw = await pipeline({ codec: "raw" });
  try {
    await sendAll(raw.input.port, ["first datagram", "2nd"]);
    await within(raw.sink.waitFor(2), "two datagrams");
    assert.deepEqual(raw.sink.data(), [
      encode("first datagram"),
      encode("2nd"),
    ]);
  } finally {
    await raw.router.stop();
  }
});
