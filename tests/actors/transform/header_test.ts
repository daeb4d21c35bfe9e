import assert from "node:assert/strict";
import type { EventError } from "../../../core/actor.ts";
import { createActor } from "../../../core/registry.ts";
import { Header, header } from "../../../actors/transform/header.ts";
import { runStage } from "../stage.ts";

Deno.test("header sets values from templates on data and header fields, and constants", async () => {
  const { out, errors } = await runStage(
    new Header("tag", {
      set: {
        "route.user": "user-{data.user.id}",
        "route.from": "{header.http.method} {header.http.path}",
        "route.version": 2,
        "route.braces": "{{literal}}",
        "trace": "{data.trace}",
      },
    }),
    [
      {
        header: { http: { method: "POST", path: "/jobs" } },
        data: { user: { id: 7 }, trace: "t-1" },
      },
      {
        header: { http: { method: "GET", path: "/" } },
        data: { user: { id: "ada" }, trace: 99 },
      },
    ],
  );
  assert.equal(errors.events.length, 0);
  assert.deepEqual(out.outbox!.events.map((event) => event.header), [
    {
      http: { method: "POST", path: "/jobs" },
      route: {
        user: "user-7",
        from: "POST /jobs",
        version: 2,
        braces: "{literal}",
      },
      trace: "t-1",
    },
    {
      http: { method: "GET", path: "/" },
      route: {
        user: "user-ada",
        from: "GET /",
        version: 2,
        braces: "{literal}",
      },
      trace: "99",
    },
  ]);
});

Deno.test("header gives each event its own copy of an object value", async () => {
  const { out } = await runStage(
    new Header("tag", { set: { meta: { tags: ["a"] } } }),
    [{ header: {}, data: 1 }, { header: {}, data: 2 }],
  );
  const [first, second] = out.outbox!.events;
  (first!.header.meta as { tags: string[] }).tags.push("changed");
  assert.deepEqual(second!.header.meta, { tags: ["a"] });
});

Deno.test("header removes paths before it sets values", async () => {
  const { out } = await runStage(
    new Header("tag", {
      remove: ["http.cookie", "absent.key", "token"],
      set: { token: "redacted" },
    }),
    [{
      header: { http: { cookie: "c", path: "/" }, token: "secret" },
      data: 1,
    }],
  );
  assert.deepEqual(out.outbox!.events[0]!.header, {
    http: { path: "/" },
    token: "redacted",
  });
});

Deno.test("header sends an event lacking a template field to the error queue, or writes nothing with missing: empty", async () => {
  const strict = await runStage(
    new Header("tag", { set: { user: "u-{data.user}" } }),
    [{ header: {}, data: { user: "ada" } }, { header: {}, data: {} }],
  );
  assert.deepEqual(strict.out.outbox!.events.map((e) => e.header.user), [
    "u-ada",
  ]);
  assert.equal(
    (strict.errors.events[0]?.header.error as EventError).message,
    'Template "u-{data.user}": "data.user" has no value in this event',
  );
  const lenient = await runStage(
    new Header("tag", { set: { user: "u-{data.user}" }, missing: "empty" }),
    [{ header: {}, data: {} }],
  );
  assert.equal(lenient.out.outbox!.events[0]?.header.user, "u-");
});

Deno.test("header sends an event whose header path runs through a non-object to the error queue", async () => {
  const { out, errors } = await runStage(
    new Header("tag", { set: { "http.status": 200 } }),
    [{ header: { http: "text" }, data: 1 }],
  );
  assert.equal(out.outbox!.events.length, 0);
  assert.equal(
    (errors.events[0]?.header.error as EventError).message,
    'Cannot set "header.http.status": "header.http" is a string, not an object',
  );
});

Deno.test("header reports a bad template when it is made, naming the option", () => {
  assert.throws(
    () => createActor(header, "tag", { set: { "a.b": "x {body.id}" } }),
    {
      name: "TypeError",
      message:
        'Invalid options for actor "tag" (type "header"): "set.a.b": Bad placeholder "{body.id}" at character 3 of template "x {body.id}": Field path "body.id" must start with "data" or "header"',
    },
  );
  assert.throws(
    () => createActor(header, "tag", { remove: ["ok", "bad..path"] }),
    /"remove\.1": Field path "header\.bad\.\.path" has an empty key/,
  );
});
