/**
 * `tcp_server` replaced by a reload on the same address: the connections it
 * has open go on under the replacement, which applies its own options; a
 * change of framing ends them as at a stop; a reload rolled back leaves
 * them where they were.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  TcpServer,
  type TcpServerOptions,
} from "../../../actors/input/tcp_server.ts";
import type { Actor } from "../../../core/actor.ts";
import type { ChangeOptions } from "../../../core/reload.ts";
import { Router } from "../../../core/router.ts";
import {
  Collector,
  freePort,
  pollUntil,
  reachableObjects,
} from "../../helpers.ts";
import { encode, frame, Holder, within } from "./support.ts";
import { testWith } from "../../requires.ts";
import { makeCertificates, OPENSSL } from "../../tls_fixtures.ts";

/** `tcp` (a tcp_server) -> `sink`, its `error` -> `errors`, logs -> `logs`. */
interface Running {
  router: Router;
  sink: Collector;
  errors: Collector;
  logs: Collector;
}

/**
 * Starts `tcp` with `options` on `port`, as {@link Running} says; `sink`
 * behind a queue of `capacity`.
 */
async function start(
  port: number,
  options: Partial<TcpServerOptions>,
  sink = new Collector("sink"),
  capacity?: number,
): Promise<Running> {
  const router = new Router({ logLevel: "info" });
  const logs = new Collector("logs");
  router.registerLogActor(logs);
  router.register(new TcpServer("tcp", tcpOptions(port, options)));
  router.register(sink);
  const errors = router.register(new Collector("errors")) as Collector;
  router.connect(
    "tcp.outbox",
    "sink.inbox",
    capacity === undefined ? {} : { capacity },
  );
  router.connect("tcp.error", "errors.inbox");
  await router.start();
  return { router, sink, errors, logs };
}

function tcpOptions(
  port: number,
  options: Partial<TcpServerOptions>,
): Partial<TcpServerOptions> {
  return { hostname: "127.0.0.1", port, ...options };
}

/**
 * Reloads `running` with a `tcp` made with `options` on the same address
 * (and `more` actors added): what `Router.change()` answers.
 */
function replaceTcp(
  { router, sink, errors, logs }: Running,
  port: number,
  options: Partial<TcpServerOptions>,
  more: Actor[] = [],
  changeOptions: ChangeOptions = {},
) {
  return router.change({
    actors: new Map<string, Actor>([
      ["logs", logs],
      ["tcp", new TcpServer("tcp", tcpOptions(port, options))],
      ["sink", sink],
      ["errors", errors],
      ...more.map((actor) => [actor.name, actor] as const),
    ]),
    connections: [...router.connections()],
    remake: () => assert.fail("nothing to renew"),
    sameAddress: new Set(["tcp"]),
  }, changeOptions);
}

/** The running `tcp` actor. */
function tcpOf(router: Router): TcpServer {
  return router.actor("tcp") as TcpServer;
}

/**
 * A client connection that watches for the server closing it: the server
 * never writes, so a read ends only when it shuts down or closes its side.
 */
class WatchedClient {
  readonly conn: Deno.TcpConn;
  /** Set once the server shut down or closed the connection. */
  closedByServer = false;
  readonly #watching: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#watching = conn.read(new Uint8Array(1)).then(
      () => {
        this.closedByServer = true;
      },
      () => {
        // Closed here.
      },
    );
  }

  static async open(port: number): Promise<WatchedClient> {
    return new WatchedClient(
      await Deno.connect({ hostname: "127.0.0.1", port }),
    );
  }

  /** Resolves once the server shut down or closed the connection. */
  async serverClosed(): Promise<void> {
    await this.#watching;
    assert.equal(this.closedByServer, true);
  }

  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? encode(text) : text;
    for (let at = 0; at < bytes.length;) {
      at += await this.conn.write(bytes.subarray(at));
    }
  }

  /** Closes the connection; the watch ends. */
  async close(): Promise<void> {
    this.conn.close();
    await this.#watching;
  }
}

/**
 * Stops `router` and checks its report: every event accounted for, none
 * failed, dropped or abandoned, and `delivered` delivered.
 */
async function stopLossless(router: Router, delivered: number): Promise<void> {
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  assert.equal(report.delivered, delivered);
}

/**
 * A pipeline on `port` whose sink holds what it gets (capacity 1), and a
 * client that sent 3,000 lines and `tail`: the connection waits for room
 * downstream, on the `tcp_server` returned as `before`.
 */
async function waitingConnection(port: number, tail: string): Promise<{
  running: Awaited<ReturnType<typeof start>>;
  holder: Holder;
  client: WatchedClient;
  lines: string[];
  before: TcpServer;
}> {
  const holder = new Holder("sink");
  const running = await start(port, {}, holder, 1);
  const client = await WatchedClient.open(port);
  const lines = Array.from({ length: 3000 }, (_, i) => String(i + 1));
  await client.send(lines.map((line) => `${line}\n`).join("") + tail);
  const before = tcpOf(running.router);
  await pollUntil(
    () => before.figures().waiting_connections,
    (waiting) => waiting === 1,
    "the connection to wait for room downstream",
  );
  return { running, holder, client, lines, before };
}

/** Waits until the running `tcp` holds an unfinished message. */
async function holdsUnfinished(router: Router): Promise<void> {
  await pollUntil(
    () => tcpOf(router).figures().pending_bytes,
    (bytes) => bytes > 0,
    "the half line to be read",
  );
}

Deno.test("tcp_server replaced with other options keeps its open connections: the same socket goes on, every line once, in order, half lines too", async () => {
  const port = freePort();
  const running = await start(port, { idle_timeout: 300 });
  const { router, sink, errors } = running;
  const client = await WatchedClient.open(port);
  try {
    const expected: unknown[] = [];
    let n = 0;
    for (let reload = 1; reload <= 4; reload++) {
      for (let i = 0; i < 50; i++) expected.push(String(++n));
      await client.send(
        expected.slice(-50).map((line) => `${line}\n`).join("") + "half-",
      );
      await within(
        sink.waitFor(expected.length),
        `the lines before reload ${reload}`,
      );
      await holdsUnfinished(router);
      const before = tcpOf(router);
      assert.equal(before.connections, 1);
      const result = await replaceTcp(running, port, {
        idle_timeout: 300 + reload,
        max_line_bytes: 1000 + reload,
      });
      assert.equal(result.applied, true, result.reason);
      assert.deepEqual(result.takenOver, ["tcp"]);
      assert.notEqual(tcpOf(router), before);
      // The rest of the half line, then more lines.
      await client.send(`${reload}\n`);
      expected.push(`half-${reload}`);
      await within(
        sink.waitFor(expected.length),
        `the line split by reload ${reload}`,
      );
      assert.equal(before.connections, 0);
      assert.equal(tcpOf(router).connections, 1);
    }
    // The replacement's own options apply to the connection: a line split
    // across this reload is decoded as JSON, and numbering goes on.
    await client.send('{"n":');
    await holdsUnfinished(router);
    const result = await replaceTcp(running, port, {
      codec: "ndjson",
      max_line_bytes: 40,
    });
    assert.equal(result.applied, true, result.reason);
    await client.send(`1}\n"${"x".repeat(50)}"\n{"n":2}\n`);
    expected.push({ n: 1 }, { n: 2 });
    await within(sink.waitFor(expected.length), "the JSON lines");
    await within(errors.waitFor(1), "the line over the new max_line_bytes");
    assert.equal(client.closedByServer, false, "the server closed the socket");
    assert.deepEqual(sink.data(), expected);
    assert.deepEqual(
      sink.events.map((event) => (event.header.tcp as { line: number }).line),
      [...expected.keys()].map((index) => index + (index >= 205 ? 2 : 1)),
    );
    assert.match(
      (errors.events[0]!.header.error as { message: string }).message,
      /longer than 40 bytes/,
    );
    await client.conn.closeWrite();
    await within(client.serverClosed(), "the server to close after the client");
  } finally {
    await client.close();
  }
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  assert.equal(report.created, sink.events.length + errors.events.length);
  assert.equal(report.delivered, sink.events.length);
});

Deno.test("tcp_server replaced with another framing ends the connections open as at a stop: each complete line once, the reason logged", async () => {
  const port = freePort();
  const running = await start(port, { drain_timeout: 5 });
  const { router, sink, errors, logs } = running;
  const client = await WatchedClient.open(port);
  try {
    await client.send("1\n2\n3-par");
    await within(sink.waitFor(2), "the complete lines");
    await holdsUnfinished(router);
    // The reload waits for the replaced actor to end that connection.
    const changing = replaceTcp(running, port, { framing: "length" });
    await within(client.serverClosed(), "the server to shut its side down");
    // What the client sends until it closes is read with the old framing.
    await client.send("tial\n4\n");
    await client.conn.closeWrite();
    const result = await within(changing, "the reload");
    assert.equal(result.applied, true, result.reason);
    assert.deepEqual(result.takenOver, ["tcp"]);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(sink.data(), ["1", "2", "3-partial", "4"]);
    assert.ok(
      logs.data().some((line) =>
        String(line).includes(
          'Closing the 1 connection(s) open at the reload as at a stop: framing changed from "newline" to "length"',
        )
      ),
      "the reason was logged",
    );
    // New connections speak the new framing.
    const next = await Deno.connect({ hostname: "127.0.0.1", port });
    await next.write(frame(encode("framed")));
    next.close();
    await within(sink.waitFor(5), "the framed message");
    assert.equal(sink.data()[4], "framed");
  } finally {
    await client.close();
  }
  const report = await router.stop();
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed + report.dropped + report.abandoned, 0);
  assert.equal(errors.events.length, 0);
  assert.equal(report.delivered, 5);
});

Deno.test("tcp_server: a reload that fails to start leaves the open connections to the running tcp_server, nothing lost; the next reload hands them over", async () => {
  const port = freePort();
  const running = await start(port, {});
  const { router, sink } = running;
  const client = await WatchedClient.open(port);
  // Another actor of the reload cannot listen: the port is held here.
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await client.send("1\n2\nhal");
    await within(sink.waitFor(2), "the complete lines");
    await holdsUnfinished(router);
    const before = tcpOf(router);
    const failed = await replaceTcp(running, port, { idle_timeout: 100 }, [
      new TcpServer("extra", tcpOptions(busy.addr.port, {})),
    ]);
    assert.equal(failed.applied, false);
    assert.match(failed.reason!, /^Actor "extra" failed to set up: AddrInUse/);
    assert.deepEqual(failed.takenOver, []);
    assert.equal(tcpOf(router), before);
    assert.equal(before.connections, 1);
    await client.send("f\n3\nhal");
    await within(sink.waitFor(4), "the lines after the rollback");
    await holdsUnfinished(router);
    const applied = await replaceTcp(running, port, { idle_timeout: 100 });
    assert.equal(applied.applied, true, applied.reason);
    assert.deepEqual(applied.takenOver, ["tcp"]);
    await client.send("f2\n4\n");
    await within(sink.waitFor(6), "the lines after the reload");
    assert.equal(client.closedByServer, false, "the server closed the socket");
    assert.deepEqual(sink.data(), ["1", "2", "half", "3", "half2", "4"]);
    assert.equal(before.connections, 0);
    assert.equal(tcpOf(router).connections, 1);
  } finally {
    busy.close();
    await client.close();
  }
  await stopLossless(router, 6);
});

Deno.test("tcp_server: a connection whose events wait for room downstream at the reload goes on under the replacement once they are sent, in order, each once", async () => {
  const port = freePort();
  const { running, holder, client, lines, before } = await waitingConnection(
    port,
    "hal",
  );
  const { router } = running;
  const count = lines.length;
  try {
    // The reload waits for the replaced actor to send what it read.
    const changing = replaceTcp(running, port, { idle_timeout: 100 });
    await pollUntil(() => tcpOf(router), (tcp) => tcp !== before, "the switch");
    assert.equal(before.figures().waiting_connections, 1);
    holder.release();
    const result = await within(changing, "the reload");
    assert.equal(result.applied, true, result.reason);
    assert.deepEqual(result.warnings, []);
    await client.send("f\nlast\n");
    await within(holder.waitFor(count + 2), "every line");
    assert.equal(client.closedByServer, false, "the server closed the socket");
    assert.deepEqual(holder.data(), [...lines, "half", "last"]);
    assert.deepEqual(
      holder.events.map((event) => (event.header.tcp as { line: number }).line),
      Array.from({ length: count + 2 }, (_, i) => i + 1),
    );
    assert.equal(tcpOf(router).connections, 1);
  } finally {
    holder.release();
    await client.close();
  }
  await stopLossless(router, 3002);
});

Deno.test("tcp_server: a connection still on its way to a replacement when that is replaced in turn goes on under the newest", async () => {
  const port = freePort();
  const { running, holder, client, lines, before: first } =
    await waitingConnection(port, "");
  const { router } = running;
  const count = lines.length;
  try {
    // The first reload gives up waiting for it; the second one commits
    // while the connection is still with the first server.
    const once = await replaceTcp(running, port, { idle_timeout: 100 }, [], {
      drainTimeoutMs: 50,
    });
    assert.equal(once.applied, true, once.reason);
    assert.equal(once.warnings.length, 1);
    const second = tcpOf(router);
    const twice = replaceTcp(running, port, { idle_timeout: 200 });
    await pollUntil(() => tcpOf(router), (tcp) => tcp !== second, "the switch");
    assert.equal(first.figures().waiting_connections, 1);
    holder.release();
    const result = await within(twice, "the second reload");
    assert.equal(result.applied, true, result.reason);
    await client.send("last\n");
    await within(holder.waitFor(count + 1), "every line");
    assert.equal(client.closedByServer, false, "the server closed the socket");
    assert.deepEqual(holder.data(), [...lines, "last"]);
    assert.deepEqual(
      [first.connections, second.connections, tcpOf(router).connections],
      [0, 0, 1],
    );
  } finally {
    holder.release();
    await client.close();
  }
  await stopLossless(router, 3001);
});

Deno.test("tcp_server: 40 reloads with a connection open keep none of the servers replaced, nor waits on its reads", async () => {
  const port = freePort();
  const running = await start(port, {});
  const { router, sink } = running;
  const client = await WatchedClient.open(port);
  let sent = 0;
  const reload = async (i: number) => {
    await client.send(`${++sent}\n`);
    await within(sink.waitFor(sent), `line ${sent}`);
    const result = await replaceTcp(running, port, { idle_timeout: 100 + i });
    assert.equal(result.applied, true, result.reason);
  };
  try {
    for (let i = 1; i <= 5; i++) await reload(i);
    const before = {
      servers: await reachableObjects("TcpServer"),
      promises: await reachableObjects("Promise"),
    };
    for (let i = 6; i <= 45; i++) await reload(i);
    const servers = await reachableObjects("TcpServer");
    assert.ok(
      servers <= before.servers + 2,
      `${servers - before.servers} replaced servers are still reachable`,
    );
    const promises = await reachableObjects("Promise");
    assert.ok(
      promises <= before.promises + 20,
      `${promises - before.promises} promises more after 40 reloads`,
    );
    assert.equal(client.closedByServer, false, "the server closed the socket");
    assert.deepEqual(sink.data(), upTo(sent).map(String));
  } finally {
    await client.close();
  }
  await router.stop();
});

/** The numbers 1..count. */
function upTo(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1);
}

testWith(
  "tcp_server: a reload that switches tls on for the same address rolls back saying why; the connection open goes on",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const port = freePort();
    const running = await start(port, {});
    const { router, sink } = running;
    const client = await WatchedClient.open(port);
    try {
      await client.send("1\nhal");
      await within(sink.waitFor(1), "the first line");
      await holdsUnfinished(router);
      const before = tcpOf(router);
      const result = await replaceTcp(running, port, {
        tls: { ...certs.server, client_auth: "none" },
      });
      assert.equal(result.applied, false);
      assert.equal(
        result.reason,
        `Actor "tcp" failed to set up: Error: Cannot change "tls" in a reload while listening on the same address (127.0.0.1:${port}): the socket listening there speaks the TLS it was made with; restart, or listen on another port`,
      );
      assert.equal(tcpOf(router), before);
      await client.send("f\n2\n");
      await within(sink.waitFor(3), "the lines after the rollback");
      assert.deepEqual(sink.data(), ["1", "half", "2"]);
      assert.equal(
        client.closedByServer,
        false,
        "the server closed the socket",
      );
    } finally {
      await client.close();
    }
    const report = await router.stop();
    assert.equal(report.unaccounted, 0);
    assert.equal(report.delivered, 3);
  },
);
