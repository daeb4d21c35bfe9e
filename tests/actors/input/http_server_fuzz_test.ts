/**
 * Fuzzing `http_server` over real sockets: 10,000 generated inputs (random
 * bytes, truncated and garbled request lines and heads, oversized heads and
 * bodies, broken chunked framing, invalid UTF-8, deep JSON, wrong methods,
 * paths and types), one connection each, from a seeded generator so that a
 * failure can be replayed (the seed is printed).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Router } from "../../../core/router.ts";
import { HttpServer } from "../../../actors/input/http_server.ts";
import { concatBytes } from "../../../actors/payload.ts";
import { Null } from "../../../actors/output/null.ts";
import { pollUntil } from "../../helpers.ts";
import { bodyOf, RawClient, statusOf } from "../../raw_http.ts";
import { within } from "./support.ts";

const INPUTS = 10_000;
const PARALLEL = 16;
const MAX_BODY = 65_536;
const encoder = new TextEncoder();

/** A small seeded generator (mulberry32): the same seed, the same inputs. */
class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    let t = (this.#state += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A whole number in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(values: readonly T[]): T {
    return values[this.below(values.length)]!;
  }

  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.below(256);
    return bytes;
  }

  /** A JSON value up to `depth` levels deep, with odd strings. */
  json(depth: number): unknown {
    switch (this.below(depth > 0 ? 7 : 5)) {
      case 0:
        return null;
      case 1:
        return this.below(2) === 0;
      case 2:
        return this.pick([0, -1, 1e308, 5e-324, 123.456, 2 ** 53]);
      case 3:
        return this.pick(["", "tea", "\u0000\u001f", "é漢🙂", "\ud800", '"\\']);
      case 4:
        return this.pick(["a".repeat(this.below(2000)), "x"]);
      case 5:
        return Array.from(
          { length: this.below(5) },
          () => this.json(depth - 1),
        );
      default:
        return Object.fromEntries(
          Array.from(
            { length: this.below(5) },
            (
              _,
              i,
            ) => [`k${i}${this.pick(["", "é", "\n"])}`, this.json(depth - 1)],
          ),
        );
    }
  }
}

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map((part) =>
    typeof part === "string" ? encoder.encode(part) : part
  );
  return concatBytes(bytes, bytes.reduce((sum, part) => sum + part.length, 0));
}

/** A request with `body`, framed by Content-Length or chunked. */
function request(
  random: Random,
  body: Uint8Array,
  type: string | undefined,
  target = "/orders",
  method = "POST",
): Uint8Array {
  const chunked = random.below(4) === 0;
  const headers = [
    `${method} ${target} HTTP/1.1`,
    "Host: fuzz",
    "Connection: close",
    ...(type === undefined ? [] : [`Content-Type: ${type}`]),
    chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${body.length}`,
  ];
  const head = headers.join("\r\n") + "\r\n\r\n";
  if (!chunked) return concat(head, body);
  const parts: (string | Uint8Array)[] = [head];
  for (let at = 0; at < body.length;) {
    const size = 1 + random.below(Math.max(1, body.length - at));
    parts.push(
      `${size.toString(16)}\r\n`,
      body.subarray(at, at + size),
      "\r\n",
    );
    at += size;
  }
  parts.push("0\r\n\r\n");
  return concat(...parts);
}

/** Flips, drops or repeats some bytes of `bytes`. */
function garble(random: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  for (let n = 1 + random.below(4); n > 0 && out.length > 0; n--) {
    out[random.below(out.length)] = random.pick([0, 10, 13, 32, 58, 127, 255]);
  }
  return out;
}

/**
 * One generated input: a name for its kind, its bytes, and whether the
 * client then ends its side (when the input leaves the server waiting for
 * more: Deno's engine gives up a request whose client half-closes).
 */
interface Input {
  kind: string;
  bytes: Uint8Array;
  end?: boolean;
}

function generate(random: Random): Input {
  const json = () => encoder.encode(JSON.stringify(random.json(4)));
  const valid = () => request(random, json(), "application/json");
  switch (random.below(14)) {
    case 0:
      return {
        kind: "random bytes",
        bytes: random.bytes(random.below(600)),
        end: true,
      };
    case 1: {
      const whole = valid();
      return {
        kind: "truncated",
        bytes: whole.subarray(0, random.below(whole.length)),
        end: true,
      };
    }
    case 2: {
      const whole = valid();
      const head = whole.indexOf(13);
      return {
        kind: "garbled request line",
        bytes: concat(
          garble(random, whole.subarray(0, head)),
          whole.subarray(head),
        ),
      };
    }
    case 3:
      return { kind: "garbled head", bytes: garble(random, valid()) };
    case 4:
      return {
        kind: "oversized head",
        bytes: encoder.encode(
          `POST /orders HTTP/1.1\r\nHost: fuzz\r\nX-Big: ${
            "h".repeat(20_000 + random.below(100_000))
          }\r\n\r\n`,
        ),
      };
    case 5:
      return { kind: "valid", bytes: valid() };
    case 6:
      return {
        kind: "invalid JSON",
        bytes: request(
          random,
          encoder.encode(
            random.pick(["{", "[1,]", "nul", "{'a':1}", "\u0000"]),
          ),
          "application/json",
        ),
      };
    case 7:
      return {
        kind: "invalid UTF-8",
        bytes: request(
          random,
          concat('{"s":"', random.bytes(1 + random.below(50)), '"}'),
          random.pick(["application/json", "text/plain; charset=utf-8"]),
        ),
      };
    case 8: {
      const depth = 1 + random.below(30_000);
      return {
        kind: "deep JSON",
        bytes: request(
          random,
          encoder.encode("[".repeat(depth) + "]".repeat(depth)),
          "application/json",
        ),
      };
    }
    case 9:
      return {
        kind: "oversized body",
        bytes: request(
          random,
          new Uint8Array(MAX_BODY + 1 + random.below(100_000)).fill(97),
          "application/octet-stream",
        ),
      };
    case 10: {
      const body = json();
      return {
        kind: "broken chunks",
        bytes: concat(
          "POST /orders HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
          random.pick(["zz", "-1", "fffffffffffffffff", ""]),
          "\r\n",
          body,
          "\r\n",
        ),
        end: true,
      };
    }
    case 11: {
      const body = json();
      return {
        kind: "short body",
        bytes: concat(
          `POST /orders HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: ${
            body.length + 1 + random.below(1000)
          }\r\n\r\n`,
          body,
        ),
        end: true,
      };
    }
    case 12:
      return {
        kind: "wrong method, path or type",
        bytes: request(
          random,
          json(),
          random.pick([
            undefined,
            "application/xml",
            "text/plain; charset=nope",
          ]),
          random.pick(["/orders", "/error", "/nowhere", "/orders/1", "/%zz"]),
          random.pick(["POST", "PUT", "GET", "DELETE"]),
        ),
      };
    default:
      return { kind: "empty", bytes: new Uint8Array(0), end: true };
  }
}

/** Whether `text` holds a whole final answer (framed by Content-Length). */
function answered(text: string): boolean {
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text);
  // Content-Length counts bytes: a body echoing a garbled header holds
  // characters of two bytes.
  return statusOf(text) !== undefined && length !== null &&
    new TextEncoder().encode(bodyOf(text)).length >= Number(length[1]);
}

/**
 * Sends an input on a connection of its own and returns the status
 * answered, or 0 when the server closed the connection without one.
 */
async function exchange(port: number, input: Input): Promise<number> {
  const client = await RawClient.open(port);
  try {
    await client.write(input.bytes);
    if (input.end) await client.closeWrite();
    await within(
      Promise.race([client.closed, client.until(answered).catch(() => {})]),
      "the end of an exchange",
    );
    return statusOf(client.text) ?? 0;
  } finally {
    await client.close();
  }
}

Deno.test("http_server fuzz: 10,000 generated inputs are each an event, a counted refusal or a closed connection, and the server stays up", async () => {
  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
  console.log(`http_server fuzz seed: ${seed} (FUZZ_SEED=${seed} replays it)`);
  const random = new Random(seed);
  const router = new Router({ logLevel: "error" });
  const web = router.register(
    new HttpServer("web", {
      port: 0,
      max_body_bytes: MAX_BODY,
      max_inflight_bytes: 16 * MAX_BODY,
      // Short timeouts end the few garbled inputs that leave the server
      // waiting for more.
      header_timeout: 3,
      body_timeout: 3,
    }),
  ) as HttpServer;
  router.register(new Null("sink"));
  router.connect("web.orders", "sink.inbox");
  await router.start();
  const statuses = new Map<string, Map<number, number>>();
  // This isolate's heap, not the process's RSS: test files running in
  // parallel share the process.
  const heapBefore = Deno.memoryUsage().heapUsed;
  let peakBytes = 0;
  let next = 0;
  let report;
  try {
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next < INPUTS) {
        next++;
        const input = generate(random);
        const status = await exchange(web.port, input);
        const counts = statuses.get(input.kind) ?? new Map<number, number>();
        counts.set(status, (counts.get(status) ?? 0) + 1);
        statuses.set(input.kind, counts);
        peakBytes = Math.max(peakBytes, web.figures().body_bytes_in_flight);
      }
    }));
    // Still up: a good request is taken.
    const good = await fetch(`http://127.0.0.1:${web.port}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"after":"fuzz"}',
    });
    assert.equal(good.status, 202);
    await good.body?.cancel();
    await pollUntil(
      () => web.figures().connections,
      (open) => open <= 1,
      "the connections to close",
    );
  } finally {
    report = await router.stop();
  }
  const figures = web.figures();
  const total = (status: number) =>
    [...statuses.values()].reduce((sum, c) => sum + (c.get(status) ?? 0), 0);
  console.log(
    Object.fromEntries(
      [...statuses].map(([kind, counts]) => [kind, Object.fromEntries(counts)]),
    ),
  );
  const inputs = [...statuses.values()].reduce(
    (sum, counts) => sum + [...counts.values()].reduce((a, b) => a + b, 0),
    0,
  );
  assert.equal(inputs, INPUTS);
  // Every request the server took is one event (the extra good one too).
  assert.equal(report.created, total(202) + 1);
  assert.equal(report.delivered, report.created);
  assert.equal(report.unaccounted, 0);
  assert.deepEqual(report.crashed, []);
  // Every request that reached the server is an event or a counted failure.
  assert.equal(
    figures.requests_total,
    report.created + figures.requests_failed_total,
  );
  // Nothing is an internal error; every kind had answers of its own.
  assert.equal(total(500), 0);
  // Valid inputs, deep JSON included, are taken (or, on a machine stalled
  // past header_timeout, closed): never refused.
  for (const kind of ["valid", "deep JSON"]) {
    const counts = statuses.get(kind)!;
    assert.ok((counts.get(202) ?? 0) > 0, kind);
    assert.deepEqual(
      [...counts.keys()].filter((s) => s !== 202 && s !== 0),
      [],
    );
  }
  assert.ok((statuses.get("oversized body")?.get(413) ?? 0) > 0);
  assert.ok((statuses.get("invalid JSON")?.get(400) ?? 0) > 0);
  // Memory: bodies held stayed under the bound, and nothing is left held.
  assert.ok(peakBytes <= 16 * MAX_BODY);
  assert.equal(figures.body_bytes_in_flight, 0);
  const grown = Deno.memoryUsage().heapUsed - heapBefore;
  assert.ok(grown < 128 * 1024 * 1024, `The heap grew by ${grown} bytes`);
});
