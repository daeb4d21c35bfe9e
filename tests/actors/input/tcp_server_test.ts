import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import type { EventError } from "../../../core/actor.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { Router } from "../../../core/router.ts";
import {
  TcpServer,
  type TcpServerOptions,
} from "../../../actors/input/tcp_server.ts";
import { tcpClient } from "../../../actors/output/tcp_client.ts";
import { Collector, pollUntil, reachableObjects } from "../../helpers.ts";
import {
  encode,
  frame,
  Holder,
  type InputRun,
  startInput,
  within,
} from "./support.ts";

/** Waits until `server` holds `bytes` bytes of unfinished messages, or fails. */
function pendingBytes(
  server: TcpServer,
  bytes: number,
  what: string,
): Promise<number> {
  return pollUntil(
    () => server.figures().pending_bytes,
    (held) => held === bytes,
    what,
  );
}

function pipeline(
  options: Partial<TcpServerOptions>,
): Promise<InputRun<TcpServer>> {
  return startInput(new TcpServer("input", { port: 0, ...options }));
}

function connect(server: TcpServer): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: server.port });
}

/** Reads until the peer ends the stream (or resets it); returns the bytes. */
async function readToEnd(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(1024);
  let total = 0;
  for (;;) {
    let read: number | null;
    try {
      read = await conn.read(buffer);
    } catch {
      return total;
    }
    if (read === null) return total;
    total += read;
  }
}

Deno.test("tcp_server newline framing: one event per line, bad and over-long lines go to error", async () => {
  const { router, input: server, sink, errors } = await pipeline({
    codec: "ndjson",
    max_line_bytes: 32,
  });
  try {
    const conn = await connect(server);
    const remote = `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
    await conn.write(encode('{"n":1}\n{"n":'));
    await conn.write(encode(`2}\r\nnope\n"${"y".repeat(40)}"\n{"n":3}`));
    conn.close();
    await within(sink.waitFor(3), "three events");
    await within(errors.waitFor(2), "two errors");
    assert.deepEqual(sink.data(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(sink.events.map((event) => event.header.input), [
      { remote, line: 1 },
      { remote, line: 2 },
      { remote, line: 5 },
    ]);
    assert.deepEqual(
      errors.events.map((event) => [
        event.header.input,
        (event.header.error as EventError).name,
        event.data,
      ]),
      [
        [{ remote, line: 3 }, "SyntaxError", "nope"],
        [{ remote, line: 4 }, "RangeError", `"${"y".repeat(40)}"`],
      ],
    );
    assert.equal(
      (errors.events[1]!.header.error as EventError).message,
      "Line 4 is longer than 32 bytes (max_line_bytes)",
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server length framing: one event per frame, an oversize frame goes to error", async () => {
  const { router, input: server, sink, errors } = await pipeline({
    framing: "length",
    codec: "json",
    max_frame_bytes: 16,
  });
  try {
    const conn = await connect(server);
    const stream = [
      frame(encode('{"a":1}')),
      frame(encode(`"${"z".repeat(30)}"`)),
      frame(encode("[2,\n3]")),
    ];
    for (const part of stream) {
      // Split each frame to cross chunk boundaries inside prefix and payload.
      await conn.write(part.subarray(0, 2));
      await conn.write(part.subarray(2));
    }
    conn.close();
    await within(sink.waitFor(2), "two events");
    await within(errors.waitFor(1), "one error");
    assert.deepEqual(sink.data(), [{ a: 1 }, [2, 3]]);
    assert.equal(
      (errors.events[0]!.header.error as EventError).message,
      "A frame of 32 bytes is longer than 16 bytes (max_frame_bytes)",
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server keeps lines of concurrent connections apart", async () => {
  const { router, input: server, sink } = await pipeline({ codec: "lines" });
  try {
    const conns = await Promise.all([1, 2, 3].map(() => connect(server)));
    for (let i = 0; i < 50; i++) {
      for (const [c, conn] of conns.entries()) {
        await conn.write(encode(i % 2 === 0 ? `c${c}-` : `${i}\n`));
      }
    }
    for (const conn of conns) conn.close();
    await within(sink.waitFor(75), "every line");
    for (const c of [0, 1, 2]) {
      const lines = (sink.data() as string[]).filter((line) =>
        line.startsWith(`c${c}-`)
      );
      assert.deepEqual(
        lines,
        Array.from({ length: 25 }, (_, i) => `c${c}-${2 * i + 1}`),
      );
    }
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server closes connections over max_connections at once and logs a warning", async () => {
  const { router, input: server, sink, logs } = await pipeline({
    max_connections: 1,
  });
  try {
    const first = await connect(server);
    await first.write(encode("from the first\n"));
    await within(sink.waitFor(1), "the first connection's line");
    const second = await connect(server);
    assert.equal(await within(readToEnd(second), "the second to be closed"), 0);
    second.close();
    await first.write(encode("still served\n"));
    await within(sink.waitFor(2), "the first connection's second line");
    first.close();
    assert.deepEqual(sink.data(), ["from the first", "still served"]);
    assert.ok(
      logs.data().some((line) =>
        String(line).includes("1 connections are open (max_connections)")
      ),
      "a warning was logged",
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server on stop reads what open connections sent, then closes them", async () => {
  const { router, input: server, sink } = await pipeline({ drain_timeout: 5 });
  const conn = await connect(server);
  await conn.write(encode("a\nb\nc"));
  const stopping = router.stop();
  // The server shuts down its side; the client sees the end and closes.
  assert.equal(await within(readToEnd(conn), "the server's end of stream"), 0);
  conn.close();
  const report = await within(stopping, "the stop");
  assert.equal(report.timedOut, false);
  assert.deepEqual(sink.data(), ["a", "b", "c"]);
  assert.equal(server.connections, 0);
});

Deno.test("tcp_server on stop closes a client that does not close within drain_timeout", async () => {
  const { router, input: server, sink, errors, logs } = await pipeline({
    drain_timeout: 0.05,
  });
  const conn = await connect(server);
  const remote = `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
  await conn.write(encode("whole\nhalf"));
  await within(sink.waitFor(1), "the whole line");
  const report = await within(router.stop(), "the stop");
  conn.close();
  assert.equal(report.timedOut, false);
  assert.deepEqual(sink.data(), ["whole"]);
  assert.equal(server.connections, 0);
  assert.deepEqual(
    errors.events.map((event) => [
      event.header.input,
      (event.header.error as EventError).message,
    ]),
    [[
      { remote },
      "Dropped an unfinished message of 4 bytes: the server closed the connection because the client did not close within 0.05 s of the stop (drain_timeout)",
    ]],
  );
  assert.ok(
    logs.data().includes(
      `Dropped the unfinished messages of 1 connection(s) closed by the server or failed (reset by the client), the last 4 bytes from ${remote}`,
    ),
    "the unfinished line was logged",
  );
});

Deno.test("tcp_server does not read a connection while its events wait for room downstream", async () => {
  const router = new Router();
  const server = router.register(
    new TcpServer("input", { port: 0 }),
  ) as TcpServer;
  const outbox = server.pool.outbound.get("outbox")!;
  const holder = router.register(
    new Holder("slow", {}, () => outbox.figures().depth),
  ) as Holder;
  router.connect("input.outbox", "slow.inbox", { capacity: 1 });
  await router.start();
  const lines = 60_000;
  const text = Array.from(
    { length: lines },
    (_, i) => String(i).padStart(7, "0"),
  ).join("\n") + "\n";
  const conn = await connect(server);
  const writing = conn.write(encode(text)).then(async (written) => {
    let total = written;
    const bytes = encode(text);
    while (total < bytes.length) {
      total += await conn.write(bytes.subarray(total));
    }
    conn.close();
  });
  await within(holder.first, "the first line to be held");
  holder.release();
  await within(writing, "the client to write everything");
  await within(holder.waitFor(lines), "every line");
  await router.stop();
  // The batch being written and one more, never the rest of a read (64 KiB,
  // 8192 lines): decoding stopped while the events had no room.
  const bound = 2 * MAX_BATCH + 1;
  assert.ok(
    Math.max(...holder.probes) <= bound,
    `outbox held at most ${Math.max(...holder.probes)} events (bound ${bound})`,
  );
  assert.deepEqual(
    holder.events.map((event) => event.data).slice(0, 3),
    ["0000000", "0000001", "0000002"],
  );
  assert.equal(holder.events.at(-1)!.data, String(lines - 1).padStart(7, "0"));
});

/** The numbers in the log lines that match `pattern` (one group), added up. */
function countLogged(logs: Collector, pattern: RegExp): {
  lines: number;
  sum: number;
} {
  const matches = logs.data().map((line) => pattern.exec(String(line)))
    .filter((match) => match !== null);
  return {
    lines: matches.length,
    sum: matches.reduce((sum, match) => sum + Number(match[1]), 0),
  };
}

Deno.test("tcp_server holds a bounded number of events however fast 100 clients send into a peer that never reads", async () => {
  const peer = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of peer) accepted.push(conn);
  })().catch(() => {});
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  const server = router.register(
    new TcpServer("input", { port: 0, drain_timeout: 0.1 }),
  ) as TcpServer;
  router.register(tcpClient, "output", { port: peer.addr.port }, {
    capacity: 100,
  });
  router.connect("input.outbox", "output.inbox");
  await router.start();
  const clients = await Promise.all(
    Array.from({ length: 100 }, () => connect(server)),
  );
  const newlines = new Uint8Array(65_536).fill(10);
  let flooding = true;
  const writing = Promise.all(clients.map(async (conn) => {
    try {
      while (flooding) await conn.write(newlines);
    } catch {
      // Closed by the test.
    }
  }));
  try {
    // Once the peer's socket buffers are full, every connection stops in
    // the middle of what it read and waits for room that never comes.
    let last = -1;
    let still = 0;
    const waiting = await pollUntil(
      () => server.figures(),
      (figures) => {
        still = figures.waiting_connections === 100 &&
            figures.created_total === last
          ? still + 1
          : 0;
        last = figures.created_total;
        return still >= 5;
      },
      "every connection to wait for room, and nothing more to be decoded",
      600,
    );
    const queues = router.metrics().actors;
    assert.ok(
      queues.input!.queues.outbox!.depth <= 2 * MAX_BATCH + 1,
      `the outbox holds ${queues.input!.queues.outbox!.depth} events`,
    );
    assert.ok(queues.output!.queues.inbox!.depth <= 100);
    // Decoding stopped: nothing decoded is kept waiting (the fix of a
    // 64 KiB read of events, 65,536 here, kept per connection), and
    // nothing more is made while the connections wait.
    assert.equal(waiting.kept_events, 0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = server.figures();
    assert.equal(after.created_total, waiting.created_total);
    assert.equal(after.kept_events, 0);
  } finally {
    flooding = false;
    for (const conn of clients) conn.close();
    await writing;
    const stopping = router.stop({ timeoutMs: 200 });
    for (const conn of accepted.splice(0)) conn.close();
    const report = await within(stopping, "the stop");
    peer.close();
    await accepting;
    for (const conn of accepted.splice(0)) conn.close();
    assert.equal(report.unaccounted, 0);
    assert.equal(server.figures().restarts_total, 0);
  }
});

Deno.test("tcp_server closes connections idle for idle_timeout, so that idle clients do not hold max_connections", async () => {
  const { router, input: server, sink, errors, logs } = await pipeline({
    max_connections: 5,
    idle_timeout: 1,
  });
  try {
    const idle = await Promise.all([1, 2, 3, 4, 5].map(() => connect(server)));
    await idle[0]!.write(encode("half a li"));
    await pollUntil(() => server.connections, (n) => n === 5, "5 connections");
    const refused = await connect(server);
    assert.equal(await within(readToEnd(refused), "the refusal"), 0);
    refused.close();
    // The server closes each idle connection: its client reads the end.
    for (const conn of idle) {
      assert.equal(await within(readToEnd(conn), "the idle close"), 0);
      conn.close();
    }
    await pollUntil(() => server.connections, (n) => n === 0, "no connection");
    const late = await connect(server);
    await late.write(encode("a slot was free\n"));
    late.close();
    await within(sink.waitFor(1), "the late client's line");
    assert.deepEqual(sink.data(), ["a slot was free"]);
    const figures = server.figures();
    assert.equal(figures.idle_closed_total, 5);
    assert.equal(figures.refused_total, 1);
    assert.deepEqual(
      errors.events.map((event) => (event.header.error as EventError).message),
      [
        "Dropped an unfinished message of 9 bytes: the server closed the connection because the connection sent nothing for 1 s (idle_timeout)",
      ],
    );
    await router.stop();
    assert.equal(
      countLogged(
        logs,
        /^Closed (\d+) connection\(s\) that sent nothing for 1 s \(idle_timeout\)/,
      ).sum,
      5,
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server holds on to no connection it closed: 300 clients come and go, none stays reachable", async () => {
  const { router, input: server, sink } = await pipeline({});
  try {
    const before = await reachableObjects("TcpConn");
    for (let i = 0; i < 300; i++) {
      const conn = await connect(server);
      await conn.write(encode(`client ${i}\n`));
      conn.close();
    }
    await within(sink.waitFor(300), "a line from each client");
    await pollUntil(() => server.connections, (n) => n === 0, "no connection");
    assert.equal(sink.events.length, 300);
    // The accept in progress, and a few a collection may leave behind.
    assert.ok(
      await reachableObjects("TcpConn") <= before + 5,
      "closed connections are still reachable",
    );
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server counts refused connections and logs them at most once a second with a count", async () => {
  const { router, input: server, sink, logs } = await pipeline({
    max_connections: 1,
  });
  try {
    const kept = await connect(server);
    await kept.write(encode("kept\n"));
    await within(sink.waitFor(1), "the kept connection's line");
    for (let i = 0; i < 200; i++) {
      const conn = await connect(server);
      await within(readToEnd(conn), "a refusal");
      conn.close();
    }
    kept.close();
    assert.equal(server.figures().refused_total, 200);
    await router.stop();
    const refused = countLogged(
      logs,
      /^Refused (\d+) connection\(s\), the last from 127\.0\.0\.1:\d+: 1 connections are open \(max_connections\)$/,
    );
    assert.equal(refused.sum, 200, "every refusal is counted in the logs");
    assert.ok(refused.lines < 20, `${refused.lines} lines for 200 refusals`);
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server lets 600 blocked connections take turns once there is room, in order, losing nothing", async () => {
  const router = new Router();
  router.registerLogActor(new Collector("logs"));
  const server = router.register(
    new TcpServer("input", { port: 0 }),
  ) as TcpServer;
  const holder = router.register(new Holder("slow")) as Holder;
  router.connect("input.outbox", "slow.inbox", { capacity: 1 });
  await router.start();
  try {
    const connections = 600;
    const lines = 20;
    const conns: Deno.TcpConn[] = [];
    for (let c = 0; c < connections; c++) {
      const conn = await connect(server);
      conns.push(conn);
      await conn.write(
        encode(
          Array.from({ length: lines }, (_, i) => `${c}:${i}\n`).join(""),
        ),
      );
    }
    for (const conn of conns) conn.close();
    await pollUntil(
      () => server.figures().waiting_connections,
      (waiting) => waiting >= 500,
      "most connections to wait for room",
    );
    holder.release();
    await within(holder.waitFor(connections * lines), "every line");
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(server.figures().restarts_total, 0);
    assert.equal(holder.events.length, connections * lines);
    const seen = new Map<string, number>();
    for (const event of holder.events) {
      const [c, i] = String(event.data).split(":");
      assert.equal(Number(i), seen.get(c!) ?? 0, `connection ${c} in order`);
      seen.set(c!, Number(i) + 1);
    }
    assert.equal(seen.size, connections);
  } finally {
    holder.release();
    await router.stop();
  }
});

Deno.test("tcp_server closes a connection whose unfinished message takes the total past max_pending_bytes", async () => {
  const { router, input: server, sink, errors } = await pipeline({
    max_line_bytes: 800,
    max_pending_bytes: 1000,
  });
  try {
    const first = await connect(server);
    await first.write(encode("a".repeat(600)));
    await pendingBytes(
      server,
      600,
      "the first connection's 600 bytes to be held",
    );
    const second = await connect(server);
    const remote = `127.0.0.1:${(second.localAddr as Deno.NetAddr).port}`;
    await second.write(encode("b".repeat(600)));
    assert.equal(await within(readToEnd(second), "the close"), 0);
    second.close();
    await first.write(encode("\n"));
    first.close();
    await within(sink.waitFor(1), "the first connection's line");
    await within(errors.waitFor(1), "the second connection's failure");
    assert.deepEqual(sink.data(), ["a".repeat(600)]);
    assert.deepEqual(
      errors.events.map((event) => [
        event.header.input,
        (event.header.error as EventError).message,
      ]),
      [[
        { remote },
        "Dropped an unfinished message of 600 bytes: the server closed the connection because unfinished messages held more than 1000 bytes (max_pending_bytes)",
      ]],
    );
    await pendingBytes(server, 0, "no byte held");
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server: a client that resets its connection mid-line: the lines before are events, the unfinished one an event on error saying why", async () => {
  const { router, input: server, sink, errors } = await pipeline({});
  try {
    // A real reset (RST): node:net's resetAndDestroy closes with SO_LINGER 0.
    const client = netConnect({ host: "127.0.0.1", port: server.port });
    const local = await new Promise<number>((resolve, reject) => {
      client.once("error", reject);
      client.once("connect", () => resolve(client.localPort!));
    });
    await new Promise<void>((resolve) =>
      client.write("one\ntwo\nthr", () => resolve())
    );
    await pendingBytes(server, 3, "the unfinished line to be held");
    const closed = new Promise((resolve) => client.once("close", resolve));
    client.resetAndDestroy();
    await closed;
    await within(sink.waitFor(2), "the two whole lines");
    await within(errors.waitFor(1), "the unfinished line's failure");
    assert.deepEqual(sink.data(), ["one", "two"]);
    const error = errors.events[0]!.header.error as EventError;
    assert.deepEqual(errors.events[0]!.header.input, {
      remote: `127.0.0.1:${local}`,
    });
    assert.equal(error.actor, "input");
    assert.match(
      error.message,
      /^Dropped an unfinished message of 3 bytes: the connection failed: Connection reset by peer/,
    );
    await pendingBytes(server, 0, "no byte held");
  } finally {
    await router.stop();
  }
});

Deno.test("tcp_server: 2,000 departing clients with unreadable messages write a few log lines, not 2,000", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  const server = router.register(
    new TcpServer("input", { port: 0, codec: "ndjson" }),
  ) as TcpServer;
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "sink.inbox");
  await router.start();
  try {
    const clients = 2000;
    for (let c = 0; c < clients; c += 50) {
      await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const conn = await connect(server);
        await conn.write(encode(`{"n":${c + i}}\n{"half`));
        conn.close();
      }));
    }
    await within(sink.waitFor(clients), "every whole line");
    await pollUntil(() => server.connections, (n) => n === 0, "every close");
    await router.stop();
    const skipped = countLogged(
      logs,
      /^Skipped (\d+) unreadable message\(s\), the last from 127\.0\.0\.1:\d+: Line 2 is not valid JSON: /,
    );
    assert.equal(skipped.sum, clients, "every unreadable message is counted");
    assert.ok(skipped.lines < 50, `${skipped.lines} log lines`);
    assert.ok(logs.events.length < 60, `${logs.events.length} log lines`);
  } finally {
    await router.stop();
  }
});
