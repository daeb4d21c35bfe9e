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
import { AdminServer } from "../../../admin/server.ts";
import {
  Collector,
  counted,
  freePort,
  ListInput,
  pollUntil,
  PushInput,
  reachableObjects,
  sequenced,
  within,
} from "../../helpers.ts";
import { testWith } from "../../requires.ts";
import { makeCertificates, OPENSSL, type Pair } from "../../tls_fixtures.ts";

/** How a test's peer listens, and the `tcp_client` options that reach it. */
interface Peer {
  /** Listens on 127.0.0.1:`port` (0 picks a free one). */
  listen(port?: number): Deno.Listener<Deno.Conn, Deno.NetAddr>;
  /** Options of `tcp_client` for this peer. */
  options: Record<string, unknown>;
}

/** A peer of plain TCP. */
const PLAIN: Peer = {
  listen: (port = 0) => Deno.listen({ hostname: "127.0.0.1", port }),
  options: {},
};

/**
 * A peer of TLS with the self-signed `pair` (no CA would verify it), and a
 * client that does not verify it (`tls.insecure_skip_verify`).
 */
function unverifiedTls(pair: Pair): Peer {
  const files = {
    cert: Deno.readTextFileSync(pair.cert),
    key: Deno.readTextFileSync(pair.key),
  };
  return {
    listen: (port = 0) =>
      Deno.listenTls({ hostname: "127.0.0.1", port, ...files }),
    options: { tls: { insecure_skip_verify: true } },
  };
}

/**
 * Registers test `name` twice: with a plain TCP peer, and with a TLS peer
 * whose self-signed certificate the client does not verify (which needs
 * `openssl` to make it): the client must behave the same.
 */
function peerTest(name: string, body: (peer: Peer) => Promise<void>): void {
  Deno.test(name, () => body(PLAIN));
  testWith(
    `${name} (TLS, insecure_skip_verify, self-signed peer)`,
    [OPENSSL],
    async ([openssl]) => {
      await using certs = await makeCertificates(openssl!);
      await body(unverifiedTls(certs.selfSigned));
    },
  );
}

/**
 * Reads `conn` until the peer closes it, or breaks it off (a TLS peer
 * replaced after a write timeout ends without a close_notify, as a TCP one
 * is reset), then closes it.
 */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  try {
    for await (const chunk of conn.readable) chunks.push(chunk);
  } catch {
    // Broken off: what arrived before counts.
  }
  try {
    conn.close();
  } catch {
    // Closed at the end of the stream.
  }
  return await new Blob(chunks).bytes();
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

/**
 * `input` (by default a {@link PushInput}) -> `send` (a `tcp_client` of
 * `options`) -> `errors` on its `error` queue, with the router's log records
 * watched; started.
 */
async function sendPipeline<I extends Actor = PushInput>(
  options: Record<string, unknown>,
  input: I = new PushInput("input") as Actor as I,
): Promise<{
  router: Router;
  logs: LogWatch;
  input: I;
  subject: TcpClient;
  errors: Collector;
}> {
  const router = new Router({ metricsIntervalMs: 0 });
  const logs = router.registerLogActor(new LogWatch()) as LogWatch;
  router.register(input);
  const subject = router.register(tcpClient, "send", options) as TcpClient;
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect("input.outbox", "send.inbox");
  router.connect("send.error", "errors.inbox");
  await router.start();
  return { router, logs, input, subject, errors };
}

peerTest(
  "tcp_client writes each event as a line, in order: text, JSON and bytes",
  async (peer) => {
    const listener = peer.listen();
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
        { port: listener.addr.port, ...peer.options },
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
  },
);

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

peerTest(
  "tcp_client holds events while the peer is down and delivers them all, in order, once it is back",
  async (peer) => {
    let listener = peer.listen();
    const port = listener.addr.port;
    const { router, logs, input, subject, errors } = await sendPipeline({
      ...peer.options,
      port,
      reconnect_min_ms: 5,
      reconnect_max_ms: 20,
    });
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
      listener = peer.listen(port);
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
  },
);

Deno.test("tcp_client sends a batch to error when the peer stays down longer than max_wait", async () => {
  const port = freePort();
  const { router, subject, errors } = await sendPipeline({
    port,
    reconnect_min_ms: 5,
    reconnect_max_ms: 10,
    max_wait: 0.05,
  }, new ListInput("input", sequenced(["a", "b"])));
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

Deno.test("tcp_client keeps nothing of the batches it gave up on while the peer stays down: 100 waits of max_wait end, none stays reachable", async () => {
  const { router, input, errors } = await sendPipeline({
    port: freePort(),
    reconnect_min_ms: 5,
    reconnect_max_ms: 10,
    max_wait: 0.01,
  });
  try {
    input.push(sequenced(["warm-up"]));
    await errors.waitFor(1);
    errors.events.length = 0;
    const before = await reachableObjects("AbortController");
    // One event at a time: each is a batch that waits max_wait in vain.
    for (let i = 0; i < 100; i++) {
      input.push(sequenced([i]));
      await errors.waitFor(1);
      errors.events.length = 0;
    }
    // Each wait raced the attempt to connect, pending while the peer is
    // down, and left it holding the wait's timer and error.
    const kept = await reachableObjects("AbortController") - before;
    assert.ok(kept <= 10, `${kept} of the 100 waits are still reachable`);
  } finally {
    input.end();
    await router.stop();
  }
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

/** `count` events of `size` bytes each: "<seq> xxx…", numbered from 1. */
function bulky(count: number, size: number): Event[] {
  return sequenced(
    Array.from({ length: count }, (_, i) => {
      const head = `${i + 1} `;
      return head + "x".repeat(size - head.length);
    }),
  );
}

/** The sequence numbers of whole newline-framed lines of `bytes`. */
function seqs(bytes: Uint8Array): number[] {
  const lines = new TextDecoder().decode(bytes).split("\n");
  lines.pop(); // the part after the last newline: "" or a torn line
  return lines.map((line) => Number(line.slice(0, line.indexOf(" "))));
}

peerTest(
  "tcp_client replaces a connection whose peer never reads: not ready with the reason, logged, and the stalled events written again on the new connection",
  async (peer) => {
    const listener = peer.listen();
    const address = `127.0.0.1:${listener.addr.port}`;
    const { router, logs, input, subject, errors } = await sendPipeline({
      ...peer.options,
      port: listener.addr.port,
      write_timeout: 0.5,
      reconnect_min_ms: 5,
    });
    const admin = new AdminServer({ router, port: 0 });
    // Every peer accepts and reads nothing until the gate opens; the first
    // one never reads.
    const first = await within(listener.accept(), 10_000, "a connection");
    const gate = Promise.withResolvers<void>();
    const later: Deno.Conn[] = [];
    const reads: Promise<Uint8Array>[] = [];
    const accepting = (async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch {
          return; // The listener closed.
        }
        later.push(conn);
        reads.push(gate.promise.then(() => readAll(conn)));
      }
    })();
    try {
      await within(
        logs.waitFor(`Connected to ${address}`),
        10_000,
        "the connected log",
      );
      // Each event (16 MB) is larger than what the buffers of a loopback
      // connection hold: its write stalls while the peer does not read.
      const count = 3;
      input.push(bulky(count, 16 << 20));
      const stalled = await pollUntil(
        () => subject.health(),
        (health) => !health.ready,
        "the output to say it is not ready",
      );
      // Stalled, or (on a slow machine) already replaced after the timeout.
      assert.match(
        stalled.reason ?? "",
        new RegExp(
          `^(Writing to ${address} has made no progress for \\d+\\.\\d s: the peer is not reading \\(the connection is replaced after 0\\.5 s\\)|A write to ${address} made no progress for 0\\.5 s \\(the peer is not reading\\): the connection was replaced)$`,
        ),
      );
      // After the timeout the connection is logged as lost and replaced; no
      // write can be complete while the gate is shut.
      await within(
        logs.waitFor(
          `Lost the connection to ${address}: No progress writing to ${address} for 0.5 s: the peer is not reading`,
        ),
        10_000,
        "the lost connection logged",
      );
      await within(
        logs.waitFor(`Reconnected to ${address}`),
        10_000,
        "the reconnection logged",
      );
      const ready = await fetch(new URL("/ready", admin.url));
      assert.equal(ready.status, 503);
      const body = await ready.json();
      assert.equal(body.ready, false);
      assert.deepEqual(
        body.not_ready.map((actor: { name: string }) => actor.name),
        ["send"],
      );
      assert.match(body.not_ready[0].reason, /the peer is not reading/);

      // What the client wrote on the first connection before replacing it is
      // still there to read; then the new peers read.
      const before = seqs(
        await within(readAll(first), 10_000, "the end of the first connection"),
      );
      gate.resolve();
      input.end();
      await within(router.finished, 60_000, "the end of the pipeline");
      await pollUntil(
        () => subject.health(),
        (health) => health.ready,
        "the output to be ready again",
      );
      const report = await router.stop();
      listener.close();
      await accepting;
      const afters = (await within(
        Promise.all(reads),
        10_000,
        "the end of the later connections",
      )).map(seqs);

      // In order on each connection, and each connection starts at or before
      // the first event the ones before it lack: together every event arrived,
      // at least once.
      assert.ok(before.length < count, "the first connection stalled");
      let next = 1;
      for (const lines of [before, ...afters]) {
        if (lines.length === 0) continue;
        assert.ok(lines[0]! <= next, `a connection starts at ${lines[0]}`);
        assert.deepEqual(
          lines,
          Array.from({ length: lines.length }, (_, i) => lines[0]! + i),
        );
        next = Math.max(next, lines.at(-1)! + 1);
      }
      assert.equal(next, count + 1);
      assert.deepEqual(errors.events, []);
      assert.equal(report.delivered, count);
      assert.equal(report.unaccounted, 0);
      assert.ok(subject.connections >= 2);
    } finally {
      gate.resolve();
      await admin.close();
      await router.stop({ timeoutMs: 1000 });
      try {
        listener.close();
      } catch {
        // Closed already.
      }
      await accepting;
      await Promise.allSettled(reads);
      for (const conn of [first, ...later]) {
        try {
          conn.close();
        } catch {
          // Closed by reading it to the end.
        }
      }
    }
  },
);

peerTest(
  "tcp_client with max_wait sends events whose write keeps timing out to error, naming the stall",
  async (peer) => {
    const listener = peer.listen();
    const address = `127.0.0.1:${listener.addr.port}`;
    // Accepts every connection and never reads.
    const accepted: Deno.Conn[] = [];
    const accepting = (async () => {
      for (;;) {
        try {
          accepted.push(await listener.accept());
        } catch {
          return; // The listener closed.
        }
      }
    })();
    const { router, subject, errors } = await sendPipeline({
      ...peer.options,
      port: listener.addr.port,
      write_timeout: 0.2,
      max_wait: 0.5,
      reconnect_min_ms: 5,
    }, new ListInput("input", bulky(1, 16 << 20)));
    try {
      await within(router.finished, 30_000, "the end of the pipeline");
      const report = await router.stop();
      assert.equal(errors.events.length, 1);
      const failure = errors.events[0]!.header.error as EventError;
      assert.equal(failure.actor, "send");
      assert.equal(
        failure.message,
        `Could not write to ${address} within 0.5 s: No progress writing to ${address} for 0.2 s: the peer is not reading`,
      );
      assert.deepEqual(counted(subject.figures()), {
        consumed_total: 0,
        failed_total: 1,
      });
      assert.equal(report.delivered, 0);
      assert.equal(report.errors, 1);
    } finally {
      await router.stop({ timeoutMs: 1000 });
      listener.close();
      await accepting;
      for (const conn of accepted) conn.close();
    }
  },
);
