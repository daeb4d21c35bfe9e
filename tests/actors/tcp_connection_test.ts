import assert from "node:assert/strict";
import { z } from "zod";
import {
  checkReconnectWaits,
  TcpConnection,
  type TcpConnectionLog,
  tcpReconnectFields,
} from "../../actors/tcp_connection.ts";
import { freePort } from "../helpers.ts";

/** A logger that keeps the messages, filled in, as `LEVEL message`. */
class Lines implements TcpConnectionLog {
  readonly lines: string[] = [];
  debug(message: string, values?: Record<string, unknown>): void {
    this.#add("DEBUG", message, values);
  }
  info(message: string, values?: Record<string, unknown>): void {
    this.#add("INFO", message, values);
  }
  warn(message: string, values?: Record<string, unknown>): void {
    this.#add("WARN", message, values);
  }
  #add(level: string, message: string, values = {}): void {
    this.lines.push(
      `${level} ${
        message.replace(
          /\{(\w+)\}/g,
          (_, key: string) => String((values as Record<string, unknown>)[key]),
        )
      }`,
    );
  }
}

function options(port: number) {
  return {
    hostname: "127.0.0.1",
    port,
    reconnect_min_ms: 5,
    reconnect_max_ms: 20,
    connect_timeout: 10,
    write_timeout: 30,
  };
}

Deno.test("TcpConnection.tryConnect resolves after a failed first attempt, and the connection opens in the background once the peer listens", async () => {
  const port = freePort();
  const log = new Lines();
  const opened: Deno.Conn[] = [];
  const tcp = new TcpConnection(options(port), () => log, (conn) => {
    opened.push(conn);
  });
  let listener: Deno.TcpListener | undefined;
  try {
    await tcp.tryConnect();
    assert.equal(tcp.current, undefined);
    assert.match(tcp.lastError, /refused/i);
    assert.match(
      log.lines[0]!,
      new RegExp(
        `^WARN Cannot connect to 127\\.0\\.0\\.1:${port}: .*; trying again in 5 ms$`,
      ),
    );
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    const [accepted, conn] = await Promise.all([
      listener.accept(),
      tcp.connect(),
    ]);
    accepted.close();
    assert.equal(tcp.current, conn);
    assert.deepEqual(opened, [conn]);
    assert.equal(tcp.connections, 1);
    assert.ok(log.lines.includes(`INFO Connected to 127.0.0.1:${port}`));
  } finally {
    await tcp.close();
    listener?.close();
  }
});

Deno.test("TcpConnection opens a lost connection again, and once closed its connect rejects saying it stopped", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const log = new Lines();
  const tcp = new TcpConnection(options(port), () => log);
  try {
    const [first] = await Promise.all([listener.accept(), tcp.connect()]);
    first.close();
    const second = await listener.accept();
    const reopened = await tcp.connect();
    assert.equal(tcp.connections, 2);
    assert.equal(tcp.current, reopened);
    assert.ok(
      log.lines.includes(
        `WARN Lost the connection to 127.0.0.1:${port}: the peer closed it`,
      ),
      log.lines.join("\n"),
    );
    assert.ok(log.lines.includes(`INFO Reconnected to 127.0.0.1:${port}`));
    await tcp.close();
    assert.equal(tcp.current, undefined);
    assert.equal(tcp.stopped, true);
    await assert.rejects(
      tcp.connect(),
      new Error(
        `Gave up waiting for a connection to 127.0.0.1:${port}: the actor stopped`,
      ),
    );
    // The peer sees the end of the connection the close ended.
    assert.equal(await second.read(new Uint8Array(1)), null);
    second.close();
  } finally {
    await tcp.close();
    listener.close();
  }
});

Deno.test("tcpReconnectFields with checkReconnectWaits: defaults, and the longest wait is at least the first", () => {
  const Options = z.strictObject(tcpReconnectFields(30_000)).superRefine(
    checkReconnectWaits,
  );
  assert.deepEqual(Options.parse({}), {
    reconnect_min_ms: 100,
    reconnect_max_ms: 30_000,
    connect_timeout: 10,
    write_timeout: 30,
  });
  const result = Options.safeParse({
    reconnect_min_ms: 100,
    reconnect_max_ms: 10,
  });
  assert.equal(result.success, false);
  assert.deepEqual(result.error?.issues.map((issue) => issue.path), [[
    "reconnect_max_ms",
  ]]);
  assert.equal(
    result.error?.issues[0]?.message,
    'Must be at least "reconnect_min_ms" (100)',
  );
});
