import assert from "node:assert/strict";
import { Router } from "../../../core/router.ts";
import {
  HttpServer,
  HttpServerOptions,
} from "../../../actors/input/http_server.ts";
import {
  Collector,
  pollUntil,
  reachableObjects,
  schemaProblems,
} from "../../helpers.ts";
import { bodyOf, RawClient, statusOf } from "../../raw_http.ts";
import { Holder, postOrder, within } from "./support.ts";

interface Served {
  router: Router;
  web: HttpServer;
  port: number;
}

/** Starts `web` with `options`, its queue `orders` into `sink`. */
async function serve(
  options: Partial<HttpServerOptions>,
  sink: Collector,
  capacity = 1000,
): Promise<Served> {
  const router = new Router({ logLevel: "error" });
  const web = router.register(
    new HttpServer("web", { port: 0, ...options }),
  ) as HttpServer;
  router.register(sink);
  router.connect("web.orders", `${sink.name}.inbox`, { capacity });
  await router.start();
  return { router, web, port: web.port };
}

/** The head of a JSON POST to `/orders` with `headers` added. */
function head(headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([key, value]) =>
    `${key}: ${value}\r\n`
  );
  return `POST /orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n${
    lines.join("")
  }\r\n`;
}

/** A JSON body of exactly `length` bytes. */
function jsonOf(length: number): string {
  return JSON.stringify({ pad: "x".repeat(length - 10) });
}

/** Waits until `client` has a whole answer; returns its status and body. */
async function answer(
  client: RawClient,
): Promise<{ status: number | undefined; body: string }> {
  await within(
    client.until((text) => {
      const length = /content-length: (\d+)/i.exec(text);
      return length !== null && bodyOf(text).length >= Number(length[1]);
    }),
    "an answer",
  );
  return { status: statusOf(client.text), body: bodyOf(client.text) };
}

Deno.test("http_server answers 503 without reading the body when the queue has no room", async () => {
  const holder = new Holder("slow");
  const { router, web, port } = await serve({ queue_timeout: 0.05 }, holder, 1);
  const clients: RawClient[] = [];
  try {
    assert.equal(await postOrder(port, '{"n":1}'), 202);
    await within(holder.first, "the first event to be held");
    // The queue (capacity 1) is full. Only heads are sent: an answer proves
    // that the server did not wait for the bodies.
    const plain = await RawClient.open(
      port,
      head({ "Content-Length": 100_000 }),
    );
    const expecting = await RawClient.open(
      port,
      head({ "Content-Length": 100_000, Expect: "100-continue" }),
    );
    clients.push(plain, expecting);
    for (const client of [plain, expecting]) {
      const { status, body } = await answer(client);
      assert.equal(status, 503);
      assert.deepEqual(JSON.parse(body), {
        error: 'Queue "orders" is full: no room within queue_timeout',
      });
    }
    // Deno's engine tells the client to go on at once; it is answered all
    // the same without sending its body.
    assert.match(expecting.text, /^HTTP\/1\.1 100 Continue/);
    const figures = web.figures();
    assert.equal(figures.busy_total, 2);
    assert.equal(figures.body_bytes_in_flight, 0);
  } finally {
    holder.release();
    await Promise.all(clients.map((client) => client.close()));
    await router.stop();
  }
  assert.deepEqual(holder.data(), [{ n: 1 }]);
});

Deno.test("http_server reads a body only once there is room for its event", async () => {
  const holder = new Holder("slow");
  const { router, port } = await serve({ queue_timeout: 10 }, holder, 1);
  const body = jsonOf(100);
  const clients: RawClient[] = [];
  try {
    // The first request takes the queue's only room while its body arrives.
    const first = await RawClient.open(
      port,
      head({ "Content-Length": 100 }) + body.slice(0, 50),
    );
    const second = await RawClient.open(
      port,
      head({ "Content-Length": 100 }) + body,
    );
    clients.push(first, second);
    await first.write(body.slice(50));
    assert.equal((await answer(first)).status, 202);
    await within(holder.first, "the first event to be held");
    // Its event fills the queue: the second still waits for room.
    assert.equal(second.text, "");
    holder.release();
    assert.equal((await answer(second)).status, 202);
    await within(holder.waitFor(2), "both events");
  } finally {
    holder.release();
    await Promise.all(clients.map((client) => client.close()));
    await router.stop();
  }
  assert.equal(holder.events.length, 2);
});

Deno.test("http_server answers 503 before reading a body that would go over max_inflight_bytes", async () => {
  const sink = new Collector("sink");
  const { router, web, port } = await serve(
    { max_body_bytes: 1000, max_inflight_bytes: 1000 },
    sink,
  );
  const large = jsonOf(800);
  const clients: RawClient[] = [];
  try {
    // 800 bytes are held while this body arrives.
    const slow = await RawClient.open(
      port,
      head({ "Content-Length": 800 }) + large.slice(0, 100),
    );
    clients.push(slow);
    await pollUntil(
      () => web.figures().body_bytes_in_flight,
      (bytes) => bytes === 800,
      "800 bytes held",
    );
    // 300 more would be too many: refused from the head alone.
    const sized = await RawClient.open(port, head({ "Content-Length": 300 }));
    // A body of unknown size is refused once it goes over.
    const chunk = `64\r\n${"1".repeat(100)}\r\n`;
    const chunked = await RawClient.open(
      port,
      head({ "Transfer-Encoding": "chunked" }) + chunk + chunk + chunk +
        "0\r\n\r\n",
    );
    clients.push(sized, chunked);
    for (const client of [sized, chunked]) {
      const { status, body } = await answer(client);
      assert.equal(status, 503);
      assert.match(
        JSON.parse(body).error,
        /^Too many bytes of requests in flight \(max_inflight_bytes 1000\)/,
      );
    }
    await slow.write(large.slice(100));
    assert.equal((await answer(slow)).status, 202);
    assert.equal(web.figures().body_bytes_in_flight, 0);
    // Once the bytes are released, the same request is taken.
    assert.equal(await postOrder(port, jsonOf(300)), 202);
    await within(sink.waitFor(2), "two events");
    assert.equal(web.figures().busy_total, 2);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await router.stop();
  }
  assert.equal(sink.events.length, 2);
});

Deno.test("http_server applies max_body_bytes and max_inflight_bytes to a body whose Content-Length is said twice", async () => {
  const sink = new Collector("sink");
  const { router, web, port } = await serve(
    { max_body_bytes: 1000, max_inflight_bytes: 1000 },
    sink,
  );
  /** The head of a body of `length` bytes, its length said twice. */
  const twice = (length: number) =>
    head({ "Content-Length": length, "content-length": length });
  const clients: RawClient[] = [];
  try {
    // Deno's engine takes a length said twice; the headers hold "2000, 2000".
    const over = await RawClient.open(port, twice(2000) + jsonOf(2000));
    clients.push(over);
    assert.deepEqual(await answer(over), {
      status: 413,
      body: JSON.stringify({
        error: "The body is larger than 1000 bytes (max_body_bytes)",
      }),
    });
    const slow = await RawClient.open(
      port,
      twice(800) + jsonOf(800).slice(0, 100),
    );
    clients.push(slow);
    await pollUntil(
      () => web.figures().body_bytes_in_flight,
      (bytes) => bytes === 800,
      "800 bytes held",
    );
    const more = await RawClient.open(port, twice(300) + jsonOf(300));
    clients.push(more);
    assert.equal((await answer(more)).status, 503);
    await slow.write(jsonOf(800).slice(100));
    assert.equal((await answer(slow)).status, 202);
    await within(sink.waitFor(1), "the event");
    assert.equal(web.figures().body_bytes_in_flight, 0);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await router.stop();
  }
  assert.equal(sink.events.length, 1);
});

Deno.test("http_server closes the connection of a body that does not arrive within body_timeout", async () => {
  const sink = new Collector("sink");
  const { router, web, port } = await serve({ body_timeout: 0.05 }, sink);
  const stalled = await RawClient.open(
    port,
    head({ "Content-Length": 10 }) + '{"a"',
  );
  try {
    assert.equal(await within(stalled.closed, "the close"), "");
    await pollUntil(
      () => web.figures(),
      (figures) =>
        figures.requests_failed_total === 1 &&
        figures.body_bytes_in_flight === 0,
      "the request to fail",
    );
    assert.equal(web.figures().connections_timed_out_total, 1);
    assert.equal(await postOrder(port, '{"good":1}'), 202);
    await within(sink.waitFor(1), "the good event");
  } finally {
    await stalled.close();
    await router.stop();
  }
  assert.deepEqual(sink.data(), [{ good: 1 }]);
});

for (
  const [what, headers] of [
    ["chunked", { "Transfer-Encoding": "chunked" }],
    ["gzip", { "Transfer-Encoding": "chunked", "Content-Encoding": "gzip" }],
  ] as const
) {
  Deno.test(`http_server closes the connection of a ${what} body answered 413 whose rest does not arrive within body_timeout`, async () => {
    const sink = new Collector("sink");
    const { router, web, port } = await serve(
      { max_body_bytes: 16, body_timeout: 0.05, idle_timeout: 0.05 },
      sink,
    );
    // Over max_body_bytes, then silent: the rest never comes.
    const big = what === "gzip"
      ? new Uint8Array(
        await new Response(
          new Blob(["x".repeat(4096)]).stream().pipeThrough(
            new CompressionStream("gzip"),
          ),
        ).arrayBuffer(),
      )
      : new TextEncoder().encode("x".repeat(4096));
    const chunk = new Uint8Array([
      ...new TextEncoder().encode(`${big.length.toString(16)}\r\n`),
      ...big,
      ...new TextEncoder().encode("\r\n"),
    ]);
    const stalled = await RawClient.open(port, head(headers));
    await stalled.write(chunk);
    let stopped = false;
    try {
      assert.equal(statusOf(await within(stalled.closed, "the close")), 413);
      await within(router.stop(), "the stop");
      stopped = true;
    } finally {
      await stalled.close();
      if (!stopped) await router.stop();
    }
    assert.equal(web.figures().connections, 0);
    assert.equal(sink.events.length, 0);
  });
}

Deno.test("http_server keeps the connection of a chunked body answered 413 when the rest of the body arrives", async () => {
  const sink = new Collector("sink");
  const { router, port } = await serve({ max_body_bytes: 16 }, sink);
  const client = await RawClient.open(
    port,
    head({ "Transfer-Encoding": "chunked" }) + `40\r\n${"x".repeat(64)}\r\n`,
  );
  try {
    assert.equal((await answer(client)).status, 413);
    client.text = "";
    const good = '{"good":1}';
    await client.write(
      `0\r\n\r\n${head({ "Content-Length": good.length })}${good}`,
    );
    assert.equal((await answer(client)).status, 202);
    await within(sink.waitFor(1), "the good event");
    assert.equal(client.ended, false);
  } finally {
    await client.close();
    await router.stop();
  }
  assert.deepEqual(sink.data(), [{ good: 1 }]);
});

Deno.test("http_server closes connections that send no request head within header_timeout", async () => {
  const sink = new Collector("sink");
  const { router, web, port } = await serve(
    { header_timeout: 0.05, max_connections: 2 },
    sink,
  );
  const silent = [await RawClient.open(port), await RawClient.open(port, "PO")];
  try {
    for (const client of silent) {
      assert.equal(await within(client.closed, "the close"), "");
    }
    assert.equal(web.figures().connections_timed_out_total, 2);
    assert.equal(web.figures().connections, 0);
  } finally {
    await Promise.all(silent.map((client) => client.close()));
    await router.stop();
  }
});

Deno.test("http_server options: max_inflight_bytes must hold a body of max_body_bytes", () => {
  assert.deepEqual(
    schemaProblems(HttpServerOptions, {
      max_body_bytes: 2000,
      max_inflight_bytes: 1000,
    }),
    [
      "max_inflight_bytes: max_inflight_bytes (1000) must be at least max_body_bytes (2000), or bodies of the largest size could never be read",
    ],
  );
  const defaults = HttpServerOptions.parse({});
  assert.deepEqual(
    [
      defaults.max_connections,
      defaults.header_timeout,
      defaults.idle_timeout,
      defaults.body_timeout,
      defaults.max_inflight_bytes,
    ],
    [1000, 10, 60, 30, 67_108_864],
  );
});

Deno.test("http_server: 2,000 hostile clients (garbled heads, bodies cut short, silent closes) write a few log lines, not 2,000", async () => {
  const router = new Router();
  const logs = router.registerLogActor(new Collector("logs")) as Collector;
  const web = router.register(
    new HttpServer("web", { port: 0, body_timeout: 1 }),
  ) as HttpServer;
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("web.orders", "sink.inbox");
  await router.start();
  const hostile = [
    "NOT HTTP AT ALL\r\n\r\n",
    head({ "Content-Length": 100 }) + '{"cut',
    "",
  ];
  const clients = 2000;
  try {
    for (let c = 0; c < clients; c += 50) {
      await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const client = await RawClient.open(web.port, hostile[(c + i) % 3]);
        await client.close();
      }));
    }
    await pollUntil(
      () => web.figures().connections,
      (open) => open === 0,
      "every hostile connection to close",
    );
    assert.equal(await postOrder(web.port, '{"good":1}'), 202);
    await within(sink.waitFor(1), "the good event");
  } finally {
    await router.stop();
  }
  assert.deepEqual(sink.data(), [{ good: 1 }]);
  assert.ok(web.figures().connections_total >= clients + 1);
  assert.ok(
    logs.events.length < 30,
    `${logs.events.length} log lines: ${
      JSON.stringify(logs.events.slice(0, 5).map((event) => event.data))
    }`,
  );
});

Deno.test("http_server holds on to no connection it closed: 300 clients come and go, good and hostile, none stays reachable", async () => {
  const sink = new Collector("sink");
  const { router, web, port } = await serve({ body_timeout: 1 }, sink);
  const requests = [
    head({ "Content-Length": 7, Connection: "close" }) + '{"n":1}',
    "NOT HTTP AT ALL\r\n\r\n",
    head({ "Content-Length": 100 }) + '{"cut',
  ];
  try {
    const before = await reachableObjects("TcpConn");
    for (let i = 0; i < 300; i++) {
      const client = await RawClient.open(port, requests[i % 3]);
      if (i % 3 === 0) assert.equal((await answer(client)).status, 202);
      await client.close();
    }
    await within(sink.waitFor(100), "the good requests' events");
    await pollUntil(
      () => web.figures().connections,
      (open) => open === 0,
      "every connection to close",
    );
    assert.equal(web.figures().connections_total, 300);
    // The accept in progress, and a few a collection may leave behind.
    assert.ok(
      await reachableObjects("TcpConn") <= before + 5,
      "closed connections are still reachable",
    );
  } finally {
    await router.stop();
  }
});
