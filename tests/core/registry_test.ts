import assert from "node:assert/strict";
import { z } from "zod";
import { Actor, type ActorSettings } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import {
  type ActorSpec,
  createActor,
  isActorSpec,
  Registry,
} from "../../core/registry.ts";
import { Router } from "../../core/router.ts";
import { generator } from "../../actors/input/generator.ts";
import { nullOutput } from "../../actors/output/null.ts";
import { Collector, ListInput, numbered } from "../helpers.ts";

const SuffixOptions = z.strictObject({
  suffix: z.string().min(1).default("!").describe("Appended to the data."),
  times: z.number().int().min(1).default(1).describe("How many times."),
});
type SuffixOptions = z.infer<typeof SuffixOptions>;

class Suffix extends Actor {
  readonly kind = "transform";
  readonly options: SuffixOptions;
  readonly settings: ActorSettings;
  constructor(name: string, options: SuffixOptions, settings: ActorSettings) {
    super(name, settings);
    this.options = options;
    this.settings = settings;
  }
  override consume(event: Event): Promise<void> | undefined {
    event.data = `${event.data}${
      this.options.suffix.repeat(this.options.times)
    }`;
    return this.send(event);
  }
}

const suffix: ActorSpec<SuffixOptions> = {
  type: "suffix",
  kind: "transform",
  summary: "Appends a suffix.",
  options: SuffixOptions,
  create: (name, options, settings) => new Suffix(name, options, settings),
};

Deno.test("Registry.create() fills in defaults and passes the settings on", () => {
  const registry = new Registry([suffix as ActorSpec]);
  const actor = registry.create("suffix", "s", { times: 2 }, {
    capacity: 5,
  }) as Suffix;
  assert.equal(actor.name, "s");
  assert.deepEqual(actor.options, { suffix: "!", times: 2 });
  assert.deepEqual(actor.settings, { capacity: 5 });
  assert.equal(actor.pool.inbound.get("inbox")!.capacity, 5);
});

Deno.test("Registry.create() with bad options throws a TypeError naming the actor and each option", () => {
  const registry = new Registry([suffix as ActorSpec]);
  assert.throws(
    () => registry.create("suffix", "shout", { suffix: "", times: 0.5 }),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(
        error.message,
        /^Invalid options for actor "shout" \(type "suffix"\): "suffix": .+; "times": .+$/,
      );
      return true;
    },
  );
  assert.throws(
    () => registry.create("suffix", "shout", { sufix: "?" }),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^Invalid options for actor "shout"/);
      assert.match(error.message, /"sufix"/);
      return true;
    },
  );
});

Deno.test("Registry.create() of an unknown type suggests the closest one", () => {
  const registry = new Registry([generator, nullOutput] as ActorSpec[]);
  assert.throws(() => registry.create("genrator", "input"), {
    name: "TypeError",
    message:
      'Unknown actor type "genrator" for actor "input"; did you mean "generator"?',
  });
  assert.throws(() => registry.create("kafka", "input"), {
    name: "TypeError",
    message: 'Unknown actor type "kafka" for actor "input"',
  });
});

Deno.test("Registry refuses a type added twice", () => {
  const registry = new Registry([suffix as ActorSpec]);
  assert.throws(() => registry.add(suffix as ActorSpec), {
    name: "TypeError",
    message: 'Actor type "suffix" is already registered',
  });
  assert.throws(() => new Registry([generator, generator] as ActorSpec[]), {
    name: "TypeError",
    message: 'Actor type "generator" is already registered',
  });
});

Deno.test("Registry lists its specs and types sorted by type", () => {
  const registry = new Registry([suffix, nullOutput, generator] as ActorSpec[]);
  assert.deepEqual(registry.types(), ["generator", "null", "suffix"]);
  assert.equal(registry.get("null"), nullOutput);
  assert.equal(registry.get("nothing"), undefined);
});

Deno.test("isActorSpec() tells specs from other values", () => {
  assert.equal(isActorSpec(suffix), true);
  assert.equal(isActorSpec(generator), true);
  assert.equal(isActorSpec({ type: "x", kind: "input", summary: "" }), false);
  assert.equal(isActorSpec(null), false);
  assert.equal(isActorSpec("suffix"), false);
});

Deno.test("createActor() validates like the registry does", () => {
  assert.throws(() => createActor(suffix, "s", { times: "twice" }), {
    name: "TypeError",
  });
  assert.equal(createActor(suffix, "s", undefined).name, "s");
});

Deno.test("Router.register() makes an actor from a spec and raw options", async () => {
  const router = new Router();
  router.register(new ListInput("input", numbered(2)));
  router.register(suffix, "shout", { suffix: "?" });
  const sink = router.register(new Collector("sink")) as Collector;
  router.connect("input.outbox", "shout.inbox");
  router.connect("shout.outbox", "sink.inbox");
  assert.throws(() => router.register(suffix, "bad", { times: 0 }), {
    name: "TypeError",
  });
  await router.start();
  await router.finished;
  await router.stop();
  assert.deepEqual(sink.data(), ["1?", "2?"]);
});
