import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { getLogger } from "@logtape/logtape";
import fc from "fast-check";
import {
  type HttpHandler,
  type HttpLimits,
  HttpListener,
  plainPath,
  requestHeaders,
  wholeBodyText,
} from "../../core/http_listener.ts";
import { repoUrl, runProgram, spawnProgram } from "../cli_helpers.ts";
import { pollUntil, within } from "../helpers.ts";
import { bodyOf, RawClient, statusOf } from "../raw_http.ts";

const GIVE_UP_MS = 10_000;

/** A request head for `path`, kept alive. */
function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`;
}

/**
 * Requests to `/hold` wait until {@link Gate.open}; others are answered at
 * once with their path.
 */
class Gate {
  held = 0;
  #open = Promise.withResolvers<void>();

  readonly handler: HttpHandler = async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/hold") {
      this.held++;
      await this.#open.promise;
    }
    return new Response(`answered ${path}`);
  };

  open(): void {
    this.#open.resolve();
  }
}

function listen(
  limits: Partial<HttpLimits>,
  handler: HttpHandler = new Gate().handler,
): HttpListener {
  return new HttpListener({
    hostname: "127.0.0.1",
    port: 0,
    log: getLogger(["compysition", "test", "http"]),
    ...limits,
  }, handler);
}

Deno.test("HttpListener at maxConnections closes the connection idle the longest for a new one", async () => {
  const listener = listen({ maxConnections: 3 });
  const port = listener.addr.port;
  const clients: RawClient[] = [];
  /** Sends a request on `client` and waits for its answer. */
  const ask = async (client: RawClient, path: string) => {
    await client.write(get(path));
    await within(
      client.until((text) => text.includes(`answered ${path}`)),
      GIVE_UP_MS,
      `the answer to ${path}`,
    );
  };
  try {
    for (let i = 0; i < 3; i++) {
      const client = await RawClient.open(port);
      clients.push(client);
      await ask(client, `/${i}`);
    }
    const [first, second, third] = clients as [RawClient, RawClient, RawClient];
    // The first, asked again, is now the connection idle the shortest.
    await ask(first, "/again");
    const fourth = await RawClient.open(port);
    clients.push(fourth);
    await within(second.closed, GIVE_UP_MS, "the idle connection to close");
    await ask(fourth, "/fourth");
    await ask(third, "/third");
    await ask(first, "/first");
    assert.equal(listener.connections, 3);
    assert.deepEqual(listener.figures(), {
      connections: 3,
      connections_total: 4,
      connections_refused_total: 0,
      connections_shed_total: 1,
      connections_timed_out_total: 0,
      accept_errors_total: 0,
    });
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await listener.shutdown();
  }
});

Deno.test("HttpListener closes a new connection at once when every connection has a request in flight", async () => {
  const gate = new Gate();
  const listener = listen({ maxConnections: 2 }, gate.handler);
  const port = listener.addr.port;
  const held = [
    await RawClient.open(port, get("/hold")),
    await RawClient.open(port, get("/hold")),
  ];
  try {
    await pollUntil(() => gate.held, (count) => count === 2, "two held");
    const refused = await RawClient.open(port, get("/late"));
    assert.equal(await within(refused.closed, GIVE_UP_MS, "the refusal"), "");
    gate.open();
    for (const client of held) {
      await within(
        client.until((text) => text.includes("answered /hold")),
        GIVE_UP_MS,
        "a held answer",
      );
    }
    assert.equal(listener.figures().connections_refused_total, 1);
    assert.equal(listener.figures().connections_shed_total, 0);
  } finally {
    await Promise.all(held.map((client) => client.close()));
    await listener.shutdown();
  }
});

Deno.test("HttpListener closes a connection that sends no complete head within headerTimeoutMs", async () => {
  const listener = listen({ headerTimeoutMs: 50 });
  const port = listener.addr.port;
  const slow = await RawClient.open(port, "GET /slow HTTP/1.1\r\nHost: te");
  const silent = await RawClient.open(port);
  try {
    // Bytes keep coming, but the head never completes.
    const dripping = (async () => {
      while (!slow.ended && await slow.write("s")) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    assert.equal(await within(slow.closed, GIVE_UP_MS, "the slow close"), "");
    assert.equal(
      await within(silent.closed, GIVE_UP_MS, "the silent close"),
      "",
    );
    await dripping;
    // A client that sends its head at once is served.
    const response = await fetch(`http://127.0.0.1:${port}/quick`);
    assert.equal(await response.text(), "answered /quick");
    assert.equal(listener.figures().connections_timed_out_total, 2);
  } finally {
    await slow.close();
    await silent.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener closes a kept-alive connection idle for idleTimeoutMs", async () => {
  const listener = listen({ idleTimeoutMs: 50 });
  const client = await RawClient.open(listener.addr.port, get("/one"));
  try {
    const text = await within(client.closed, GIVE_UP_MS, "the idle close");
    assert.equal(statusOf(text), 200);
    assert.match(text, /answered \/one$/);
    assert.equal(listener.figures().connections_timed_out_total, 1);
  } finally {
    await client.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener closes the connection of a body not read within bodyTimeoutMs", async () => {
  const failures: string[] = [];
  const listener = listen(
    { bodyTimeoutMs: 50 },
    async (request, info) => {
      try {
        const body = await info.read(request.text());
        return new Response(`read ${body}`);
      } catch (error) {
        failures.push((error as Error).name);
        return new Response("never sent", { status: 500 });
      }
    },
  );
  const port = listener.addr.port;
  const head = (length: number) =>
    `POST / HTTP/1.1\r\nHost: test\r\nContent-Length: ${length}\r\n\r\n`;
  const stalled = await RawClient.open(port, head(10) + "abc");
  try {
    assert.equal(await within(stalled.closed, GIVE_UP_MS, "the close"), "");
    await pollUntil(() => failures.length, (n) => n === 1, "the read to fail");
    assert.equal(listener.figures().connections_timed_out_total, 1);
    const whole = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      body: "abcdefghij",
    });
    assert.equal(await whole.text(), "read abcdefghij");
  } finally {
    await stalled.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener.shutdown() stops accepting, closes idle connections and answers the requests in flight", async () => {
  const gate = new Gate();
  const listener = listen({}, gate.handler);
  const port = listener.addr.port;
  const idle = await RawClient.open(port, get("/before"));
  const held = await RawClient.open(port, get("/hold"));
  try {
    await within(
      idle.until((text) => text.includes("answered /before")),
      GIVE_UP_MS,
      "the first answer",
    );
    await pollUntil(() => gate.held, (count) => count === 1, "one held");
    const shutdown = listener.shutdown();
    await within(idle.closed, GIVE_UP_MS, "the idle connection to close");
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
    );
    assert.equal(held.ended, false);
    gate.open();
    await within(shutdown, GIVE_UP_MS, "the shutdown");
    const text = await within(held.closed, GIVE_UP_MS, "the held close");
    assert.match(text, /answered \/hold$/);
    assert.equal(listener.connections, 0);
  } finally {
    await idle.close();
    await held.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener.close() closes the connections with a request in flight too", async () => {
  const gate = new Gate();
  const listener = listen({}, gate.handler);
  const held = await RawClient.open(listener.addr.port, get("/hold"));
  try {
    await pollUntil(() => gate.held, (count) => count === 1, "one held");
    await within(listener.close(), GIVE_UP_MS, "the close");
    assert.equal(await within(held.closed, GIVE_UP_MS, "the held close"), "");
  } finally {
    gate.open();
    await held.close();
  }
});

/**
 * Answers `/stream` with a stream that sends "first" and then what
 * {@link Streams.send} sends, until {@link Streams.end}; others at once.
 */
class Streams {
  #controllers: ReadableStreamDefaultController<Uint8Array>[] = [];
  #encoder = new TextEncoder();

  readonly handler: HttpHandler = (request) => {
    if (new URL(request.url).pathname !== "/stream") {
      return new Response("answered");
    }
    return new Response(
      new ReadableStream<Uint8Array>({
        start: (controller) => {
          this.count++;
          this.#controllers.push(controller);
          controller.enqueue(this.#encoder.encode("first."));
        },
      }),
    );
  };

  /** Streams begun. */
  count = 0;

  send(text: string): void {
    for (const each of this.#controllers) {
      each.enqueue(this.#encoder.encode(text));
    }
  }

  /** Ends the streams not ended yet. */
  end(): void {
    for (const each of this.#controllers.splice(0)) each.close();
  }
}

/** Waits until what `client` received includes `text`. */
function streamed(client: RawClient, text: string): Promise<void> {
  return within(
    client.until((received) => received.includes(text)),
    GIVE_UP_MS,
    `"${text.trim()}" from the stream`,
  );
}

Deno.test("HttpListener keeps a connection busy while its answer streams: a new one is refused at maxConnections, none is shed", async () => {
  const streams = new Streams();
  const listener = listen({ maxConnections: 1 }, streams.handler);
  const port = listener.addr.port;
  const streaming = await RawClient.open(port, get("/stream"));
  try {
    await streamed(streaming, "first.");
    const refused = await RawClient.open(port, get("/stream"));
    assert.equal(await within(refused.closed, GIVE_UP_MS, "the refusal"), "");
    streams.send("second.");
    streams.end();
    await streamed(streaming, "\r\n0\r\n\r\n");
    assert.match(streaming.text, /first\.\r\n7\r\nsecond\./);
    assert.equal(streams.count, 1);
    assert.equal(listener.figures().connections_refused_total, 1);
    assert.equal(listener.figures().connections_shed_total, 0);
  } finally {
    streams.end();
    await streaming.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener does not time out as idle a connection whose answer still streams", async () => {
  const streams = new Streams();
  const listener = listen({ idleTimeoutMs: 50 }, streams.handler);
  const port = listener.addr.port;
  const streaming = await RawClient.open(port, get("/stream"));
  const idle = await RawClient.open(port, get("/"));
  try {
    await streamed(streaming, "first.");
    // Answered after the stream began: idle for longer once it is closed.
    await within(idle.closed, GIVE_UP_MS, "the idle connection to close");
    assert.equal(listener.figures().connections_timed_out_total, 1);
    assert.equal(streaming.ended, false);
    streams.send("second.");
    streams.end();
    await streamed(streaming, "\r\n0\r\n\r\n");
    assert.equal(streaming.ended, false);
  } finally {
    streams.end();
    await streaming.close();
    await idle.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener refuses limits that are not numbers above 0", () => {
  for (const limits of [{ maxConnections: 0 }, { headerTimeoutMs: NaN }]) {
    assert.throws(() => listen(limits), RangeError);
  }
});

Deno.test("HttpListener out of file handles logs at most once a second, resumes accepting and drains at stop", async () => {
  const program = fileURLToPath(
    new URL("./http_listener_server.ts", import.meta.url),
  );
  // 64 file handles: the runtime takes about 20, so some 40 connections fit.
  const server = spawnProgram("sh", [
    "-c",
    `ulimit -n 64 && exec "${Deno.execPath()}" run --allow-all "${program}"`,
  ]);
  const clients: RawClient[] = [];
  try {
    await within(
      server.stdout.until((text) => text.includes("\n")),
      GIVE_UP_MS,
      "the port",
    );
    const { port } = JSON.parse(server.stdout.text.split("\n")[0]!);
    // Every connection has a request in flight: none can be closed to free
    // a file handle, so accepting fails until some are answered.
    for (let i = 0; i < 80; i++) {
      clients.push(await RawClient.open(port, get("/hold")));
    }
    await within(
      server.stderr.until((text) => text.includes("accepts failed")),
      GIVE_UP_MS,
      "the failed accepts to be logged",
    );
    server.child.kill("SIGUSR2");
    // Answered clients close their connections, which frees handles for the
    // connections still waiting to be accepted: all are answered.
    await Promise.all(clients.map(async (client) => {
      await within(
        client.until((text) => text.includes("answered /hold")),
        GIVE_UP_MS,
        "every held request's answer",
      );
      await client.close();
    }));
    // At stop, what was accepted is answered before the process exits.
    const late = [];
    for (let i = 0; i < 5; i++) {
      late.push(await RawClient.open(port, get("/slow")));
    }
    await within(
      server.stdout.until((text) => text.split("in flight /slow").length > 5),
      GIVE_UP_MS,
      "the slow requests in flight",
    );
    server.child.kill("SIGTERM");
    const result = await within(server.finish(), GIVE_UP_MS, "the exit");
    assert.equal(result.code, 0, result.stderr);
    for (const client of late) {
      assert.match(await client.closed, /answered \/slow$/);
    }
    const figures = JSON.parse(result.stdout.trim().split("\n").at(-1)!);
    assert.equal(figures.connections_total, 85);
    assert.equal(figures.connections_refused_total, 0);
    assert.equal(figures.connections, 0);
    assert.ok(figures.accept_errors_total > 0);
    // Rate-limited: one line sums up many failures.
    const lines = result.stderr.split("\n").filter((line) =>
      line.includes("accepts failed")
    );
    assert.ok(lines.length >= 1);
    assert.ok(
      lines.length < figures.accept_errors_total,
      `${lines.length} lines for ${figures.accept_errors_total} failures`,
    );
    assert.doesNotMatch(result.stderr, /Uncaught|panicked/);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    try {
      server.child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await server.finish();
  }
});

/**
 * Opens `count` connections to 127.0.0.1:`port` and resets each (TCP RST)
 * as soon as it is made, from a Node process, as a port scanner does. It
 * runs synchronously: the event loop of this process is blocked meanwhile,
 * so the connections are reset while they wait in the listen backlog.
 */
function resetConnectionsWhileBlocked(port: number, count: number): void {
  const script = `
    const net = require("node:net");
    let left = ${count};
    for (let i = 0; i < ${count}; i++) {
      const socket = net.connect(${port}, "127.0.0.1", () => socket.resetAndDestroy());
      socket.on("error", () => {});
      socket.on("close", () => { if (--left === 0) process.exit(0); });
    }`;
  const { code, stderr } = new Deno.Command("node", {
    args: ["-e", script],
    stderr: "piped",
  }).outputSync();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

Deno.test("HttpListener skips connections reset before they were accepted: no idle connection is shed and the next is answered", async () => {
  const listener = listen({ maxConnections: 10 });
  const port = listener.addr.port;
  const kept = await RawClient.open(port, get("/first"));
  try {
    await within(
      kept.until((text) => text.includes("answered /first")),
      GIVE_UP_MS,
      "the first answer",
    );
    resetConnectionsWhileBlocked(port, 50);
    await pollUntil(
      () => listener.figures().accept_errors_total,
      (errors) => errors > 0,
      "the reset connections to fail their accept",
    );
    const response = await fetch(`http://127.0.0.1:${port}/next`);
    assert.equal(await response.text(), "answered /next");
    assert.equal(kept.ended, false, "the idle client was not closed");
    assert.equal(listener.figures().connections_shed_total, 0);
    await kept.write(get("/again"));
    await within(
      kept.until((text) => text.includes("answered /again")),
      GIVE_UP_MS,
      "the kept-alive client's second answer",
    );
  } finally {
    await kept.close();
    await listener.shutdown();
  }
});

Deno.test("HttpListener closes a connection answered before its body was read, however the client trickles the body", async () => {
  const listener = listen(
    { idleTimeoutMs: 50, headerTimeoutMs: 50, bodyTimeoutMs: 50 },
    () => new Response("too large", { status: 413 }),
  );
  const client = await RawClient.open(
    listener.addr.port,
    "POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: 100000000\r\n\r\nx",
  );
  const trickling = (async () => {
    for (let i = 0; i < 400 && !client.ended; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      await client.write("x");
    }
  })();
  try {
    const text = await within(client.closed, GIVE_UP_MS, "the close");
    assert.equal(statusOf(text), 413);
    await trickling;
    await pollUntil(
      () => listener.figures().connections,
      (open) => open === 0,
      "the connection to be gone",
    );
  } finally {
    await client.close();
    await within(listener.shutdown(), GIVE_UP_MS, "the shutdown");
  }
});

Deno.test("HttpListener lets go of a body its handler read in part and released: 20 such requests leave no socket open", async () => {
  const listener = listen({}, async (request) => {
    const reader = request.body!.getReader();
    await reader.read();
    reader.releaseLock();
    return new Response("too large", { status: 413 });
  });
  const openFiles = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = openFiles();
  try {
    for (let i = 0; i < 20; i++) {
      const client = await RawClient.open(
        listener.addr.port,
        "POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\nxxxx",
      );
      await within(
        client.until((text) => text.includes("too large")),
        GIVE_UP_MS,
        "the answer",
      );
      await client.close();
    }
    await pollUntil(
      () => listener.figures().connections,
      (open) => open === 0,
      "the connections to be gone",
    );
    await pollUntil(
      openFiles,
      (open) => open <= before + 2,
      "the sockets to be closed",
    );
  } finally {
    await within(listener.shutdown(), GIVE_UP_MS, "the shutdown");
  }
});

Deno.test("requestHeaders and wholeBodyText read a request of Deno's engine as the client wrote it: names of any case lower-cased, a name said twice joined, the body's text once whole", async () => {
  const listener = listen({}, (request) =>
    Response.json({
      headers: requestHeaders(request),
      body: wholeBodyText(request),
      // Taken once: the body is gone after.
      again: wholeBodyText(request),
    }));
  const client = await RawClient.open(
    listener.addr.port,
    'POST /x HTTP/1.1\r\nHost: test\r\nX-Tag: a\r\nx-TAG: b\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"n":1}',
  );
  try {
    await within(
      client.until((text) => bodyOf(text).endsWith("}")),
      GIVE_UP_MS,
      "the answer",
    );
    assert.equal(statusOf(client.text), 200);
    assert.deepEqual(JSON.parse(bodyOf(client.text)), {
      headers: {
        host: "test",
        "x-tag": "a, b",
        "content-type": "application/json",
        "content-length": "7",
      },
      body: '{"n":1}',
      again: null,
    });
  } finally {
    await client.close();
    await listener.shutdown();
  }
});

Deno.test("plainPath gives a path only for a URL that parses, with that pathname and no query: over generated hosts, ports and paths", () => {
  const hosts = fc.oneof(
    fc.constantFrom(
      "127.0.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "0x7f.0.0.1",
      "example.com",
      "Example.COM.",
      "a..b",
      "-a-.b",
      "xn--nxasmq6b.com",
      "xn--a.com",
      "XN--abc",
      "a.123",
      "a.0x1",
      "[::1]",
      "user@host",
      "ex ample",
      "a%20b",
      "",
    ),
    fc.string({
      unit: fc.constantFrom(..."ax0-9.X_%@[]: é\u00ad\t".split("")),
      maxLength: 12,
    }),
  );
  const ports = fc.option(
    fc.oneof(
      fc.constantFrom("", "0", "80", "065535", "65535", "65536", "99999"),
      fc.nat({ max: 70_000 }).map(String),
    ),
    { nil: undefined },
  );
  const paths = fc.string({
    unit: fc.constantFrom(
      ..."aZ09-_~!$&'()*+,;=:@/.%2e\\^`{}|\"<> ?#é[]".split(""),
    ),
    maxLength: 16,
  }).map((path) => `/${path}`);
  fc.assert(
    fc.property(
      fc.constantFrom("http://", "https://", "HTTP://", "ftp://"),
      hosts,
      ports,
      paths,
      (scheme, host, port, path) => {
        const href = `${scheme}${host}${
          port === undefined ? "" : `:${port}`
        }${path}`;
        const plain = plainPath(href);
        if (plain === undefined) return;
        const url = new URL(href); // Throws for a URL that does not parse.
        assert.equal(plain, url.pathname, href);
        assert.equal(url.search, "", href);
      },
    ),
    { numRuns: 5_000 },
  );
  // The URLs of the usual requests are plain.
  assert.equal(plainPath("http://127.0.0.1:8080/orders"), "/orders");
  assert.equal(plainPath("https://logs.example.com:443/v1/logs"), "/v1/logs");
  assert.equal(plainPath("http://localhost/"), "/");
});

Deno.test("HttpListener hands the handler the URL's path and query, parsed or not, and answers 400 to a URL that does not parse", async () => {
  const listener = listen({}, (_request, info) =>
    Response.json({
      pathname: info.pathname,
      search: info.search,
      url: [info.url.pathname, info.url.search],
    }));
  const ask = async (target: string, host: string) => {
    const client = await RawClient.open(
      listener.addr.port,
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    try {
      await within(
        client.until((text) => bodyOf(text).endsWith("}")),
        GIVE_UP_MS,
        `the answer to ${target}`,
      );
      return {
        status: statusOf(client.text),
        body: JSON.parse(bodyOf(client.text)),
      };
    } finally {
      await client.close();
    }
  };
  try {
    assert.deepEqual(await ask("/orders", "127.0.0.1"), {
      status: 200,
      body: { pathname: "/orders", search: "", url: ["/orders", ""] },
    });
    assert.deepEqual(await ask("/a/../orders?x=1&y", "example.com:8080"), {
      status: 200,
      body: {
        pathname: "/orders",
        search: "?x=1&y",
        url: ["/orders", "?x=1&y"],
      },
    });
    assert.deepEqual(await ask("/%7Bq%7D", "localhost"), {
      status: 200,
      body: { pathname: "/%7Bq%7D", search: "", url: ["/%7Bq%7D", ""] },
    });
    assert.deepEqual(await ask("/orders", "999.0.0.1"), {
      status: 400,
      body: { error: "The request's URL is not valid (see its Host header)" },
    });
  } finally {
    await listener.shutdown();
  }
});

/** The header fields of `request` as the Fetch standard's `Headers.get` gives them. */
function headersByGet(request: Request): Record<string, string> {
  const record: Record<string, string> = {};
  for (const name of request.headers.keys()) {
    record[name] = request.headers.get(name)!;
  }
  return record;
}

/** `text` as bytes, one a character (header values may be obs-text). */
function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

Deno.test("requestHeaders gives what Headers.get gives, over generated header fields sent raw: any case, repeated names, blanks around values, obs-text, names of Object.prototype", async () => {
  const seen: { headers: unknown; byGet: unknown; proto: unknown }[] = [];
  const listener = listen({}, (request) => {
    const headers = requestHeaders(request);
    seen.push({
      headers,
      byGet: headersByGet(request),
      proto: Object.getPrototypeOf(headers),
    });
    return new Response("ok");
  });
  const tchar =
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const name = fc.oneof(
    fc.constantFrom(
      "constructor",
      "Constructor",
      "__proto__",
      "toString",
      "hasOwnProperty",
      "valueOf",
      "Set-Cookie",
      "Cookie",
      "X-Tag",
      "x-tag",
    ),
    fc.string({ unit: fc.constantFrom(...tchar), minLength: 1, maxLength: 12 }),
  );
  const value = fc.array(
    fc.oneof(
      fc.integer({ min: 0x21, max: 0x7e }),
      fc.integer({ min: 0x80, max: 0xff }),
      fc.constantFrom(0x20, 0x09),
    ),
    { maxLength: 24 },
  ).map((codes) => String.fromCharCode(...codes));
  const fields = fc.array(fc.tuple(name, value), { maxLength: 30 });
  try {
    await fc.assert(
      fc.asyncProperty(fields, fc.boolean(), async (fields, http10) => {
        seen.length = 0;
        const head = `GET / HTTP/1.${http10 ? "0" : "1\r\nHost: test"}\r\n${
          fields.map(([name, value]) => `${name}: ${value}\r\n`).join("")
        }Connection: close\r\n\r\n`;
        const client = await RawClient.open(listener.addr.port, latin1(head));
        await within(client.closed, GIVE_UP_MS, "the answer");
        assert.equal(
          statusOf(client.text.replace(/^HTTP\/1\.0/, "HTTP/1.1")),
          200,
        );
        assert.equal(seen.length, 1);
        const [{ headers, byGet, proto }] = seen as [typeof seen[0]];
        assert.equal(proto, Object.prototype);
        assert.deepEqual(headers, byGet);
      }),
      {
        numRuns: 300,
        examples: [[[["Constructor", "a"], ["constructor", "b"]], false], [
          [["__proto__", "x"], ["toString", "y"]],
          true,
        ]],
      },
    );
  } finally {
    await listener.shutdown();
  }
});

Deno.test("requestHeaders of a Request not made by Deno's engine gives what Headers.get gives: every Set-Cookie kept, names of Object.prototype as data", () => {
  const tchar =
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const name = fc.oneof(
    fc.constantFrom("Set-Cookie", "set-cookie", "constructor", "__proto__"),
    fc.string({ unit: fc.constantFrom(...tchar), minLength: 1, maxLength: 8 }),
  );
  const value = fc.string({ maxLength: 12 }).filter((text) =>
    !/[\0\r\n]/.test(text)
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(name, value), { maxLength: 12 }),
      (fields) => {
        const made = new Request("http://x/", { headers: fields });
        const headers = requestHeaders(made);
        assert.equal(Object.getPrototypeOf(headers), Object.prototype);
        assert.deepEqual(headers, headersByGet(made));
      },
    ),
    {
      examples: [[[["Set-Cookie", "a=1"], ["set-cookie", "b=2"]]]],
    },
  );
});

Deno.test("requestHeaders keeps a field named __proto__ as data under --unsafe-proto, from the engine and from a made Request", async () => {
  // Deno drops Object.prototype.__proto__ unless run with --unsafe-proto;
  // with it, assigning a string to record["__proto__"] does nothing.
  const source = `
    import { requestHeaders } from "${repoUrl("core/http_listener.ts")}";
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => {
        const headers = requestHeaders(request);
        return Response.json({
          served: Object.entries(headers),
          prototype: Object.getPrototypeOf(headers) === Object.prototype,
        });
      },
    );
    const made = requestHeaders(
      new Request("http://x/", { headers: [["__proto__", "a"]] }),
    );
    const answer = await fetch(\`http://127.0.0.1:\${server.addr.port}/\`, {
      headers: [["__proto__", "b"], ["__proto__", "c"]],
    });
    console.log(JSON.stringify({
      ...(await answer.json()),
      made: Object.entries(made),
      madePrototype: Object.getPrototypeOf(made) === Object.prototype,
    }));
    await server.shutdown();
  `;
  const { code, stdout, stderr } = await runProgram(Deno.execPath(), [
    "eval",
    "--unsafe-proto",
    source,
  ]);
  assert.equal(code, 0, stderr);
  const seen = JSON.parse(stdout);
  assert.deepEqual(
    seen.served.filter(([name]: [string]) => name === "__proto__"),
    [["__proto__", "b, c"]],
  );
  assert.deepEqual(seen.made, [["__proto__", "a"]]);
  assert.equal(seen.prototype, true);
  assert.equal(seen.madePrototype, true);
});
