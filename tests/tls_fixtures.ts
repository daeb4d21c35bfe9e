/**
 * Certificates for the TLS tests, made by the real `openssl` in a temporary
 * directory: a test CA, a server certificate for `localhost` and
 * `127.0.0.1`, a client certificate, and a second CA with its own server
 * certificate (to check which one a listener serves after a reload), and a
 * self-signed certificate.
 *
 * @module
 */

import { join } from "node:path";
import type { Program } from "./requires.ts";

/** `openssl` (Debian package `openssl`). */
export const OPENSSL: Program = {
  name: "openssl",
  paths: ["/usr/bin/openssl"],
  install: "apt-get install -y openssl",
};

/** `curl` (Debian package `curl`). */
export const CURL: Program = {
  name: "curl",
  paths: ["/usr/bin/curl"],
  install: "apt-get install -y curl",
};

/** A certificate and its private key: paths of PEM files. */
export interface Pair {
  cert: string;
  key: string;
}

/** What {@link makeCertificates} makes; removed by `await using`. */
export interface Certificates extends AsyncDisposable {
  /** The temporary directory holding the files. */
  dir: string;
  /** The test CA's certificate (`CN=Test CA`). */
  ca: string;
  /** Signed by the test CA for `localhost` and `127.0.0.1`. */
  server: Pair;
  /** Signed by the test CA for clients (`CN=agent-7, O=Example`). */
  client: Pair;
  /** A second CA's certificate (`CN=Other CA`). */
  otherCa: string;
  /** Signed by the second CA for `localhost` and `127.0.0.1`. */
  otherServer: Pair;
  /** Signed by the second CA for clients (`CN=intruder`). */
  otherClient: Pair;
  /**
   * Self-signed (`CN=lab-relay`), as `openssl req -x509` makes one by
   * default: no CA verifies it.
   */
  selfSigned: Pair;
  /** Runs `openssl` with `args` in the directory; returns its stdout. */
  openssl(args: string[], stdin?: string): Promise<string>;
}

/** Runs `openssl` to its end; throws with its stderr when it fails. */
async function run(
  openssl: string,
  dir: string,
  args: string[],
  stdin?: string,
): Promise<string> {
  const child = new Deno.Command(openssl, {
    args,
    cwd: dir,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  if (!output.success) {
    throw new Error(
      `openssl ${args.join(" ")} failed: ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * Makes the test certificates with `openssl` (its path) in a new temporary
 * directory: ECDSA P-256 keys, valid for two days.
 *
 * @example
 * ```ts ignore
 * await using certs = await makeCertificates(openssl);
 * Deno.listenTls({ port: 0, cert: Deno.readTextFileSync(certs.server.cert), key: ... });
 * ```
 */
export async function makeCertificates(
  openssl: string,
): Promise<Certificates> {
  const dir = await Deno.makeTempDir({ prefix: "compysition_tls_" });
  const ssl = (args: string[], stdin?: string) =>
    run(openssl, dir, args, stdin);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  /** A self-signed certificate `name.pem` of `cn`, its key `name.key`. */
  const selfSign = async (name: string, cn: string, extra: string[] = []) => {
    await ssl([
      "req",
      "-x509",
      ...ec,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      ...extra,
    ]);
    return join(dir, `${name}.pem`);
  };
  const makeCa = (name: string, cn: string) =>
    selfSign(name, cn, [
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  const issue = async (
    name: string,
    ca: string,
    subject: string,
    extensions: string,
  ): Promise<Pair> => {
    await ssl([
      "req",
      "-new",
      ...ec,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ]);
    await Deno.writeTextFile(join(dir, `${name}.ext`), extensions);
    await ssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
    ]);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const serverExtensions = [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "",
  ].join("\n");
  const clientExtensions = [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth",
    "",
  ].join("\n");
  try {
    const ca = await makeCa("ca", "Test CA");
    const otherCa = await makeCa("other-ca", "Other CA");
    return {
      dir,
      ca,
      server: await issue("server", "ca", "/CN=localhost", serverExtensions),
      client: await issue(
        "client",
        "ca",
        "/CN=agent-7/O=Example",
        clientExtensions,
      ),
      otherCa,
      otherServer: await issue(
        "other-server",
        "other-ca",
        "/CN=localhost",
        serverExtensions,
      ),
      otherClient: await issue(
        "other-client",
        "other-ca",
        "/CN=intruder",
        clientExtensions,
      ),
      selfSigned: {
        cert: await selfSign("self-signed", "lab-relay"),
        key: join(dir, "self-signed.key"),
      },
      openssl: ssl,
      async [Symbol.asyncDispose]() {
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}
