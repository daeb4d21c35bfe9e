import assert from "node:assert/strict";
import { z } from "zod";
import {
  fieldGetter,
  fieldPathProblem,
  fieldRemover,
  fieldSetter,
  fieldTarget,
  fieldTargetFields,
} from "../../actors/field.ts";

Deno.test("fieldGetter reads nested data and header values, array indexes included", () => {
  const event = {
    header: { http: { status: 200 } },
    data: { items: [{ id: "a" }, { id: "b" }] },
  };
  assert.equal(fieldGetter("header.http.status")(event), 200);
  assert.equal(fieldGetter("data.items.1.id")(event), "b");
  assert.equal(fieldGetter("data")(event), event.data);
  assert.equal(fieldGetter("data.items.5.id")(event), undefined);
  assert.equal(fieldGetter("data.items.0.id.length")(event), undefined);
  assert.equal(fieldGetter("header.none")(event), undefined);
});

Deno.test("fieldSetter makes missing objects and refuses to write through other values", () => {
  const event: { header: Record<string, unknown>; data: unknown } = {
    header: { text: "x" },
    data: undefined,
  };
  fieldSetter("header.a.b.c")(event, 1);
  fieldSetter("data.user.id")(event, 7);
  assert.deepEqual(event, {
    header: { text: "x", a: { b: { c: 1 } } },
    data: { user: { id: 7 } },
  });
  assert.throws(() => fieldSetter("header.text.more")(event, 1), {
    name: "TypeError",
    message:
      'Cannot set "header.text.more": "header.text" is a string, not an object',
  });
  const text = { header: {}, data: "text" as unknown };
  assert.throws(
    () => fieldSetter("data.x")(text, 1),
    /"data" is a string, not an object/,
  );
  fieldSetter("data")(text, [1]);
  assert.deepEqual(text.data, [1]);
});

Deno.test("fieldSetter writes keys that look like code as plain keys, and setters of several paths write each its own", () => {
  const odd = [
    'a"]=globalThis["hacked"]=1;//',
    "b\\",
    "c\u2028d",
    "0",
    "${x}",
    "`",
  ];
  const event = {
    header: {} as Record<string, unknown>,
    data: null as unknown,
  };
  for (const key of odd) {
    fieldSetter(`header.x.${key}`)(event, key);
    fieldSetter(`data.${key}.y`)(event, key);
  }
  assert.equal("hacked" in globalThis, false);
  assert.deepEqual(
    event.header.x,
    Object.fromEntries(odd.map((key) => [key, key])),
  );
  assert.deepEqual(
    event.data,
    Object.fromEntries(odd.map((key) => [key, { y: key }])),
  );
  // Many setters over the same events, as several header stages are: each
  // writes its key, on events of every shape, in an array index too.
  const setters = ["one", "two", "three"].map((key) =>
    fieldSetter(`header.tag.${key}`)
  );
  const events = Array.from({ length: 300 }, (_, i) => ({
    header: i % 3 === 0 ? {} : { tag: i % 3 === 1 ? { zero: 0 } : [] },
    data: i,
  }));
  for (const set of setters) for (const e of events) set(e, e.data);
  for (const e of events) {
    const tag = e.header.tag as Record<string, unknown>;
    assert.deepEqual(
      [tag.one, tag.two, tag.three],
      [e.data, e.data, e.data],
    );
  }
  const frozen = { header: { tag: Object.freeze({}) }, data: null };
  assert.throws(() => setters[0]!(frozen, 1), TypeError);
  assert.throws(
    () => fieldSetter("header.tag.one.deeper")(events[1]!, 1),
    {
      message:
        'Cannot set "header.tag.one.deeper": "header.tag.one" is a number, not an object',
    },
  );
});

Deno.test("fieldRemover deletes the key it names and ignores absent paths", () => {
  const event = { header: { a: { b: 1, c: 2 } }, data: null };
  fieldRemover("header.a.b")(event);
  fieldRemover("header.x.y")(event);
  assert.deepEqual(event.header, { a: { c: 2 } });
});

Deno.test("field paths must start with data or header and have no empty or reserved keys", () => {
  assert.equal(fieldPathProblem("data"), undefined);
  assert.equal(fieldPathProblem("header"), undefined);
  assert.equal(
    fieldPathProblem("header", true),
    'Field path "header" cannot be written: name a key under it, such as "header.x"',
  );
  assert.equal(
    fieldPathProblem("payload.x"),
    'Field path "payload.x" must start with "data" or "header"',
  );
  assert.equal(
    fieldPathProblem("data..x"),
    'Field path "data..x" has an empty key',
  );
  assert.equal(
    fieldPathProblem("data.__proto__.x"),
    'Field path "data.__proto__.x" uses the reserved key "__proto__"',
  );
  assert.throws(() => fieldSetter("header"), TypeError);
});

Deno.test("fieldTarget writes to target, or in place of the field without one", () => {
  const event = { header: {}, data: { text: "abc" } };
  const inPlace = fieldTarget({ field: "data.text" });
  inPlace.set(event, String(inPlace.get(event)).toUpperCase());
  assert.deepEqual(event.data, { text: "ABC" });
  const elsewhere = fieldTarget({ field: "data.text", target: "header.n" });
  elsewhere.set(event, String(elsewhere.get(event)).length);
  assert.deepEqual(event, { header: { n: 3 }, data: { text: "ABC" } });
  assert.equal(elsewhere.field, "data.text");
});

Deno.test("fieldTargetFields checks both paths and refuses a target that cannot be written", () => {
  const Options = z.strictObject(
    fieldTargetFields({ field: "The field.", result: "the result" }),
  );
  assert.deepEqual(Options.parse({}), { field: "data" });
  assert.equal(Options.safeParse({ field: "body" }).success, false);
  assert.equal(Options.safeParse({ target: "header" }).success, false);
  assert.equal(
    Options.shape.target.description,
    'Where to put the result; without it, in place of "field".',
  );
});
