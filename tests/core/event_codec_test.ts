import assert from "node:assert/strict";
import { ByteBuilder } from "../../actors/payload.ts";
import type { Event } from "../../core/event.ts";
import { decodeEvent, encodeEvent } from "../../core/event_codec.ts";
import { FAILED, type TrackedEvent } from "../../core/tracking.ts";

/** `event` written and read back, with the tracker number it carried. */
function roundTrip(
  event: Event,
  tracker?: number,
): { event: Event; tracker: number | undefined } {
  const builder = new ByteBuilder();
  builder.addText("junk before");
  const start = builder.length;
  encodeEvent(builder, event, tracker);
  return decodeEvent(builder.bytes(), start, builder.length);
}

Deno.test("encodeEvent and decodeEvent keep every kind of event exactly", () => {
  const events: Event[] = [
    { header: { a: { b: [1, "x", null, true] } }, data: "text é 🎉" },
    { header: {}, data: new Uint8Array([0, 1, 255]) },
    { header: {}, data: { nested: [1, 2, { deep: "yes" }] } },
    { header: {}, data: 42 },
    { header: {}, data: null },
    { header: {}, data: "\ud800 lone surrogate" },
    { header: { at: new Date(5), map: new Map([["k", 1]]) }, data: "v8" },
    { header: { missing: undefined, negative: -0, nan: NaN }, data: [1, , 3] },
    { header: {}, data: new Uint16Array([1, 2]) },
    { header: {}, data: { big: 10n } },
  ];
  for (const event of events) {
    const back = roundTrip(event).event;
    assert.deepEqual(back, event);
    // A plain object, whatever made it.
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.deepEqual(Object.keys(back), ["header", "data"]);
    assert.ok(Object.is(back.header.negative, event.header.negative));
  }
});

Deno.test("decodeEvent gives back the tracker number and the failed mark", () => {
  const failed = { header: {}, data: "x" } as TrackedEvent;
  failed[FAILED] = true;
  const back = roundTrip(failed, 2 ** 40 + 7);
  assert.equal(back.tracker, 2 ** 40 + 7);
  assert.equal((back.event as TrackedEvent)[FAILED], true);
  assert.equal(roundTrip({ header: {}, data: 1 }).tracker, undefined);
});

Deno.test("encodeEvent names what cannot be written to disk", () => {
  assert.throws(
    () => roundTrip({ header: { callback: () => {} }, data: 1 }),
    (error: Error) =>
      error instanceof TypeError &&
      error.message.startsWith("The event cannot be written to disk: "),
  );
});
