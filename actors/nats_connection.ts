/**
 * What `nats_in` and `nats_out` share: the connection options (servers,
 * credentials, TLS, reconnection with backoff), the connect function, the
 * connection's state (`connected`, `reconnecting`, `closed`, logged as it
 * changes and readable for readiness checks and metrics), and the JetStream
 * stream lookup that either binds to an existing stream or creates it.
 *
 * Not an actor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NatsConnectionOptions } from "./nats_connection.ts";
 * const options = NatsConnectionOptions.parse({ servers: "nats://127.0.0.1:4222" });
 * assert.equal(options.max_reconnect_attempts, -1); // never give up
 * ```
 *
 * @module
 */

import { z } from "zod";
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { type ActorLog, describe } from "../core/actor.ts";

/** The connection fields every NATS actor takes, as a zod shape. */
export const NATS_CONNECTION_FIELDS = {
  servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .default("nats://127.0.0.1:4222").describe(
      'The NATS server URL, or a list of them (a cluster): "nats://host:4222", "tls://host:4222".',
    ),
  client_name: z.string().min(1).optional().describe(
    "The client name the server shows in its monitoring (default: the actor name).",
  ),
  token: z.string().min(1).optional().describe(
    "An authentication token.",
  ),
  user: z.string().min(1).optional().describe(
    'A user name; give "password" with it.',
  ),
  password: z.string().optional().describe(
    'The password of "user".',
  ),
  nkey_seed: z.string().min(1).optional().describe(
    'An NKey seed ("SU..."), to authenticate with an NKey.',
  ),
  creds_file: z.string().min(1).optional().describe(
    "The path of a .creds file (user JWT and NKey seed), read at start.",
  ),
  tls: z.strictObject({
    ca_file: z.string().min(1).optional().describe(
      "A PEM file of the certificate authorities to trust.",
    ),
    cert_file: z.string().min(1).optional().describe(
      "A PEM client certificate, for servers that verify clients.",
    ),
    key_file: z.string().min(1).optional().describe(
      'The PEM private key of "cert_file".',
    ),
  }).optional().describe(
    "Require TLS; the files are read at start.",
  ),
  max_reconnect_attempts: z.number().int().min(-1).default(-1).describe(
    "Reconnection attempts per server before giving up and closing; -1 never gives up.",
  ),
  reconnect_time_wait_ms: z.number().int().min(0).default(250).describe(
    "Wait before the first reconnection attempt, in ms; doubled after each failed one up to reconnect_max_wait_ms.",
  ),
  reconnect_max_wait_ms: z.number().int().min(0).default(10_000).describe(
    "Longest wait between two reconnection attempts, in ms.",
  ),
  connect_timeout_ms: z.number().int().min(1).default(5000).describe(
    "Longest wait for the first connection at start, in ms: past it the actor fails to set up.",
  ),
};

/** The connection options alone (what {@link connectNats} takes). */
export const NatsConnectionOptions = z.strictObject(NATS_CONNECTION_FIELDS)
  .superRefine(checkConnectionOptions);

/** Parsed connection options. */
export type NatsConnectionOptions = z.infer<typeof NatsConnectionOptions>;

/**
 * Checks the connection fields that go together (for a `superRefine` on an
 * actor's options): `user` with `password`, one way to authenticate, TLS
 * key with certificate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NatsConnectionOptions } from "./nats_connection.ts";
 * assert.equal(NatsConnectionOptions.safeParse({ user: "a" }).success, false); // no password
 * ```
 */
export function checkConnectionOptions(
  options: Partial<NatsConnectionOptions>,
  ctx: z.RefinementCtx,
): void {
  if (options.user !== undefined && options.password === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["password"],
      message: '"user" needs a "password"',
    });
  }
  if (options.password !== undefined && options.user === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["user"],
      message: '"password" needs a "user"',
    });
  }
  const ways = (["token", "user", "nkey_seed", "creds_file"] as const).filter(
    (key) => options[key] !== undefined,
  );
  if (ways.length > 1) {
    ctx.addIssue({
      code: "custom",
      path: [ways[1]!],
      message: `Give one way to authenticate, not ${
        ways.map((way) => `"${way}"`).join(" and ")
      }`,
    });
  }
  const tls = options.tls;
  if (
    tls !== undefined && (tls.cert_file === undefined) !==
      (tls.key_file === undefined)
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["tls", tls.cert_file === undefined ? "cert_file" : "key_file"],
      message: '"tls.cert_file" and "tls.key_file" go together',
    });
  }
  if (
    options.reconnect_max_wait_ms !== undefined &&
    options.reconnect_time_wait_ms !== undefined &&
    options.reconnect_max_wait_ms < options.reconnect_time_wait_ms
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["reconnect_max_wait_ms"],
      message:
        '"reconnect_max_wait_ms" must be at least "reconnect_time_wait_ms"',
    });
  }
}

/** The state of a NATS connection. */
export type NatsConnectionState = "connected" | "reconnecting" | "closed";

/** Figures of a NATS connection, added to its actor's figures (metrics). */
export interface NatsConnectionFigures {
  /** 1 while connected, else 0. */
  nats_connected: number;
  /** Reconnections made since start. */
  nats_reconnects_total: number;
  /** Disconnections seen since start. */
  nats_disconnects_total: number;
}

/**
 * A live NATS connection with its state, kept up to date from the client's
 * status notifications and logged as it changes.
 */
export class NatsLink {
  /** The client connection. */
  readonly connection: NatsConnection;
  #state: NatsConnectionState = "connected";
  #reconnects = 0;
  #disconnects = 0;
  #log: ActorLog;
  #closing = false;
  #watching: Promise<void>;
  #onReconnect: () => void;

  /**
   * Wraps `connection` and starts watching its status; `onReconnect` runs
   * each time the connection is back.
   */
  constructor(
    connection: NatsConnection,
    log: ActorLog,
    onReconnect: () => void = () => {},
  ) {
    this.connection = connection;
    this.#log = log;
    this.#onReconnect = onReconnect;
    this.#watching = this.#watch();
  }

  /** `connected`, `reconnecting` or `closed`. */
  get state(): NatsConnectionState {
    return this.#state;
  }

  /** The connection's figures. */
  figures(): NatsConnectionFigures {
    return {
      nats_connected: this.#connected ? 1 : 0,
      nats_reconnects_total: this.#reconnects,
      nats_disconnects_total: this.#disconnects,
    };
  }

  /** The health of an actor that needs this connection (for `/ready`). */
  health(): { ready: boolean; reason?: string } {
    return this.#connected
      ? { ready: true }
      : { ready: false, reason: `The NATS connection is ${this.#state}` };
  }

  /**
   * Sends what is buffered, then closes the connection (draining its
   * subscriptions); resolves once it is closed.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const connection = this.connection;
    if (!connection.isClosed()) {
      try {
        await connection.drain();
      } catch {
        await connection.close().catch(() => {});
      }
    }
    await this.#watching;
  }

  /** Whether the connection can carry messages now. */
  get #connected(): boolean {
    return this.#state === "connected";
  }

  async #watch(): Promise<void> {
    const connection = this.connection;
    const closed = connection.closed();
    const statuses = (async () => {
      for await (const status of connection.status()) {
        switch (status.type) {
          case "disconnect":
            this.#disconnects++;
            this.#state = "reconnecting";
            this.#log.warn(
              'Disconnected from NATS server "{server}"; reconnecting',
              { server: status.server },
            );
            break;
          case "reconnect":
            this.#reconnects++;
            this.#state = "connected";
            this.#onReconnect();
            this.#log.info('Reconnected to NATS server "{server}"', {
              server: status.server,
            });
            break;
          case "error":
            this.#log.warn("NATS server error: {error}", {
              error: describe(status.error),
            });
            break;
          case "ldm":
            this.#log.warn(
              'NATS server "{server}" is shutting down (lame duck mode)',
              { server: status.server },
            );
            break;
          case "staleConnection":
            this.#log.warn("The NATS connection is stale; reconnecting");
            break;
          case "slowConsumer":
            this.#log.warn(
              'NATS subscription to "{subject}" is a slow consumer: {pending} messages pending',
              { subject: status.sub.getSubject(), pending: status.pending },
            );
            break;
          default:
            break;
        }
      }
    })();
    const error = await closed;
    await statuses;
    this.#state = "closed";
    if (error instanceof Error) {
      this.#log.error("The NATS connection closed: {error}", {
        error: describe(error),
      });
    } else if (!this.#closing) {
      this.#log.error("The NATS connection closed");
    } else {
      this.#log.debug("Closed the NATS connection");
    }
  }
}

/** The figures of a link not made yet: not connected. */
export const NOT_CONNECTED: NatsConnectionFigures = {
  nats_connected: 0,
  nats_reconnects_total: 0,
  nats_disconnects_total: 0,
};

/**
 * The health of an actor that needs `link` (for `/ready`): the link's, or not
 * ready while the actor has not connected yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkHealth } from "./nats_connection.ts";
 * assert.deepEqual(linkHealth(undefined), { ready: false, reason: "Not connected to NATS yet" });
 * ```
 */
export function linkHealth(
  link: NatsLink | undefined,
): { ready: boolean; reason?: string } {
  return link?.health() ??
    { ready: false, reason: "Not connected to NATS yet" };
}

/**
 * Connects to NATS with `options`, reading credential and TLS files first.
 * Reconnection waits `reconnect_time_wait_ms` before the first attempt, then
 * about as long as the connection has been down (so the wait doubles), up to
 * `reconnect_max_wait_ms`, with up to 10 % random jitter.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { connectNats, NatsConnectionOptions } from "./nats_connection.ts";
 * import { getLogger } from "@logtape/logtape";
 * const link = await connectNats(NatsConnectionOptions.parse({}), "demo", getLogger("demo"));
 * assert.equal(link.state, "connected");
 * await link.close();
 * ```
 */
export async function connectNats(
  options: NatsConnectionOptions,
  name: string,
  log: ActorLog,
): Promise<NatsLink> {
  const servers = Array.isArray(options.servers)
    ? options.servers
    : [options.servers];
  let downSince: number | undefined;
  const settings: NodeConnectionOptions = {
    servers,
    name: options.client_name ?? name,
    maxReconnectAttempts: options.max_reconnect_attempts,
    timeout: options.connect_timeout_ms,
    reconnectDelayHandler: () => {
      const now = Date.now();
      downSince ??= now;
      const wait = Math.min(
        options.reconnect_max_wait_ms,
        Math.max(options.reconnect_time_wait_ms, now - downSince),
      );
      return Math.round(wait * (1 + Math.random() * 0.1));
    },
  };
  if (options.token !== undefined) settings.token = options.token;
  if (options.user !== undefined) {
    settings.user = options.user;
    if (options.password !== undefined) settings.pass = options.password;
  }
  const authenticators: Authenticator[] = [];
  if (options.nkey_seed !== undefined) {
    authenticators.push(
      nkeyAuthenticator(new TextEncoder().encode(options.nkey_seed)),
    );
  }
  if (options.creds_file !== undefined) {
    authenticators.push(
      credsAuthenticator(await readFile(options.creds_file, "creds_file")),
    );
  }
  if (authenticators.length > 0) settings.authenticator = authenticators;
  if (options.tls !== undefined) {
    const tls: NonNullable<NodeConnectionOptions["tls"]> = {};
    const { ca_file, cert_file, key_file } = options.tls;
    if (ca_file !== undefined) tls.ca = await readText(ca_file, "tls.ca_file");
    if (cert_file !== undefined) {
      tls.cert = await readText(cert_file, "tls.cert_file");
    }
    if (key_file !== undefined) {
      tls.key = await readText(key_file, "tls.key_file");
    }
    settings.tls = tls;
  }
  let connection: NatsConnection;
  try {
    connection = await connect(settings);
  } catch (error) {
    throw new Error(
      `Cannot connect to NATS at "${servers.join(", ")}": ${describe(error)}`,
      { cause: error },
    );
  }
  const link = new NatsLink(connection, log, () => {
    downSince = undefined;
  });
  log.info('Connected to NATS server "{server}"', {
    server: connection.getServer(),
  });
  return link;
}

async function readFile(path: string, option: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read "${option}" file "${path}": ${describe(error)}`,
      { cause: error },
    );
  }
}

async function readText(path: string, option: string): Promise<string> {
  return new TextDecoder().decode(await readFile(path, option));
}

/**
 * The info of JetStream stream `name`: binds to it when it exists; makes it
 * with `subjects` when it does not and `create` is true; otherwise throws an
 * error saying how to fix it. An existing stream whose subjects do not cover
 * `subjects` is logged as a warning and used as it is.
 */
export async function ensureStream(
  manager: JetStreamManager,
  name: string,
  subjects: readonly string[],
  create: boolean,
  log: ActorLog,
): Promise<StreamInfo> {
  try {
    const info = await manager.streams.info(name);
    const missing = subjects.filter((subject) =>
      !(info.config.subjects ?? []).includes(subject)
    );
    if (missing.length > 0) {
      log.warn(
        'Stream "{stream}" exists with subjects {existing}, without {missing}: using it as it is',
        {
          stream: name,
          existing: JSON.stringify(info.config.subjects ?? []),
          missing: JSON.stringify(missing),
        },
      );
    }
    return info;
  } catch (error) {
    if (!isNotFound(error, "stream")) throw error;
  }
  if (!create) {
    throw new Error(
      `Stream "${name}" does not exist on the NATS server: create it, or set "create: true" to have it made`,
    );
  }
  if (subjects.length === 0) {
    throw new Error(
      `Cannot create stream "${name}": give its "subjects"`,
    );
  }
  const info = await manager.streams.add({
    name,
    subjects: [...subjects],
  });
  log.info('Created stream "{stream}" with subjects {subjects}', {
    stream: name,
    subjects: JSON.stringify(subjects),
  });
  return info;
}

/** Whether `error` says a JetStream stream or consumer does not exist. */
export function isNotFound(
  error: unknown,
  what: "stream" | "consumer",
): boolean {
  if (!(error instanceof Error)) return false;
  const name = what === "stream"
    ? "StreamNotFoundError"
    : "ConsumerNotFoundError";
  return error.name === name || error.message === `${what} not found`;
}
