// Web Streams in: a fetch body through actors into a file. The ndjson
// orders at URL are decoded, each one reshaped by a jsonata actor, and the
// results written to FILE as ndjson, with back-pressure all the way: a slow
// disk slows the download down.
//
//   deno run --allow-net --allow-write examples/fetch_to_file.ts URL FILE
import {
  BUILTIN_ACTORS,
  bytesToEvents,
  eventsToBytes,
  Registry,
  toTransformStream,
} from "../mod.ts";

const [url, path] = Deno.args;
if (url === undefined || path === undefined) {
  throw new TypeError("Usage: fetch_to_file.ts URL FILE");
}
const builtins = new Registry(BUILTIN_ACTORS);
const totals = builtins.create("jsonata", "totals", {
  expression: '{ "order": id, "total": $sum(items.price) }',
});

const response = await fetch(url);
if (!response.ok || response.body === null) {
  throw new Error(`GET ${url} answered ${response.status}`);
}
const file = await Deno.open(path, {
  write: true,
  create: true,
  truncate: true,
});
await response.body
  .pipeThrough(bytesToEvents({ codec: "ndjson", batch: true }))
  .pipeThrough(toTransformStream(totals, { batch: true }))
  .pipeThrough(eventsToBytes({ format: "ndjson" }))
  .pipeTo(file.writable);
console.error(`Wrote ${totals.figures().consumed_total} orders to ${path}`);
