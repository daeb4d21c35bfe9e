import assert from "node:assert/strict";
import { Actor, type EventError } from "../../../core/actor.ts";
import type { Event } from "../../../core/event.ts";
import { Router } from "../../../core/router.ts";
import {
  type HttpRequestHeader,
  HttpServer,
  type HttpServerOptions,
} from "../../../actors/input/http_server.ts";
import { Collector, pollUntil } from "../../helpers.ts";
import { bodyOf, RawClient, statusOf } from "../../raw_http.ts";
import { encode, Holder, joined, within } from "./support.ts";

/**
 * The reply stage of the round-trip tests: answers `{ echo: data }` with
 * status 201 and a header, text for `{ text }`, bytes for `{ bytes }`, holds
 * `{ hold: true }` until `release()`, and drops `{ drop: true }`.
 */
class Echo extends Actor {
  readonly kind = "transform";
  #held: Event[] = [];
  #heldOne = Promise.withResolvers<void>();

  /** Resolves once an event is held. */
  get heldOne(): Promise<void> {
    return this.#heldOne.promise;
  }

  /** Sends the held events on. */
  release(): void {
    for (const event of this.#held.splice(0)) this.send(event);
  }

  override consume(event: Event): Promise<void> | undefined {
    const data = event.data as Record<string, unknown>;
    const meta = event.header.web as HttpRequestHeader;
    if (data.drop === true) return undefined;
    if (data.hold === true) {
      this.#held.push(event);
      this.#heldOne.resolve();
      return undefined;
    }
    if (typeof data.text === "string") {
      event.data = data.text;
    } else if (typeof data.bytes === "string") {
      event.data = new TextEncoder().encode(data.bytes);
    } else {
      meta.response = { status: 201, headers: { "x-echo": meta.path } };
      event.data = { echo: data, query: meta.query };
    }
    return this.send(event);
  }
}

interface Served {
  router: Router;
  web: HttpServer;
  url: string;
}

/** Starts `web` (an HttpServer) with `wire` connecting it to the rest. */
async function serve(
  options: Partial<HttpServerOptions>,
  wire: (router: Router) => void,
): Promise<Served> {
  const router = new Router({ logLevel: "error" });
  const web = router.register(
    new HttpServer("web", { port: 0, ...options }),
  ) as HttpServer;
  wire(router);
  await router.start();
  return { router, web, url: `http://127.0.0.1:${web.port}` };
}

/** Serves fire-and-forget requests into `sink` on queue `orders`. */
async function serveOrders(
  options: Partial<HttpServerOptions> = {},
): Promise<Served & { sink: Collector }> {
  let sink: Collector | undefined;
  const served = await serve(options, (router) => {
    sink = router.register(new Collector("sink")) as Collector;
    router.connect("web.orders", "sink.inbox");
  });
  return { ...served, sink: sink! };
}

/** Serves request/response through {@link Echo} in a cycle. */
async function serveEcho(
  options: Partial<HttpServerOptions> = {},
): Promise<Served & { echo: Echo; errors: Collector }> {
  let echo: Echo | undefined;
  let errors: Collector | undefined;
  const served = await serve(
    { mode: "request_response", ...options },
    (router) => {
      echo = router.register(new Echo("echo")) as Echo;
      errors = router.register(new Collector("errors")) as Collector;
      router.connect("web.requests", "echo.inbox");
      router.connect("echo.outbox", "web.inbox");
      router.connect("web.error", "errors.inbox");
    },
  );
  return { ...served, echo: echo!, errors: errors! };
}

/** POSTs `body` as JSON (or as given) and returns status, headers and body. */
async function post(
  url: string,
  body: BodyInit | null,
  headers: Record<string, string> = { "content-type": "application/json" },
  method = "POST",
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, { method, headers, body });
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

Deno.test("http_server fire_and_forget: each POST becomes an event with the body decoded by content type", async () => {
  const { router, url, sink } = await serveOrders();
  try {
    const answers = [
      await post(`${url}/orders?x=1&y=2`, json({ item: "tea" }), {
        "content-type": "application/json; charset=utf-8",
        "x-trace": "t1",
      }),
      await post(`${url}/orders`, "plain words", {
        "content-type": "text/plain",
      }),
      await post(`${url}/orders`, new Uint8Array([0, 1, 255]), {
        "content-type": "application/octet-stream",
      }),
      await post(`${url}/orders`, json([1]), {
        "content-type": "application/vnd.api+json",
      }),
    ];
    assert.deepEqual(answers.map((answer) => answer.status), [
      202,
      202,
      202,
      202,
    ]);
    await within(sink.waitFor(4), "four events");
    assert.deepEqual(sink.data(), [
      { item: "tea" },
      "plain words",
      new Uint8Array([0, 1, 255]),
      [1],
    ]);
    const meta = sink.events[0]!.header.web as HttpRequestHeader;
    assert.equal(meta.id, JSON.parse(answers[0]!.text).id);
    assert.equal(meta.method, "POST");
    assert.equal(meta.path, "/orders");
    assert.deepEqual(meta.query, { x: "1", y: "2" });
    assert.equal(meta.headers["x-trace"], "t1");
    assert.equal(
      meta.headers["content-type"],
      "application/json; charset=utf-8",
    );
    const ids = sink.events.map((event) =>
      (event.header.web as HttpRequestHeader).id
    );
    assert.equal(new Set(ids).size, 4, "every request has its own id");
  } finally {
    const report = await router.stop();
    assert.equal(report.timedOut, false);
  }
});

Deno.test("http_server decodes a JSON body as UTF-8 does, with or without a Content-Length: a BOM dropped, bad bytes replaced, an empty body null", async () => {
  const { router, url, sink } = await serveOrders();
  try {
    const bytes = (...values: number[]) => new Uint8Array(values);
    const utf8 = (text: string) => [...new TextEncoder().encode(text)];
    const withBom = bytes(0xef, 0xbb, 0xbf, ...utf8(json({ n: 1 })));
    /** The same bytes as a stream: sent chunked, with no Content-Length. */
    const streamed = (body: Uint8Array) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(body);
          controller.close();
        },
      });
    const answers = [
      await post(`${url}/orders`, bytes(...utf8(json({ n: 1 })))),
      // "a<0xff>b": the bad byte becomes U+FFFD
      await post(`${url}/orders`, bytes(...utf8('"a'), 0xff, ...utf8('b"'))),
      await post(`${url}/orders`, ""),
      await post(`${url}/orders`, withBom),
      await post(`${url}/orders`, streamed(withBom)),
      // A BOM alone is an empty text, which is not JSON.
      await post(`${url}/orders`, bytes(0xef, 0xbb, 0xbf)),
    ];
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [202, 202, 202, 202, 202, 400],
    );
    assert.match(
      JSON.parse(answers[5]!.text).error,
      /^The body is not valid JSON: /,
    );
    await within(sink.waitFor(5), "five events");
    assert.deepEqual(sink.data(), [
      { n: 1 },
      "a\ufffdb",
      null,
      { n: 1 },
      { n: 1 },
    ]);
  } finally {
    await router.stop();
  }
});

Deno.test("http_server decodes a JSON body with a Content-Length the same however it arrives: a BOM dropped and bad bytes replaced, in one write with its head, after it, or too large for one read", async () => {
  const { router, web, sink } = await serveOrders();
  const clients: RawClient[] = [];
  /** POSTs `body` as JSON over a socket of its own; its answer. */
  const send = async (body: Uint8Array, after: "with head" | "after head") => {
    const head = new TextEncoder().encode(
      `POST /orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    const client = await RawClient.open(
      web.port,
      after === "with head" ? joined([head, body]) : head,
    );
    clients.push(client);
    if (after === "after head") {
      // Sent once the server is reading it: none of it had come then.
      await pollUntil(
        () => web.figures().body_bytes_in_flight,
        (bytes) => bytes === body.length,
        "the server to read the body",
      );
      await client.write(body);
    }
    await within(
      client.until((text) => bodyOf(text).endsWith("}")),
      `the answer to ${body.length} bytes sent ${after}`,
    );
    return {
      status: statusOf(client.text),
      body: JSON.parse(bodyOf(client.text)),
    };
  };
  const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
  const small = joined([bom, encode(json({ n: 1 }))]);
  const large = joined([bom, encode(json({ pad: "x".repeat(100_000) }))]);
  const badByte = joined([encode('"a'), new Uint8Array([0xff]), encode('b"')]);
  try {
    const answers = [
      await send(small, "with head"),
      await send(small, "after head"),
      await send(large, "with head"),
      await send(large, "after head"),
    ];
    assert.deepEqual(answers.map((answer) => answer.status), [
      202,
      202,
      202,
      202,
    ]);
    assert.equal((await send(badByte, "with head")).status, 202);
    assert.equal((await send(badByte, "after head")).status, 202);
    await within(sink.waitFor(6), "six events");
    const padded = { pad: "x".repeat(100_000) };
    assert.deepEqual(sink.data(), [
      { n: 1 },
      { n: 1 },
      padded,
      padded,
      "a\ufffdb",
      "a\ufffdb",
    ]);
    assert.equal(web.figures().body_bytes_in_flight, 0);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await router.stop();
  }
});

Deno.test("http_server answers 400, 404, 405, 413 and 415 with a JSON error and sends nothing", async () => {
  const { router, url, sink } = await serveOrders({ max_body_bytes: 64 });
  try {
    const big = "x".repeat(100);
    const streamed = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) {
            controller.enqueue(new TextEncoder().encode(big));
          }
          controller.close();
        },
      });
    const cases: [string, Promise<{ status: number; text: string }>][] = [
      ["bad JSON", post(`${url}/orders`, "{nope")],
      ["unknown queue", post(`${url}/nowhere`, json({}))],
      ["the error queue", post(`${url}/error`, json({}))],
      ["a nested path", post(`${url}/orders/1`, json({}))],
      ["GET", post(`${url}/orders`, null, {}, "GET")],
      ["Content-Length over the limit", post(`${url}/orders`, json(big))],
      [
        "a streamed body over the limit",
        post(`${url}/orders`, streamed(), {
          "content-type": "text/plain",
        }),
      ],
      [
        "an unsupported type",
        post(`${url}/orders`, "<a/>", { "content-type": "application/xml" }),
      ],
      [
        "a body without a type",
        post(`${url}/orders`, new TextEncoder().encode("text"), {}),
      ],
      [
        "an unknown charset",
        post(`${url}/orders`, "x", {
          "content-type": "text/plain; charset=nope",
        }),
      ],
    ];
    const answers = await Promise.all(cases.map(([, answer]) => answer));
    assert.deepEqual(
      cases.map(([what], i) => [what, answers[i]!.status]),
      [
        ["bad JSON", 400],
        ["unknown queue", 404],
        ["the error queue", 404],
        ["a nested path", 404],
        ["GET", 405],
        ["Content-Length over the limit", 413],
        ["a streamed body over the limit", 413],
        ["an unsupported type", 415],
        ["a body without a type", 415],
        ["an unknown charset", 415],
      ],
    );
    for (const [i, answer] of answers.entries()) {
      const body = JSON.parse(answer.text);
      assert.equal(typeof body.error, "string", cases[i]![0]);
    }
    assert.match(
      JSON.parse(answers[0]!.text).error,
      /^The body is not valid JSON/,
    );
    assert.equal(JSON.parse(answers[1]!.text).error, 'No queue "nowhere"');
    assert.equal(
      JSON.parse(answers[5]!.text).error,
      "The body is larger than 64 bytes (max_body_bytes)",
    );
    // A good request after them is the only event.
    assert.equal((await post(`${url}/orders`, json({ ok: 1 }))).status, 202);
    await within(sink.waitFor(1), "the good event");
  } finally {
    await router.stop();
  }
  assert.deepEqual(sink.data(), [{ ok: 1 }]);
});

Deno.test("http_server with a token answers 401 without the right bearer token and hides it from the header", async () => {
  const { router, url, sink } = await serveOrders({ token: "s3cret" });
  try {
    const missing = await post(`${url}/orders`, json({}));
    const wrong = await post(`${url}/orders`, json({}), {
      "content-type": "application/json",
      authorization: "Bearer s3cre",
    });
    const right = await post(`${url}/orders`, json({ n: 1 }), {
      "content-type": "application/json",
      authorization: "Bearer s3cret",
    });
    assert.deepEqual([missing.status, wrong.status, right.status], [
      401,
      401,
      202,
    ]);
    assert.equal(missing.headers.get("www-authenticate"), "Bearer");
    assert.equal(
      JSON.parse(wrong.text).error,
      "Missing or wrong bearer token",
    );
    await within(sink.waitFor(1), "the authorized event");
    const meta = sink.events[0]!.header.web as HttpRequestHeader;
    assert.equal(meta.headers.authorization, undefined);
  } finally {
    await router.stop();
  }
  assert.deepEqual(sink.data(), [{ n: 1 }]);
});

Deno.test("http_server puts the request headers in the event as Headers.get gives them, names of Object.prototype as data", async () => {
  const { router, web, sink } = await serveOrders();
  const client = await RawClient.open(
    web.port,
    "POST /orders HTTP/1.1\r\nHost: test\r\nConstructor: a\r\nconstructor: b\r\n__proto__: c\r\ntoString: d\r\nX-Tag: 1\r\nx-tag: 2\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
  );
  try {
    await within(client.closed, "the answer");
    assert.equal(statusOf(client.text), 202);
    await within(sink.waitFor(1), "the event");
    const { headers } = sink.events[0]!.header.web as HttpRequestHeader;
    assert.equal(Object.getPrototypeOf(headers), Object.prototype);
    assert.deepEqual(headers, {
      host: "test",
      constructor: "a, b",
      ["__proto__"]: "c",
      tostring: "d",
      "x-tag": "1, 2",
      "content-type": "application/json",
      "content-length": "2",
      connection: "close",
    });
  } finally {
    await client.close();
    await router.stop();
  }
});

Deno.test("http_server request_response answers each request with its own reply from a stage in a cycle", async () => {
  const { router, url } = await serveEcho();
  try {
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => post(`${url}/requests?i=${i}`, json({ i })),
      ),
    );
    for (const [i, answer] of answers.entries()) {
      assert.equal(answer.status, 201);
      assert.equal(answer.headers.get("x-echo"), "/requests");
      assert.equal(answer.headers.get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(answer.text), {
        echo: { i },
        query: { i: String(i) },
      });
    }
    const text = await post(`${url}/requests`, json({ text: "hello" }));
    assert.deepEqual([text.status, text.text], [200, "hello"]);
    assert.equal(
      text.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    const bytes = await post(`${url}/requests`, json({ bytes: "raw" }));
    assert.deepEqual([bytes.status, bytes.text], [200, "raw"]);
    assert.equal(
      bytes.headers.get("content-type"),
      "application/octet-stream",
    );
  } finally {
    const report = await router.stop();
    assert.equal(report.timedOut, false);
  }
});

Deno.test("http_server request_response answers 504 without a reply, and a late reply goes to error", async () => {
  const { router, url, web, echo, errors } = await serveEcho({
    response_timeout: 0.05,
  });
  try {
    const dropped = await post(`${url}/requests`, json({ drop: true }));
    assert.equal(dropped.status, 504);
    assert.equal(
      JSON.parse(dropped.text).error,
      "No reply within 0.05 s (response_timeout)",
    );
    const held = await post(`${url}/requests`, json({ hold: true }));
    assert.equal(held.status, 504);
    assert.equal(web.waiting, 0);
    echo.release();
    await within(errors.waitFor(1), "the late reply on error");
    const error = errors.events[0]!.header.error as EventError;
    assert.equal(error.actor, "web");
    assert.match(error.message, /^No request waits for a reply with id "/);
    assert.deepEqual(errors.events[0]!.data, { hold: true });
  } finally {
    await router.stop();
  }
});

/**
 * Holds `count` events, then sends them on neither first-come first nor
 * last first (every 3rd, round and round; `count` is no multiple of 3);
 * drops `{ drop }`.
 */
class Shuffler extends Actor {
  readonly kind = "transform";
  #held: Event[] = [];
  readonly #count: number;

  constructor(name: string, count: number) {
    super(name);
    this.#count = count;
  }

  override consume(event: Event): Promise<void> | undefined {
    if ((event.data as { drop?: boolean }).drop === true) return undefined;
    this.#held.push(event);
    if (this.#held.length < this.#count) return undefined;
    const held = this.#held.splice(0);
    for (let i = 0; i < held.length; i++) {
      const reply = held[(i * 3) % held.length]!;
      (reply.header.web as HttpRequestHeader).response = { status: 200 };
      void this.send(reply);
    }
    return undefined;
  }
}

Deno.test("http_server request_response matches each reply to its request when ids share their first characters, in any order", async () => {
  // Ids that share their first 8 characters share their place among the
  // requests waiting: the reply must still find its own request, with more
  // requests waiting than the places first made for them.
  const randomUUID = crypto.randomUUID;
  let made = 0;
  crypto.randomUUID = () =>
    `aaaaaaaa-0000-4000-8000-${String(made++).padStart(12, "0")}`;
  const count = 70;
  const { router, url, web } = await serve(
    { mode: "request_response", response_timeout: 2 },
    (router) => {
      router.register(new Shuffler("shuffle", count));
      router.connect("web.requests", "shuffle.inbox");
      router.connect("shuffle.outbox", "web.inbox");
    },
  );
  try {
    // One never answered, waiting among the others with the same key.
    const dropped = post(`${url}/requests`, json({ drop: true }));
    await within(
      (async () => {
        while (web.waiting < 1) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })(),
      "the dropped request waiting",
    );
    const answers = await Promise.all(
      Array.from(
        { length: count },
        (_, i) => post(`${url}/requests`, json({ i })),
      ),
    );
    assert.deepEqual(
      answers.map((answer) => [answer.status, JSON.parse(answer.text).i]),
      answers.map((_, i) => [200, i]),
    );
    assert.equal(made, count + 1);
    assert.equal((await dropped).status, 504);
    assert.equal(web.waiting, 0);
  } finally {
    crypto.randomUUID = randomUUID;
    await router.stop();
  }
});

Deno.test("http_server answers 503 when the queue stays full, and never delivers the refused events", async () => {
  let holder: Holder | undefined;
  const { router, url } = await serve({ queue_timeout: 0.02 }, (r) => {
    holder = r.register(new Holder("slow")) as Holder;
    r.connect("web.orders", "slow.inbox", { capacity: 1 });
  });
  const accepted: number[] = [];
  const refused: number[] = [];
  try {
    for (let i = 0; i < 5000 && refused.length < 3; i++) {
      const answer = await post(`${url}/orders`, json({ i }));
      if (answer.status === 202) accepted.push(i);
      else if (answer.status === 503) {
        refused.push(i);
        assert.equal(
          JSON.parse(answer.text).error,
          'Queue "orders" is full: no room within queue_timeout',
        );
      } else assert.fail(`unexpected status ${answer.status}`);
    }
    assert.equal(refused.length, 3, "requests were refused once it was full");
    holder!.release();
    await within(holder!.waitFor(accepted.length), "the accepted events");
    // Once there is room again, requests are accepted again.
    const again = await post(`${url}/orders`, json({ i: "again" }));
    assert.equal(again.status, 202);
    accepted.push(-1);
    await within(holder!.waitFor(accepted.length), "the last event");
  } finally {
    holder!.release();
    await router.stop();
  }
  const delivered = holder!.events.map((event) =>
    (event.data as { i: number | string }).i
  );
  assert.deepEqual(delivered, [...accepted.slice(0, -1), "again"]);
});

Deno.test("http_server on stop stops accepting and answers the requests in flight", async () => {
  const { router, url, echo } = await serveEcho();
  const inFlight = post(`${url}/requests`, json({ hold: true }));
  await within(echo.heldOne, "the request to reach the stage");
  const stopping = router.stop();
  await within(
    assert.rejects(fetch(`${url}/requests`, { method: "POST" })),
    "a new request to be refused",
  );
  echo.release();
  const answer = await within(inFlight, "the answer in flight");
  assert.equal(answer.status, 200);
  assert.deepEqual(JSON.parse(answer.text), { hold: true });
  const report = await within(stopping, "the stop");
  assert.equal(report.timedOut, false);
});

Deno.test("http_server request_response answers one request at a time, bursts and requests after an idle spell: each its own reply, the stop accounts for all", async () => {
  const { router, url } = await serveEcho();
  let report;
  try {
    // One at a time: both loops of the cycle wait on empty inboxes between.
    for (let i = 0; i < 60; i++) {
      const answer = await post(`${url}/requests?i=${i}`, json({ i }));
      assert.equal(answer.status, 201, answer.text);
      assert.deepEqual(JSON.parse(answer.text).echo, { i });
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 30));
    }
    const burst = await Promise.all(
      Array.from(
        { length: 150 },
        (_, i) => post(`${url}/requests?i=${i}`, json({ i })),
      ),
    );
    for (const [i, answer] of burst.entries()) {
      assert.equal(answer.status, 201, answer.text);
      assert.deepEqual(JSON.parse(answer.text).echo, { i });
    }
    await new Promise((r) => setTimeout(r, 50));
    const last = await post(`${url}/requests`, json({ last: true }));
    assert.deepEqual(JSON.parse(last.text).echo, { last: true });
  } finally {
    report = await router.stop();
  }
  assert.equal(report.timedOut, false);
  assert.equal(report.unaccounted, 0);
  assert.equal(report.failed, 0);
});
