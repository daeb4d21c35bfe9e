import assert from "node:assert/strict";
import { Actor, type Context } from "../../core/actor.ts";
import { GraphError } from "../../core/errors.ts";
import type { Event } from "../../core/event.ts";
import { cycleProblems } from "../../core/graph.ts";
import { Router } from "../../core/router.ts";

/** An actor with the queues a test names, sending nowhere in particular. */
class Node extends Actor {
  readonly kind: "input" | "transform";

  constructor(
    name: string,
    kind: "input" | "transform",
    inbound: string[],
    outbound: string[],
  ) {
    super(name, {}, { inbound, outbound });
    this.kind = kind;
    if (kind === "input") this.produce = () => Promise.resolve();
  }

  override consume(event: Event, context: Context) {
    return context.send(event);
  }
}

/** `A -> I(input) -> C -> A` plus `A -> C`: `A -> C -> A` has no input. */
function sharedCycle(): Router {
  const router = new Router();
  router.register(new Node("A", "transform", ["inbox"], ["toI", "toC"]));
  router.register(new Node("I", "input", ["inbox"], ["outbox"]));
  router.register(new Node("C", "transform", ["fromI", "fromA"], ["outbox"]));
  router.connect("A.toI", "I.inbox");
  router.connect("I.outbox", "C.fromI");
  router.connect("C.outbox", "A.inbox");
  router.connect("A.toC", "C.fromA");
  return router;
}

Deno.test("Router.check() reports a cycle without an input that shares its actors with a cycle through an input", () => {
  assert.throws(() => sharedCycle().check(), (error: unknown) => {
    assert.ok(error instanceof GraphError);
    assert.deepEqual(error.problems, [{
      message:
        'Cycle "A -> C -> A" can never drain: none of its actors ("A", "C") is an input',
    }]);
    return true;
  });
});

Deno.test("cycleProblems() accepts the cycle through the input once the edge that bypasses it is gone", () => {
  const router = sharedCycle();
  const connections = router.connections().filter(({ from }) =>
    from !== "A.toC"
  );
  const actors = new Map(router.actors().map((actor) => [actor.name, actor]));
  assert.deepEqual(cycleProblems(actors, connections), []);
});
