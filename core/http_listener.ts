/**
 * The HTTP server of `http_server` and of the admin server: Deno's own HTTP
 * engine (the one behind `Deno.serve`) on connections that this module
 * accepts, counts and times itself, so that a hostile or broken client
 * cannot take the process down or hold its resources for ever.
 *
 * `Deno.serve` has no connection limit, no header or idle timeout, and stops
 * serving when `accept` fails for lack of file handles. Here the listening
 * socket is a `Deno.listen` one: each accepted connection is served by
 * Deno's per-connection HTTP server (HTTP/1.1 with keep-alive and
 * pipelining, or HTTP/2), and this module
 *
 * - keeps at most `maxConnections` open: a new connection closes the one
 *   idle the longest (a connection that has not sent its first request gets
 *   a second, or `headerTimeoutMs` when shorter, before it counts as idle),
 *   or is closed at once when no connection is idle;
 * - closes a connection that sends no complete request head within
 *   `headerTimeoutMs` of connecting, one kept alive with no request for
 *   `idleTimeoutMs`, one whose request body the handler could not read
 *   within `bodyTimeoutMs` (see {@link HttpRequestInfo.read}), and one
 *   answered before the end of its body was read (the handler did not read
 *   it, or let go of it: cancelled it and released its reader) whose rest
 *   does not arrive within `bodyTimeoutMs`;
 * - survives failing accepts (out of file handles, `EMFILE`): it closes the
 *   connection idle the longest to free a handle, backs off (5 ms doubling
 *   up to 1 s, as Go's `net/http` does) when none is idle, and resumes;
 *   failures are logged at most once a second, with their count;
 * - drains on {@link HttpListener.shutdown}: it stops accepting, closes idle
 *   connections and finishes every request in flight.
 *
 * Deno's engine itself bounds a request head (it answers 400 to a head over
 * its limit or with more than 100 fields). Request bodies are read by the
 * handler, which bounds what it reads (see `http_server`). The timeouts are
 * checked by one timer (every quarter of the shortest, at most every
 * second), never by a timer per request.
 *
 * @module
 */

import { isOutOfResources } from "./accept.ts";
import { type InLine, Lineup } from "./lineup.ts";
import { type ActorLog, describe } from "./actor.ts";
import {
  type Accepted,
  listenPlain,
  listenStream,
  type StreamListener,
} from "./stream_listener.ts";
import type { ServerTlsOptions } from "./tls.ts";
import { setOwn } from "./own.ts";

/** The limits of an {@link HttpListener}. */
export interface HttpLimits {
  /** Most connections open at once (default 1000). */
  maxConnections: number;
  /**
   * Milliseconds a new connection has to send its first request head
   * (default 10 000).
   */
  headerTimeoutMs: number;
  /**
   * Milliseconds a kept-alive connection may wait for its next request
   * (default 60 000); the next request's head must arrive within it.
   */
  idleTimeoutMs: number;
  /**
   * Milliseconds a request body read through {@link HttpRequestInfo.read} may
   * take (default 30 000); the connection is closed after.
   */
  bodyTimeoutMs: number;
}

/**
 * The limits an {@link HttpListener} has unless told otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_HTTP_LIMITS } from "./http_listener.ts";
 * assert.equal(DEFAULT_HTTP_LIMITS.maxConnections, 1000);
 * ```
 */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 1000,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  bodyTimeoutMs: 30_000,
});

/** Settings of an {@link HttpListener}. */
export interface HttpListenerOptions extends Partial<HttpLimits> {
  /** The address to listen on, e.g. `"127.0.0.1"`. */
  hostname: string;
  /** The TCP port to listen on; 0 picks a free one. */
  port: number;
  /** Where failed accepts, refused connections and handler errors go. */
  log: ActorLog;
  /**
   * Serve HTTPS with these files (see `ServerTlsSchema`): only through
   * {@link HttpListener.listen}, which listens with them.
   */
  tls?: ServerTlsOptions | undefined;
  /**
   * Accept from this listener (e.g. a TLS one from `listenStream`) rather
   * than listening on `hostname:port`.
   */
  listener?: StreamListener | undefined;
  /**
   * Every answer of the handler has its body in hand (a string, bytes or
   * none, never a stream): its connection is idle as soon as the answer is
   * handed over, without waiting for Deno to say it was sent. Default
   * `false`, which a streamed answer (an admin tap) needs: until its stream
   * ends, its connection is busy, neither shed nor timed out as idle.
   */
  answersInHand?: boolean | undefined;
}

/** The counters of an {@link HttpListener}. */
export interface HttpListenerFigures {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since the start. */
  connections_total: number;
  /** Connections closed at once: `maxConnections` had requests in flight. */
  connections_refused_total: number;
  /**
   * Idle connections closed to make room for a new one (at
   * `maxConnections`, or out of file handles).
   */
  connections_shed_total: number;
  /**
   * Connections closed by `headerTimeoutMs`, `idleTimeoutMs` or
   * `bodyTimeoutMs`.
   */
  connections_timed_out_total: number;
  /** Failed accepts (e.g. out of file handles). */
  accept_errors_total: number;
}

/** What a handler gets besides the request: Deno's, and more. */
export interface HttpRequestInfo extends Deno.ServeHandlerInfo<Deno.NetAddr> {
  /**
   * The request's URL, parsed. A request whose URL does not parse (a Host
   * header that names no host) is answered 400 before the handler. A plain
   * URL (see {@link plainPath}) is parsed only when this is read.
   */
  readonly url: URL;
  /** The path of the URL, as `url.pathname` gives it. */
  readonly pathname: string;
  /** The query of the URL with its `?`, as `url.search` gives it. */
  readonly search: string;
  /**
   * Settles as `reading` (the reading of the request body) does, but closes
   * the connection when that takes longer than `bodyTimeoutMs`, which makes
   * `reading` fail. Costs no timer.
   */
  read<T>(reading: Promise<T>): Promise<T>;
  /**
   * Set by the handler once it read the whole body. The listener then need
   * not look at the body when the answer leaves (which makes its stream,
   * most of a small request's cost) to tell whether some of it is unread.
   */
  bodyRead: boolean;
  /**
   * The subject of the certificate the client presented, e.g.
   * `"CN=agent-7, O=Example"` (only with `client_auth`).
   */
  readonly clientCertificate: string | undefined;
}

/** A handler of requests, as for `Deno.serve`. */
export type HttpHandler = (
  request: Request,
  info: HttpRequestInfo,
) => Response | Promise<Response>;

/** The handler Deno's engine calls. */
type EngineHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** What Deno's per-connection HTTP server returns. */
interface ConnectionServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * What Deno's per-connection HTTP server takes as its signal: all it does
 * with it is listen for "abort", and cancel the connection then.
 */
interface KillSwitch {
  addEventListener(type: "abort", listener: () => void): void;
}

/** Deno's per-connection HTTP server (the engine of `Deno.serve`). */
type ServeOnConnection = (
  conn: Deno.Conn,
  signal: KillSwitch,
  handler: EngineHandler,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => ConnectionServer;

/**
 * Deno's per-connection HTTP server. It is internal to Deno (it serves
 * `Deno.serveHttp` and `node:http2`); a Deno without it fails here, and the
 * tests say so, rather than serving without limits.
 */
function serveOnConnection(): ServeOnConnection {
  const deno = Deno as unknown as Record<string | symbol, unknown>;
  const internal = deno[deno.internal as symbol] as
    | Record<string, unknown>
    | undefined;
  const serve = internal?.serveHttpOnConnection;
  if (typeof serve !== "function") {
    throw new TypeError(
      `This Deno (${Deno.version.deno}) does not serve HTTP per connection (serveHttpOnConnection): the HTTP servers need Deno 2.9`,
    );
  }
  return serve as ServeOnConnection;
}

/** The key of Deno's own request inside a `Request`, once found. */
let innerRequestKey: symbol | null | undefined;

/**
 * Deno's own object behind a `Request` its HTTP engine made (internal to
 * Deno: it reads the request from the engine on demand), or `undefined`
 * for any other `Request`, or on a Deno that has no such object.
 */
function engineRequest(request: Request): EngineRequest | undefined {
  innerRequestKey ??=
    Object.getOwnPropertySymbols(request).find((key) =>
      key.description === "request"
    ) ?? null;
  if (innerRequestKey === null) return undefined;
  const inner = (request as unknown as Record<symbol, unknown>)[
    innerRequestKey
  ] as Partial<EngineRequest> | undefined;
  // What only the engine's requests have.
  return typeof inner?.consumeTextBody === "function"
    ? inner as EngineRequest
    : undefined;
}

/** What {@link engineRequest} uses of Deno's request object. */
interface EngineRequest {
  /** The body's text when the engine holds it whole, else `null`. */
  consumeTextBody(): unknown;
  /** The header fields as received: names as written, in their order. */
  readonly headerList: unknown;
}

/**
 * The text of `request`'s body, taken whole from Deno's HTTP engine with no
 * promise and no copy in between: the engine's own fast path of
 * `Request.json()`, which is internal to Deno. `null` when it cannot be had
 * so: the engine does not hold the whole body yet (it is still arriving, or
 * larger than a read), the body was read already, `request` was not served
 * by Deno, or this Deno has no such path; read it the usual way then. Bad
 * UTF-8 is replaced, as `TextDecoder` does; a BOM is kept.
 *
 * Reading the bytes and decoding them costs about 2.5 µs a request more,
 * a tenth of what a small POST costs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wholeBodyText } from "./http_listener.ts";
 *
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (request) => new Response(wholeBodyText(request) ?? "(not whole)"),
 * );
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`, {
 *   method: "POST",
 *   body: '{"n":1}',
 * });
 * assert.equal(await response.text(), '{"n":1}');
 * const made = new Request("http://x/", { method: "POST", body: "a" });
 * assert.equal(wholeBodyText(made), null);
 * await server.shutdown();
 * ```
 */
export function wholeBodyText(request: Request): string | null {
  try {
    const text = engineRequest(request)?.consumeTextBody();
    return typeof text === "string" ? text : null;
  } catch {
    return null;
  }
}

/**
 * The header fields of `request` as a record: lower-case names, each value
 * as `Headers.get` gives it (the values of a name said twice joined with
 * ", ", Set-Cookie too). A request of Deno's HTTP engine is read from the
 * engine, as received (about 1.2 µs a request less than walking
 * `request.headers`: once a handler looked at those, Deno copies the whole
 * list again when the answer goes); any other the usual way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestHeaders } from "./http_listener.ts";
 *
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (request) => Response.json(requestHeaders(request)),
 * );
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`, {
 *   headers: [["X-Tag", "a"], ["x-tag", "b"]],
 * });
 * assert.equal((await response.json())["x-tag"], "a, b");
 * const made = new Request("http://x/", { headers: { "X-Tag": "c" } });
 * assert.deepEqual(requestHeaders(made), { "x-tag": "c" });
 * await server.shutdown();
 * ```
 */
export function requestHeaders(request: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  let list: unknown;
  try {
    list = engineRequest(request)?.headerList;
  } catch {
    // Closed: as any other request.
  }
  if (!Array.isArray(list)) {
    // Each value as `get` joins it: the walk of Headers gives each
    // Set-Cookie on its own, and (Deno 2.9) a name said twice with empty
    // values as "", not ", ".
    const fields = request.headers;
    for (const name of fields.keys()) {
      setOwn(headers, name, fields.get(name)!);
    }
    return headers;
  }
  for (let i = 0; i < list.length; i++) {
    const [field, value] = list[i] as [string, string];
    // As the client wrote it: Deno's engine keeps the case of HTTP/1 names.
    const name = field.toLowerCase();
    const had = headers[name];
    // Not `had === undefined`: a field named "constructor" finds the one of
    // Object.prototype, a function, and must not be joined to it.
    setOwn(
      headers,
      name,
      typeof had === "string" ? `${had}, ${value}` : value,
    );
  }
  return headers;
}

/**
 * The characters a path may have for {@link plainPath}: those the URL
 * parser keeps as they are, less `.` (a dot segment would be resolved) and
 * `%` (an encoded dot would be too).
 */
const PLAIN_PATH_CHARACTERS = new Uint8Array(128);
for (
  const character
    of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~!$&'()*+,;=:@/"
) {
  PLAIN_PATH_CHARACTERS[character.charCodeAt(0)] = 1;
}

/**
 * The path of `href`, a request's URL as Deno's engine writes it, when the
 * URL needs no parsing to know that it is valid and what its `pathname`
 * is: `http` or `https`, a host name (labels of letters, digits and `-`,
 * the last one starting with a letter, none starting with `xn`) or an IPv4
 * address of four numbers up to 255, a port up to 65535, no query, and a
 * path with no dot and no character the URL parser would change (no `%`,
 * `\`, `^`, `"`, ...). `undefined` for any other URL: parse it. Parsing the
 * URL of each request cost `http_server` about 2,800 instructions (4% of
 * all it does for a request, counted under callgrind).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plainPath } from "./http_listener.ts";
 *
 * assert.equal(plainPath("http://127.0.0.1:8080/orders"), "/orders");
 * assert.equal(plainPath("https://logs.example.com/a/b"), "/a/b");
 * assert.equal(plainPath("http://127.0.0.1:8080/orders?x=1"), undefined);
 * assert.equal(plainPath("http://127.0.0.1:8080/a/../orders"), undefined);
 * assert.equal(plainPath("http://999.0.0.1/orders"), undefined);
 * ```
 */
export function plainPath(href: string): string | undefined {
  const start = href.startsWith("http://")
    ? 7
    : href.startsWith("https://")
    ? 8
    : -1;
  if (start < 0) return undefined;
  const hostEnd = plainHostEnd(href, start);
  if (hostEnd < 0) return undefined;
  let pathStart = hostEnd;
  if (href.charCodeAt(hostEnd) === COLON) {
    let port = 0;
    for (pathStart = hostEnd + 1; pathStart < href.length; pathStart++) {
      const digit = href.charCodeAt(pathStart) - ZERO;
      if (digit < 0 || digit > 9) break;
      port = port * 10 + digit;
      if (port > 65535) return undefined;
    }
  }
  if (href.charCodeAt(pathStart) !== SLASH) return undefined;
  for (let i = pathStart + 1; i < href.length; i++) {
    if (PLAIN_PATH_CHARACTERS[href.charCodeAt(i)] !== 1) return undefined;
  }
  return href.slice(pathStart);
}

const COLON = 0x3a;
const SLASH = 0x2f;
const DOT = 0x2e;
const HYPHEN = 0x2d;
const ZERO = 0x30;
const LOWER_X = 0x78;
const LOWER_N = 0x6e;

/** The code unit `code` in lower case, when it is an ASCII letter. */
function lowerLetter(code: number): number {
  return code | 0x20;
}

/** Whether the code unit `code` is an ASCII letter. */
function isLetter(code: number): boolean {
  const lower = lowerLetter(code);
  return lower >= 0x61 && lower <= 0x7a;
}

/**
 * Where the host of a URL that starts at `start` ends (at its `:` or `/`,
 * or the end), when it is plain for {@link plainPath}; -1 otherwise.
 */
function plainHostEnd(href: string, start: number): number {
  // The labels read, and how many of them were all digits.
  let labels = 0;
  let numbers = 0;
  // The label being read: where it starts, whether it is all digits, and
  // its number (256 for any above 255).
  let labelStart = start;
  let digits = true;
  let number = 0;
  let end = start;
  for (;; end++) {
    const code = end < href.length ? href.charCodeAt(end) : SLASH;
    if (code === DOT || code === COLON || code === SLASH) {
      // Empty labels (and a last dot) are left to the parser.
      if (end === labelStart) return -1;
      labels++;
      if (digits) {
        // A leading 0 would be octal, a number over 255 invalid.
        const leadingZero = end - labelStart > 1 &&
          href.charCodeAt(labelStart) === ZERO;
        if (leadingZero || number > 255) return -1;
        numbers++;
      } else if (
        // "xn" could start Punycode, which the parser checks.
        lowerLetter(href.charCodeAt(labelStart)) === LOWER_X &&
        lowerLetter(href.charCodeAt(labelStart + 1)) === LOWER_N
      ) {
        return -1;
      }
      if (code !== DOT) break;
      labelStart = end + 1;
      number = 0;
      digits = true;
      continue;
    }
    if (code >= ZERO && code <= ZERO + 9) {
      number = number * 10 + code - ZERO;
      if (number > 255) number = 256;
    } else if (isLetter(code) || code === HYPHEN) {
      digits = false;
    } else {
      return -1;
    }
  }
  // A name whose last label starts with a letter, or an IPv4 address.
  const named = numbers < labels && isLetter(href.charCodeAt(labelStart));
  return named || (numbers === 4 && labels === 4) ? end : -1;
}

/** Longest pause between two failing accepts, in ms. */
const MAX_ACCEPT_DELAY_MS = 1000;

/**
 * How long a new connection may wait to send its first request before it
 * may be closed to make room for another, in ms (at most `headerTimeoutMs`).
 */
const FRESH_GRACE_MS = 1000;

/** How often refused connections and failed accepts are logged, in ms. */
const REPORT_INTERVAL_MS = 1000;

/** A body being read, and the connection to close when it takes too long. */
interface Reading extends InLine<Reading> {
  since: number;
  connection: Connection;
}

/** The {@link HttpRequestInfo} of one request. */
class RequestInfo implements HttpRequestInfo {
  readonly pathname: string;
  bodyRead = false;
  #info: Deno.ServeHandlerInfo<Deno.NetAddr>;
  #href: string;
  #url: URL | undefined;
  #connection: Connection;

  /** `url` is `href` parsed, or `undefined` when `href` is plain. */
  constructor(
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
    href: string,
    url: URL | undefined,
    pathname: string,
    connection: Connection,
  ) {
    this.#info = info;
    this.#href = href;
    this.#url = url;
    this.pathname = pathname;
    this.#connection = connection;
  }

  get url(): URL {
    return this.#url ??= new URL(this.#href);
  }

  get search(): string {
    // A plain URL has no query.
    return this.#url?.search ?? "";
  }

  /** The client's address (not the private socket a TLS bridge uses). */
  get remoteAddr(): Deno.NetAddr {
    return this.#connection.remoteAddr;
  }

  get clientCertificate(): string | undefined {
    return this.#connection.clientCertificate;
  }

  get completed(): Promise<void> {
    return this.#info.completed;
  }

  read<T>(reading: Promise<T>): Promise<T> {
    return this.#connection.read(reading);
  }
}

/**
 * One accepted connection. It is closed once, one of two ways: `end()`
 * (Deno's graceful shutdown: at once without a request in flight, else once
 * answered) or `kill()` (at once, requests in flight included). Deno throws
 * an uncaught error when a connection is killed after `end()` or after it
 * closed, so `kill()` is only for connections never ended that have a
 * request in flight or a body left unread, and the rest is ended.
 */
class Connection implements InLine<Connection> {
  /** Its place among the fresh, idle or unread connections. */
  lineup: Lineup<Connection> | undefined;
  ahead: Connection | undefined;
  behind: Connection | undefined;
  /** Requests in flight (more than one only with HTTP/2). */
  active = 0;
  /**
   * The body of its last request when that was answered without reading
   * it: Deno's engine reads the rest before the next request, or before a
   * graceful close, for as long as the client takes to send it.
   */
  unreadBody: ReadableStream<Uint8Array> | undefined;
  /** Since when (ms) it is fresh or idle. */
  since: number;
  /** How it is being closed, if it is. */
  closing: "ended" | "killed" | undefined;
  /** Resolves once the connection is closed; never rejects. */
  finished: Promise<void> = Promise.resolve();
  /** What cancels it in Deno's engine, once served. */
  #cancel: (() => void) | undefined;
  #server: ConnectionServer | undefined;
  #readings: Lineup<Reading>;

  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The subject of the client's certificate, with `client_auth`. */
  readonly clientCertificate: string | undefined;

  constructor(
    since: number,
    readings: Lineup<Reading>,
    accepted: Accepted,
  ) {
    this.since = since;
    this.#readings = readings;
    this.remoteAddr = accepted.remoteAddr;
    this.clientCertificate = accepted.clientCertificate;
  }

  /**
   * The signal that kills it, for Deno's engine. Not an `AbortSignal`: the
   * engine's listener of one throws once the engine has begun to close the
   * connection (its handle is gone), and an error thrown by an event
   * listener is uncaught and ends the process. A stop under load (requests
   * answered 503 with their bodies unread, clients going away) killed
   * connections in that window and took the process down. Here the
   * listener is called in `kill()`, where what it throws is caught.
   */
  readonly signal: KillSwitch = {
    addEventListener: (_type, listener) => this.#cancel = listener,
  };

  /** Starts closing it when `whenClosed` resolves (never rejects). */
  served(server: ConnectionServer, whenClosed: () => void): void {
    this.#server = server;
    // A connection fails when its client resets it or goes away while it
    // is written to: routine, and the client's own doing.
    this.finished = server.finished.then(() => {
      this.closing ??= "ended";
      whenClosed();
    }, () => {
      this.closing ??= "ended";
      whenClosed();
    });
  }

  /** Closes it once its requests in flight are answered. */
  end(): void {
    if (this.closing !== undefined) return;
    this.closing = "ended";
    this.#server?.shutdown().catch(() => {});
  }

  /** Closes it now, requests in flight included; see the class comment. */
  kill(): void {
    if (this.closing !== undefined) return;
    this.closing = "killed";
    // Cancelled, an unread body does not reject unobserved.
    this.unreadBody?.cancel().catch(() => {});
    try {
      this.#cancel?.();
    } catch {
      // The engine is closing it already.
    }
  }

  /** See {@link HttpRequestInfo.read}. */
  read<T>(reading: Promise<T>): Promise<T> {
    const entry: Reading = {
      since: Date.now(),
      connection: this,
      lineup: undefined,
      ahead: undefined,
      behind: undefined,
    };
    const readings = this.#readings;
    readings.add(entry);
    // Not `finally`, which costs two promises and two turns more.
    return reading.then((value) => {
      readings.delete(entry);
      return value;
    }, (error) => {
      readings.delete(entry);
      throw error;
    });
  }
}

/**
 * Serves HTTP on `hostname:port` with `handler`, within limits (see the
 * module documentation). It listens at once: a port in use throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { HttpListener } from "./http_listener.ts";
 *
 * const listener = new HttpListener(
 *   { hostname: "127.0.0.1", port: 0, log: getLogger(["demo"]), maxConnections: 10 },
 *   () => new Response("hello"),
 * );
 * const response = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
 * assert.equal(await response.text(), "hello");
 * assert.equal(listener.figures().connections_total, 1);
 * await listener.shutdown();
 * ```
 */
export class HttpListener {
  /** The address listened on (the port picked when 0 was asked). */
  readonly addr: Deno.NetAddr;
  /** Resolves once shut down and every connection is closed. */
  readonly finished: Promise<void>;
  #limits: HttpLimits;
  #log: ActorLog;
  #handler: HttpHandler;
  /** See {@link HttpListenerOptions.answersInHand}. */
  #answersInHand: boolean;
  #serve: ServeOnConnection;
  #listener: StreamListener;
  /** Every connection not closed yet. */
  #open = new Set<Connection>();
  /** Of those, the ones this listener is closing. */
  #closing = new Set<Connection>();
  /** Connections waiting for their first request head, oldest first. */
  #fresh = new Lineup<Connection>();
  /** Kept-alive connections with no request in flight, idle longest first. */
  #idle = new Lineup<Connection>();
  /**
   * Connections whose last request was answered before its body was read,
   * oldest first: killed when no next request came within the body timeout
   * (a client that trickles a refused body), since ending them would wait
   * for the whole body.
   */
  #unread = new Lineup<Connection>();
  /** Bodies being read, oldest first. */
  #readings = new Lineup<Reading>();
  #stopping = false;
  #wake: (() => void) | undefined;
  #sweeper: ReturnType<typeof setInterval>;
  #shutdown: Promise<void> | undefined;
  #figures: Omit<HttpListenerFigures, "connections"> = {
    connections_total: 0,
    connections_refused_total: 0,
    connections_shed_total: 0,
    connections_timed_out_total: 0,
    accept_errors_total: 0,
  };
  /** What was reported last: figures and time. */
  #reported = { refused: 0, acceptErrors: 0, shed: 0, at: 0 };
  #lastAcceptError: unknown;
  #onError = (error: unknown): Response => {
    this.#log.error("Failed to answer a request: {error}", {
      error: describe(error),
    });
    return Response.json({ error: "Internal server error" }, { status: 500 });
  };

  /**
   * Listens on `options.hostname:options.port`, with TLS when `options.tls`
   * is given, and starts accepting. Rejects when the address cannot be
   * bound or a TLS file is unusable.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getLogger } from "@logtape/logtape";
   * import { HttpListener } from "./http_listener.ts";
   * const listener = await HttpListener.listen(
   *   { hostname: "127.0.0.1", port: 0, log: getLogger(["demo"]) },
   *   () => new Response("hi"),
   * );
   * assert.equal(listener.secure, false);
   * await listener.shutdown();
   * ```
   */
  static async listen(
    options: HttpListenerOptions,
    handler: HttpHandler,
  ): Promise<HttpListener> {
    if (options.tls === undefined || options.listener !== undefined) {
      return new HttpListener(options, handler);
    }
    const listener = await listenStream({
      hostname: options.hostname,
      port: options.port,
      tls: options.tls,
      alpnProtocols: ["h2", "http/1.1"],
      handshakeTimeoutMs: options.headerTimeoutMs ??
        DEFAULT_HTTP_LIMITS.headerTimeoutMs,
      log: options.log,
    });
    try {
      return new HttpListener({ ...options, listener }, handler);
    } catch (error) {
      listener.close();
      throw error;
    }
  }

  /**
   * Listens on `options.hostname:options.port` (or accepts from
   * `options.listener`) and starts accepting. A port in use throws; TLS
   * needs {@link HttpListener.listen}.
   */
  constructor(options: HttpListenerOptions, handler: HttpHandler) {
    if (options.tls !== undefined && options.listener === undefined) {
      throw new TypeError(
        "HttpListener: TLS needs HttpListener.listen(), which reads the certificate files",
      );
    }
    this.#serve = serveOnConnection();
    this.#limits = httpLimits(options);
    this.#log = options.log;
    this.#handler = handler;
    this.#answersInHand = options.answersInHand === true;
    this.#listener = options.listener ??
      listenPlain(options.hostname, options.port);
    this.addr = this.#listener.addr;
    this.#sweeper = this.#startSweeping();
    this.#reported.at = Date.now();
    this.finished = this.#accept();
  }

  /**
   * Serves with `handler`, `log` and the limits of `options` from now on,
   * on the same socket and connections: a reload hands the listener of an
   * actor to its replacement, and clients notice nothing. Requests in
   * flight finish with the handler they started with. Throws a
   * `RangeError`, changing nothing, for a limit that is not above 0.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { getLogger } from "@logtape/logtape";
   * import { HttpListener } from "./http_listener.ts";
   *
   * const log = getLogger(["demo"]);
   * const listener = new HttpListener(
   *   { hostname: "127.0.0.1", port: 0, log },
   *   () => new Response("before"),
   * );
   * listener.serveWith(() => new Response("after"), { log, maxConnections: 5 });
   * const response = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
   * assert.equal(await response.text(), "after");
   * await listener.shutdown();
   * ```
   */
  serveWith(
    handler: HttpHandler,
    options: Omit<HttpListenerOptions, "hostname" | "port">,
  ): void {
    const limits = httpLimits(options);
    this.#handler = handler;
    this.#answersInHand = options.answersInHand === true;
    this.#log = options.log;
    this.#limits = limits;
    if (this.#shutdown === undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = this.#startSweeping();
    }
  }

  /** Sweeps the connections at a period fit for the shortest timeout. */
  #startSweeping(): ReturnType<typeof setInterval> {
    const limits = this.#limits;
    const shortest = Math.min(
      limits.headerTimeoutMs,
      limits.idleTimeoutMs,
      limits.bodyTimeoutMs,
    );
    const period = Math.min(Math.max(shortest / 4, 5), REPORT_INTERVAL_MS);
    return setInterval(() => this.#sweep(), period);
  }

  /** Whether it serves HTTPS. */
  get secure(): boolean {
    return this.#listener.secure;
  }

  /**
   * Reads the certificate files again for the connections from now on
   * (see `StreamListener.reloadCertificates`); `false` without TLS.
   */
  reloadCertificates(): boolean {
    return this.#listener.reloadCertificates();
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size - this.#closing.size;
  }

  /** The counters; see {@link HttpListenerFigures}. */
  figures(): HttpListenerFigures {
    return { connections: this.connections, ...this.#figures };
  }

  /**
   * Stops accepting, closes the idle connections and resolves once every
   * request in flight is answered and every connection closed.
   */
  shutdown(): Promise<void> {
    if (this.#shutdown === undefined) {
      this.#stopping = true;
      this.#wake?.();
      this.#listener.close();
      this.#shutdown = this.finished;
    }
    return this.#shutdown;
  }

  /**
   * Closes every connection now, requests in flight included (their clients
   * get no answer), and stops accepting; resolves once all are closed.
   */
  async close(): Promise<void> {
    const shutdown = this.shutdown();
    for (const connection of this.#open) {
      this.#close(connection, connection.active > 0);
    }
    await shutdown;
  }

  async #accept(): Promise<void> {
    let delay = 0;
    while (!this.#stopping) {
      let accepted: Accepted;
      try {
        accepted = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping) break;
        this.#figures.accept_errors_total++;
        this.#lastAcceptError = error;
        // A connection its client reset before it was accepted: the next
        // one may be fine.
        if (!isOutOfResources(error)) continue;
        // Free a file handle: close the connection idle the longest.
        const victim = this.#oldestIdle(Date.now());
        if (victim !== undefined) {
          this.#shed(victim);
          await this.#pause(victim.finished, MAX_ACCEPT_DELAY_MS);
          continue;
        }
        delay = Math.min(delay === 0 ? 5 : delay * 2, MAX_ACCEPT_DELAY_MS);
        await this.#pause(undefined, delay);
        continue;
      }
      delay = 0;
      this.#admit(accepted);
    }
    // Drain: idle connections close now, busy ones once answered (in
    // #answered), so that they can still be killed meanwhile.
    for (const connection of this.#open) {
      if (connection.active === 0) {
        this.#close(connection, connection.unreadBody !== undefined);
      }
    }
    while (this.#open.size > 0) {
      await Promise.all([...this.#open].map((each) => each.finished));
    }
    clearInterval(this.#sweeper);
    this.#report(Date.now(), true);
  }

  /** Waits for `promise` or `ms`, whichever is first, or for shutdown. */
  async #pause(promise: Promise<void> | undefined, ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const woken = new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    await (promise === undefined ? woken : Promise.race([promise, woken]));
    clearTimeout(timer);
    this.#wake = undefined;
  }

  #admit(accepted: Accepted): void {
    const conn = accepted.conn;
    this.#figures.connections_total++;
    const now = Date.now();
    if (this.connections >= this.#limits.maxConnections) {
      const victim = this.#oldestIdle(now);
      if (victim === undefined) {
        this.#figures.connections_refused_total++;
        conn.close();
        return;
      }
      this.#shed(victim);
    }
    const connection = new Connection(now, this.#readings, accepted);
    const handler: EngineHandler = (request, info) => {
      if (connection.active++ === 0) {
        this.#fresh.delete(connection);
        this.#idle.delete(connection);
        // A next request: the engine finished reading the last body.
        if (this.#unread.delete(connection)) connection.unreadBody = undefined;
      }
      // Deno's Request gives no body once answered: before the answer
      // goes, keep the body's stream when nobody read it. Only then: making
      // the stream of every request doubled the CPU time of a small POST.
      let requestInfo: RequestInfo | undefined;
      // The handler's, as the request came (a reload may change it).
      const answersInHand = this.#answersInHand;
      const answering = <T>(answer: T): T => {
        const unread = requestInfo?.bodyRead === true
          ? undefined
          : unreadBody(request);
        if (unread === undefined && answersInHand && !this.#stopping) {
          // The usual answer: its body is in hand, and the connection is
          // idle from now on as far as closing it goes (an end() lets it be
          // written first), without waiting for Deno to say it was sent.
          this.#answered(connection, undefined);
        } else {
          // A streamed answer keeps its connection busy until it ends, and
          // closing it now could cut the answer off: once written.
          const done = () => this.#answered(connection, unread);
          info.completed.then(done, done);
        }
        return answer;
      };
      let href: string;
      let url: URL | undefined;
      let pathname: string | undefined;
      try {
        href = request.url;
        pathname = plainPath(href);
        if (pathname === undefined) {
          url = new URL(href);
          pathname = url.pathname;
        }
      } catch {
        return answering(Response.json(
          { error: "The request's URL is not valid (see its Host header)" },
          { status: 400 },
        ));
      }
      let answer: Response | Promise<Response>;
      try {
        requestInfo = new RequestInfo(info, href, url, pathname, connection);
        answer = this.#handler(request, requestInfo);
      } catch (error) {
        answering(undefined);
        throw error;
      }
      if (!(answer instanceof Promise)) return answering(answer);
      return answer.then(answering, (error) => {
        answering(undefined);
        throw error;
      });
    };
    let server: ConnectionServer;
    try {
      server = this.#serve(
        conn,
        connection.signal,
        handler,
        this.#onError,
        () => {},
      );
    } catch (error) {
      this.#log.error("Failed to serve a connection: {error}", {
        error: describe(error),
      });
      conn.close();
      return;
    }
    connection.served(server, () => this.#forget(connection));
    this.#open.add(connection);
    this.#fresh.add(connection);
  }

  /**
   * A request of `connection` was answered (or failed); `unreadBody` is its
   * body when it was answered without reading it.
   */
  #answered(
    connection: Connection,
    unreadBody: ReadableStream<Uint8Array> | undefined,
  ): void {
    if (unreadBody !== undefined) connection.unreadBody = unreadBody;
    if (--connection.active > 0 || connection.closing !== undefined) return;
    if (this.#stopping) {
      this.#close(connection, connection.unreadBody !== undefined);
      return;
    }
    connection.since = Date.now();
    if (connection.unreadBody !== undefined) this.#unread.add(connection);
    else this.#idle.add(connection);
  }

  /** `connection` is closed. */
  #forget(connection: Connection): void {
    if (!this.#open.delete(connection)) return;
    // A body read in part and let go of holds the connection's socket open
    // until cancelled.
    connection.unreadBody?.cancel().catch(() => {});
    this.#fresh.delete(connection);
    this.#idle.delete(connection);
    this.#unread.delete(connection);
    this.#closing.delete(connection);
  }

  /**
   * The connection without a request in flight for the longest time; a new
   * one only once it had its grace to send a request.
   */
  #oldestIdle(now: number): Connection | undefined {
    const grace = Math.min(FRESH_GRACE_MS, this.#limits.headerTimeoutMs);
    const oldest = this.#fresh.first;
    const fresh = oldest !== undefined && now - oldest.since >= grace
      ? oldest
      : undefined;
    const idle = this.#idle.first;
    if (fresh === undefined) return idle;
    if (idle === undefined) return fresh;
    return fresh.since <= idle.since ? fresh : idle;
  }

  /** Closes idle `connection` now, to make room for another. */
  #shed(connection: Connection): void {
    this.#figures.connections_shed_total++;
    this.#close(connection, false);
  }

  /**
   * Closes `connection`: kills it when `kill` (it has a request in flight
   * that must not be waited for), else ends it.
   */
  #close(connection: Connection, kill: boolean): void {
    this.#fresh.delete(connection);
    this.#idle.delete(connection);
    this.#unread.delete(connection);
    if (connection.closing !== undefined) return;
    this.#closing.add(connection);
    if (kill) connection.kill();
    else connection.end();
  }

  /** Closes the connections past their timeout; reports once a second. */
  #sweep(): void {
    const now = Date.now();
    this.#expire(this.#fresh, now - this.#limits.headerTimeoutMs);
    this.#expire(this.#idle, now - this.#limits.idleTimeoutMs);
    this.#expire(this.#unread, now - this.#limits.bodyTimeoutMs, true);
    const before = now - this.#limits.bodyTimeoutMs;
    for (
      let reading = this.#readings.first;
      reading !== undefined && reading.since <= before;
      reading = this.#readings.first
    ) {
      this.#readings.delete(reading);
      if (reading.connection.closing === undefined) {
        this.#figures.connections_timed_out_total++;
        this.#close(reading.connection, true);
      }
    }
    this.#report(now, false);
  }

  /**
   * Closes the connections of `connections` (oldest first) that are there
   * since `before` or longer; kills them when `kill`.
   */
  #expire(
    connections: Lineup<Connection>,
    before: number,
    kill = false,
  ): void {
    // Each one closed leaves the lineup.
    for (
      let connection = connections.first;
      connection !== undefined && connection.since <= before;
      connection = connections.first
    ) {
      this.#figures.connections_timed_out_total++;
      this.#close(connection, kill);
    }
  }

  /** Logs what was refused or failed since the last report. */
  #report(now: number, last: boolean): void {
    const reported = this.#reported;
    if (!last && now - reported.at < REPORT_INTERVAL_MS) return;
    const figures = this.#figures;
    const refused = figures.connections_refused_total - reported.refused;
    const failed = figures.accept_errors_total - reported.acceptErrors;
    const shed = figures.connections_shed_total - reported.shed;
    const seconds = Math.max(1, Math.round((now - reported.at) / 1000));
    if (failed > 0 && !isOutOfResources(this.#lastAcceptError)) {
      this.#log.warn(
        "{failed} connections failed before they were accepted in {seconds} s, reset by their clients ({error})",
        { failed, seconds, error: describe(this.#lastAcceptError) },
      );
    } else if (failed > 0) {
      this.#log.error(
        "{failed} accepts failed in {seconds} s ({error}); closed {shed} idle connections and kept accepting",
        { failed, seconds, shed, error: describe(this.#lastAcceptError) },
      );
    }
    if (refused > 0) {
      this.#log.warn(
        "Refused {refused} connections in {seconds} s: {max} connections were open and none idle (max_connections)",
        { refused, seconds, max: this.#limits.maxConnections },
      );
    }
    this.#reported = {
      refused: figures.connections_refused_total,
      acceptErrors: figures.accept_errors_total,
      shed: figures.connections_shed_total,
      at: now,
    };
  }
}

/** The limits `options` give, defaults for the others; checked. */
function httpLimits(options: Partial<HttpLimits>): HttpLimits {
  const limits: HttpLimits = {
    maxConnections: options.maxConnections ??
      DEFAULT_HTTP_LIMITS.maxConnections,
    headerTimeoutMs: options.headerTimeoutMs ??
      DEFAULT_HTTP_LIMITS.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_HTTP_LIMITS.idleTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_HTTP_LIMITS.bodyTimeoutMs,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(
        `HttpListener: ${name} must be a number above 0, got ${value}`,
      );
    }
  }
  return limits;
}

/**
 * The body of `request` when it was answered before its end was read: its
 * stream is unlocked when nobody read it (the stream is made only then) or
 * when the handler let go of it early (cancelled it, or read part of it, and
 * released its reader). Deno's engine reads the rest before the connection
 * goes on, for as long as the client takes, so the connection must be
 * killed when that is too long.
 */
function unreadBody(
  request: Request,
): ReadableStream<Uint8Array> | undefined {
  const body = request.body;
  return body !== null && !body.locked ? body : undefined;
}
