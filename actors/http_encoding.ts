/**
 * HTTP content codings (`Content-Encoding`, `Accept-Encoding`) for
 * `http_server` and `http_client`: `gzip`, `deflate` and `br`.
 *
 * Not an actor.
 *
 * @module
 */

import type { Transform } from "node:stream";
import {
  brotliCompressSync,
  constants,
  createBrotliDecompress,
  createGunzip,
  createInflate,
  gzipSync,
} from "node:zlib";

/** The codings decoded and made: `gzip`, `deflate` (zlib), `br` (Brotli). */
export type ContentCoding = "gzip" | "deflate" | "br";

/** Bytes a decoder makes at a time. */
const DECODED_CHUNK_BYTES = 65_536;

/**
 * The codings undone to decode a body with the `Content-Encoding` `header`,
 * in order (the last coding applied first); none for `identity` or no
 * header; or why it cannot be decoded (a coding other than `gzip`,
 * `x-gzip`, `deflate`, `br` and `identity`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentCodings } from "./http_encoding.ts";
 * assert.deepEqual(contentCodings("deflate, gzip"), ["gzip", "deflate"]);
 * assert.deepEqual(contentCodings(null), []);
 * assert.equal(contentCodings("zstd"), 'Unsupported Content-Encoding "zstd": use gzip, deflate or br');
 * ```
 */
export function contentCodings(
  header: string | null,
): ContentCoding[] | string {
  if (header === null) return [];
  const codings: ContentCoding[] = [];
  for (const raw of header.split(",").reverse()) {
    const name = raw.trim().toLowerCase();
    if (name === "" || name === "identity") continue;
    const coding = name === "x-gzip" ? "gzip" : name;
    if (coding !== "gzip" && coding !== "deflate" && coding !== "br") {
      return `Unsupported Content-Encoding "${name}": use gzip, deflate or br`;
    }
    codings.push(coding);
  }
  return codings;
}

/** A `node:zlib` decoder of `coding`. */
function decoder(coding: ContentCoding): Transform {
  const options = { chunkSize: DECODED_CHUNK_BYTES };
  if (coding === "gzip") return createGunzip(options);
  if (coding === "deflate") return createInflate(options);
  return createBrotliDecompress(options);
}

/**
 * Reads `body` decoded from `codings` (see {@link contentCodings}), handing
 * each decoded chunk (at most 64 KiB) to `take`. Stops as soon as `take`
 * returns `false`, so that a small body that decodes to gigabytes (a "zip
 * bomb") is never decoded further than the caller's limit: resolves `true`
 * once all of it was taken, `false` when `take` stopped it; rejects when it
 * does not decode or cannot be read. Stopped before its end, the body is
 * cancelled and its reader released (an HTTP listener then counts it as
 * left unread).
 *
 * `node:zlib` and not `DecompressionStream`: Deno's `DecompressionStream`
 * decodes each chunk written into it whole, into one chunk (300 bytes of
 * Brotli can make 200 MB), where `node:zlib` makes `chunkSize` at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compressBytes, readDecoded } from "./http_encoding.ts";
 * const packed = compressBytes(new TextEncoder().encode("hello"), "gzip");
 * const body = new Response(packed).body!;
 * const chunks: Uint8Array[] = [];
 * assert.equal(await readDecoded(body, ["gzip"], (chunk) => chunks.push(chunk) > 0), true);
 * assert.equal(new TextDecoder().decode(chunks[0]), "hello");
 * ```
 */
export async function readDecoded(
  body: ReadableStream<Uint8Array>,
  codings: readonly ContentCoding[],
  take: (chunk: Uint8Array) => boolean,
): Promise<boolean> {
  const decoders = codings.map(decoder);
  for (let index = 1; index < decoders.length; index++) {
    decoders[index - 1]!.pipe(decoders[index]!);
  }
  const first = decoders[0]!;
  const last = decoders.at(-1)!;
  const reader = body.getReader();
  let finished = false;
  const result = Promise.withResolvers<boolean>();
  const finish = (taken: boolean) => {
    finished = true;
    result.resolve(taken);
  };
  const fail = (error: unknown) => {
    finished = true;
    result.reject(error);
  };
  last.on("data", (chunk: Uint8Array) => {
    if (finished) return;
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    if (!take(bytes)) finish(false);
  });
  last.on("end", () => finish(true));
  for (const each of decoders) each.on("error", fail);
  let read = false;
  const pump = async () => {
    try {
      while (!finished) {
        const next = await reader.read();
        if (next.done) {
          read = true;
          first.end();
          return;
        }
        if (!first.write(next.value)) {
          await Promise.race([
            new Promise((resolve) => first.once("drain", resolve)),
            result.promise.catch(() => {}),
          ]);
        }
      }
    } catch (error) {
      fail(error);
    }
  };
  pump();
  try {
    return await result.promise;
  } finally {
    for (const each of decoders) each.destroy();
    if (!read) {
      // Let go of before its end, `body` counts as left unread (see
      // `core/http_listener.ts`).
      await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }
}

/**
 * The coding to answer with for the `Accept-Encoding` `header`: `br` or
 * `gzip`, whichever the client gives the higher weight (`br` on a tie), or
 * `undefined` when it accepts neither.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptedCoding } from "./http_encoding.ts";
 * assert.equal(acceptedCoding("gzip, deflate, br"), "br");
 * assert.equal(acceptedCoding("br;q=0.5, gzip"), "gzip");
 * assert.equal(acceptedCoding("*;q=0"), undefined);
 * assert.equal(acceptedCoding(null), undefined);
 * ```
 */
export function acceptedCoding(
  header: string | null,
): "br" | "gzip" | undefined {
  if (header === null) return undefined;
  const weights = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name = "", ...parameters] = part.split(";");
    let weight = 1;
    for (const parameter of parameters) {
      const [key, value] = parameter.split("=");
      if (key?.trim().toLowerCase() === "q") weight = Number(value);
    }
    if (Number.isFinite(weight)) {
      weights.set(name.trim().toLowerCase(), weight);
    }
  }
  const weightOf = (coding: string) =>
    weights.get(coding) ??
      (coding === "gzip" ? weights.get("x-gzip") : undefined) ??
      weights.get("*") ?? 0;
  const br = weightOf("br");
  const gzip = weightOf("gzip");
  if (br <= 0 && gzip <= 0) return undefined;
  return br >= gzip ? "br" : "gzip";
}

/**
 * `bytes` compressed with `coding` (Brotli at a middle quality, which
 * compresses about as well as gzip's best at a fraction of the time of
 * Brotli's best).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gunzipSync } from "node:zlib";
 * import { compressBytes } from "./http_encoding.ts";
 * const text = "hello ".repeat(100);
 * const packed = compressBytes(new TextEncoder().encode(text), "gzip");
 * assert.ok(packed.length < text.length);
 * assert.ok(new TextDecoder().decode(gunzipSync(packed)) === text);
 * ```
 */
export function compressBytes(
  bytes: Uint8Array,
  coding: "br" | "gzip",
): Uint8Array<ArrayBuffer> {
  const packed = coding === "gzip"
    ? gzipSync(bytes)
    : brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 5 },
    });
  // A Buffer of node:zlib is a view of an ArrayBuffer of its own.
  return new Uint8Array(
    packed.buffer as ArrayBuffer,
    packed.byteOffset,
    packed.byteLength,
  );
}
