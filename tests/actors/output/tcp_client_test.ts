import assert from "node:assert/strict";
import { Actor, type EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import type { LogEvent } from "../../../core/log.ts";
import { createActor } from "../../../core/registry.ts";
import { Router } from "../../../core/router.ts";
import {
  type TcpClient,
  tcpClient,
} from "../../../actors/output/tcp_client.ts";
import {
  Collector,
  counted,
  freePort,
  ListInput,
  sequenced,
} from "../../helpers.ts";

/** Reads `conn` until the peer closes it, then closes it. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  return await new Response(conn.readable).bytes();
}

/** Reads newline-framed lines from `conn` until `count` arrived. */
async function readLines(conn: Deno.Conn, count: number): Promise<string[]> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  while (text.split("\n").length - 1 < count) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text.split("\n").slice(0, -1);
}

/** An input the test feeds while the pipeline runs, then ends. */
class PushInput extends Actor {
  readonly kind = "input";
  #pending: Event[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  constructor(name: string) {
    super(name, {}, { inbound: [] });
  }

  push(values: Event[]): void {
    this.#pending.push(...values);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  override async produce(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const batch = this.#pending;
      this.#pending = [];
      for (const event of batch) {
        const waiting = this.send(event);
        if (waiting !== undefined) await waiting;
      }
      if (this.#pending.length > 0) continue;
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
  }
}

/** A log actor that lets a test wait for a log line. */
class LogWatch extends Actor {
  readonly kind = "log";
  readonly lines: string[] = [];
  #waiters: { text: string; after: number; resolve: () => void }[] = [];

  constructor() {
    super("logs", {}, { outbound: [] });
  }

  override consume(event: Event): void {
    this.lines.push((event as LogEvent).data);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!this.#has(waiter.text, waiter.after)) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once a line containing `text` arrived after line `after`. */
  waitFor(text: string, after = 0): Promise<void> {
    if (this.#has(text, after)) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ text, after, resolve });
    return promise;
  }

  #has(text: string, after: number): boolean {
    return this.lines.slice(after).some((line) => line.includes(text));
  }
}

Deno.test("tcp_client writes each event as a line, in order: text, JSON and bytes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const received = listener.accept().then(readAll);
    const values = [
      "plain",
      { a: 1 },
      42,
      new TextEncoder().encode("raw"),
      ...Array.from({ length: 2000 }, (_, i) => `n${i}`),
    ];
    const router = new Router();
    router.register(new ListInput("input", sequenced(values)));
    const subject = router.register(
      tcpClient,
      "send",
      { port: listener.addr.port },
    ) as TcpClient;
    router.connect("input.outbox", "send.inbox");
    await router.start();
    await router.finished;
    const report = await router.stop();
    const lines = new TextDecoder().decode(await received).split("\n");
    assert.equal(lines.pop(), "", "the last line ends with a newline");
    assert.deepEqual(lines, [
      "plain",
      '{"a":1}',
      "42",
      "raw",
      ...Array.from({ length: 2000 }, (_, i) => `n${i}`),
    ]);
    assert.equal(report.delivered, values.length);
    assert.equal(subject.connections, 1);
  } finally {
    listener.close();
  }
});

Deno.test("tcp_client with length framing writes a 4-byte big-endian length before each event", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const received = listener.accept().then(readAll);
    const router = new Router();
    router.register(new ListInput("input", sequenced(["hé", "", { k: "v" }])));
    router.register(tcpClient, "send", {
      port: listener.addr.port,
      framing: "length",
    });
    router.connect("input.outbox", "send.inbox");
    await router.start();
    await router.finished;
    await router.stop();
    const bytes = await received;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const frames: string[] = [];
    for (let at = 0; at < bytes.length;) {
      const size = view.getUint32(at);
      frames.push(
        new TextDecoder().decode(bytes.subarray(at + 4, at + 4 + size)),
      );
      at += 4 + size;
    }
    assert.deepEqual(frames, ["hé", "", '{"k":"v"}']);
  } finally {
    listener.close();
  }
});

Deno.test("tcp_client with octet counting writes the length in bytes, in digits, and a space before each event", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const received = listener.accept().then(readAll);
    const router = new Router();
    const values = ["hé 🎉", "", "lone \ud800", new Uint8Array([1, 10, 2])];
    router.register(new ListInput("input", sequenced(values)));
    router.register(tcpClient, "send", {
      port: listener.addr.port,
      framing: "octet_counting",
    });
    router.connect("input.outbox", "send.inbox");
    await router.start();
    await router.finished;
    await router.stop();
    assert.deepEqual(
      await received,
      new Uint8Array([
        ...new TextEncoder().encode("8 hé 🎉0 8 lone \ufffd3 "),
        1,
        10,
        2,
      ]),
    );
  } finally {
    listener.close();
  }
});

Deno.test("tcp_client holds events while the peer is down and delivers them all, in order, once it is back", async () => {
  let listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const router = new Router();
  const logs = router.registerLogActor(new LogWatch()) as LogWatch;
  const input = router.register(new PushInput("input")) as PushInput;
  const subject = router.register(tcpClient, "send", {
    port,
    reconnect_min_ms: 5,
    reconnect_max_ms: 20,
  }) as TcpClient;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "send.inbox");
  router.connect("send.error", "errors.inbox");
  await router.start();
  try {
    const first = await listener.accept();
    input.push(sequenced(["1", "2", "3", "4", "5"]));
    assert.deepEqual(await readLines(first, 5), ["1", "2", "3", "4", "5"]);

    // The peer goes away: the client notices and fails to reconnect.
    listener.close();
    first.close();
    await logs.waitFor("Lost the connection");
    const lost = logs.lines.length;
    input.push(sequenced(["6", "7", "8", "9", "10"]));
    await logs.waitFor("Cannot connect", lost);
    assert.equal(subject.connected, false);

    // The peer is back on the same port: everything waiting arrives.
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    const second = await listener.accept();
    assert.deepEqual(await readLines(second, 5), ["6", "7", "8", "9", "10"]);
    await logs.waitFor("Reconnected");
    input.push(sequenced(["11"]));
    input.end();
    await router.finished;
    const report = await router.stop();
    // Reading to the end also closes the connection.
    assert.equal(new TextDecoder().decode(await readAll(second)), "11\n");
    assert.deepEqual(errors.events, []);
    assert.equal(subject.connections, 2);
    assert.equal(report.timedOut, false);
  } finally {
    await router.stop();
    listener.close();
  }
});

Deno.test("tcp_client sends a batch to error when the peer stays down longer than max_wait", async () => {
  const port = freePort();
  const router = new Router();
  router.register(new ListInput("input", sequenced(["a", "b"])));
  const subject = router.register(tcpClient, "send", {
    port,
    reconnect_min_ms: 5,
    reconnect_max_ms: 10,
    max_wait: 0.05,
  }) as TcpClient;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "send.inbox");
  router.connect("send.error", "errors.inbox");
  await router.start();
  await errors.waitFor(2);
  await router.finished;
  await router.stop();
  assert.deepEqual(errors.events.map((event) => event.data), ["a", "b"]);
  const failure = errors.events[0]!.header.error as EventError;
  assert.equal(failure.actor, "send");
  assert.equal(
    failure.message,
    `No connection to 127.0.0.1:${port} within 0.05 s`,
  );
  assert.deepEqual(counted(subject.figures()), {
    consumed_total: 0,
    failed_total: 2,
  });
  assert.equal(subject.connections, 0);
});

Deno.test("tcp_client sends data it cannot write as JSON to error and writes the rest", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const received = listener.accept().then(readAll);
    const router = new Router();
    router.register(new ListInput("input", sequenced(["a", { n: 1n }, "c"])));
    const subject = router.register(tcpClient, "send", {
      port: listener.addr.port,
    }) as TcpClient;
    const errors = router.register(new Collector("errors")) as Collector;
    router.connect("input.outbox", "send.inbox");
    router.connect("send.error", "errors.inbox");
    await router.start();
    await router.finished;
    await router.stop();
    assert.equal(new TextDecoder().decode(await received), "a\nc\n");
    assert.deepEqual(errors.events.map((event) => event.header.seq), [2]);
    assert.deepEqual(counted(subject.figures()), {
      consumed_total: 2,
      failed_total: 1,
    });
  } finally {
    listener.close();
  }
});

Deno.test("tcp_client options: port is required and the reconnect waits are checked", () => {
  assert.throws(
    () => createActor(tcpClient, "send", {}),
    /"port": /,
  );
  assert.throws(
    () =>
      createActor(tcpClient, "send", {
        port: 1,
        reconnect_min_ms: 100,
        reconnect_max_ms: 10,
      }),
    /"reconnect_max_ms": Must be at least "reconnect_min_ms" \(100\)/,
  );
});
