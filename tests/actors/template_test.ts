import assert from "node:assert/strict";
import type { Event } from "../../core/event.ts";
import {
  compileTemplate,
  hasPlaceholders,
  parseTemplate,
  templateProblem,
  templateSchema,
} from "../../actors/template.ts";

const event: Event = {
  header: { http: { method: "POST", "x-id": "h-1" }, seq: 3 },
  data: {
    user: { id: 42, name: "Ada Lovelace/1" },
    tags: ["a", "b"],
    ok: true,
    nothing: null,
  },
};

Deno.test("compileTemplate fills data and header fields, array indexes included", () => {
  const fill = compileTemplate(
    "{header.http.method} /users/{data.user.id}/{data.tags.1}?seq={header.seq}&h={header.http.x-id}",
  );
  assert.equal(fill(event), "POST /users/42/b?seq=3&h=h-1");
});

Deno.test("compileTemplate writes numbers and booleans as text and objects as JSON", () => {
  assert.equal(
    compileTemplate("{data.ok} {data.tags} {data.user}")(event),
    'true ["a","b"] {"id":42,"name":"Ada Lovelace/1"}',
  );
  assert.equal(
    compileTemplate("{data}")({ header: {}, data: "whole" }),
    "whole",
  );
});

Deno.test("compileTemplate reads doubled braces as literal braces", () => {
  assert.equal(
    compileTemplate('{{"id": {data.user.id}}}')(event),
    '{"id": 42}',
  );
  assert.equal(compileTemplate("{{data.user.id}}")(event), "{data.user.id}");
  assert.equal(hasPlaceholders("{{data.user.id}}"), false);
  assert.equal(hasPlaceholders("/{data.user.id}"), true);
});

Deno.test("compileTemplate with encode url encodes the values but not the literal text", () => {
  const url = compileTemplate("http://h/a b/{data.user.name}?q={data.tags}", {
    encode: "url",
  });
  assert.equal(
    url(event),
    "http://h/a b/Ada%20Lovelace%2F1?q=%5B%22a%22%2C%22b%22%5D",
  );
  const upper = compileTemplate("<{data.user.name}>", {
    encode: (value) => value.toUpperCase(),
  });
  assert.equal(upper(event), "<ADA LOVELACE/1>");
});

Deno.test("compileTemplate with encode url refuses a value that makes a path segment ., .. or empty, and keeps the rest of the path", () => {
  const url = compileTemplate(
    "http://h/users/{data.id}/profile?next={data.next}#{data.part}",
    { encode: "url" },
  );
  const fill = (id: string) =>
    url({ header: {}, data: { id, next: "..", part: ".." } });
  for (const id of ["..", ".", ""]) {
    const what = id === ""
      ? "makes an empty path segment, which would change the path"
      : `makes the path segment "${id}", which URL parsing removes: it would change the path`;
    assert.throws(() => fill(id), {
      name: "TypeError",
      message:
        `Template "http://h/users/{data.id}/profile?next={data.next}#{data.part}": the value of "data.id" ${what}`,
    });
  }
  // "%2E" would be a dot segment too, but a value's "%" is encoded.
  const kept = {
    "a/b": "/users/a%2Fb/profile",
    "...": "/users/.../profile",
    "%2E%2E": "/users/%252E%252E/profile",
    ".%2e": "/users/.%252e/profile",
    "a.b": "/users/a.b/profile",
    "?x#y": "/users/%3Fx%23y/profile",
  };
  for (const [id, path] of Object.entries(kept)) {
    const filled = fill(id);
    assert.equal(new URL(filled).pathname, path, id);
    assert.equal(new URL(filled).search, "?next=..", "a query may hold ..");
  }
  // Values side by side make one segment; a value inside a segment is fine.
  const joined = compileTemplate("http://h/f/{data.a}{data.b}/x", {
    encode: "url",
  });
  assert.throws(() => joined({ header: {}, data: { a: ".", b: "." } }), {
    message: /the value of "data.a" makes the path segment "\.\."/,
  });
  assert.throws(() => joined({ header: {}, data: { a: "", b: "" } }), {
    message: /the value of "data.a" makes an empty path segment/,
  });
  assert.equal(
    joined({ header: {}, data: { a: "v", b: "." } }),
    "http://h/f/v./x",
  );
  // The template's own text may hold what a value may not.
  assert.equal(
    compileTemplate("http://h/a/./b/{data.id}", { encode: "url" })({
      header: {},
      data: { id: 1 },
    }),
    "http://h/a/./b/1",
  );
});

Deno.test("compileTemplate throws a TypeError for an absent or null field, or writes nothing with missing empty", () => {
  const strict = compileTemplate("/users/{data.user.email}");
  assert.throws(() => strict(event), {
    name: "TypeError",
    message:
      'Template "/users/{data.user.email}": "data.user.email" has no value in this event',
  });
  assert.throws(
    () => compileTemplate("{data.nothing}")(event),
    /"data.nothing" has no value/,
  );
  assert.throws(
    () => compileTemplate("{data.user.id.deeper}")({ header: {}, data: "x" }),
    /"data.user.id.deeper" has no value/,
  );
  const lenient = compileTemplate("[{data.user.email}][{data.nothing}]", {
    missing: "empty",
  });
  assert.equal(lenient(event), "[][]");
});

Deno.test("compileTemplate rejects a bad placeholder when compiled, saying which and where", () => {
  const cases: [string, string][] = [
    [
      "/users/{id}",
      'Bad placeholder "{id}" at character 8 of template "/users/{id}": Field path "id" must start with "data" or "header"',
    ],
    [
      "{data.}",
      'Bad placeholder "{data.}" at character 1 of template "{data.}": Field path "data." has an empty key',
    ],
    [
      "a{}",
      'Bad placeholder "{}" at character 2 of template "a{}": it is empty',
    ],
    [
      "{ data.id }",
      'Bad placeholder "{ data.id }" at character 1 of template "{ data.id }": it contains white space',
    ],
    [
      "x{data.id",
      'Unclosed placeholder at character 2 of template "x{data.id": close it with "}" or write "{{" for a literal "{"',
    ],
    [
      "{data.{id}}",
      'Unclosed placeholder at character 1 of template "{data.{id}}": close it with "}" or write "{{" for a literal "{"',
    ],
    [
      "a}b",
      'Unmatched "}" at character 2 of template "a}b": write "}}" for a literal "}"',
    ],
    [
      "{data.__proto__}",
      'Bad placeholder "{data.__proto__}" at character 1 of template "{data.__proto__}": Field path "data.__proto__" uses the reserved key "__proto__"',
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => compileTemplate(text), { name: "TypeError", message });
    assert.equal(templateProblem(text), message);
  }
});

Deno.test("templateSchema reports a bad template at the option", () => {
  assert.equal(templateSchema().safeParse("/u/{data.id}").success, true);
  const parsed = templateSchema().safeParse("/u/{user}");
  assert.equal(parsed.success, false);
  assert.match(parsed.error!.issues[0]!.message, /^Bad placeholder "\{user\}"/);
});

Deno.test("parseTemplate splits literal text and fields", () => {
  assert.deepEqual(parseTemplate("a{{{data.x}}}b{header.y}"), [
    { text: "a{" },
    { field: "data.x" },
    { text: "}b" },
    { field: "header.y" },
  ]);
  assert.deepEqual(parseTemplate(""), []);
});
