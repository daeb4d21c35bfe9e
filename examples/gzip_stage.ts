// Web Streams out: a whole pipeline as one stage of a Web Streams program.
// Lines from stdin go through a router (a filter drops the blank ones, a
// jsonata actor upper-cases the rest) and leave gzip-compressed on stdout.
//
//   printf 'one\n\ntwo\n' | deno run examples/gzip_stage.ts | gunzip
import {
  BUILTIN_ACTORS,
  eventsToBytes,
  Registry,
  Router,
  textLinesToEvents,
} from "../mod.ts";

const builtins = new Registry(BUILTIN_ACTORS);
const router = new Router();
router.register(
  builtins.create("filter", "blank", {
    drop: { field: "data", equals: "" },
  }),
);
router.register(
  builtins.create("jsonata", "upper", { expression: "$uppercase($)" }),
);
router.connect("blank.outbox", "upper.inbox");
const stage = router.stream("blank.inbox", "upper.outbox");
await router.start();

await Deno.stdin.readable
  .pipeThrough(new TextDecoderStream())
  .pipeThrough(textLinesToEvents())
  .pipeThrough(stage)
  .pipeThrough(eventsToBytes())
  .pipeThrough(new CompressionStream("gzip"))
  .pipeTo(Deno.stdout.writable);

const report = await router.stop();
console.error(
  `${report.created} lines in, ${report.delivered} out, ${report.filtered} blank`,
);
