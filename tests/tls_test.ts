/**
 * TLS on the listeners (`tcp_server`, `http_server`) and the clients
 * (`tcp_client`, `http_client`), against the real `openssl s_client` and
 * `curl`, with certificates made by the real `openssl` at test time (see
 * `tls_fixtures.ts`): mutual TLS, refused clients, a handshake that never
 * completes, certificates read again without dropping open connections, and
 * unusable files reported at `validate` time with file and line.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { HttpServer } from "../actors/input/http_server.ts";
import { TcpServer } from "../actors/input/tcp_server.ts";
import { HttpClient } from "../actors/output/http_client.ts";
import { TcpClient } from "../actors/output/tcp_client.ts";
import { Router } from "../core/router.ts";
import { runCli } from "./cli_helpers.ts";
import {
  Collector,
  ListInput,
  pollUntil,
  reachableObjects,
  withTempDir,
} from "./helpers.ts";
import { testWith } from "./requires.ts";
import {
  type Certificates,
  CURL,
  makeCertificates,
  OPENSSL,
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
  "compysition validate reports unusable TLS files with file and line",
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
          "connections:",
          "  - web.orders -> out.inbox",
          "  - wrong_key.outbox -> out.inbox",
          "",
        ].join("\n"),
      );
      const result = await runCli(["validate", file]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr.trimEnd().split("\n").length, 2);
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
