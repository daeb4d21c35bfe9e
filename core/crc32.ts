/**
 * CRC-32 (IEEE 802.3, the checksum of zip, gzip and PNG), computed eight
 * bytes at a time ("slicing-by-8") so that checking what a disk buffer
 * reads back costs little beside decoding it.
 *
 * @module
 */

/** The reversed IEEE polynomial. */
const POLYNOMIAL = 0xedb88320;

/** Eight tables of 256 entries: table k gives the CRC of a byte k places back. */
const TABLES: Uint32Array = (() => {
  const tables = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let k = 1; k < 8; k++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[k * 256 + n] = c;
    }
  }
  return tables;
})();

/**
 * The CRC-32 of `bytes[start..end)`, continuing from `crc` (the CRC of the
 * bytes before, 0 to start): `crc32(b, 2, 4, crc32(b, 0, 2))` is
 * `crc32(b, 0, 4)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./crc32.ts";
 * assert.equal(crc32(new TextEncoder().encode("123456789")).toString(16), "cbf43926");
 * ```
 */
export function crc32(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  crc = 0,
): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = c ^ (bytes[i]! | bytes[i + 1]! << 8 | bytes[i + 2]! << 16 |
      bytes[i + 3]! << 24);
    c = t[1792 + (low & 0xff)]! ^ t[1536 + ((low >>> 8) & 0xff)]! ^
      t[1280 + ((low >>> 16) & 0xff)]! ^ t[1024 + (low >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^ t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^ t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
