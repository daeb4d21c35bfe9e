// Compysition embedded in a program: a router built in code with a custom
// actor, run until Ctrl+C (SIGINT), then stopped by draining.
//
//   deno run examples/embed.ts
import {
  Actor,
  BUILTIN_ACTORS,
  type Context,
  type Event,
  Registry,
  Router,
} from "../mod.ts";

class Upper extends Actor {
  readonly kind = "transform";
  override consume(event: Event, context: Context): Promise<void> | undefined {
    event.data = String(event.data).toUpperCase();
    return context.send(event);
  }
}

const builtins = new Registry(BUILTIN_ACTORS);
const router = new Router();
router.register(builtins.create("generator", "input", { interval: 0.1 }));
router.register(new Upper("upper"));
router.register(builtins.create("stdout", "print"));
router.connect("input.outbox", "upper.inbox");
router.connect("upper.outbox", "print.inbox");
await router.start();
await new Promise<void>((stop) =>
  Deno.addSignalListener("SIGINT", () => stop())
);
const report = await router.stop({ timeoutMs: 5000 });
console.error(`Stopped: ${report.created} made, ${report.delivered} delivered`);
