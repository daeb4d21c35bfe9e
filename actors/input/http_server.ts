/**
 * `http_server`: an HTTP server (`Deno.serve`) whose POST requests become
 * events, answered at once or by the event that comes back to its `inbox`.
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorSettings,
  describe,
  errorMessage,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { sameText } from "../../core/secret.ts";
import { concatBytes, defaultContentType, payload } from "../payload.ts";
import { listenOptions } from "./codec.ts";

/** Options of the `http_server` actor. */
export const HttpServerOptions = z.strictObject({
  ...listenOptions("TCP", 8000),
  mode: z.enum(["fire_and_forget", "request_response"]).default(
    "fire_and_forget",
  ).describe(
    '"fire_and_forget": answer 202 once the event is accepted. "request_response": answer with the event that comes back to the inbox with the same header.<name>.id.',
  ),
  response_timeout: z.number().positive().default(30).describe(
    'Mode "request_response": seconds to wait for the reply before answering 504.',
  ),
  queue_timeout: z.number().min(0).default(5).describe(
    "Seconds a request waits for room in a full outbound queue before the answer is 503 (its event is then never sent).",
  ),
  max_body_bytes: z.number().int().min(0).default(1_048_576).describe(
    "Largest request body in bytes; a larger one is answered 413.",
  ),
  token: z.string().min(1).optional().describe(
    'When set, requests must carry "Authorization: Bearer <token>"; others are answered 401.',
  ),
});

/** Parsed options of the `http_server` actor. */
export type HttpServerOptions = z.infer<typeof HttpServerOptions>;

/** What `header[<name>]` holds on the events the server makes. */
export interface HttpRequestHeader {
  /** A unique id; the reply must carry it back in `header[<name>].id`. */
  id: string;
  /** The request method (always `"POST"`). */
  method: string;
  /** The request path, e.g. `"/orders"`. */
  path: string;
  /** The query parameters (the last value of a repeated one). */
  query: Record<string, string>;
  /**
   * The request headers, lower-case names; `authorization` is left out when
   * a `token` is set.
   */
  headers: Record<string, string>;
  /** Set by the stages that prepare the reply: its status and headers. */
  response?: HttpResponseHeader;
}

/** What a reply event may set in `header[<name>].response`. */
export interface HttpResponseHeader {
  /** The status, 200 to 599 (default 200, or 500 when `header.error` is set). */
  status?: number;
  /** Headers of the answer. */
  headers?: Record<string, string>;
}

/**
 * Serves HTTP on `hostname:port`. A `POST /<queue>` becomes an event on the
 * outbound queue `<queue>` (queues are made by connecting them; `error` is
 * not a target), with the body as `data` (JSON decoded for
 * `application/json` and `*+json`, a string for `text/*`, a `Uint8Array` for
 * `application/octet-stream`, `null` without a body) and the request in
 * `header[<name>]` (see {@link HttpRequestHeader}).
 *
 * Answers: 202 `{ "id": ... }` once accepted (mode `"fire_and_forget"`), or
 * the reply (mode `"request_response"`): the first event arriving on any
 * inbound queue with the request's `header[<name>].id`, with the status and
 * headers of `header[<name>].response` and `data` as the body (a string as
 * text, bytes as they are, `undefined` as no body, anything else as JSON).
 * A reply that matches no waiting request (late or foreign) fails and goes to
 * the `error` queue. Errors are JSON `{ "error": "..." }`: 400 undecodable
 * JSON, 401 missing or wrong bearer token, 404 unknown queue, 405 not POST,
 * 413 body over `max_body_bytes` (by `Content-Length` or while reading), 415
 * unsupported content type, 503 no room downstream within `queue_timeout`,
 * 504 no reply within `response_timeout`.
 *
 * Back-pressure: an event is accepted once it is handed to the outbound
 * queue, which holds one batch (up to 512 events) on top of the capacity of
 * the queue it is connected to. When that is full, requests wait for room up
 * to `queue_timeout`; a request answered 503 never sent its event.
 *
 * On stop the server stops accepting connections, answers the requests in
 * flight (in `"request_response"` mode once their replies come back through
 * the still-running cycle, or time out), then the input finishes.
 *
 * @example
 * ```ts
 * import { Router } from "../../core/router.ts";
 * import { HttpServer, httpServer } from "./http_server.ts";
 * import { nullOutput } from "../output/null.ts";
 *
 * const router = new Router();
 * const server = router.register(httpServer, "web", { port: 0 }) as HttpServer;
 * router.register(nullOutput, "sink");
 * router.connect("web.orders", "sink.inbox");
 * await router.start();
 * const response = await fetch(`http://127.0.0.1:${server.port}/orders`, {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ item: "tea" }),
 * });
 * response.status; // 202
 * await response.body?.cancel();
 * await router.stop();
 * ```
 */
export const httpServer: ActorSpec<HttpServerOptions> = {
  type: "http_server",
  kind: "input",
  summary:
    "Serves HTTP: each POST /<queue> becomes an event, answered at once or by the event that comes back.",
  options: HttpServerOptions,
  example: { hostname: "127.0.0.1", port: 8000, mode: "request_response" },
  create: (name, options, settings) => new HttpServer(name, options, settings),
};

const UTF8 = new TextDecoder();

interface PendingReply {
  resolve(event: Event): void;
}

/** The `http_server` input actor. */
export class HttpServer extends Actor {
  readonly kind = "input";
  #options: HttpServerOptions;
  #expected: string | undefined;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #port: number | undefined;
  #targets = new Set<string>();
  #gates = new Map<string, Promise<void>>();
  #pending = new Map<string, PendingReply>();

  protected override readonly implicitSend = false;

  /** Makes an HTTP server input; see {@link HttpServerOptions}. */
  constructor(
    name: string,
    options: Partial<HttpServerOptions> = {},
    settings: ActorSettings = {},
  ) {
    super(name, settings, {
      inbound: ["inbox"],
      outbound: ["error"],
      anyInbound: true,
      anyOutbound: true,
    });
    this.#options = HttpServerOptions.parse(options);
    this.#expected = this.#options.token === undefined
      ? undefined
      : `Bearer ${this.#options.token}`;
  }

  /** The port listened on, known once the actor is set up. */
  get port(): number {
    if (this.#port === undefined) {
      throw new TypeError(`Actor "${this.name}" has not been set up`);
    }
    return this.#port;
  }

  /** Requests waiting for their reply now. */
  get waiting(): number {
    return this.#pending.size;
  }

  /** Starts listening, so that a port in use fails the start. */
  override setup(): void {
    this.#targets = new Set(this.pool.branches());
    const { hostname, port } = this.#options;
    this.#server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      onError: (error) => {
        this.log.error("Failed to answer a request: {error}", {
          error: describe(error),
        });
        return jsonError(500, "Internal server error");
      },
    }, (request) => this.#answer(request));
    this.#port = this.#server.addr.port;
    this.log.info("Listening on http://{hostname}:{port}/", {
      hostname,
      port: this.#port,
    });
  }

  override async produce(signal: AbortSignal): Promise<void> {
    if (!signal.aborted) {
      await new Promise((resolve) =>
        signal.addEventListener("abort", resolve, { once: true })
      );
    }
    await this.#shutdown();
  }

  /** Matches a reply with the request waiting for it. */
  override consume(event: Event): void {
    const meta = event.header[this.name];
    const id = isRecord(meta) ? meta.id : undefined;
    const pending = typeof id === "string" ? this.#pending.get(id) : undefined;
    if (pending === undefined) {
      throw new Error(
        `No request waits for a reply with id "${
          String(id)
        }": it timed out, was answered already, or is not a request of this server`,
      );
    }
    this.#pending.delete(id as string);
    pending.resolve(event);
  }

  /** Answers what still waits 503 and closes the server if still open. */
  override async teardown(): Promise<void> {
    for (const pending of this.#pending.values()) {
      pending.resolve(stopReply(this.name));
    }
    this.#pending.clear();
    await this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await server.shutdown();
    await server.finished;
  }

  async #answer(request: Request): Promise<Response> {
    try {
      return await this.#handle(request);
    } catch (error) {
      this.log.error("Failed to answer a request: {error}", {
        error: describe(error),
      });
      return jsonError(500, "Internal server error");
    }
  }

  async #handle(request: Request): Promise<Response> {
    if (
      this.#expected !== undefined &&
      !sameText(request.headers.get("authorization") ?? "", this.#expected)
    ) {
      return jsonError(401, "Missing or wrong bearer token", {
        "www-authenticate": "Bearer",
      });
    }
    if (request.method !== "POST") {
      return jsonError(
        405,
        `Method "${request.method}" is not allowed; use POST`,
        { allow: "POST" },
      );
    }
    const url = new URL(request.url);
    const queue = queueOf(url.pathname);
    if (queue === undefined || !this.#targets.has(queue)) {
      return jsonError(404, `No queue "${queue ?? url.pathname}"`);
    }
    const type = request.headers.get("content-type");
    const decode = bodyDecoder(type, request);
    if (typeof decode === "string") return jsonError(415, decode);
    const max = this.#options.max_body_bytes;
    const length = request.headers.get("content-length");
    if (length !== null && Number(length) > max) return tooLarge(max);
    const body = await readBody(request, max, length !== null);
    if (body === undefined) return tooLarge(max);
    let data: unknown;
    try {
      data = decode(body);
    } catch (error) {
      return jsonError(
        400,
        `The body is not valid JSON: ${errorMessage(error)}`,
      );
    }
    const headers = Object.fromEntries(request.headers);
    if (this.#expected !== undefined) delete headers.authorization;
    const id = crypto.randomUUID();
    const meta: HttpRequestHeader = {
      id,
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
    };
    const event: Event = { header: { [this.name]: meta }, data };
    if (this.#options.mode === "fire_and_forget") {
      if (!await this.#enqueue(event, queue)) return busy(queue);
      return Response.json({ id }, { status: 202 });
    }
    const reply = Promise.withResolvers<Event | undefined>();
    this.#pending.set(id, reply);
    if (!await this.#enqueue(event, queue)) {
      this.#pending.delete(id);
      return busy(queue);
    }
    const timer = setTimeout(() => {
      if (this.#pending.delete(id)) reply.resolve(undefined);
    }, this.#options.response_timeout * 1000);
    const answer = await reply.promise;
    clearTimeout(timer);
    if (answer === undefined) {
      return jsonError(
        504,
        `No reply within ${this.#options.response_timeout} s (response_timeout)`,
      );
    }
    return this.#toResponse(answer);
  }

  /**
   * Hands `event` to outbound queue `queue`; resolves `false` when there was
   * no room within `queue_timeout` (the event was then not sent).
   */
  #enqueue(event: Event, queue: string): Promise<boolean> | boolean {
    if (this.#gates.has(queue)) return this.#enqueueWhenOpen(event, queue);
    this.#deliver(event, queue);
    return true;
  }

  async #enqueueWhenOpen(event: Event, queue: string): Promise<boolean> {
    const expired = Promise.withResolvers<false>();
    const timer = setTimeout(
      () => expired.resolve(false),
      this.#options.queue_timeout * 1000,
    );
    try {
      for (;;) {
        const gate = this.#gates.get(queue);
        if (gate === undefined) break;
        const open = await Promise.race([
          gate.then(() => true),
          expired.promise,
        ]);
        if (!open) return false;
      }
    } finally {
      clearTimeout(timer);
    }
    this.#deliver(event, queue);
    return true;
  }

  /**
   * The one place where this input hands the events it makes on. When the
   * queue is full, later requests wait at its gate until it has room again.
   */
  #deliver(event: Event, queue: string): void {
    const waiting = this.send(event, queue);
    if (waiting !== undefined && !this.#gates.has(queue)) {
      const gate: Promise<void> = waiting.then(() => {
        if (this.#gates.get(queue) === gate) this.#gates.delete(queue);
      });
      this.#gates.set(queue, gate);
    }
  }

  #toResponse(event: Event): Response {
    const meta = event.header[this.name];
    const response = isRecord(meta) && isRecord(meta.response)
      ? meta.response
      : {};
    const failure = event.header.error;
    const status = response.status ??
      (failure === undefined ? 200 : 500);
    if (
      typeof status !== "number" || !Number.isInteger(status) ||
      status < 200 || status > 599
    ) {
      this.log.warn("Reply {id} has an invalid status {status}", {
        id: isRecord(meta) ? meta.id : undefined,
        status,
      });
      return jsonError(500, `The reply has an invalid status: ${status}`);
    }
    const headers = new Headers();
    try {
      if (isRecord(response.headers)) {
        for (const [key, value] of Object.entries(response.headers)) {
          headers.set(key, String(value));
        }
      }
    } catch (error) {
      this.log.warn("Reply {id} has invalid headers: {error}", {
        id: isRecord(meta) ? meta.id : undefined,
        error: describe(error),
      });
      return jsonError(500, "The reply has invalid headers");
    }
    if (status === 204 || status === 205 || status === 304) {
      return new Response(null, { status, headers });
    }
    if (failure !== undefined && response.status === undefined) {
      const message = isRecord(failure) && typeof failure.message === "string"
        ? failure.message
        : String(failure);
      return jsonError(status, message, Object.fromEntries(headers));
    }
    return new Response(body(event.data, headers), { status, headers });
  }
}

function stopReply(name: string): Event {
  return {
    header: {
      [name]: {
        response: {
          status: 503,
          headers: { "content-type": "application/json" },
        },
      },
    },
    data: JSON.stringify({ error: "The server is stopping" }),
  };
}

/**
 * The body for `data` (see {@link payload}; an `ArrayBuffer` is sent as its
 * bytes too), setting the default content type when none is set.
 */
function body(data: unknown, headers: Headers): BodyInit | null {
  if (data === undefined) return null;
  const sent = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  if (!headers.has("content-type")) {
    headers.set("content-type", defaultContentType(sent));
  }
  return payload(sent) as BodyInit;
}

/**
 * A function decoding the body for `type`, or why the type is not supported.
 */
function bodyDecoder(
  type: string | null,
  request: Request,
): ((body: Uint8Array) => unknown) | string {
  if (type === null) {
    if (request.body === null) return () => null;
    return "A body needs a content type: application/json, text/* or application/octet-stream";
  }
  const [essence = "", ...parameters] = type.split(";");
  const mime = essence.trim().toLowerCase();
  if (mime === "application/json" || mime.endsWith("+json")) {
    return (body) => body.length === 0 ? null : JSON.parse(UTF8.decode(body));
  }
  if (mime === "application/octet-stream") return (body) => body;
  if (mime.startsWith("text/")) {
    let charset = "utf-8";
    for (const parameter of parameters) {
      const [key, value] = parameter.split("=");
      if (key?.trim().toLowerCase() === "charset" && value !== undefined) {
        charset = value.trim().replace(/^"|"$/g, "");
      }
    }
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(charset);
    } catch {
      return `Unsupported charset "${charset}"`;
    }
    return (body) => decoder.decode(body);
  }
  return `Unsupported content type "${mime}": use application/json, text/* or application/octet-stream`;
}

/**
 * The body's bytes, or `undefined` once it grows past `max`. With a
 * `Content-Length` (already checked) HTTP framing bounds the body, so it is
 * read at once; otherwise it is counted while it streams in.
 */
async function readBody(
  request: Request,
  max: number,
  sized: boolean,
): Promise<Uint8Array | undefined> {
  if (request.body === null) return new Uint8Array(0);
  if (sized) return await request.bytes();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    total += next.value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(next.value);
  }
  return concatBytes(chunks, total);
}

/** `"orders"` for `"/orders"`; `undefined` for other shapes of path. */
function queueOf(pathname: string): string | undefined {
  const raw = pathname.slice(1);
  if (raw === "" || raw.includes("/")) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: message }, { status, headers });
}

function tooLarge(max: number): Response {
  return jsonError(
    413,
    `The body is larger than ${max} bytes (max_body_bytes)`,
  );
}

function busy(queue: string): Response {
  return jsonError(
    503,
    `Queue "${queue}" is full: no room within queue_timeout`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
