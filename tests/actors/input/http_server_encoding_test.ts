/**
 * Compressed HTTP bodies: `http_server` decodes `Content-Encoding` gzip,
 * deflate and br (from the real `curl` and from `fetch`), applies
 * `max_body_bytes` to the decoded size without decoding a "zip bomb" whole,
 * refuses unknown codings and corrupt data, compresses its answers with
 * `compress`; `http_client` gzips what it sends with `compress`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  brotliCompressSync,
  constants,
  deflateSync,
  gzipSync,
} from "node:zlib";
import { HttpServer } from "../../../actors/input/http_server.ts";
import { HttpClient } from "../../../actors/output/http_client.ts";
import { Router } from "../../../core/router.ts";
import { Collector, ListInput, withTempDir } from "../../helpers.ts";
import { testWith } from "../../requires.ts";
import { CURL } from "../../tls_fixtures.ts";

const encoder = new TextEncoder();

/** An `http_server` whose POST /orders events are collected. */
async function server(
  options: Partial<ConstructorParameters<typeof HttpServer>[1]> = {},
): Promise<{ router: Router; web: HttpServer; events: Collector }> {
  const router = new Router({ logLevel: "error" });
  const web = router.register(new HttpServer("web", { port: 0, ...options }));
  const events = router.register(new Collector("events"));
  router.connect("web.orders", "events.inbox");
  await router.start();
  return { router, web, events };
}

/** POSTs `body` encoded as `coding` says; the status and the answer. */
async function post(
  port: number,
  body: Uint8Array,
  coding: string,
): Promise<{ status: number; answer: { error?: string } }> {
  const response = await fetch(`http://127.0.0.1:${port}/orders`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "content-encoding": coding,
    },
    body: body as BodyInit,
  });
  return { status: response.status, answer: await response.json() };
}

testWith(
  "http_server decodes a body curl sends with --data-binary @body.gz -H 'Content-Encoding: gzip'",
  [CURL],
  async ([curl]) => {
    const { router, web, events } = await server();
    try {
      await withTempDir(async (dir) => {
        const file = join(dir, "body.gz");
        const order = { item: "tea", notes: "x".repeat(5000) };
        await Deno.writeFile(
          file,
          gzipSync(encoder.encode(JSON.stringify(order))),
        );
        const output = await new Deno.Command(curl!, {
          args: [
            "--silent",
            "--show-error",
            "--data-binary",
            `@${file}`,
            "-H",
            "Content-Encoding: gzip",
            "-H",
            "Content-Type: application/json",
            "--write-out",
            "\n%{http_code}",
            `http://127.0.0.1:${web.port}/orders`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(output.stdout);
        assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
        assert.match(text, /\n202$/);
        await events.waitFor(1);
        assert.deepEqual(events.events[0]!.data, order);
      });
    } finally {
      await router.stop();
    }
  },
);

Deno.test("http_server decodes deflate, br and two codings in a row", async () => {
  const { router, web, events } = await server();
  try {
    const json = (n: number) => encoder.encode(JSON.stringify({ n }));
    assert.equal(
      (await post(web.port, deflateSync(json(1)), "deflate")).status,
      202,
    );
    assert.equal(
      (await post(web.port, brotliCompressSync(json(2)), "br")).status,
      202,
    );
    const twice = gzipSync(deflateSync(json(3)));
    assert.equal((await post(web.port, twice, "deflate, gzip")).status, 202);
    assert.equal((await post(web.port, json(4), "identity")).status, 202);
    await events.waitFor(4);
    assert.deepEqual(events.events.map((event) => event.data), [
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
    ]);
  } finally {
    await router.stop();
  }
});

Deno.test("http_server answers 413 to a zip bomb without decoding it whole, 415 to an unknown coding, 400 to corrupt data", async () => {
  const { router, web, events } = await server({ max_body_bytes: 1_048_576 });
  try {
    // 60 gzip members of 16 MiB of zeros each: under 1 MiB (so that its
    // Content-Length passes) that decodes to 960 MiB.
    const member = gzipSync(new Uint8Array(16 * 1024 * 1024));
    const bomb = new Uint8Array(member.length * 60);
    for (let index = 0; index < 60; index++) {
      bomb.set(member, index * member.length);
    }
    assert.ok(bomb.length < 1_048_576);
    const before = Deno.memoryUsage().rss;
    const refused = await post(web.port, bomb, "gzip");
    assert.equal(refused.status, 413);
    assert.equal(
      refused.answer.error,
      "The body is larger than 1048576 bytes (max_body_bytes)",
    );
    // Decoding 960 MiB would take more than that; the limit is 1 MiB.
    assert.ok(Deno.memoryUsage().rss - before < 512 * 1024 * 1024);
    const brotli = await post(
      web.port,
      brotliCompressSync(new Uint8Array(64 * 1024 * 1024), {
        params: { [constants.BROTLI_PARAM_QUALITY]: 1 },
      }),
      "br",
    );
    assert.equal(brotli.status, 413);

    const unknown = await post(web.port, encoder.encode("{}"), "zstd");
    assert.equal(unknown.status, 415);
    assert.equal(
      unknown.answer.error,
      'Unsupported Content-Encoding "zstd": use gzip, deflate or br',
    );
    const corrupt = gzipSync(encoder.encode('{"n":1}')).slice(0, 12);
    const broken = await post(web.port, corrupt, "gzip");
    assert.equal(broken.status, 400);
    assert.match(
      broken.answer.error!,
      /^The body could not be read and decoded \(Content-Encoding gzip\): /,
    );
    // The server goes on, and nothing was sent.
    const fine = await post(
      web.port,
      gzipSync(encoder.encode('{"n":5}')),
      "gzip",
    );
    assert.equal(fine.status, 202);
    await events.waitFor(1);
    assert.deepEqual(events.events.map((event) => event.data), [{ n: 5 }]);
    assert.equal(web.figures().body_bytes_in_flight, 0);
  } finally {
    await router.stop();
  }
});

Deno.test("http_server with compress answers in the coding the client prefers, 1 KiB and more", async () => {
  const router = new Router({ logLevel: "error" });
  const web = router.register(
    new HttpServer("web", {
      port: 0,
      mode: "request_response",
      compress: true,
    }),
  );
  // Each request's event comes straight back as its answer.
  router.connect("web.echo", "web.inbox");
  await router.start();
  try {
    const ask = async (text: string, accept: string) => {
      const client = Deno.createHttpClient({});
      try {
        const response = await fetch(`http://127.0.0.1:${web.port}/echo`, {
          method: "POST",
          headers: { "content-type": "text/plain", "accept-encoding": accept },
          body: text,
          client,
        });
        return {
          coding: response.headers.get("content-encoding"),
          vary: response.headers.get("vary"),
          text: await response.text(),
        };
      } finally {
        client.close();
      }
    };
    const long = "compressible ".repeat(200);
    // fetch decodes the answers itself; the coding is in the headers.
    assert.deepEqual(await ask(long, "gzip"), {
      coding: "gzip",
      vary: "Accept-Encoding",
      text: long,
    });
    assert.deepEqual(await ask(long, "gzip;q=0.5, br"), {
      coding: "br",
      vary: "Accept-Encoding",
      text: long,
    });
    assert.deepEqual(await ask(long, "identity"), {
      coding: null,
      vary: "Accept-Encoding",
      text: long,
    });
    assert.deepEqual(await ask("short", "gzip"), {
      coding: null,
      vary: "Accept-Encoding",
      text: "short",
    });
  } finally {
    await router.stop();
  }
});

Deno.test("http_client with compress sends gzip that http_server decodes", async () => {
  const { router, web, events } = await server();
  const sender = new Router({ logLevel: "error" });
  try {
    const order = { item: "tea", notes: "y".repeat(3000) };
    sender.register(new ListInput("feed", [{ header: {}, data: order }]));
    sender.register(
      new HttpClient("post", {
        url: `http://127.0.0.1:${web.port}/orders`,
        compress: true,
      }),
    );
    sender.connect("feed.outbox", "post.inbox");
    await sender.start();
    await events.waitFor(1);
    assert.deepEqual(events.events[0]!.data, order);
    const headers = (events.events[0]!.header.web as {
      headers: Record<string, string>;
    }).headers;
    assert.equal(headers["content-encoding"], "gzip");
    // 3 KB of JSON went as a few dozen bytes.
    assert.ok(Number(headers["content-length"]) < 200);
  } finally {
    await sender.stop();
    await router.stop();
  }
});
