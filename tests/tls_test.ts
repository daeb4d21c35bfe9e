/**
 * TLS on the listeners (`tcp_server`, `http_server`) and the clients
 * (`tcp_client`, `http_client`), against the real `openssl s_client` and
 * `curl`, with certificates made by the real `openssl` at test time (see
 * `tls_fixtures.ts`): mutual TLS, refused clients, a handshake that never
 * completes, certificates read again without dropping open connections,
 * unusable files reported at `validate` time with file and line, and
 * `tcp_client` with `insecure_skip_verify` sending to `openssl s_server`
 * with a self-signed certificate, killed and started again, and the
 * `prometheus` metric actor serving `/metrics` over (mutual) TLS.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { HttpServer } from "../actors/input/http_server.ts";
import { TcpServer } from "../actors/input/tcp_server.ts";
import { HttpClient } from "../actors/output/http_client.ts";
import { TcpClient } from "../actors/output/tcp_client.ts";
import { TcpConnection } from "../actors/tcp_connection.ts";
import { Router } from "../core/router.ts";
import type { LogEvent } from "../core/log.ts";
import { prometheusPipeline } from "./actors/metric/fixtures.ts";
import { runCli, StreamText } from "./cli_helpers.ts";
import {
  Collector,
  freePort,
  ListInput,
  pollUntil,
  PushInput,
  reachableObjects,
  sequenced,
  within,
  withTempDir,
} from "./helpers.ts";
import { testWith } from "./requires.ts";
import {
  type Certificates,
  CURL,
  makeCertificates,
  OPENSSL,
  type Pair,
} from "./tls_fixtures.ts";

const encoder = new TextEncoder();

/** Runs `program` with `args` and `stdin`; its exit code and output. */
async function run(
  program: string,
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(program, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(stdin));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Copies of the server certificate and key, for a listener to read, and
 * `swap()`, which puts the other CA's in their place.
 */
async function liveFiles(
  certs: Certificates,
): Promise<{ cert: string; key: string; swap: () => Promise<void> }> {
  const cert = join(certs.dir, "live.pem");
  const key = join(certs.dir, "live.key");
  await Deno.copyFile(certs.server.cert, cert);
  await Deno.copyFile(certs.server.key, key);
  return {
    cert,
    key,
    async swap() {
      await Deno.copyFile(certs.otherServer.cert, cert);
      await Deno.copyFile(certs.otherServer.key, key);
    },
  };
}

/** A router with `input` feeding a collector (and its `error` another). */
async function pipeline<T extends TcpServer | HttpServer>(
  input: T,
  queue = "outbox",
): Promise<{ router: Router; input: T; events: Collector }> {
  const router = new Router({ logLevel: "error" });
  router.register(input);
  const events = router.register(new Collector("events"));
  router.connect(`${input.name}.${queue}`, "events.inbox");
  await router.start();
  return { router, input, events };
}

testWith(
  "tcp_server with mutual TLS takes lines from openssl s_client and names its certificate",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { router, input, events } = await pipeline(
      new TcpServer("tls_in", {
        port: 0,
        tls: { ...certs.server, ca: certs.ca, client_auth: "require" },
      }),
    );
    try {
      const connect = ["-connect", `127.0.0.1:${input.port}`];
      const client = [
        "s_client",
        ...connect,
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        certs.ca,
        "-verify_return_error",
        "-cert",
        certs.client.cert,
        "-key",
        certs.client.key,
        "-quiet",
        "-no_ign_eof",
      ];
      const sent = await run(openssl!, client, "first\nsecond\n");
      assert.equal(sent.code, 0, sent.stderr);
      await events.waitFor(2);
      assert.deepEqual(events.events.map((event) => event.data), [
        "first",
        "second",
      ]);
      const header = events.events[0]!.header.tls_in as Record<string, unknown>;
      assert.equal(header.client_certificate, "CN=agent-7, O=Example");
      assert.equal(header.line, 1);

      // Without a client certificate, or with one of another CA: refused.
      const anonymous = await run(
        openssl!,
        ["s_client", ...connect, "-CAfile", certs.ca, "-quiet", "-no_ign_eof"],
        "intruder\n",
      );
      const foreign = await run(openssl!, [
        "s_client",
        ...connect,
        "-CAfile",
        certs.ca,
        "-cert",
        certs.otherClient.cert,
        "-key",
        certs.otherClient.key,
        "-quiet",
        "-no_ign_eof",
      ], "intruder\n");
      // With TLS 1.3 a client learns that it was refused after it wrote
      // (s_client may even exit 0): what counts is that nothing went through.
      assert.equal(anonymous.stdout + foreign.stdout, "");
      const more = await run(openssl!, client, "third\n");
      assert.equal(more.code, 0, more.stderr);
      await events.waitFor(3);
      assert.deepEqual(events.events.map((event) => event.data), [
        "first",
        "second",
        "third",
      ]);
    } finally {
      await router.stop();
    }
  },
);

testWith(
  "http_server with TLS answers curl --cacert, with and without a client certificate",
  [OPENSSL, CURL],
  async ([openssl, curl]) => {
    await using certs = await makeCertificates(openssl!);
    for (const clientAuth of ["none", "require"] as const) {
      const { router, input, events } = await pipeline(
        new HttpServer("web", {
          port: 0,
          tls: { ...certs.server, ca: certs.ca, client_auth: clientAuth },
        }),
        "orders",
      );
      try {
        const url = `https://localhost:${input.port}/orders`;
        const post = [
          "--silent",
          "--show-error",
          "--cacert",
          certs.ca,
          "-H",
          "content-type: application/json",
          "--data-binary",
          '{"item":"tea"}',
          "--write-out",
          "\n%{http_code}",
        ];
        const withCert = [
          "--cert",
          certs.client.cert,
          "--key",
          certs.client.key,
        ];
        const answered = await run(curl!, [...post, ...withCert, url]);
        assert.equal(answered.code, 0, answered.stderr);
        assert.match(answered.stdout, /^\{"id":"[0-9a-f-]+"\}\n202$/);
        await events.waitFor(1);
        assert.deepEqual(events.events[0]!.data, { item: "tea" });
        const header = events.events[0]!.header.web as Record<string, unknown>;
        assert.equal(
          header.client_certificate,
          clientAuth === "none" ? undefined : "CN=agent-7, O=Example",
        );

        const anonymous = await run(curl!, [...post, url]);
        if (clientAuth === "none") {
          assert.equal(anonymous.code, 0, anonymous.stderr);
          assert.match(anonymous.stdout, /\n202$/);
        } else {
          // curl fails: the server ends the handshake without a certificate.
          assert.notEqual(anonymous.code, 0);
        }
        // Plain HTTP on the TLS port gets no answer.
        const plain = await run(curl!, [
          "--silent",
          "--max-time",
          "10",
          `http://127.0.0.1:${input.port}/orders`,
        ]);
        assert.notEqual(plain.code, 0);
        // A server certificate from a CA curl does not trust: refused.
        const untrusted = await run(curl!, [
          ...post.slice(0, 2),
          "--cacert",
          certs.otherCa,
          url,
        ]);
        assert.equal(untrusted.code, 60, untrusted.stderr);
        assert.equal(
          events.events.length,
          clientAuth === "none" ? 2 : 1,
        );
      } finally {
        await router.stop();
      }
    }
  },
);

testWith(
  "a TLS listener closes a connection whose handshake never completes",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    for (const clientAuth of ["none", "require"] as const) {
      const { router, input } = await pipeline(
        new HttpServer("web", {
          port: 0,
          header_timeout: 0.2,
          tls: { ...certs.server, ca: certs.ca, client_auth: clientAuth },
        }),
        "orders",
      );
      try {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: input.port,
        });
        // The start of a ClientHello, and then nothing.
        await conn.write(new Uint8Array([0x16, 0x03, 0x01, 0x02]));
        const read = await conn.read(new Uint8Array(64)).catch(() => null);
        assert.equal(read, null);
        conn.close();
      } finally {
        await router.stop();
      }
    }
  },
);

testWith(
  "tcp_client sends over mutual TLS to tcp_server; reloaded certificates serve new connections and keep open ones",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { cert, key, swap } = await liveFiles(certs);
    const { router, input, events } = await pipeline(
      new TcpServer("tls_in", {
        port: 0,
        tls: { cert, key, ca: certs.ca, client_auth: "require" },
      }),
    );
    const sender = new Router({ logLevel: "error" });
    try {
      const feed = sender.register(
        new ListInput(
          "feed",
          ["a", "b", "c"].map((data) => ({ header: {}, data })),
        ),
      );
      const client = sender.register(
        new TcpClient("send", {
          port: input.port,
          tls: {
            ca: certs.ca,
            cert: certs.client.cert,
            key: certs.client.key,
            server_name: "localhost",
            verify_hostname: true,
          },
        }),
      );
      sender.connect(`${feed.name}.outbox`, "send.inbox");
      await sender.start();
      await events.waitFor(3);
      assert.deepEqual(events.events.map((event) => event.data), [
        "a",
        "b",
        "c",
      ]);
      assert.equal(client.connections, 1);

      // Swap in the other CA's certificate and read it again.
      await swap();
      assert.equal(input.reloadCertificates(), true);
      // The open connection goes on.
      await sender.stop();
      await events.waitFor(3);
      // A new client trusting only the old CA is refused; one trusting
      // the new CA is served.
      const caCerts = (ca: string) => [Deno.readTextFileSync(ca)];
      const clientKey = {
        cert: Deno.readTextFileSync(certs.client.cert),
        key: Deno.readTextFileSync(certs.client.key),
      };
      await assert.rejects(async () => {
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: input.port,
          caCerts: caCerts(certs.ca),
          ...clientKey,
        });
        try {
          await conn.handshake();
        } finally {
          conn.close();
        }
      });
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: input.port,
        caCerts: caCerts(certs.otherCa),
        ...clientKey,
      });
      await conn.write(encoder.encode("after reload\n"));
      conn.close();
      await events.waitFor(4);
      assert.equal(events.events[3]!.data, "after reload");
    } finally {
      await sender.stop();
      await router.stop();
    }
  },
);

testWith(
  "an established TLS connection survives a certificate reload",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { cert, key, swap } = await liveFiles(certs);
    const { router, input, events } = await pipeline(
      new TcpServer("tls_in", {
        port: 0,
        tls: { cert, key, client_auth: "none" },
      }),
    );
    try {
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: input.port,
        caCerts: [Deno.readTextFileSync(certs.ca)],
      });
      await conn.write(encoder.encode("before\n"));
      await events.waitFor(1);
      await swap();
      input.reloadCertificates();
      await conn.write(encoder.encode("after\n"));
      conn.close();
      await events.waitFor(2);
      assert.deepEqual(events.events.map((event) => event.data), [
        "before",
        "after",
      ]);
      // A file that became unusable: the reload throws, the old stays.
      await Deno.writeTextFile(key, "not a key\n");
      assert.throws(
        () => input.reloadCertificates(),
        /has no "-----BEGIN PRIVATE KEY-----" block/,
      );
    } finally {
      await router.stop();
    }
  },
);

testWith(
  "http_client trusts a private CA given in tls.ca",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { router, input, events } = await pipeline(
      new HttpServer("web", {
        port: 0,
        tls: { ...certs.server, client_auth: "none" },
      }),
      "orders",
    );
    const sender = new Router({ logLevel: "error" });
    try {
      sender.register(
        new ListInput("feed", [1, 2].map((n) => ({ header: {}, data: { n } }))),
      );
      sender.register(
        new HttpClient("post", {
          url: `https://localhost:${input.port}/orders`,
          tls: { ca: certs.ca },
          retries: 0,
        }),
      );
      sender.connect("feed.outbox", "post.inbox");
      await sender.start();
      await events.waitFor(2);
      // Sent concurrently: in either order.
      assert.deepEqual(
        events.events.map((event) => (event.data as { n: number }).n).sort(),
        [1, 2],
      );
    } finally {
      await sender.stop();
      await router.stop();
    }
  },
);

testWith(
  "compysition validate reports unusable TLS files and contradictory TLS options with file and line",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    await withTempDir(async (dir) => {
      const file = join(dir, "tls.yaml");
      const missing = join(dir, "missing.pem");
      await Deno.writeTextFile(
        file,
        [
          "actors:",
          "  web:",
          "    type: http_server",
          "    options:",
          `      tls: { cert: ${missing}, key: ${certs.server.key} }`,
          "  wrong_key:",
          "    type: tcp_server",
          "    options:",
          `      tls: { cert: ${certs.server.cert}, key: ${certs.client.key} }`,
          '  out: { type: "null" }',
          "  lab:",
          "    type: tcp_client",
          "    options:",
          "      port: 6514",
          "      tls:",
          "        insecure_skip_verify: true",
          "        verify_hostname: true",
          "  scrape:",
          "    type: prometheus",
          "    options:",
          '      listen: "127.0.0.1:0"',
          `      tls: { cert: ${certs.server.cert}, key: ${certs.otherServer.key} }`,
          "  lab_ca:",
          "    type: tcp_client",
          "    options:",
          "      port: 6514",
          `      tls: { insecure_skip_verify: true, ca: ${certs.ca} }`,
          "connections:",
          "  - web.orders -> out.inbox",
          "  - wrong_key.outbox -> out.inbox",
          "",
        ].join("\n"),
      );
      const result = await runCli(["validate", file]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr.trimEnd().split("\n").length, 5);
      assert.match(
        result.stderr,
        new RegExp(
          `^${file}:5:\\d+: .*Cannot read the certificate file "${missing}"`,
          "m",
        ),
      );
      assert.match(
        result.stderr,
        new RegExp(
          `^${file}:9:\\d+: .*"${certs.client.key}" is not the private key of the certificate in "${certs.server.cert}"`,
          "m",
        ),
      );
      assert.match(
        result.stderr,
        new RegExp(
          `^${file}:22:\\d+: .*"${certs.otherServer.key}" is not the private key of the certificate in "${certs.server.cert}"`,
          "m",
        ),
      );
      // insecure_skip_verify verifies nothing: what would verify is refused.
      assert.match(
        result.stderr,
        new RegExp(
          `^${file}:17:\\d+: .*"verify_hostname: true" contradicts "insecure_skip_verify: true", which verifies nothing: drop one of them`,
          "m",
        ),
      );
      assert.match(
        result.stderr,
        new RegExp(
          `^${file}:27:\\d+: .*"ca" is not used with "insecure_skip_verify: true", which verifies nothing`,
          "m",
        ),
      );
    });
  },
);

testWith(
  "http_server with TLS holds on to no connection it closed: 60 TLS requests come and go, none of their sockets stays reachable",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { router, input, events } = await pipeline(
      new HttpServer("web", {
        port: 0,
        tls: { ...certs.server, client_auth: "none" },
      }),
      "in",
    );
    const caCerts = [Deno.readTextFileSync(certs.ca)];
    const request = encoder.encode(
      'POST /in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"n":1}',
    );
    try {
      const before = await reachableObjects("TLSSocket");
      for (let i = 0; i < 60; i++) {
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: input.port,
          caCerts,
        });
        await conn.write(request);
        // The answer, up to the server closing (Connection: close).
        const answer = await new Response(conn.readable).text();
        assert.match(answer, /^HTTP\/1\.1 202 /);
      }
      await events.waitFor(60);
      await pollUntil(
        () => input.figures().connections,
        (open) => open === 0,
        "every connection to close",
      );
      // Deno's node:net kept each bridge socket (and the TLS socket it
      // carried) when destroyed while its shutdown was in flight. A bridge
      // is let go once its shutdown is through, a moment after the close.
      await pollUntil(
        async () => await reachableObjects("TLSSocket") - before,
        (kept) => kept <= 5,
        "the closed TLS connections to be unreachable (last: how many are not)",
        10,
        200,
      );
    } finally {
      await router.stop();
    }
  },
);

/** A running `openssl s_server`: what it received, and how to stop it. */
interface SServer extends AsyncDisposable {
  /** What clients sent, as it arrives (s_server prints it). */
  received: StreamText;
  /** Kills it with `signal` and waits for its end. */
  kill(signal: Deno.Signal): Promise<void>;
}

/**
 * Starts `openssl s_server` on 127.0.0.1:`port` with `pair`, serving one
 * client at a time and printing what it receives (its stdin stays open:
 * s_server stops reading clients once its stdin ends).
 */
function sServer(openssl: string, port: number, pair: Pair): SServer {
  const child = new Deno.Command(openssl, {
    args: [
      "s_server",
      "-accept",
      `127.0.0.1:${port}`,
      "-cert",
      pair.cert,
      "-key",
      pair.key,
      "-quiet",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const received = new StreamText(child.stdout);
  let ended: Promise<void> | undefined;
  const kill = (signal: Deno.Signal) => {
    ended ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // Ended already.
      }
      await child.status;
      await child.stdin.close().catch(() => {});
      await received.done;
    })();
    return ended;
  };
  return { received, kill, [Symbol.asyncDispose]: () => kill("SIGTERM") };
}

/** The number of whole lines of `text`. */
function lineCount(text: string): number {
  return text.split("\n").length - 1;
}

/** A router logging to a collector (`logs`), its records as lines. */
function loggedRouter(): { router: Router; logs: () => string[] } {
  const router = new Router({ logLevel: "info", metricsIntervalMs: 0 });
  const collector = router.registerLogActor(new Collector("logs")) as Collector;
  return {
    router,
    logs: () => collector.events.map((event) => (event as LogEvent).data),
  };
}

testWith(
  "tcp_client refuses openssl s_server with a self-signed certificate, and with insecure_skip_verify sends to it in order, warning once",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const port = freePort();
    await using server = sServer(openssl!, port, certs.selfSigned);
    const address = `127.0.0.1:${port}`;
    // Listening, so that the first attempt (logged) reaches it.
    await pollUntil(
      () =>
        Deno.connect({ hostname: "127.0.0.1", port }).then((conn) => {
          conn.close();
          return true;
        }, () => false),
      (listening) => listening,
      "s_server to listen",
    );

    // Verifying (the default): refused, saying why and what to do.
    const verifying = loggedRouter();
    const refused = verifying.router.register(
      new TcpClient("send", {
        port,
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        max_wait: 1,
        tls: {},
      }),
    );
    verifying.router.register(new ListInput("feed", sequenced(["secret"])));
    const errors = verifying.router.register(new Collector("errors"));
    verifying.router.connect("feed.outbox", "send.inbox");
    verifying.router.connect("send.error", "errors.inbox");
    try {
      await verifying.router.start();
      await within(verifying.router.finished, 30_000, "the refused batch");
      assert.match(
        refused.health().reason ?? "",
        new RegExp(
          `^Not connected to ${address}: invalid peer certificate: .*: the server's certificate is not trusted \\(give the CA it chains to in "tls.ca"; for a lab peer whose certificate cannot be verified, e.g. a self-signed one, "tls.insecure_skip_verify: true"\\)$`,
        ),
      );
      assert.equal(errors.events.length, 1);
      assert.ok(
        verifying.logs().some((line) =>
          line.includes(
            `Cannot connect to ${address}: invalid peer certificate`,
          )
        ),
      );
    } finally {
      await verifying.router.stop();
    }

    // Not verifying: every event arrives, in order, the last ones written
    // at stop included.
    const count = 2000;
    const trusting = loggedRouter();
    const client = trusting.router.register(
      new TcpClient("send", {
        port,
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        tls: { insecure_skip_verify: true },
      }),
    );
    trusting.router.register(
      new ListInput(
        "feed",
        sequenced(Array.from({ length: count }, (_, i) => `event ${i + 1}`)),
      ),
    );
    trusting.router.connect("feed.outbox", "send.inbox");
    await trusting.router.start();
    let report;
    try {
      await within(trusting.router.finished, 30_000, "the events sent");
    } finally {
      report = await trusting.router.stop();
    }
    await within(
      server.received.until((text) => lineCount(text) >= count),
      30_000,
      "s_server to print every event",
    );
    assert.equal(server.received.text.includes("secret"), false);
    assert.deepEqual(
      server.received.text.split("\n").slice(0, -1),
      Array.from({ length: count }, (_, i) => `event ${i + 1}`),
    );
    assert.equal(report.delivered, count);
    assert.equal(report.unaccounted, 0);
    assert.equal(client.connections, 1);
    const warnings = trusting.logs().filter((line) =>
      line.includes(
        `TLS certificate verification is disabled for ${address} (tls.insecure_skip_verify)`,
      )
    );
    assert.equal(warnings.length, 1);
  },
);

testWith(
  "tcp_client with insecure_skip_verify reconnects to openssl s_server killed with SIGKILL and started again, losing nothing",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const port = freePort();
    const address = `127.0.0.1:${port}`;
    const first = sServer(openssl!, port, certs.selfSigned);
    let second: SServer | undefined;
    const { router, logs } = loggedRouter();
    const input = router.register(new PushInput("input")) as PushInput;
    const client = router.register(
      new TcpClient("send", {
        port,
        reconnect_min_ms: 10,
        reconnect_max_ms: 100,
        tls: { insecure_skip_verify: true },
      }),
    );
    const errors = router.register(new Collector("errors"));
    router.connect("input.outbox", "send.inbox");
    router.connect("send.error", "errors.inbox");
    const lines = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => `event ${from + i}`);
    const logged = (text: string, after = 0) =>
      within(
        (async () => {
          while (!logs().slice(after).some((line) => line.includes(text))) {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })(),
        30_000,
        `the log "${text}"`,
      );
    try {
      await router.start();
      input.push(sequenced(lines(1, 500)));
      await within(
        first.received.until((text) => lineCount(text) >= 500),
        30_000,
        "the first s_server to print 500 events",
      );
      await first.kill("SIGKILL");
      await logged(`Lost the connection to ${address}`);
      const lost = logs().findIndex((line) =>
        line.startsWith("Lost the connection")
      );
      // Sent while the peer is down: they wait.
      input.push(sequenced(lines(501, 1000)));
      await logged(`Cannot connect to ${address}`, lost);
      second = sServer(openssl!, port, certs.selfSigned);
      await logged(`Reconnected to ${address}`, lost);
      input.end();
      await within(router.finished, 30_000, "the events sent");
      const report = await router.stop();
      await within(
        second.received.until((text) => lineCount(text) >= 500),
        30_000,
        "the second s_server to print 500 events",
      );
      assert.deepEqual(
        first.received.text.split("\n").slice(0, -1),
        lines(1, 500),
      );
      assert.deepEqual(
        second.received.text.split("\n").slice(0, -1),
        lines(501, 1000),
      );
      assert.equal(report.delivered, 1000);
      assert.deepEqual(errors.events, []);
      assert.equal(client.connections, 2);
      assert.equal(
        logs().filter((line) =>
          line.includes("TLS certificate verification is disabled")
        ).length,
        1,
      );
    } finally {
      input.end();
      await router.stop();
      await first.kill("SIGTERM");
      await second?.kill("SIGTERM");
    }
  },
);

testWith(
  "prometheus serves /metrics over mutual TLS to curl --cacert with a client certificate, and reloads its certificate",
  [OPENSSL, CURL],
  async ([openssl, curl]) => {
    await using certs = await makeCertificates(openssl!);
    const { cert, key, swap } = await liveFiles(certs);
    const { router, prometheus } = await prometheusPipeline({
      listen: "127.0.0.1:0",
      tls: { cert, key, ca: certs.ca, client_auth: "require" },
    }, { logLevel: "error" });
    try {
      await router.finished;
      const url = `https://localhost:${prometheus.port}/metrics`;
      const scrape = (ca: string, clientCertificate = true) =>
        run(curl!, [
          "--silent",
          "--show-error",
          "--max-time",
          "10",
          "--cacert",
          ca,
          ...(clientCertificate
            ? ["--cert", certs.client.cert, "--key", certs.client.key]
            : []),
          "--write-out",
          "\n%{http_code} %{content_type}",
          url,
        ]);
      const scraped = await pollUntil(
        () => scrape(certs.ca),
        (result) =>
          result.stdout.includes(
            'compysition_actor_consumed_total{actor="sink"} 3\n',
          ),
        "a scrape with the sink's figures",
      );
      assert.equal(scraped.code, 0, scraped.stderr);
      assert.match(
        scraped.stdout,
        /\n200 text\/plain; version=0\.0\.4; charset=utf-8$/,
      );

      // Without a client certificate, or over plain HTTP: nothing.
      const anonymous = await scrape(certs.ca, false);
      assert.notEqual(anonymous.code, 0);
      assert.doesNotMatch(anonymous.stdout, /compysition_/);
      const plain = await run(curl!, [
        "--silent",
        "--max-time",
        "10",
        `http://127.0.0.1:${prometheus.port}/metrics`,
      ]);
      assert.notEqual(plain.code, 0);
      assert.equal(plain.stdout, "");

      // The other CA's certificate, read again: curl trusting the old CA
      // refuses it, curl trusting the new one scrapes.
      await swap();
      assert.equal(prometheus.reloadCertificates(), true);
      const old = await scrape(certs.ca);
      assert.equal(old.code, 60, old.stderr);
      const renewed = await scrape(certs.otherCa);
      assert.equal(renewed.code, 0, renewed.stderr);
      assert.match(renewed.stdout, /^compysition_actor_consumed_total/m);
    } finally {
      await router.stop();
    }
  },
);

testWith(
  "tcp_client with insecure_skip_verify presents its client certificate to a tcp_server with a self-signed certificate and mutual TLS",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    const { router, input, events } = await pipeline(
      new TcpServer("tls_in", {
        port: 0,
        tls: { ...certs.selfSigned, ca: certs.ca, client_auth: "require" },
      }),
    );
    const sender = new Router({ logLevel: "error" });
    try {
      sender.register(
        new ListInput("feed", sequenced(["a", "b", "c"])),
      );
      sender.register(
        new TcpClient("send", {
          hostname: "localhost",
          port: input.port,
          tls: {
            insecure_skip_verify: true,
            cert: certs.client.cert,
            key: certs.client.key,
          },
        }),
      );
      sender.connect("feed.outbox", "send.inbox");
      await sender.start();
      await within(sender.finished, 30_000, "the events sent");
      await sender.stop();
      await within(events.waitFor(3), 30_000, "the events received");
      assert.deepEqual(events.events.map((event) => event.data), [
        "a",
        "b",
        "c",
      ]);
      const header = events.events[0]!.header.tls_in as Record<string, unknown>;
      assert.equal(header.client_certificate, "CN=agent-7, O=Example");
    } finally {
      await sender.stop();
      await router.stop();
    }
  },
);

/**
 * Whether `conn`'s peer closed it within `ms` (what it sent is read and
 * dropped); `false` when it is still open then.
 */
async function closedByPeer(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(4096);
  const late = new Promise<"open">((resolve) => {
    const timer = setTimeout(() => resolve("open"), ms);
    Deno.unrefTimer(timer);
  });
  for (;;) {
    const read = await Promise.race([
      conn.read(buffer).catch(() => null),
      late,
    ]);
    if (read === "open") return false;
    if (read === null) return true;
  }
}

testWith(
  "tcp_client's TLS keeps one socket, not one per attempt, open to a peer that never answers the handshake, and meanwhile still verifies the server",
  [OPENSSL],
  async ([openssl]) => {
    await using certs = await makeCertificates(openssl!);
    // A plain-text server given TLS takes the ClientHello for data and
    // never answers; Deno cannot close a socket whose handshake is pending.
    const port = freePort();
    const silent = Deno.listen({ hostname: "127.0.0.1", port });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    const warnings: string[] = [];
    const tcp = new TcpConnection({
      hostname: "127.0.0.1",
      port,
      reconnect_min_ms: 20,
      reconnect_max_ms: 20,
      connect_timeout: 0.1,
      write_timeout: 5,
      tls: { ca: certs.ca, server_name: "localhost" },
    }, () => ({
      debug() {},
      info() {},
      warn: (message: string) => warnings.push(message),
    }));
    let router: Router | undefined;
    try {
      const connected = tcp.connect();
      connected.catch(() => {}); // Awaited below, unless a check fails first.
      await pollUntil(() => held.length, (n) => n >= 6, "6 attempts");
      silent.close();
      await accepting;
      const closed = await Promise.all(
        held.map((conn) => closedByPeer(conn, 2000)),
      );
      // The first handshake's socket stays; every later one was closed.
      assert.deepEqual(closed, held.map((_, i) => i > 0));
      assert.deepEqual(
        warnings.filter((each) =>
          each.includes("did not answer the TLS handshake")
        ).length,
        1,
      );

      // Meanwhile the server is still verified: one whose certificate
      // chains to another CA is refused, with what to do about it.
      const untrusted = await pipeline(
        new TcpServer("untrusted", {
          port,
          tls: {
            cert: certs.otherServer.cert,
            key: certs.otherServer.key,
            client_auth: "none",
          },
        }),
      );
      await pollUntil(
        () => tcp.lastError,
        (error) => error.includes("the server's certificate is not trusted"),
        "the certificate refused",
      );
      await untrusted.router.stop();

      const trusted = await pipeline(
        new TcpServer("trusted", {
          port,
          tls: {
            cert: certs.server.cert,
            key: certs.server.key,
            client_auth: "none",
          },
        }),
      );
      router = trusted.router;
      const conn = await connected;
      await tcp.write(conn, encoder.encode("through node:tls\n"));
      await trusted.events.waitFor(1);
      assert.equal(trusted.events.events[0]!.data, "through node:tls");
    } finally {
      await tcp.close();
      for (const conn of held) conn.close();
      await router?.stop();
    }
  },
);
