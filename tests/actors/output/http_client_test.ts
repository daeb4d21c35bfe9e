import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import {
  HttpClient,
  httpClient,
  type HttpClientOptions,
} from "../../../actors/output/http_client.ts";
import { Router } from "../../../core/router.ts";
import {
  Collector,
  counted,
  freePort,
  ListInput,
  numbered,
  sequenced,
  within,
} from "../../helpers.ts";
import { runStage, type StageRun } from "../stage.ts";

/** What the test server saw of one request. */
interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * A real HTTP server on 127.0.0.1 that records each request and answers with
 * `answer` (called with the request number, from 1).
 */
async function withServer(
  answer: (
    n: number,
    request: Request,
    body: string,
  ) => Response | Promise<Response>,
  test: (base: string, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      const body = await request.text();
      seen.push({
        method: request.method,
        path: url.pathname + url.search,
        headers: Object.fromEntries(request.headers),
        body,
      });
      return await answer(seen.length, request, body);
    },
  );
  try {
    await test(`http://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

function client(
  options: Partial<HttpClientOptions> & Pick<HttpClientOptions, "url">,
): HttpClient {
  return new HttpClient("post", { backoff_ms: 1, ...options });
}

function failures(run: StageRun): EventError[] {
  return run.errors.events.map((event) => event.header.error as EventError);
}

Deno.test("http_client fills the URL (values URL-encoded) and header templates and posts the data", async () => {
  await withServer(
    () => new Response(null, { status: 204 }),
    async (base, seen) => {
      const run = await runStage(
        client({
          url: `${base}/users/{data.user}/items?tag={header.tag}`,
          headers: { "x-seq": "{header.seq}", "x-static": "yes" },
        }),
        [
          { header: { seq: 1, tag: "a&b" }, data: { user: "ada l/1", n: 1 } },
          { header: { seq: 2, tag: "c" }, data: { user: 7, n: 2 } },
        ],
        [],
      );
      assert.deepEqual(run.errors.events, []);
      assert.deepEqual(
        run.logs.filter((line) => line.includes("is not connected")),
        [],
        "an unconnected outbox is optional: no warning",
      );
      assert.deepEqual(
        seen.map(({ method, path, body }) => ({ method, path, body })),
        [
          {
            method: "POST",
            path: "/users/ada%20l%2F1/items?tag=a%26b",
            body: '{"user":"ada l/1","n":1}',
          },
          {
            method: "POST",
            path: "/users/7/items?tag=c",
            body: '{"user":7,"n":2}',
          },
        ],
      );
      for (const [i, request] of seen.entries()) {
        assert.equal(request.headers["x-seq"], String(i + 1));
        assert.equal(request.headers["x-static"], "yes");
        assert.equal(request.headers["content-type"], "application/json");
      }
    },
  );
});

Deno.test("http_client sends strings as text and bytes as they are, and GET without a body", async () => {
  await withServer(() => new Response("ok"), async (base, seen) => {
    await runStage(
      client({ url: `${base}/in` }),
      sequenced(["plain", new TextEncoder().encode("raw")]),
      [],
    );
    await runStage(
      client({ url: `${base}/q/{data}`, method: "GET" }),
      sequenced(["x"]),
      [],
    );
    await runStage(
      client({ url: `${base}/typed`, content_type: "application/x-ndjson" }),
      sequenced([{ a: 1 }]),
      [],
    );
    assert.deepEqual(
      seen.map((request) => [
        request.method,
        request.path,
        request.headers["content-type"],
        request.body,
      ]),
      [
        ["POST", "/in", "text/plain; charset=utf-8", "plain"],
        ["POST", "/in", "application/octet-stream", "raw"],
        ["GET", "/q/x", undefined, ""],
        ["POST", "/typed", "application/x-ndjson", '{"a":1}'],
      ],
    );
  });
});

Deno.test("http_client retries a 503 with backoff until it succeeds", async () => {
  await withServer(
    (n) =>
      n <= 2
        ? new Response("busy", { status: 503 })
        : new Response(null, { status: 201 }),
    async (base, seen) => {
      const subject = client({ url: `${base}/jobs`, retries: 3 });
      const run = await runStage(subject, sequenced([{ job: 1 }]), []);
      assert.deepEqual(run.errors.events, []);
      assert.equal(seen.length, 3);
      assert.ok(seen.every((request) => request.body === '{"job":1}'));
      assert.deepEqual(counted(subject.figures()), {
        consumed_total: 1,
        failed_total: 0,
      });
    },
  );
});

Deno.test("http_client sends a 4xx to error at once with the status and the first 500 bytes of the body", async () => {
  const body = "no such thing: " + "x".repeat(1000);
  await withServer(
    () => new Response(body, { status: 404, statusText: "Not Found" }),
    async (base, seen) => {
      const subject = client({ url: `${base}/things/{data.id}`, retries: 3 });
      const run = await runStage(subject, sequenced([{ id: 9 }]), []);
      assert.equal(seen.length, 1, "a 4xx is not retried");
      const [failure] = failures(run);
      assert.equal(failure?.actor, "post");
      assert.equal(failure?.queue, "inbox");
      assert.equal(failure?.name, "HttpError");
      assert.equal(
        failure?.message,
        `POST "${base}/things/9" answered 404 Not Found`,
      );
      assert.ok(!Number.isNaN(Date.parse(failure!.time)));
      const details = run.errors.events[0]!.header.error as Record<
        string,
        unknown
      >;
      assert.equal(details.status, 404);
      assert.equal(details.body, body.slice(0, 500));
      assert.equal(details.attempts, 1);
      assert.deepEqual(counted(subject.figures()), {
        consumed_total: 0,
        failed_total: 1,
      });
    },
  );
});

Deno.test("http_client sends an event to error with the last status once the retries are exhausted", async () => {
  await withServer(
    () => new Response("down for maintenance", { status: 500 }),
    async (base, seen) => {
      const run = await runStage(
        client({ url: `${base}/jobs`, retries: 2 }),
        sequenced([{ job: 1 }]),
        [],
      );
      assert.equal(seen.length, 3, "one attempt and two retries");
      const details = run.errors.events[0]!.header.error as Record<
        string,
        unknown
      >;
      assert.equal(details.name, "HttpError");
      assert.equal(
        details.message,
        `POST "${base}/jobs" answered 500 Internal Server Error (after 3 attempts)`,
      );
      assert.equal(details.status, 500);
      assert.equal(details.body, "down for maintenance");
      assert.equal(details.attempts, 3);
    },
  );
});

Deno.test("http_client retries network errors, then sends the event to error without a status", async () => {
  const port = freePort();
  const run = await runStage(
    client({ url: `http://127.0.0.1:${port}/gone`, retries: 1 }),
    sequenced(["lost"]),
    [],
  );
  const details = run.errors.events[0]!.header.error as Record<string, unknown>;
  assert.equal(details.attempts, 2);
  assert.equal(details.status, undefined);
  assert.match(String(details.message), /\(after 2 attempts\)$/);
});

Deno.test("http_client fails an attempt that takes longer than the timeout", async () => {
  const late = Promise.withResolvers<void>();
  await withServer(
    async () => {
      await late.promise;
      return new Response("too late");
    },
    async (base, seen) => {
      try {
        const run = await runStage(
          client({ url: `${base}/slow`, timeout: 0.05, retries: 1 }),
          sequenced(["x"]),
          [],
        );
        assert.equal(seen.length, 2, "the timeout is retried");
        const [failure] = failures(run);
        assert.equal(failure?.name, "TimeoutError");
        assert.equal(
          failure?.message,
          `POST "${base}/slow" timed out after 0.05 s (after 2 attempts)`,
        );
      } finally {
        late.resolve();
      }
    },
  );
});

Deno.test("http_client keeps at most concurrency requests in flight, and uses them all", async () => {
  const total = 30;
  const limit = 4;
  let active = 0;
  let most = 0;
  let released = 0;
  let waiting: (() => void)[] = [];
  await withServer(
    async () => {
      active++;
      most = Math.max(most, active);
      // Hold requests until `limit` are in the server at once (or the last
      // ones arrived), then answer them together.
      const { promise, resolve } = Promise.withResolvers<void>();
      waiting.push(resolve);
      if (waiting.length === Math.min(limit, total - released)) {
        released += waiting.length;
        for (const wake of waiting) wake();
        waiting = [];
      }
      await promise;
      active--;
      return new Response(null, { status: 204 });
    },
    async (base, seen) => {
      const subject = client({
        url: `${base}/n/{data}`,
        concurrency: limit,
      });
      const run = await runStage(
        subject,
        numbered(total),
        [],
      );
      assert.deepEqual(run.errors.events, []);
      assert.equal(seen.length, total);
      assert.equal(most, limit);
      assert.equal(subject.inflight, 0, "the drain waited for every request");
      assert.deepEqual(
        seen.map((request) => request.path).sort(),
        Array.from({ length: total }, (_, i) => `/n/${i + 1}`).sort(),
      );
    },
  );
});

Deno.test("http_client forwards each 2xx answer on outbox when it is connected", async () => {
  await withServer(
    (_n, _request, body) =>
      Response.json({ echo: JSON.parse(body) }, {
        status: 201,
        headers: { "x-answer": "yes" },
      }),
    async (base) => {
      const run = await runStage(
        client({ url: `${base}/echo`, concurrency: 1 }),
        sequenced([{ a: 1 }, { a: 2 }]),
      );
      const answers = run.out.outbox!.events;
      assert.deepEqual(answers.map((event) => event.data), [
        { echo: { a: 1 } },
        { echo: { a: 2 } },
      ]);
      assert.deepEqual(answers.map((event) => event.header.seq), [1, 2]);
      const answer = answers[0]!.header.post as Record<string, unknown>;
      assert.equal(answer.status, 201);
      assert.equal(answer.url, `${base}/echo`);
      const headers = answer.headers as Record<string, string>;
      assert.equal(headers["x-answer"], "yes");
      assert.equal(headers["content-type"], "application/json");
    },
  );
});

Deno.test("http_client sends an event to error, without retrying, when a forwarded answer is not the JSON it says it is", async () => {
  await withServer(
    () =>
      new Response("{not json", {
        headers: { "content-type": "application/json" },
      }),
    async (base, seen) => {
      const run = await runStage(client({ url: `${base}/x` }), sequenced([1]));
      assert.equal(seen.length, 1);
      assert.deepEqual(run.out.outbox!.events, []);
      const details = run.errors.events[0]!.header.error as Record<
        string,
        unknown
      >;
      assert.equal(details.name, "SyntaxError");
      assert.match(
        String(details.message),
        new RegExp(`^The answer of "${base}/x" \\(200\\) is not valid JSON: `),
      );
      assert.equal(details.status, 200);
      assert.equal(details.body, "{not json");
    },
  );
});

Deno.test("http_client sends an event missing a URL field to error through the core's error path", async () => {
  await withServer(() => new Response("ok"), async (base, seen) => {
    const subject = client({ url: `${base}/users/{data.id}` });
    const run = await runStage(
      subject,
      sequenced([{ id: 1 }, {}, { id: 3 }]),
      [],
    );
    assert.deepEqual(seen.map((request) => request.path).sort(), [
      "/users/1",
      "/users/3",
    ]);
    assert.deepEqual(run.errors.events.map((event) => event.header.seq), [2]);
    assert.equal(
      failures(run)[0]?.message,
      `Template "${base}/users/{data.id}": "data.id" has no value in this event`,
    );
    assert.deepEqual(counted(subject.figures()), {
      consumed_total: 2,
      failed_total: 1,
    });
  });
});

Deno.test("http_client sends an event whose value would change the URL's path to error, and the others to their own path", async () => {
  await withServer(() => new Response("ok"), async (base, seen) => {
    const subject = client({ url: `${base}/users/{data.id}/profile` });
    const ids = ["7", "..", "a/b", ".", "%2E%2E", "", "...", "../admin"];
    const run = await runStage(
      subject,
      sequenced(ids.map((id) => ({ id }))),
      [],
    );
    assert.deepEqual(seen.map((request) => request.path).sort(), [
      "/users/%252E%252E/profile",
      "/users/..%2Fadmin/profile",
      "/users/.../profile",
      "/users/7/profile",
      "/users/a%2Fb/profile",
    ]);
    assert.deepEqual(
      failures(run).map((failure) => failure.message),
      [
        `Template "${base}/users/{data.id}/profile": the value of "data.id" makes the path segment "..", which URL parsing removes: it would change the path`,
        `Template "${base}/users/{data.id}/profile": the value of "data.id" makes the path segment ".", which URL parsing removes: it would change the path`,
        `Template "${base}/users/{data.id}/profile": the value of "data.id" makes an empty path segment, which would change the path`,
      ],
    );
    assert.deepEqual(run.errors.events.map((event) => event.header.seq), [
      2,
      4,
      6,
    ]);
    assert.deepEqual(counted(subject.figures()), {
      consumed_total: 5,
      failed_total: 3,
    });
  });
});

Deno.test("http_client rejects a bad URL template or header name when made", () => {
  assert.throws(
    () => createActor(httpClient, "post", { url: "http://h/{id}" }),
    /"url": Bad placeholder "\{id\}" at character 10 of template "http:\/\/h\/\{id\}"/,
  );
  assert.throws(
    () =>
      createActor(httpClient, "post", {
        url: "http://h/",
        headers: { "bad name": "x" },
      }),
    /"headers.bad name": "bad name" is not a valid header name/,
  );
  assert.throws(
    () =>
      createActor(httpClient, "post", {
        url: "http://h/",
        headers: { "x-a": "{data.}" },
      }),
    /"headers.x-a": Bad placeholder/,
  );
});

Deno.test("http_client cancels the requests in flight when a stop times out and counts their events as abandoned", async () => {
  const arrived = Promise.withResolvers<void>();
  const late = Promise.withResolvers<void>();
  await withServer(
    async () => {
      arrived.resolve();
      await late.promise;
      return new Response("too late");
    },
    async (base) => {
      try {
        const router = new Router();
        const subject = router.register(
          client({ url: `${base}/hang`, timeout: 60 }),
        ) as HttpClient;
        router.register(new ListInput("input", sequenced(["x"])));
        router.connect("input.outbox", "post.inbox");
        await router.start();
        await arrived.promise;
        const report = await router.stop({ timeoutMs: 20 });
        assert.equal(report.timedOut, true);
        assert.equal(subject.inflight, 0);
        assert.deepEqual(counted(subject.figures()), {
          consumed_total: 0,
          failed_total: 0,
        });
        assert.equal(report.abandoned, 1);
        assert.equal(report.unaccounted, 0);
      } finally {
        late.resolve();
      }
    },
  );
});

/**
 * Posts `count` events through an http_client with `concurrency` and a
 * linger longer than the test to a server that answers, one by one, once
 * all of them arrived; returns the sizes of the batches of answers forwarded on outbox.
 */
async function forwardedBatches(
  count: number,
  concurrency: number,
): Promise<number[]> {
  let waiting: (() => void)[] = [];
  const batches: number[] = [];
  await withServer(
    async (_n, _request, body) => {
      const { promise, resolve } = Promise.withResolvers<void>();
      waiting.push(resolve);
      if (waiting.length === count) {
        // One answer after the other, each in a turn of the event loop of
        // its own.
        for (const wake of waiting) {
          wake();
          await new Promise((next) => setTimeout(next, 1));
        }
        waiting = [];
      }
      await promise;
      return Response.json(JSON.parse(body));
    },
    async (base) => {
      const router = new Router();
      router.register(new ListInput("input", numbered(count)));
      router.register(
        new HttpClient("post", { url: `${base}/n`, concurrency }, {
          lingerMs: 600_000,
        }),
      );
      const sink = router.register(new Collector("sink")) as Collector;
      router.connect("input.outbox", "post.inbox");
      router.connect("post.outbox", "sink.inbox");
      sink.pool.inbound.get("inbox")!.observe((batch) =>
        batches.push(batch.length)
      );
      await router.start();
      await within(router.finished, 10_000, "the answers to be forwarded");
      const report = await router.stop();
      assert.equal(report.unaccounted, 0);
      assert.deepEqual(
        sink.data().toSorted((a, b) => Number(a) - Number(b)),
        numbered(count).map((event) => event.data),
      );
    },
  );
  return batches;
}

Deno.test("http_client forwards the answers that come back while other requests are in flight as one batch", async () => {
  // Every request is sent before the first answer comes back.
  assert.deepEqual(await forwardedBatches(8, 9), [8]);
});

Deno.test("http_client forwards the answer of a lone request at once, not after linger_ms", async () => {
  assert.deepEqual(await forwardedBatches(1, 8), [1]);
});
