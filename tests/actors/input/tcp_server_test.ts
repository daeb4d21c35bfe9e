import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { MAX_BATCH } from "../../../core/queue.ts";
import { Router } from "../../../core/router.ts";
import {
  TcpServer,
  type TcpServerOptions,
} from "../../../actors/input/tcp_server.ts";
import {
  encode,
  frame,
  Holder,
  type InputRun,
  startInput,
  within,
} from "./support.ts";

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
  const { router, input: server, sink, logs } = await pipeline({
    drain_timeout: 0.05,
  });
  const conn = await connect(server);
  await conn.write(encode("whole\nhalf"));
  await within(sink.waitFor(1), "the whole line");
  const report = await within(router.stop(), "the stop");
  conn.close();
  assert.equal(report.timedOut, false);
  assert.deepEqual(sink.data(), ["whole"]);
  assert.equal(server.connections, 0);
  assert.ok(
    logs.data().some((line) =>
      String(line).startsWith("Dropped 4 bytes of an unfinished message")
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
  // One read (64 KiB, 8 bytes a line) plus one batch at most, never the
  // whole stream: the connection waited while its events had no room.
  const bound = 65_536 / 8 + MAX_BATCH;
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
