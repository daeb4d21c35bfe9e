/**
 * TLS settings shared by the actors and the admin server: the `tls:` options
 * of listeners (`cert`, `key`, `ca`, `client_auth`) and of clients (`ca`,
 * `cert`, `key`, `server_name`, `verify_hostname`, `insecure_skip_verify`),
 * read from PEM files and checked when the options are parsed (so
 * `compysition validate` reports a missing file, a block that does not
 * parse, a key that does not match its certificate or an expired
 * certificate, at the line of the option), and read again when the
 * certificates are reloaded (SIGHUP, see {@link reloadCertificates}).
 *
 * Paths are relative to the working directory, as other paths of a
 * bootstrap file.
 *
 * @module
 */

import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { z } from "zod";
import type { Router } from "./router.ts";

/** Which option of a `tls:` mapping a {@link TlsFileError} is about. */
export type TlsFileOption = "cert" | "key" | "ca";

/**
 * A TLS file that cannot be used: which option names it, and why (with the
 * file, and the line of the PEM block at fault when there is one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TlsFileError } from "./tls.ts";
 * const error = new TlsFileError("key", 'Cannot read "k.pem"');
 * assert.deepEqual([error.option, error.message], ["key", 'Cannot read "k.pem"']);
 * ```
 */
export class TlsFileError extends Error {
  override name = "TlsFileError";
  /** The option that names the file. */
  readonly option: TlsFileOption;

  /** A problem with the file of `option`. */
  constructor(option: TlsFileOption, message: string) {
    super(message);
    this.option = option;
  }
}

/** Larger files are refused: PEM files of certificates are kilobytes. */
const MAX_PEM_BYTES = 16 * 1024 * 1024;

/** One `-----BEGIN X-----` ... `-----END X-----` block of a PEM file. */
interface PemBlock {
  /** `X`, e.g. `"CERTIFICATE"`. */
  label: string;
  /** The block, from its BEGIN line to its END line. */
  text: string;
  /** The line of its BEGIN line, from 1. */
  line: number;
}

/** The text of the file at `path`, or a {@link TlsFileError}. */
function readPem(option: TlsFileOption, path: string, what: string): string {
  let text: string;
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) {
      throw new TlsFileError(option, `"${path}" (${what}) is not a file`);
    }
    if (info.size > MAX_PEM_BYTES) {
      throw new TlsFileError(
        option,
        `"${path}" (${what}) has ${info.size} bytes: too large for a PEM file`,
      );
    }
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof TlsFileError) throw error;
    throw new TlsFileError(
      option,
      `Cannot read ${what} "${path}": ${(error as Error).message}`,
    );
  }
  return text;
}

/** The PEM blocks of `text`, read from `path`; text around them is ignored. */
function pemBlocks(
  option: TlsFileOption,
  path: string,
  text: string,
): PemBlock[] {
  const blocks: PemBlock[] = [];
  const lines = text.split(/\r?\n/);
  let open: { label: string; line: number; lines: string[] } | undefined;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(line);
    const end = /^-----END ([A-Z0-9 ]+)-----$/.exec(line);
    if (begin !== null) {
      if (open !== undefined) {
        throw new TlsFileError(
          option,
          `${path}:${open.line}: the "${open.label}" block has no END line before line ${
            index + 1
          }`,
        );
      }
      open = { label: begin[1]!, line: index + 1, lines: [line] };
    } else if (end !== null) {
      if (open === undefined || open.label !== end[1]) {
        throw new TlsFileError(
          option,
          `${path}:${index + 1}: "-----END ${end[1]}-----" ends no "${
            end[1]
          }" block`,
        );
      }
      open.lines.push(line);
      blocks.push({
        label: open.label,
        text: `${open.lines.join("\n")}\n`,
        line: open.line,
      });
      open = undefined;
    } else if (open !== undefined) {
      open.lines.push(line);
    }
  }
  if (open !== undefined) {
    throw new TlsFileError(
      option,
      `${path}:${open.line}: the "${open.label}" block has no END line`,
    );
  }
  return blocks;
}

/** The certificates of a PEM file, in order, and their PEM text. */
export interface CertificateFile {
  /** The CERTIFICATE blocks, one after the other. */
  pem: string;
  /** Each of them, parsed. */
  certificates: X509Certificate[];
}

/**
 * Reads the certificates of the PEM file at `path` (the option `option`,
 * called `what` in messages): at least one CERTIFICATE block, each a valid
 * X.509 certificate. Throws a {@link TlsFileError} saying what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCertificates } from "./tls.ts";
 * try {
 *   readCertificates("ca", "no/such/ca.pem", "the CA file");
 * } catch (error) {
 *   assert.equal((error as Error).message.startsWith('Cannot read the CA file "no/such/ca.pem"'), true);
 * }
 * ```
 */
export function readCertificates(
  option: TlsFileOption,
  path: string,
  what: string,
): CertificateFile {
  const blocks = pemBlocks(option, path, readPem(option, path, what));
  const certificates: X509Certificate[] = [];
  const pem: string[] = [];
  for (const block of blocks) {
    if (block.label !== "CERTIFICATE") continue;
    try {
      certificates.push(new X509Certificate(block.text));
    } catch (error) {
      throw new TlsFileError(
        option,
        `${path}:${block.line}: the CERTIFICATE block is not a valid X.509 certificate (${
          (error as Error).message
        })`,
      );
    }
    pem.push(block.text);
  }
  if (certificates.length === 0) {
    const labels = blocks.map((block) => `"${block.label}"`).join(", ");
    throw new TlsFileError(
      option,
      `"${path}" (${what}) has no "-----BEGIN CERTIFICATE-----" block${
        labels === ""
          ? ': is it PEM? A DER file converts with "openssl x509 -inform der -in FILE -out FILE.pem"'
          : `, only ${labels}`
      }`,
    );
  }
  return { pem: pem.join(""), certificates };
}

/** The labels of the private keys Deno's TLS reads. */
const KEY_LABELS = new Set([
  "PRIVATE KEY",
  "RSA PRIVATE KEY",
  "EC PRIVATE KEY",
]);

/** The key types Deno's TLS (rustls) signs with. */
const KEY_TYPES = new Set(["rsa", "ec", "ed25519"]);

/** A private key of a PEM file, and its PEM text. */
export interface KeyFile {
  /** The key's block. */
  pem: string;
  /** The key, parsed. */
  key: KeyObject;
}

/**
 * Reads the private key of the PEM file at `path`: one unencrypted PKCS#8
 * (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`)
 * block of an RSA, ECDSA or Ed25519 key. Throws a {@link TlsFileError}
 * saying what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPrivateKey } from "./tls.ts";
 * const path = Deno.makeTempFileSync({ suffix: ".pem" });
 * Deno.writeTextFileSync(path, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
 * try {
 *   readPrivateKey(path);
 * } catch (error) {
 *   assert.equal((error as Error).message.includes(":1: the key is encrypted"), true);
 * }
 * Deno.removeSync(path);
 * ```
 */
export function readPrivateKey(path: string): KeyFile {
  const blocks = pemBlocks("key", path, readPem("key", path, "the key file"));
  const keys = blocks.filter((block) =>
    KEY_LABELS.has(block.label) || block.label === "ENCRYPTED PRIVATE KEY"
  );
  if (keys.length !== 1) {
    throw new TlsFileError(
      "key",
      keys.length === 0
        ? `"${path}" (the key file) has no "-----BEGIN PRIVATE KEY-----" block (nor "RSA PRIVATE KEY" or "EC PRIVATE KEY")`
        : `"${path}" (the key file) has ${keys.length} private keys (lines ${
          keys.map((block) => block.line).join(", ")
        }): give one`,
    );
  }
  const block = keys[0]!;
  if (
    block.label === "ENCRYPTED PRIVATE KEY" || /^Proc-Type: *4,ENCRYPTED/m.test(
      block.text,
    )
  ) {
    throw new TlsFileError(
      "key",
      `${path}:${block.line}: the key is encrypted; Deno reads only unencrypted keys (decrypt it with "openssl pkey -in ${path} -out PLAIN.pem", readable by this user only)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(block.text);
  } catch (error) {
    throw new TlsFileError(
      "key",
      `${path}:${block.line}: the "${block.label}" block is not a valid private key (${
        (error as Error).message
      })`,
    );
  }
  const type = key.asymmetricKeyType ?? "unknown";
  if (!KEY_TYPES.has(type)) {
    throw new TlsFileError(
      "key",
      `${path}:${block.line}: the key is a "${type}" key; Deno's TLS takes RSA, ECDSA or Ed25519 keys`,
    );
  }
  return { pem: block.text, key };
}

/** A certificate with its subject in one line: `"CN=a, O=b"`. */
function subjectOf(certificate: X509Certificate): string {
  return certificate.subject.split("\n").join(", ");
}

/**
 * Checks that `certificate` (the first of `certPath`) is valid now and
 * belongs to `key` (of `keyPath`).
 */
function checkPair(
  certificate: X509Certificate,
  certPath: string,
  key: KeyObject,
  keyPath: string,
): void {
  const subject = subjectOf(certificate);
  if (certificate.validToDate.getTime() < Date.now()) {
    throw new TlsFileError(
      "cert",
      `The certificate in "${certPath}" (subject "${subject}") expired on ${certificate.validToDate.toISOString()}`,
    );
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new TlsFileError(
      "key",
      `"${keyPath}" is not the private key of the certificate in "${certPath}" (subject "${subject}")`,
    );
  }
}

/**
 * How a listener asks clients for a certificate: `"none"` (it does not),
 * `"request"` (a client may present one, which must then be valid), or
 * `"require"` (every client must present a valid one).
 */
export type ClientAuth = "none" | "request" | "require";

/** The `tls:` options of a listener, as written. */
export interface ServerTlsOptions {
  /** Path of the PEM file of the certificate, then its intermediates. */
  cert: string;
  /** Path of the PEM file of its private key. */
  key: string;
  /** Path of the PEM file of the CAs that client certificates chain to. */
  ca?: string | undefined;
  /** Whether clients must present a certificate (default `"none"`). */
  client_auth?: ClientAuth | undefined;
}

/** What a listener serves with: the files of {@link ServerTlsOptions}, read. */
export interface ServerTlsMaterial {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
  /** The client CAs, PEM, when `ca` is given. */
  ca: string | undefined;
  /** See {@link ClientAuth}. */
  clientAuth: ClientAuth;
  /** The certificate's subject, e.g. `"CN=logs.example.com"`. */
  subject: string;
  /** When the certificate expires. */
  expires: Date;
}

/**
 * Reads and checks the files of a listener's `tls:` options: the
 * certificate chain, its private key (which must match it), the client CAs,
 * and that `client_auth` other than `"none"` has a `ca`. Throws a
 * {@link TlsFileError} saying what is wrong, or a `TypeError` for options
 * that do not fit together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadServerTls } from "./tls.ts";
 * try {
 *   loadServerTls({ cert: "missing.pem", key: "missing.key" });
 * } catch (error) {
 *   assert.equal((error as Error).message.startsWith('Cannot read the certificate file "missing.pem"'), true);
 * }
 * ```
 */
export function loadServerTls(options: ServerTlsOptions): ServerTlsMaterial {
  const clientAuth = options.client_auth ?? "none";
  if (clientAuth !== "none" && options.ca === undefined) {
    throw new TlsFileError(
      "ca",
      `client_auth "${clientAuth}" needs "ca": the CA certificates that client certificates must chain to`,
    );
  }
  const cert = readCertificates("cert", options.cert, "the certificate file");
  const key = readPrivateKey(options.key);
  const leaf = cert.certificates[0]!;
  checkPair(leaf, options.cert, key.key, options.key);
  const ca = options.ca === undefined
    ? undefined
    : readCertificates("ca", options.ca, "the CA file").pem;
  return {
    cert: cert.pem,
    key: key.pem,
    ca,
    clientAuth,
    subject: subjectOf(leaf),
    expires: leaf.validToDate,
  };
}

/** The `tls:` options of a client, as written. */
export interface ClientTlsOptions {
  /** Path of the PEM file of more CAs to trust. */
  ca?: string | undefined;
  /** Path of the PEM file of the client certificate (mutual TLS). */
  cert?: string | undefined;
  /** Path of the PEM file of its private key. */
  key?: string | undefined;
}

/** What a client connects with: the files of {@link ClientTlsOptions}, read. */
export interface ClientTlsMaterial {
  /** The CAs trusted besides the built-in roots, PEM, one per certificate. */
  caCerts: string[];
  /** The client certificate chain and its key, PEM, when given. */
  certifiedKey: { cert: string; key: string } | undefined;
}

/**
 * Reads and checks the files of a client's `tls:` options: the CAs to
 * trust, and the client certificate and its key (both or neither). Throws a
 * {@link TlsFileError} saying what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadClientTls } from "./tls.ts";
 * assert.deepEqual(loadClientTls({}), { caCerts: [], certifiedKey: undefined });
 * try {
 *   loadClientTls({ cert: "client.pem" });
 * } catch (error) {
 *   assert.equal((error as Error).message, '"cert" needs "key": the private key of the client certificate');
 * }
 * ```
 */
export function loadClientTls(options: ClientTlsOptions): ClientTlsMaterial {
  if (options.cert !== undefined && options.key === undefined) {
    throw new TlsFileError(
      "key",
      '"cert" needs "key": the private key of the client certificate',
    );
  }
  if (options.key !== undefined && options.cert === undefined) {
    throw new TlsFileError(
      "cert",
      '"key" needs "cert": the client certificate of the private key',
    );
  }
  const caCerts = options.ca === undefined ? [] : splitCertificates(
    readCertificates("ca", options.ca, "the CA file"),
  );
  if (options.cert === undefined || options.key === undefined) {
    return { caCerts, certifiedKey: undefined };
  }
  const cert = readCertificates("cert", options.cert, "the certificate file");
  const key = readPrivateKey(options.key);
  checkPair(cert.certificates[0]!, options.cert, key.key, options.key);
  return { caCerts, certifiedKey: { cert: cert.pem, key: key.pem } };
}

/** Each certificate of `file` as its own PEM text. */
function splitCertificates(file: CertificateFile): string[] {
  return file.certificates.map((certificate) => certificate.toString());
}

/** The issues of `load()`'s {@link TlsFileError}, for a zod check. */
function fileIssues(
  load: () => void,
  context: z.core.ParsePayload<Record<string, unknown>>,
): void {
  try {
    load();
  } catch (error) {
    if (!(error instanceof TlsFileError)) throw error;
    context.issues.push({
      code: "custom",
      input: context.value[error.option],
      path: [error.option],
      message: error.message,
    });
  }
}

const CERT_DESCRIPTION =
  "Path of the PEM file of the certificate, followed by its intermediate CA certificates.";
const KEY_DESCRIPTION =
  "Path of the PEM file of the certificate's private key: RSA, ECDSA or Ed25519, PKCS#8, PKCS#1 or SEC1, not encrypted.";

/**
 * The `tls:` options of a listener (`http_server`, `tcp_server`,
 * `prometheus`): `cert`, `key`, `ca`, `client_auth`. Parsing reads and
 * checks the files (see {@link loadServerTls}); a problem is an issue at
 * the option naming the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerTlsSchema } from "./tls.ts";
 * const result = ServerTlsSchema.safeParse({ cert: "no.pem", key: "no.key" });
 * assert.deepEqual(result.error!.issues[0]!.path, ["cert"]);
 * ```
 */
export const ServerTlsSchema = z.strictObject({
  cert: z.string().min(1).describe(CERT_DESCRIPTION),
  key: z.string().min(1).describe(KEY_DESCRIPTION),
  ca: z.string().min(1).optional().describe(
    "Path of the PEM file of the CA certificates that client certificates must chain to; needed by client_auth.",
  ),
  client_auth: z.enum(["none", "request", "require"]).default("none")
    .describe(
      'Client certificates (mutual TLS): "none" (not asked for), "request" (a client may present one, which must then chain to "ca"), "require" (every client must present one that chains to "ca"; others fail the handshake).',
    ),
}).check((context) => fileIssues(() => loadServerTls(context.value), context))
  .describe(
    "Serve TLS with these PEM files, read again on SIGHUP (connections already open keep theirs).",
  );

/** Parsed `tls:` options of a listener. */
export type ServerTlsSchema = z.infer<typeof ServerTlsSchema>;

/** The zod fields of a client's `tls:` files, shared by the client schemas. */
function clientTlsFields() {
  return {
    ca: z.string().min(1).optional().describe(
      "Path of the PEM file of CA certificates to trust besides the built-in roots (a private CA).",
    ),
    cert: z.string().min(1).optional().describe(
      "Path of the PEM file of a client certificate to present (mutual TLS), followed by its intermediates; needs key.",
    ),
    key: z.string().min(1).optional().describe(KEY_DESCRIPTION),
  };
}

/**
 * The `tls:` options of `http_client`: `ca`, `cert`, `key`. Parsing reads
 * and checks the files (see {@link loadClientTls}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpClientTlsSchema } from "./tls.ts";
 * assert.deepEqual(HttpClientTlsSchema.parse({}), {});
 * ```
 */
export const HttpClientTlsSchema = z.strictObject(clientTlsFields())
  .check((context) => fileIssues(() => loadClientTls(context.value), context))
  .describe(
    "Connect with TLS settings for https URLs: CAs to trust, a client certificate; read again on SIGHUP.",
  );

/** Parsed `tls:` options of `http_client`. */
export type HttpClientTlsSchema = z.infer<typeof HttpClientTlsSchema>;

/**
 * The `tls:` options of `tcp_client`: `ca`, `cert`, `key`, `server_name`,
 * `verify_hostname`, `insecure_skip_verify`. Parsing reads and checks the
 * files (see {@link loadClientTls}). `insecure_skip_verify: true` connects
 * without verifying the server's certificate at all (neither its chain nor
 * its name), for a lab peer with a self-signed certificate; it refuses the
 * options it would make meaningless: `ca` and `verify_hostname: true`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TcpClientTlsSchema } from "./tls.ts";
 * assert.equal(TcpClientTlsSchema.parse({}).verify_hostname, undefined); // checked
 * assert.equal(TcpClientTlsSchema.safeParse({ insecure_skip_verify: true }).success, true);
 * const refused = TcpClientTlsSchema.safeParse({ insecure_skip_verify: true, verify_hostname: true });
 * assert.deepEqual(refused.error!.issues[0]!.path, ["verify_hostname"]);
 * ```
 */
export const TcpClientTlsSchema = z.strictObject({
  ...clientTlsFields(),
  server_name: z.string().min(1).optional().describe(
    'The name the server\'s certificate must have, sent as SNI (default: "hostname"), e.g. when connecting to an IP address. With a client certificate it is also the name connected to (Deno.connectTls connects to the name it verifies). With insecure_skip_verify it is only sent as SNI.',
  ),
  verify_hostname: z.boolean().optional().describe(
    "Check that the server's certificate is for server_name (or hostname): true unless insecure_skip_verify; false still checks that it chains to a trusted CA.",
  ),
  insecure_skip_verify: z.boolean().optional().describe(
    'Connect with TLS without verifying the server\'s certificate (default false): neither its chain nor its name (a warning is logged at start). Anyone on the path can then read and change what is sent: only for a peer whose certificate cannot be verified, e.g. a lab relay with a self-signed one; prefer trusting its certificate with "ca". Cannot be combined with "ca" or "verify_hostname: true".',
  ),
}).check((context) => {
  const value = context.value;
  if (value.insecure_skip_verify === true) {
    const refuse = (option: "ca" | "verify_hostname", message: string) =>
      context.issues.push({
        code: "custom",
        input: value[option],
        path: [option],
        message,
      });
    if (value.verify_hostname === true) {
      refuse(
        "verify_hostname",
        '"verify_hostname: true" contradicts "insecure_skip_verify: true", which verifies nothing: drop one of them',
      );
    }
    if (value.ca !== undefined) {
      refuse(
        "ca",
        '"ca" is not used with "insecure_skip_verify: true", which verifies nothing: to verify the server with this CA, drop "insecure_skip_verify"',
      );
    }
  }
  fileIssues(() => loadClientTls(value), context);
})
  .describe(
    "Connect with TLS: CAs to trust, a client certificate, the server's name, or insecure_skip_verify for a peer whose certificate cannot be verified; read again on SIGHUP for the next connections.",
  );

/** Parsed `tls:` options of `tcp_client`. */
export type TcpClientTlsSchema = z.infer<typeof TcpClientTlsSchema>;

/**
 * Something that serves or connects with certificates read from files, and
 * can read them again: actors with `tls:` options, the admin server.
 */
export interface CertificateHolder {
  /**
   * Reads the certificate files again and uses them for the connections
   * from now on (those already open keep theirs). Returns `false` when it
   * uses no certificates; throws a {@link TlsFileError} when a file is
   * unusable, and keeps the certificates it had.
   */
  reloadCertificates(): boolean;
}

/**
 * Whether `value` has a `reloadCertificates()` method (see
 * {@link CertificateHolder}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdsCertificates } from "./tls.ts";
 * assert.equal(holdsCertificates({ reloadCertificates: () => false }), true);
 * assert.equal(holdsCertificates({}), false);
 * ```
 */
export function holdsCertificates(value: object): value is CertificateHolder {
  return typeof (value as Partial<CertificateHolder>).reloadCertificates ===
    "function";
}

/** What {@link reloadCertificates} did. */
export interface CertificateReload {
  /** The actors that read their certificates again. */
  reloaded: string[];
  /** The actors whose files are unusable: they kept their certificates. */
  failed: { name: string; error: string }[];
}

/**
 * Asks every actor of `router` with `tls:` options to read its certificate
 * files again (see {@link CertificateHolder}); an actor whose files are
 * unusable keeps the certificates it had. `compysition run` calls it on
 * SIGHUP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Router } from "./router.ts";
 * import { reloadCertificates } from "./tls.ts";
 * assert.deepEqual(reloadCertificates(new Router()), { reloaded: [], failed: [] });
 * ```
 */
export function reloadCertificates(router: Router): CertificateReload {
  const result: CertificateReload = { reloaded: [], failed: [] };
  for (const actor of router.actors()) {
    if (!holdsCertificates(actor)) continue;
    try {
      if (actor.reloadCertificates()) result.reloaded.push(actor.name);
    } catch (error) {
      result.failed.push({
        name: actor.name,
        error: (error as Error).message,
      });
    }
  }
  return result;
}
