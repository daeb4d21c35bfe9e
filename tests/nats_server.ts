/**
 * A real `nats-server` with JetStream for the tests: started on a free port of
 * 127.0.0.1 with its store in a temporary directory, stopped and removed after.
 *
 * The binary comes from Debian's `nats-server` package (`.ci/run` installs
 * it). Tests that start one are registered with `testWith(name,
 * [NATS_SERVER], fn)` (see `requires.ts`), so that they are skipped, saying
 * how to install it, where it is missing.
 *
 * @module
 */

import { freePort } from "./helpers.ts";
import { findProgram, type Program } from "./requires.ts";

/** Re-exported from `helpers.ts` for the scripts that use a server (`bench/`). */
export { pollUntil } from "./helpers.ts";

/** A running `nats-server` started by {@link startNatsServer}. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** The client port. */
  readonly port: number;
  /** The JetStream store directory (removed by `stop`). */
  readonly storeDir: string;
  /** What the server wrote to stderr so far. */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its store. */
  stop(): Promise<void>;
  /** Same as `stop`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How long a server may take to accept connections. */
const START_ATTEMPTS = 200;
const START_POLL_MS = 25;

/**
 * The server program, for `testWith`: on the PATH, or where Debian's package
 * puts it (`/usr/sbin`, which an unprivileged PATH may lack).
 */
export const NATS_SERVER: Program = {
  name: "nats-server",
  paths: ["/usr/sbin/nats-server", "/usr/local/sbin/nats-server"],
  install: "apt-get install -y nats-server",
};

/** Why the server cannot start when it is missing, for error messages. */
const INSTALL_HINT =
  `nats-server is not installed: install it with "${NATS_SERVER.install}" (Debian/Ubuntu), or put a nats-server binary on the PATH`;

/** Where and how {@link startNatsServer} starts the server. */
export interface NatsServerOptions {
  /** The client port (default: a free one). */
  port?: number;
  /** More command-line arguments. */
  args?: string[];
}

/**
 * Starts `nats-server -js -a 127.0.0.1 -p <free port> -sd <temp dir>` and
 * resolves once it accepts connections. Throws saying how to install the
 * server when the binary is missing.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * // Needs nats-server: see NATS_SERVER.
 * await using server = await startNatsServer();
 * assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
 * ```
 */
export async function startNatsServer(
  options: NatsServerOptions = {},
): Promise<NatsServer> {
  let lastError: unknown;
  // A free port found by binding port 0 can be taken again before the server
  // binds it: try a few ports (or a few times, for a given port).
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options.port ?? freePort(), options.args ?? []);
    } catch (error) {
      if (error instanceof Error && error.message === INSTALL_HINT) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(
  port: number,
  extraArgs: string[],
): Promise<NatsServer> {
  const binary = findProgram(NATS_SERVER);
  if (binary === undefined) throw new Error(INSTALL_HINT);
  const storeDir = await Deno.makeTempDir({ prefix: "compysition_nats_" });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, {
      args: [
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "-sd",
        storeDir,
        ...extraArgs,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await Deno.remove(storeDir, { recursive: true });
    throw error;
  }
  let stderr = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
    }
  })();
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 5000);
      await status;
      clearTimeout(killer);
      await reading;
      await Deno.remove(storeDir, { recursive: true }).catch(() => {});
    })();
    return stopped;
  };
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    log: () => stderr,
    stop,
    [Symbol.asyncDispose]: stop,
  };
  for (let i = 0; i < START_ATTEMPTS; i++) {
    if (exited) break;
    if (await acceptsConnections(port)) return server;
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
  await stop();
  throw new Error(
    `nats-server did not accept connections on port ${port}:\n${stderr}`,
  );
}

/** Whether the server answers with its `INFO` line on `port`. */
async function acceptsConnections(port: number): Promise<boolean> {
  let connection: Deno.TcpConn;
  try {
    connection = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  try {
    const buffer = new Uint8Array(4);
    const read = await connection.read(buffer);
    return read === 4 && new TextDecoder().decode(buffer) === "INFO";
  } catch {
    return false;
  } finally {
    connection.close();
  }
}
