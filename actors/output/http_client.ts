/**
 * `http_client`: an output that sends each event as an HTTP request, several
 * at once, retrying network errors and 5xx answers with exponential backoff.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  type Context,
  errorMessage,
  type Held,
  sleep,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { compressBytes } from "../http_encoding.ts";
import {
  type CertificateHolder,
  HttpClientTlsSchema,
  loadClientTls,
} from "../../core/tls.ts";
import {
  concatBytes,
  defaultContentType,
  payload,
  payloadBytes,
} from "../payload.ts";
import { compileTemplate, type Template, templateSchema } from "../template.ts";

/** The methods `http_client` can send. */
export const HTTP_METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
] as const;

/** Bytes of a failed answer's body kept in `header.error.body`. */
export const BODY_EXCERPT_BYTES = 500;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Options of the `http_client` actor. */
export const HttpClientOptions = z.strictObject({
  url: templateSchema().describe(
    'The URL of each request, a template: "{data.user.id}" and "{header.a.b}" become those fields, URL-encoded; a value making a path segment ".", ".." or empty is an error.',
  ),
  method: z.enum(HTTP_METHODS).default("POST").describe(
    "The request method. GET and HEAD requests have no body.",
  ),
  headers: z.record(z.string(), templateSchema()).superRefine(
    (headers, ctx) => {
      for (const name of Object.keys(headers)) {
        if (!TOKEN.test(name)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: `"${name}" is not a valid header name`,
          });
        }
      }
    },
  ).default({}).describe(
    'Request headers; values are templates like the URL (not URL-encoded): { "x-user": "{data.user.id}" }.',
  ),
  content_type: z.string().optional().describe(
    'The Content-Type of the body; by default "application/json" for data sent as JSON, "text/plain; charset=utf-8" for string data and "application/octet-stream" for bytes.',
  ),
  timeout: z.number().positive().default(30).describe(
    "Seconds one attempt may take, answer body included, before it fails as a timeout (and is retried).",
  ),
  concurrency: z.number().int().min(1).default(8).describe(
    "Most requests in flight at once.",
  ),
  retries: z.number().int().min(0).default(3).describe(
    "Extra attempts after a network error, a timeout or a 5xx answer.",
  ),
  backoff_ms: z.number().min(0).default(100).describe(
    "Milliseconds before the first retry; doubled before each next one.",
  ),
  response_body: z.enum(["auto", "text", "json", "bytes"]).default("auto")
    .describe(
      'How an answer forwarded on "outbox" becomes data: "auto" parses JSON content types, reads text types as text and anything else as bytes.',
    ),
  compress: z.boolean().default(false).describe(
    'Send request bodies gzip-compressed, with "Content-Encoding: gzip" (for servers that accept it).',
  ),
  tls: HttpClientTlsSchema.optional(),
});

/** Parsed options of the `http_client` actor. */
export type HttpClientOptions = z.infer<typeof HttpClientOptions>;

/**
 * Sends each event as an HTTP request to the URL made from `url`, the data as
 * its body: a string as text, bytes as they are, anything else as JSON.
 *
 * Up to `concurrency` requests are in flight at once; `consume` returns when a
 * slot is free, so a slow server slows the pipeline through back-pressure, and
 * the actor drains only once every request in flight finished. An event
 * counts as written only once its request got a 2xx answer (its delivery
 * tracker, if any, is held until then).
 *
 * A network error, a timeout or a 5xx answer is retried `retries` times, after
 * `backoff_ms`, then twice as long each time. A 4xx answer (or any answer that
 * is not 2xx, 5xx or a redirect that was followed), and a failure after the
 * last retry, send the event to the `error` queue with `header.error` set as
 * the core does (`actor`, `queue`, `name`, `message`, `time`) plus `status`
 * and `body` (its first 500 bytes as text) when there was an answer, and
 * `attempts`. Retries make delivery at-least-once: a request that timed out
 * may have been handled.
 *
 * When `outbox` is connected, each 2xx answer is sent there: the request's
 * event with the answer's body as data and
 * `header[<name>] = { status, headers, url }`. With `concurrency` above 1,
 * answers may come out in another order than the requests went in. While
 * other requests are in flight, answers (and events sent to `error`) are
 * gathered and go on as one batch once none is left in flight, or
 * `linger_ms` after the first one: a lone request's answer goes on at once.
 *
 * A bad `url` or header template is an error when the actor is made; an event
 * without a field its URL needs, or with a value that would change the URL's
 * path (a whole segment `.`, `..` or empty), goes to the `error` queue.
 *
 * With `compress` the bodies are sent gzip-compressed (`Content-Encoding:
 * gzip`). With `tls`, https URLs are verified against `tls.ca` besides the
 * system's CAs, and `tls.cert`/`tls.key` are presented when a server asks
 * for a client certificate; `reloadCertificates()` (SIGHUP under
 * `compysition run`) reads them again for the requests from then on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "../../core/router.ts";
 * import { generator } from "../input/generator.ts";
 * import { httpClient } from "./http_client.ts";
 *
 * const seen: string[] = [];
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
 *   seen.push(`${new URL(request.url).pathname} ${await request.text()}`);
 *   return new Response(null, { status: 204 });
 * });
 * const router = new Router();
 * router.register(generator, "input", { interval: 0, count: 2, data: { id: 7 } });
 * router.register(httpClient, "post", {
 *   url: `http://127.0.0.1:${server.addr.port}/items/{data.id}`,
 *   headers: { "x-seq": "{header.input.seq}" },
 * });
 * router.connect("input.outbox", "post.inbox");
 * await router.start();
 * await router.finished;
 * await router.stop();
 * await server.shutdown();
 * assert.deepEqual(seen, ['/items/7 {"id":7}', '/items/7 {"id":7}']);
 * ```
 */
export const httpClient: ActorSpec<HttpClientOptions> = {
  type: "http_client",
  kind: "output",
  summary:
    "Sends each event as an HTTP request, with bounded concurrency and retries.",
  options: HttpClientOptions,
  example: {
    url: "http://127.0.0.1:8080/events/{data.id}",
    method: "POST",
    headers: { "x-source": "compysition" },
    timeout: 10,
    concurrency: 8,
    retries: 3,
    backoff_ms: 100,
  },
  create: (name, options, settings) => new HttpClient(name, options, settings),
};

/**
 * An answer that failed the event (not 2xx, or not the JSON it said it was),
 * with its status and the start of its body for `header.error`.
 */
class HttpStatusError extends Error {
  readonly status: number;
  readonly body: string;

  constructor(
    message: string,
    status: number,
    body: string,
    name = "HttpError",
  ) {
    super(message);
    this.name = name;
    this.status = status;
    this.body = body;
  }
}

/** What one request needs, made from the event before it is sent. */
interface Outgoing {
  url: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

/** A body read from an answer; `json` when the text is still to be parsed. */
interface Body {
  json: boolean;
  raw: string | Uint8Array;
}

/** The part of an answer forwarded on `outbox`. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  url: string;
  body: Body | undefined;
}

/** The `http_client` output actor. */
export class HttpClient extends Actor implements CertificateHolder {
  readonly kind = "output";
  #tls: HttpClientTlsSchema | undefined;
  /** Deno's client with the `tls` files, from setup to teardown. */
  #client: Deno.HttpClient | undefined;
  /** Clients replaced by a reload, closed at teardown (requests may use them). */
  #retired: Deno.HttpClient[] = [];
  #url: Template;
  #method: HttpClientOptions["method"];
  /** Whether requests carry the event as a body (not GET or HEAD). */
  #hasBody: boolean;
  #headers: [string, Template][];
  /** The Content-Type to set: `null` when `headers` sets it. */
  #contentType: string | null | undefined;
  #timeoutMs: number;
  #concurrency: number;
  #retries: number;
  #backoffMs: number;
  #responseBody: HttpClientOptions["response_body"];
  #compress: boolean;
  #forward = false;
  #inflight = 0;
  #slotFree: PromiseWithResolvers<void> | undefined;
  #idle: PromiseWithResolvers<void> | undefined;
  /** Whether this actor holds its queues' batch window open (see `consume`). */
  #gathering = false;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;

  /** Makes an HTTP client; see {@link HttpClientOptions}. */
  constructor(
    name: string,
    options: Partial<HttpClientOptions> & Pick<HttpClientOptions, "url">,
    settings: ActorSettings = {},
  ) {
    super(name, settings, { optional: ["outbox"] });
    const parsed = HttpClientOptions.parse(options);
    this.#url = compileTemplate(parsed.url, { encode: "url" });
    this.#method = parsed.method;
    this.#hasBody = parsed.method !== "GET" && parsed.method !== "HEAD";
    this.#headers = Object.entries(parsed.headers).map((
      [key, value],
    ) => [key, compileTemplate(value)]);
    const given = Object.keys(parsed.headers).some((key) =>
      key.toLowerCase() === "content-type"
    );
    this.#contentType = given ? null : parsed.content_type;
    this.#timeoutMs = parsed.timeout * 1000;
    this.#concurrency = parsed.concurrency;
    this.#retries = parsed.retries;
    this.#backoffMs = parsed.backoff_ms;
    this.#responseBody = parsed.response_body;
    this.#compress = parsed.compress;
    this.#tls = parsed.tls;
  }

  /**
   * Reads the `tls` files again for the requests from now on; `false`
   * without `tls` (see `CertificateHolder`).
   */
  reloadCertificates(): boolean {
    if (this.#tls === undefined) return false;
    const client = this.#makeClient(this.#tls);
    if (this.#client !== undefined) this.#retired.push(this.#client);
    this.#client = client;
    return true;
  }

  /** Deno's client trusting the CAs and presenting the certificate of `tls`. */
  #makeClient(tls: HttpClientTlsSchema): Deno.HttpClient {
    const material = loadClientTls(tls);
    return Deno.createHttpClient({
      caCerts: material.caCerts,
      ...material.certifiedKey,
    });
  }

  /** Requests in flight now. */
  get inflight(): number {
    return this.#inflight;
  }

  override setup(): void {
    this.#forward = this.pool.isConnected("outbox");
    if (this.#tls !== undefined) this.#client = this.#makeClient(this.#tls);
  }

  override consume(
    event: Event,
    context: Context,
  ): Promise<void> | undefined {
    const request = this.#request(event);
    this.#inflight++;
    if (!this.#gathering) {
      // While requests are in flight, what they send on (answers, errors)
      // is gathered: written once none is left, or after linger_ms.
      this.#gathering = true;
      this.pool.window.open();
    }
    void this.#deliver(request, context.hold(event));
    if (this.#inflight < this.#concurrency) return undefined;
    this.#slotFree ??= Promise.withResolvers();
    return this.#slotFree.promise;
  }

  override async teardown(): Promise<void> {
    await this.#allDone();
    for (const client of [...this.#retired.splice(0), this.#client]) {
      client?.close();
    }
    this.#client = undefined;
  }

  #allDone(): Promise<void> | undefined {
    if (this.#inflight === 0) return undefined;
    this.#idle ??= Promise.withResolvers();
    return this.#idle.promise;
  }

  /** Makes the request from the event; throws when it cannot be made. */
  #request(event: Event): Outgoing {
    const url = this.#url(event);
    if (!URL.canParse(url)) throw new TypeError(`Invalid URL "${url}"`);
    const headers: Record<string, string> = {};
    for (const [key, value] of this.#headers) headers[key] = value(event);
    if (!this.#hasBody) return { url, headers, body: undefined };
    const data = event.data;
    if (this.#contentType !== null) {
      headers["content-type"] = this.#contentType ?? defaultContentType(data);
    }
    if (!this.#compress) return { url, headers, body: payload(data) };
    headers["content-encoding"] = "gzip";
    return { url, headers, body: compressBytes(payloadBytes(data), "gzip") };
  }

  /**
   * Sends one event's request to the end (or until the actor is stopped at
   * once, which aborts `held.signal`); never rejects.
   */
  async #deliver(request: Outgoing, held: Held): Promise<void> {
    const event = held.event;
    let attempts = 0;
    try {
      for (;;) {
        attempts++;
        let answer: Answer | undefined;
        let failure: unknown;
        try {
          answer = await this.#attempt(request, held.signal);
        } catch (error) {
          if (error instanceof HttpStatusError && error.status < 500) {
            throw error;
          }
          failure = error;
        }
        if (answer !== undefined) {
          if (this.#forward) {
            event.header[this.name] = {
              status: answer.status,
              headers: answer.headers,
              url: answer.url,
            };
            event.data = decode(answer, request);
            const waiting = held.send(event);
            this.#lingerSoon();
            if (waiting !== undefined) await waiting;
          }
          held.done();
          return;
        }
        if (held.signal.aborted) throw this.#cancelled(request);
        if (attempts > this.#retries) throw failure;
        const backoff = this.#backoffMs * 2 ** (attempts - 1);
        this.log.debug("Retrying {method} {url} in {backoff} ms: {error}", {
          method: this.#method,
          url: request.url,
          backoff,
          error: errorMessage(failure),
        });
        if (!await sleep(backoff, held.signal)) {
          throw this.#cancelled(request);
        }
      }
    } catch (error) {
      const details: Record<string, unknown> = { attempts };
      if (error instanceof HttpStatusError) {
        details.status = error.status;
        details.body = error.body;
      }
      const reported = attempts > 1 && error instanceof Error
        ? withAttempts(error, attempts)
        : error;
      const waiting = held.fail(reported, details);
      this.#lingerSoon();
      await waiting;
    } finally {
      this.#inflight--;
      if (this.#inflight === 0) this.#writeGathered();
      const slot = this.#slotFree;
      if (slot !== undefined && this.#inflight < this.#concurrency) {
        this.#slotFree = undefined;
        slot.resolve();
      }
      const idle = this.#idle;
      if (idle !== undefined && this.#inflight === 0) {
        this.#idle = undefined;
        idle.resolve();
      }
    }
  }

  /** Writes what was gathered within linger_ms. */
  #lingerSoon(): void {
    this.#lingerTimer ??= setTimeout(() => {
      this.#lingerTimer = undefined;
      for (const queue of this.pool.outbound.values()) void queue.flush();
    }, this.lingerMs);
  }

  /** No request is in flight: writes what was gathered now. */
  #writeGathered(): void {
    if (!this.#gathering) return;
    this.#gathering = false;
    this.pool.window.close();
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    for (const queue of this.pool.outbound.values()) void queue.flush();
  }

  #cancelled(request: Outgoing): Error {
    return new Error(
      `${this.#method} "${request.url}" was cancelled: the actor stopped`,
    );
  }

  /**
   * One attempt: resolves with the answer when it is 2xx (its body read when
   * it is forwarded, dropped otherwise); throws an {@link HttpStatusError}
   * for any other answer, or the network error or timeout.
   */
  async #attempt(request: Outgoing, stop: AbortSignal): Promise<Answer> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.#timeoutMs);
    const signal = AbortSignal.any([stop, timeout.signal]);
    try {
      const response = await fetch(request.url, {
        method: this.#method,
        headers: request.headers,
        ...(request.body === undefined
          ? {}
          : { body: request.body as BodyInit }),
        signal,
        ...(this.#client === undefined ? {} : { client: this.#client }),
      });
      if (!response.ok) {
        const body = await excerpt(response.body);
        throw new HttpStatusError(
          `${this.#method} "${request.url}" answered ${response.status} ${response.statusText}`
            .trimEnd(),
          response.status,
          body,
        );
      }
      const headers = this.#forward ? Object.fromEntries(response.headers) : {};
      let body: Body | undefined;
      if (this.#forward) body = await this.#read(response);
      else await response.body?.cancel();
      return { status: response.status, headers, url: response.url, body };
    } catch (error) {
      if (timeout.signal.aborted && !(error instanceof HttpStatusError)) {
        const timedOut = new Error(
          `${this.#method} "${request.url}" timed out after ${
            this.#timeoutMs / 1000
          } s`,
          { cause: error },
        );
        timedOut.name = "TimeoutError";
        throw timedOut;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The answer's body as `response_body` says: bytes, or text (still to be
   * parsed, with `json`, once the request is known to have succeeded).
   */
  async #read(response: Response): Promise<Body> {
    let as = this.#responseBody;
    if (as === "auto") {
      const type = response.headers.get("content-type")?.toLowerCase() ?? "";
      as = /[/+]json\b/.test(type)
        ? "json"
        : type === "" || type.startsWith("text/") || type.includes("charset=")
        ? "text"
        : "bytes";
    }
    if (as === "bytes") return { json: false, raw: await response.bytes() };
    return { json: as === "json", raw: await response.text() };
  }
}

/**
 * The data of a forwarded answer; an answer that is not the JSON it says it is
 * is a `SyntaxError` (not retried: the request itself succeeded).
 */
function decode(answer: Answer, request: Outgoing): unknown {
  const body = answer.body;
  if (body === undefined) return undefined;
  if (!body.json) return body.raw;
  const text = body.raw as string;
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpStatusError(
      `The answer of "${request.url}" (${answer.status}) is not valid JSON: ${
        (error as Error).message
      }`,
      answer.status,
      firstBytes(text),
      "SyntaxError",
    );
  }
}

/** The first {@link BODY_EXCERPT_BYTES} bytes of `text` (as UTF-8), as text. */
function firstBytes(text: string): string {
  if (text.length * 3 <= BODY_EXCERPT_BYTES) return text;
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.subarray(0, BODY_EXCERPT_BYTES));
}

/** The error with "after N attempts" added to its message. */
function withAttempts(error: Error, attempts: number): Error {
  const again = new Error(`${error.message} (after ${attempts} attempts)`, {
    cause: error,
  });
  again.name = error.name;
  return again;
}

/**
 * The first {@link BODY_EXCERPT_BYTES} bytes of a body as text; the rest is
 * not read.
 */
async function excerpt(
  body: ReadableStream<Uint8Array> | null,
): Promise<string> {
  if (body === null) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_EXCERPT_BYTES) {
      const next = await reader.read();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(
    concatBytes(chunks, size).subarray(0, BODY_EXCERPT_BYTES),
  );
}
