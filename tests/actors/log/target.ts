/**
 * A synchronous write target for log actor tests.
 *
 * @module
 */

/** A target that keeps what is written and counts the writes. */
export class TextTarget {
  text = "";
  writes = 0;
  #decoder = new TextDecoder();

  writeSync(bytes: Uint8Array): number {
    this.writes++;
    this.text += this.#decoder.decode(bytes);
    return bytes.length;
  }

  lines(): string[] {
    return this.text.split("\n").slice(0, -1);
  }
}
