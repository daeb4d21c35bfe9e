/**
 * `http_server`: an HTTP server whose POST requests become events, answered
 * at once or by the event that comes back to its `inbox`. It serves with
 * limits on connections, time and memory (see `core/http_listener.ts`).
 *
 * @module
 */

import { z } from "zod";
import {
  Actor,
  type ActorFigures,
  type ActorSettings,
  describe,
  errorMessage,
  type Takeover,
} from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import {
  HttpListener,
  type HttpListenerFigures,
  type HttpListenerOptions,
  type HttpRequestInfo,
  requestHeaders,
  wholeBodyText,
} from "../../core/http_listener.ts";
import { MAX_BATCH } from "../../core/queue.ts";
import { type InLine, Lineup } from "../../core/lineup.ts";
import { setImmediate } from "node:timers";
import { gatherThisTurn } from "../../core/stream.ts";
import type { ActorSpec } from "../../core/registry.ts";
import { sameText } from "../../core/secret.ts";
import { type CertificateHolder, ServerTlsSchema } from "../../core/tls.ts";
import {
  acceptedCoding,
  compressBytes,
  type ContentCoding,
  contentCodings,
  readDecoded,
} from "../http_encoding.ts";
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
    "Largest request body in bytes, once decoded (Content-Encoding gzip, deflate or br); a larger one is answered 413, and a compressed one is decoded no further than that.",
  ),
  compress: z.boolean().default(false).describe(
    "Compress answers of 1 KiB or more with br or gzip, whichever the request's Accept-Encoding prefers.",
  ),
  token: z.string().min(1).optional().describe(
    'When set, requests must carry "Authorization: Bearer <token>"; others are answered 401.',
  ),
  max_connections: z.number().int().min(1).default(1000).describe(
    "Most connections open at once. A new one closes the connection idle the longest (one that has not sent its first request yet gets a second first); when none is idle, the new one is closed at once (counted in connections_refused_total).",
  ),
  header_timeout: z.number().positive().default(10).describe(
    "Seconds a new connection has to send its first complete request head; it is closed after.",
  ),
  idle_timeout: z.number().positive().default(60).describe(
    "Seconds a kept-alive connection may wait for its next request before it is closed.",
  ),
  body_timeout: z.number().positive().default(30).describe(
    "Seconds a request body has to arrive once it is being read; the connection of a slower one is closed.",
  ),
  max_inflight_bytes: z.number().int().min(1).default(67_108_864).describe(
    "Most bytes of request bodies held at once, across all requests, from reading until the answer (default 64 MiB). A request that would go over it is answered 503 before its body is read.",
  ),
  tls: ServerTlsSchema.optional(),
}).check((context) => {
  const { max_body_bytes, max_inflight_bytes } = context.value;
  if (max_inflight_bytes < max_body_bytes) {
    context.issues.push({
      code: "custom",
      input: max_inflight_bytes,
      path: ["max_inflight_bytes"],
      message:
        `max_inflight_bytes (${max_inflight_bytes}) must be at least max_body_bytes (${max_body_bytes}), or bodies of the largest size could never be read`,
    });
  }
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
  /**
   * The subject of the client's certificate, e.g. `"CN=agent-7, O=Example"`
   * (with `tls.client_auth`, when the client presented one).
   */
  client_certificate?: string;
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
 * 413 body over
 * `max_body_bytes` (by `Content-Length` or while reading), 415 unsupported
 * content type, 503 no room downstream within `queue_timeout` or
 * `max_inflight_bytes` reached, 504 no reply within `response_timeout`.
 *
 * Back-pressure and memory: a request's body is read only once there is
 * room for its event in the queue it goes to (the free capacity of the
 * connected queue, less the events that other requests are reading for it).
 * Until then the request waits, up to `queue_timeout`, and is answered 503
 * with its body unread (what the connection buffers aside: the kernel's and
 * Deno's buffers, tens of KiB). Bodies held at once, from reading until the
 * answer, are bounded
 * by `max_inflight_bytes`. An event is accepted once it is handed to the
 * outbound queue; a request answered 503 never sent its event. A queue
 * connected with a drop policy (`when_full`) always has room: its policy
 * decides.
 *
 * Compressed bodies: a body sent with `Content-Encoding` `gzip`, `deflate`
 * or `br` (or several in a row) is decoded, and `max_body_bytes` applies to
 * its decoded size: decoding stops as soon as it is passed (413), so a small
 * body that decodes to gigabytes never does. Another coding is answered 415,
 * data that does not decode 400. With `compress`, answers of 1 KiB or more
 * are compressed with `br` or `gzip`, as the request's `Accept-Encoding`
 * prefers.
 *
 * TLS: with `tls` it serves HTTPS (see `ServerTlsSchema`); with
 * `tls.client_auth` the subject of the client's certificate is in
 * `header[<name>].client_certificate`. A client that does not complete its
 * handshake within `header_timeout` is disconnected. `reloadCertificates()`
 * (SIGHUP under `compysition run`) reads the files again for new
 * connections.
 *
 * Connections (see `core/http_listener.ts`): at most `max_connections`
 * (a new one closes the connection idle the longest); a connection that
 * sends no request head within `header_timeout`, waits longer than
 * `idle_timeout` for its next request, or does not send a body within
 * `body_timeout` once it is read, is closed; running out of file
 * handles closes idle connections and never stops the server. The figures
 * add `connections`, `connections_total`, `connections_refused_total`,
 * `connections_shed_total`, `connections_timed_out_total`,
 * `accept_errors_total`, `requests_total`, `requests_failed_total`
 * (answered 400 or more), `busy_total` (answered 503) and
 * `body_bytes_in_flight`.
 *
 * On stop the server stops accepting connections, closes the idle ones,
 * answers the requests in flight (in `"request_response"` mode once their
 * replies come back through the still-running cycle, or time out), then the
 * input finishes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
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
 * assert.equal(response.status, 202);
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

/**
 * UTF-8 with bad bytes replaced and a BOM kept: `jsonOf` drops it, from a
 * decoded body as from the text Deno's engine hands over.
 */
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The byte order mark, as the first code unit of a text. */
const BOM = 0xfeff;

const EMPTY = new Uint8Array(0);

/** How often requests waiting for room look again, in ms. */
const ROOM_POLL_MS = 10;

/** The listener's figures before it listens. */
const NOT_LISTENING: HttpListenerFigures = {
  connections: 0,
  connections_total: 0,
  connections_refused_total: 0,
  connections_shed_total: 0,
  connections_timed_out_total: 0,
  accept_errors_total: 0,
};

/** A request waiting for its reply; in line by when it came. */
interface PendingReply extends InLine<PendingReply> {
  readonly id: string;
  /** Its id's key (see `replyKey`). */
  readonly key: number;
  /** When it stops waiting (`Date.now()` ms). */
  readonly deadline: number;
  /** Called with the reply, or `undefined` when none came in time. */
  readonly resolve: (event: Event | undefined) => void;
  /** The next in its slot of {@link PendingReplies}. */
  sameSlot: PendingReply | undefined;
}

/** Slots of a new {@link PendingReplies}. */
const FIRST_SLOTS = 64;

/**
 * The requests waiting for their replies, in the order they came (all
 * wait `response_timeout`, so the first to give up comes first), found by
 * id. Two costs of a Map are avoided on this path, where requests come and
 * go by the thousand a second:
 *
 * - a fresh id string is hashed the first time it keys a Map, which cost
 *   more than the rest of the bookkeeping of a request; here the slot is a
 *   number mixed from the id's first characters (see `replyKey`);
 * - a Map that fills and empties at every turn of the event loop (the
 *   requests of a turn come and go together) makes a new table each time,
 *   and V8 links a replaced table to the next one. Measured under wrk,
 *   once one table had reached the old generation, the tables after it
 *   and the requests their entries reached survived the young collections
 *   until the next full one: 3 MB more old generation every tenth of a
 *   second, young collections of 5-80 ms instead of under 1. The slots
 *   here are one array that only grows, the order a `Lineup`, and a
 *   request taken out is unlinked from everything.
 */
class PendingReplies {
  #slots: (PendingReply | undefined)[] = new Array(FIRST_SLOTS).fill(
    undefined,
  );
  /** In the order they came. */
  #order = new Lineup<PendingReply>();
  #size = 0;

  /** How many wait. */
  get size(): number {
    return this.#size;
  }

  /** The one waiting the longest. */
  get oldest(): PendingReply | undefined {
    return this.#order.first;
  }

  /** Adds the request `id`, last. */
  add(
    id: string,
    deadline: number,
    resolve: (event: Event | undefined) => void,
  ): void {
    if (this.#size >= this.#slots.length) this.#grow();
    const key = replyKey(id);
    const slot = key & (this.#slots.length - 1);
    const pending: PendingReply = {
      id,
      key,
      deadline,
      resolve,
      lineup: undefined,
      ahead: undefined,
      behind: undefined,
      sameSlot: this.#slots[slot],
    };
    this.#slots[slot] = pending;
    this.#order.add(pending);
    this.#size++;
  }

  /** Takes out the request `id`, if it waits. */
  take(id: string): PendingReply | undefined {
    let pending = this.#slots[replyKey(id) & (this.#slots.length - 1)];
    while (pending !== undefined && pending.id !== id) {
      pending = pending.sameSlot;
    }
    if (pending !== undefined) this.#remove(pending);
    return pending;
  }

  /** Takes out the one waiting the longest if it waits since `before`. */
  takeExpired(before: number): PendingReply | undefined {
    const oldest = this.#order.first;
    if (oldest === undefined || oldest.deadline > before) return undefined;
    this.#remove(oldest);
    return oldest;
  }

  #remove(pending: PendingReply): void {
    const slot = pending.key & (this.#slots.length - 1);
    let before: PendingReply | undefined;
    let each = this.#slots[slot];
    while (each !== undefined && each !== pending) {
      before = each;
      each = each.sameSlot;
    }
    if (each === pending) {
      if (before === undefined) this.#slots[slot] = pending.sameSlot;
      else before.sameSlot = pending.sameSlot;
    }
    // Linked to none: see the class comment.
    pending.sameSlot = undefined;
    this.#order.delete(pending);
    this.#size--;
  }

  /** Takes out every request, in the order they came. */
  takeAll(): PendingReply[] {
    const all: PendingReply[] = [];
    for (let each = this.#order.first; each !== undefined;) {
      this.#order.delete(each);
      each.sameSlot = undefined;
      all.push(each);
      each = this.#order.first;
    }
    this.#slots = new Array(FIRST_SLOTS).fill(undefined);
    this.#size = 0;
    return all;
  }

  /** Twice the slots, for more requests waiting than slots. */
  #grow(): void {
    const slots: (PendingReply | undefined)[] = new Array(
      this.#slots.length * 2,
    ).fill(undefined);
    const mask = slots.length - 1;
    for (let each = this.#order.first; each !== undefined; each = each.behind) {
      const slot = each.key & mask;
      each.sameSlot = slots[slot];
      slots[slot] = each;
    }
    this.#slots = slots;
  }
}

/**
 * The key of a reply's `id` in {@link PendingReplies}: its first 8
 * characters, mixed (those of a random UUID are random; other ids only
 * share slots more often).
 */
function replyKey(id: string): number {
  let key = 0;
  const length = Math.min(id.length, 8);
  for (let i = 0; i < length; i++) {
    key = (Math.imul(key, 31) + id.charCodeAt(i)) | 0;
  }
  return key & 0x3fffffff;
}

/** A request whose head was accepted: how to take its body in. */
interface Admitted {
  /** The outbound queue its event goes to. */
  queue: string;
  decode: (body: Uint8Array) => unknown;
  codings: ContentCoding[];
  /** Its Content-Length, when it has one. */
  size: number | undefined;
  /** Its headers, for `header[<name>].headers`. */
  headers: Record<string, string>;
}

/** A request's body being taken in. */
interface Taking {
  /** Bytes of it held (counted in `body_bytes_in_flight`). */
  bytes: number;
  /** Its data, once read and decoded. */
  data: unknown;
}

/** The counters of an `http_server`: the core's, its connections', and its own. */
export interface HttpServerFigures extends ActorFigures, HttpListenerFigures {
  /** Requests whose head arrived (those Deno's engine refused aside). */
  requests_total: number;
  /** Of those, the ones answered with a status of 400 or more. */
  requests_failed_total: number;
  /** Of those, the ones answered 503: no room, or `max_inflight_bytes`. */
  busy_total: number;
  /** Bytes of request bodies held now. */
  body_bytes_in_flight: number;
}

/** The `http_server` input actor. */
export class HttpServer extends Actor implements CertificateHolder {
  readonly kind = "input";
  #options: HttpServerOptions;
  #expected: string | undefined;
  #listener: HttpListener | undefined;
  #port: number | undefined;
  #targets = new Set<string>();
  #gates = new Map<string, Promise<void>>();
  /** Per queue: requests let in whose event is not sent yet. */
  #entered = new Map<string, number>();
  /** Requests waiting for room, to wake when there may be some. */
  #waiters = new Set<() => void>();
  #poll: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #bytes = 0;
  #requests = 0;
  #failed = 0;
  #busy = 0;
  /** Requests waiting for a reply. */
  #pending = new PendingReplies();
  /** The listener of the actor this one replaces, taken over in setup. */
  #inherited: HttpListener | undefined;
  /** It handed its listener to its replacement: leave it open at the end. */
  #handedOver = false;
  /** Requests being handled that have not sent their event yet. */
  #working = 0;
  #idle: PromiseWithResolvers<void> | undefined;
  /** The one timer that ends the waits that reached `response_timeout`. */
  #expiry: ReturnType<typeof setTimeout> | undefined;
  /** Resolves at the end of this turn of the event loop; see #turnEnd. */
  #turnEnding: Promise<void> | undefined;

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

  /** The core's counters, with the connections' and the requests'. */
  override figures(): HttpServerFigures {
    return {
      ...super.figures(),
      ...(this.#listener?.figures() ?? NOT_LISTENING),
      requests_total: this.#requests,
      requests_failed_total: this.#failed,
      busy_total: this.#busy,
      body_bytes_in_flight: this.#bytes,
    };
  }

  /**
   * Reads the `tls` files again for the connections from now on; `false`
   * without `tls` (see `CertificateHolder`).
   */
  reloadCertificates(): boolean {
    return this.#listener?.reloadCertificates() ?? false;
  }

  /**
   * Starts listening, so that a port in use fails the start; or, replacing
   * an `http_server` on the same address in a reload, serves on its socket
   * (see {@link HttpServer.takeOver}).
   */
  override async setup(): Promise<void> {
    this.#targets = new Set(this.pool.branches());
    this.#closed = false;
    const options = this.#options;
    const inherited = this.#inherited;
    this.#listener = inherited ?? await HttpListener.listen(
      {
        ...this.#limits(),
        hostname: options.hostname,
        port: options.port,
        tls: options.tls,
      },
      (request, info) => this.#answer(request, info),
    );
    this.#port = this.#listener.addr.port;
    this.log.info(
      inherited === undefined
        ? "Listening on {scheme}://{hostname}:{port}/"
        : "Taking over the socket listening on {scheme}://{hostname}:{port}/",
      {
        scheme: this.#listener.secure ? "https" : "http",
        hostname: options.hostname,
        port: this.#port,
      },
    );
  }

  /**
   * Reload: serves on the listening socket and the open connections of
   * `previous`, an `http_server` on the same address, instead of opening
   * its own; requests wait for no socket and no client notices. Once the
   * reload commits, new requests are this actor's (with its options and
   * limits); those `previous` has in flight finish there, and the replies
   * they wait for are matched here.
   */
  override takeOver(previous: Actor): Takeover | undefined {
    if (
      !(previous instanceof HttpServer) || previous.#listener === undefined ||
      previous.#handedOver || previous.#closed ||
      // Its socket speaks the TLS it was made with.
      JSON.stringify(previous.#options.tls) !==
        JSON.stringify(this.#options.tls)
    ) return undefined;
    const listener = previous.#listener;
    this.#inherited = listener;
    return {
      commit: () => {
        this.#inherited = undefined;
        previous.#handedOver = true;
        this.#pending = previous.#pending;
        // The replies waited for time out here from now on.
        clearTimeout(previous.#expiry);
        previous.#expiry = undefined;
        this.#expiry ??= this.#expireLater();
        listener.serveWith(
          (request, info) => this.#answer(request, info),
          this.#limits(),
        );
      },
      cancel: () => {
        this.#inherited = undefined;
        if (this.#listener === listener) this.#listener = undefined;
      },
    };
  }

  override async produce(signal: AbortSignal): Promise<void> {
    if (!signal.aborted) {
      await new Promise((resolve) =>
        signal.addEventListener("abort", resolve, { once: true })
      );
    }
    if (!this.#handedOver) {
      await this.#listener?.shutdown();
      return;
    }
    // Handed over: done once the requests in flight sent their events.
    if (this.#working > 0) {
      this.#idle ??= Promise.withResolvers();
      await this.#idle.promise;
    }
  }

  /** The listener's settings from the options (not its address). */
  #limits(): Omit<HttpListenerOptions, "hostname" | "port"> {
    const options = this.#options;
    return {
      log: this.log,
      // `#answer` answers with strings or bytes, never a stream.
      answersInHand: true,
      maxConnections: options.max_connections,
      headerTimeoutMs: options.header_timeout * 1000,
      idleTimeoutMs: options.idle_timeout * 1000,
      bodyTimeoutMs: options.body_timeout * 1000,
    };
  }

  /** Matches a reply with the request waiting for it. */
  override consume(event: Event): void {
    const meta = event.header[this.name];
    const id = isRecord(meta) ? meta.id : undefined;
    const pending = typeof id === "string" ? this.#pending.take(id) : undefined;
    if (pending === undefined) {
      throw new Error(
        `No request waits for a reply with id "${
          String(id)
        }": it timed out, was answered already, or is not a request of this server`,
      );
    }
    pending.resolve(event);
  }

  /**
   * Answers 503 to what still waits (for a reply or for room) and closes
   * the connections still open.
   */
  override async teardown(): Promise<void> {
    // Handed over: the replacement answers what waits, on the listener.
    if (this.#handedOver) return;
    for (const pending of this.#pending.takeAll()) {
      pending.resolve(stopReply(this.name));
    }
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.#closed = true;
    this.#wakeWaiters();
    await this.#listener?.close();
  }

  /**
   * Answers `request`: what can be refused from its head at once, without
   * a promise; the rest by {@link HttpServer.#receive}.
   */
  #answer(
    request: Request,
    info: HttpRequestInfo,
  ): Response | Promise<Response> {
    this.#requests++;
    let checked: Response | Admitted;
    try {
      checked = this.#check(request, info);
    } catch (error) {
      checked = this.#internalError(error);
    }
    if (checked instanceof Response) return this.#finish(request, checked);
    return this.#receive(request, info, checked);
  }

  /**
   * What the head of `request` allows: a refusal (401, 405, 404, 415,
   * 413), or how to take its body in. The request headers are read once,
   * into the record the event carries, and looked up there.
   */
  #check(request: Request, info: HttpRequestInfo): Response | Admitted {
    // One read of the header list, into the record the event carries; the
    // few needed here are looked up in it, with no call into Deno each.
    const headers = requestHeaders(request);
    if (this.#expected !== undefined) {
      const authorization = headers.authorization;
      delete headers.authorization;
      if (!sameText(authorization ?? "", this.#expected)) {
        return jsonError(401, "Missing or wrong bearer token", {
          "www-authenticate": "Bearer",
        });
      }
    }
    if (request.method !== "POST") {
      return jsonError(
        405,
        `Method "${request.method}" is not allowed; use POST`,
        { allow: "POST" },
      );
    }
    const queue = queueOf(info.pathname);
    if (queue === undefined || !this.#targets.has(queue)) {
      return jsonError(404, `No queue "${queue ?? info.pathname}"`);
    }
    const decode = bodyDecoder(headers["content-type"] ?? null, request);
    if (typeof decode === "string") return jsonError(415, decode);
    const codings = contentCodings(headers["content-encoding"] ?? null);
    if (typeof codings === "string") return jsonError(415, codings);
    const max = this.#options.max_body_bytes;
    const length = headers["content-length"];
    const size = length === undefined ? undefined : bodyLength(length);
    // Not `size > max`: a size that is not a number must not pass.
    if (size !== undefined && !(size <= max)) return tooLarge(max);
    return { queue, decode, codings, size, headers };
  }

  /**
   * Reads the body of an admitted request, sends its event and answers:
   * 202 at once, or the reply once it comes back.
   */
  async #receive(
    request: Request,
    info: HttpRequestInfo,
    admitted: Admitted,
  ): Promise<Response> {
    const queue = admitted.queue;
    this.#working++;
    // Until its event is sent (or it gives up), it counts in #working; from
    // when it is let in until then, in #entered.
    let working = true;
    let entered = false;
    const taking: Taking = { bytes: 0, data: undefined };
    let response: Response;
    try {
      entered = this.#enter(queue) || await this.#enterWithin(queue);
      let refusal = entered
        ? this.#readBody(request, admitted, taking, info)
        : this.#closed
        ? jsonError(503, "The server is stopping")
        : this.#refuse(
          `Queue "${queue}" is full: no room within queue_timeout`,
        );
      // Read at once (a JSON body Deno holds whole), or once it came.
      if (refusal instanceof Promise) refusal = await refusal;
      if (refusal !== undefined) {
        response = refusal;
      } else {
        const meta = this.#meta(request, info, admitted);
        const event: Event = {
          header: { [this.name]: meta },
          data: taking.data,
        };
        // Waited for before the event goes: its reply may come at once.
        const reply = this.#options.mode === "request_response"
          ? this.#replyTo(meta.id)
          : undefined;
        this.#deliver(event, queue);
        entered = false;
        this.#leave(queue);
        working = false;
        this.#sent();
        if (reply === undefined) {
          response = Response.json({ id: meta.id }, { status: 202 });
          await this.#turnEnd();
        } else {
          response = this.#answerWith(await reply);
        }
      }
    } catch (error) {
      response = this.#internalError(error);
    } finally {
      if (entered) this.#leave(queue);
      if (working) this.#sent();
      this.#bytes -= taking.bytes;
    }
    // Not awaited: without compression, the answer is ready (a turn less).
    return this.#finish(request, response);
  }

  /** What `header[<name>]` holds on the event of a request. */
  #meta(
    request: Request,
    info: HttpRequestInfo,
    admitted: Admitted,
  ): HttpRequestHeader {
    const meta: HttpRequestHeader = {
      id: crypto.randomUUID(),
      method: request.method,
      path: info.pathname,
      // The parameters' iterator is most of the cost of an empty query.
      query: info.search === ""
        ? {}
        : Object.fromEntries(info.url.searchParams),
      headers: admitted.headers,
    };
    const certificate = info.clientCertificate;
    if (certificate !== undefined) meta.client_certificate = certificate;
    return meta;
  }

  /**
   * The reply to the request `id`, once it comes back, or `undefined` once
   * `response_timeout` passed.
   */
  #replyTo(id: string): Promise<Event | undefined> {
    const waiting = Promise.withResolvers<Event | undefined>();
    this.#pending.add(
      id,
      Date.now() + this.#options.response_timeout * 1000,
      waiting.resolve,
    );
    this.#expiry ??= this.#expireLater();
    return waiting.promise;
  }

  /**
   * Resolves at the end of this turn of the event loop, after the events
   * gathered in it went on. The 202 answers of a turn wait for it, and Deno
   * writes them together. Written one by one as each request is handled,
   * they reach a client that has read the one before and gone to sleep:
   * waking it again for each answer cost about 4 µs of kernel time per
   * request on a 2-core machine, a sixth of the whole.
   */
  #turnEnd(): Promise<void> {
    if (this.#turnEnding === undefined) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#turnEnding = promise;
      setImmediate(() => {
        this.#turnEnding = undefined;
        resolve();
      });
    }
    return this.#turnEnding;
  }

  /** The answer made of `reply`, or 504 without one. */
  #answerWith(reply: Event | undefined): Response {
    if (reply !== undefined) return this.#toResponse(reply);
    return jsonError(
      504,
      `No reply within ${this.#options.response_timeout} s (response_timeout)`,
    );
  }

  /** A request that may send an event no longer will, or sent it. */
  #sent(): void {
    if (--this.#working === 0) this.#idle?.resolve();
  }

  /** The 500 answer to a request whose handling failed, logged. */
  #internalError(error: unknown): Response {
    this.log.error("Failed to answer a request: {error}", {
      error: describe(error),
    });
    return jsonError(500, "Internal server error");
  }

  /** `response`, compressed when asked to; failures counted. */
  #finish(
    request: Request,
    response: Response,
  ): Response | Promise<Response> {
    if (!this.#options.compress) {
      if (response.status >= 400) this.#failed++;
      return response;
    }
    return compressed(request, response).catch((error) =>
      this.#internalError(error)
    ).then((answer) => {
      if (answer.status >= 400) this.#failed++;
      return answer;
    });
  }

  /**
   * Starts the timer that answers, once `response_timeout` passed, the
   * oldest request still waiting for its reply; it goes on while requests
   * wait. One timer for all, not one per request.
   */
  #expireLater(): ReturnType<typeof setTimeout> | undefined {
    const oldest = this.#pending.oldest;
    if (oldest === undefined) return undefined;
    return setTimeout(() => {
      const now = Date.now();
      for (
        let pending = this.#pending.takeExpired(now);
        pending !== undefined;
        pending = this.#pending.takeExpired(now)
      ) pending.resolve(undefined);
      this.#expiry = this.#expireLater();
    }, Math.max(0, oldest.deadline - Date.now()));
  }

  /**
   * Reads the body into `taking.data`, decoded (see `bodyDecoder`); or
   * returns the answer when it cannot be had: 413 over `max_body_bytes`
   * (decoded), 503 over `max_inflight_bytes` (before reading when the size
   * is known and nothing is to be decoded), 400 when it could not be read
   * or decoded (the client went away, `body_timeout` passed and the
   * connection was closed, the compressed data is corrupt, or it is not
   * JSON). The bytes held are added to `taking.bytes`. No promise when
   * there is nothing to wait for: a JSON body Deno's engine holds whole, or
   * none.
   */
  #readBody(
    request: Request,
    admitted: Admitted,
    taking: Taking,
    info: HttpRequestInfo,
  ): Response | undefined | Promise<Response | undefined> {
    const { size, codings, decode } = admitted;
    if (size !== undefined && codings.length === 0) {
      if (!this.#hold(size, taking)) return this.#tooMuch();
      // HTTP framing bounds the body by its Content-Length, checked.
      if (decode === decodeJson) {
        const text = size === 0 ? "" : wholeBodyText(request);
        if (text !== null) {
          info.bodyRead = true;
          return this.#decode(text, jsonOf, taking);
        }
      }
      return this.#readThenDecode(request.bytes(), admitted, taking, info);
    }
    const stream = request.body;
    if (stream === null) return this.#decode(EMPTY, decode, taking);
    return this.#readThenDecode(
      this.#readChunks(stream, codings, taking),
      admitted,
      taking,
      info,
    );
  }

  /** Waits for `reading` (see `HttpRequestInfo.read`), then decodes it. */
  async #readThenDecode(
    reading: Promise<Uint8Array | Response>,
    { codings, decode }: Admitted,
    taking: Taking,
    info: HttpRequestInfo,
  ): Promise<Response | undefined> {
    let body: Uint8Array | Response;
    try {
      body = await info.read(reading);
    } catch (error) {
      this.log.debug("Failed to read a request body: {error}", {
        error: describe(error),
      });
      const what = codings.length === 0
        ? "read"
        : `read and decoded (Content-Encoding ${codings.join(", ")})`;
      return jsonError(
        400,
        `The body could not be ${what}: ${errorMessage(error)}`,
      );
    }
    if (body instanceof Response) return body;
    info.bodyRead = true;
    return this.#decode(body, decode, taking);
  }

  /** Decodes `body` into `taking.data`, or returns the 400 answer. */
  #decode<T>(
    body: T,
    decode: (body: T) => unknown,
    taking: Taking,
  ): Response | undefined {
    try {
      taking.data = decode(body);
    } catch (error) {
      return notJson(error);
    }
    return undefined;
  }

  /**
   * A body of unknown size, or to decode, counted (decoded) and held as it
   * streams in.
   */
  async #readChunks(
    stream: ReadableStream<Uint8Array>,
    codings: ContentCoding[],
    held: Taking,
  ): Promise<Uint8Array | Response> {
    const max = this.#options.max_body_bytes;
    const chunks: Uint8Array[] = [];
    let total = 0;
    let refusal: Response | undefined;
    const take = (chunk: Uint8Array): boolean => {
      total += chunk.length;
      refusal = total > max
        ? tooLarge(max)
        : this.#hold(chunk.length, held)
        ? undefined
        : this.#tooMuch();
      if (refusal !== undefined) return false;
      chunks.push(chunk);
      return true;
    };
    if (codings.length > 0) {
      await readDecoded(stream, codings, take);
      return refusal ?? concatBytes(chunks, total);
    }
    const reader = stream.getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) return concatBytes(chunks, total);
      if (!take(next.value)) {
        // Let go of, the body counts as left unread: its connection is
        // closed unless the rest arrives within body_timeout.
        await reader.cancel().catch(() => {});
        reader.releaseLock();
        return refusal!;
      }
    }
  }

  /** Counts `bytes` more as held, unless that goes over the limit. */
  #hold(bytes: number, held: Taking): boolean {
    if (this.#bytes + bytes > this.#options.max_inflight_bytes) return false;
    this.#bytes += bytes;
    held.bytes += bytes;
    return true;
  }

  #tooMuch(): Response {
    return this.#refuse(
      `Too many bytes of requests in flight (max_inflight_bytes ${this.#options.max_inflight_bytes}); try again later`,
    );
  }

  /** A 503 answer, counted. */
  #refuse(message: string): Response {
    this.#busy++;
    return jsonError(503, message);
  }

  /**
   * Lets a request for `queue` in when there is room for its event now,
   * counting it until {@link HttpServer.#leave}.
   */
  #enter(queue: string): boolean {
    if (this.#gates.has(queue) || this.#closed) return false;
    const entered = this.#entered.get(queue) ?? 0;
    if (entered >= this.#room(queue)) return false;
    this.#entered.set(queue, entered + 1);
    return true;
  }

  /** The request let in for `queue` sent its event (or gave up). */
  #leave(queue: string): void {
    this.#entered.set(queue, this.#entered.get(queue)! - 1);
    if (this.#waiters.size > 0) this.#wakeWaiters();
  }

  /**
   * Events `queue` takes now without making its sender wait: the free
   * capacity of the connected queue (at most a batch) less what is gathered
   * for it. A drop policy always has room.
   */
  #room(queue: string): number {
    const outbound = this.outbound(queue);
    const target = outbound.target;
    if (target === null) return 1;
    const free = target.whenFull === "block"
      ? target.capacity - target.depth - target.waiting
      : MAX_BATCH;
    return Math.min(free, MAX_BATCH) - outbound.gathered;
  }

  /**
   * Waits up to `queue_timeout` to let a request for `queue` in; `false`
   * when there was no room in time.
   */
  async #enterWithin(queue: string): Promise<boolean> {
    let expired = false;
    let wake = () => {};
    const timer = setTimeout(() => {
      expired = true;
      wake();
    }, this.#options.queue_timeout * 1000);
    try {
      while (!expired && !this.#closed) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.#waiters.add(resolve);
          this.#poll ??= setInterval(() => this.#wakeWaiters(), ROOM_POLL_MS);
        });
        this.#waiters.delete(wake);
        if (!expired && this.#enter(queue)) return true;
      }
      return false;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(wake);
    }
  }

  /** Wakes every waiting request to look for room again. */
  #wakeWaiters(): void {
    if (this.#waiters.size === 0) {
      clearInterval(this.#poll);
      this.#poll = undefined;
      return;
    }
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * The one place where this input hands the events it makes on. When the
   * queue makes its sender wait, no request is let in for it until it has
   * room again. The events of the requests that Deno's engine hands over in
   * one turn of the event loop (up to one per connection) go on as one
   * batch at the end of the turn, not as a batch each: every stage then
   * pays its per-batch costs once for them all.
   */
  #deliver(event: Event, queue: string): void {
    gatherThisTurn(this.pool.window, this.#flushTurn);
    const waiting = this.send(event, queue);
    if (waiting !== undefined && !this.#gates.has(queue)) {
      const gate: Promise<void> = waiting.then(() => {
        if (this.#gates.get(queue) === gate) this.#gates.delete(queue);
        this.#wakeWaiters();
      });
      this.#gates.set(queue, gate);
    }
  }

  /**
   * Writes on what the outbound queues gathered this turn, and lets the
   * requests waiting for room look again.
   */
  #flushTurn = (): void => {
    for (const outbound of this.pool.outbound.values()) void outbound.flush();
    if (this.#waiters.size > 0) this.#wakeWaiters();
  };

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
    // Made only when the reply sets headers: the usual answer needs none.
    let headers: Headers | undefined;
    try {
      if (isRecord(response.headers)) {
        headers = new Headers();
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
    const empty = headers === undefined ? { status } : { status, headers };
    if (status === 204 || status === 205 || status === 304) {
      return new Response(null, empty);
    }
    if (failure !== undefined && response.status === undefined) {
      const message = isRecord(failure) && typeof failure.message === "string"
        ? failure.message
        : String(failure);
      return jsonError(
        status,
        message,
        headers === undefined ? {} : Object.fromEntries(headers),
      );
    }
    const data = event.data;
    if (data === undefined) return new Response(null, empty);
    // See `payload`; an `ArrayBuffer` is sent as its bytes too.
    const sent = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    if (headers === undefined) {
      return new Response(payload(sent) as BodyInit, {
        status,
        headers: { "content-type": defaultContentType(sent) },
      });
    }
    if (!headers.has("content-type")) {
      headers.set("content-type", defaultContentType(sent));
    }
    return new Response(payload(sent) as BodyInit, { status, headers });
  }
}

/** Answers smaller than this are not compressed: it would not pay. */
const MIN_COMPRESSED_BYTES = 1024;

/**
 * `response` compressed with the coding `request` accepts (see
 * `acceptedCoding`), when it has a body of {@link MIN_COMPRESSED_BYTES} or
 * more that is not encoded already; else `response` itself.
 */
async function compressed(
  request: Request,
  response: Response,
): Promise<Response> {
  const headers = response.headers;
  if (response.body === null || headers.has("content-encoding")) {
    return response;
  }
  headers.append("vary", "Accept-Encoding");
  const coding = acceptedCoding(request.headers.get("accept-encoding"));
  if (coding === undefined) return response;
  const bytes = await response.bytes();
  const init = { status: response.status, statusText: response.statusText };
  if (bytes.length < MIN_COMPRESSED_BYTES) {
    return new Response(bytes, { ...init, headers });
  }
  headers.set("content-encoding", coding);
  return new Response(compressBytes(bytes, coding), { ...init, headers });
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

/** A JSON body's data (`null` for an empty body); a BOM is dropped. */
function decodeJson(body: Uint8Array): unknown {
  return jsonOf(UTF8.decode(body));
}

/**
 * The data of a body's JSON `text`, from its bytes or as Deno's engine
 * hands it over: a leading BOM dropped, `null` for no text.
 */
function jsonOf(text: string): unknown {
  if (text.length === 0) return null;
  return JSON.parse(text.charCodeAt(0) === BOM ? text.slice(1) : text);
}

/** The 400 answer to a body that is not JSON, saying why. */
function notJson(error: unknown): Response {
  return jsonError(400, `The body is not valid JSON: ${errorMessage(error)}`);
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
  // The usual type, without taking it apart.
  if (type === "application/json") return decodeJson;
  const [essence = "", ...parameters] = type.split(";");
  const mime = essence.trim().toLowerCase();
  if (mime === "application/json" || mime.endsWith("+json")) return decodeJson;
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
 * The size of a body by its Content-Length, which Deno's engine checked: a
 * number, or the same number said more than once, which the headers join
 * into one list (`"7, 7"`; `Number` of that is `NaN`, which no limit
 * stops).
 */
function bodyLength(field: string): number {
  const comma = field.indexOf(",");
  return Number(comma < 0 ? field : field.slice(0, comma));
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

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
