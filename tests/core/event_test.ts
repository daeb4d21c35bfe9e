import assert from "node:assert/strict";
import {
  copyEvent,
  createEvent,
  type Event,
  isEvent,
  whyNotEvent,
} from "../../core/event.ts";

Deno.test("isEvent() accepts an object header with a data property, whatever the data", () => {
  assert.equal(isEvent({ header: {}, data: 1 }), true);
  assert.equal(isEvent({ header: { a: 1 }, data: undefined }), true);
  assert.equal(isEvent({ header: {}, data: null, extra: true }), true);
  for (
    const value of [
      undefined,
      null,
      "text",
      42,
      [],
      { data: 1 },
      { header: null, data: 1 },
      { header: [], data: 1 },
      { header: "h", data: 1 },
      { header: {} },
    ]
  ) {
    assert.equal(isEvent(value), false, Deno.inspect(value));
  }
});

Deno.test("whyNotEvent() says what is wrong, and nothing for an event", () => {
  assert.equal(whyNotEvent({ header: {}, data: 1 }), undefined);
  assert.equal(whyNotEvent(null), "not an object (null)");
  assert.equal(whyNotEvent(undefined), "not an object (undefined)");
  assert.equal(whyNotEvent("x"), "not an object (string)");
  assert.equal(whyNotEvent([1]), "not an object (array)");
  assert.equal(whyNotEvent({ data: 1 }), 'missing "header"');
  assert.equal(
    whyNotEvent({ header: 1, data: 1 }),
    '"header" is not an object',
  );
  assert.equal(
    whyNotEvent({ header: [], data: 1 }),
    '"header" is not an object',
  );
  assert.equal(whyNotEvent({ header: {} }), 'missing "data"');
});

Deno.test("createEvent() makes an event with an empty header by default", () => {
  assert.deepEqual(createEvent("hello"), { header: {}, data: "hello" });
  const header = { input: { seq: 1 } };
  assert.equal(createEvent(1, header).header, header);
});

Deno.test("copyEvent() copies deeply so that changes to the copy stay there", () => {
  const event: Event = {
    header: { input: { seq: 1 } },
    data: { list: [1, 2], when: new Date(0) },
  };
  const copy = copyEvent(event);
  (copy.header.input as { seq: number }).seq = 2;
  (copy.data as { list: number[] }).list.push(3);
  assert.deepEqual(event.header, { input: { seq: 1 } });
  assert.deepEqual((event.data as { list: number[] }).list, [1, 2]);
  assert.ok((copy.data as { when: Date }).when instanceof Date);
});
