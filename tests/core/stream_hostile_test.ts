/**
 * A property over chains of actors as TransformStreams fed what a hostile
 * producer writes: events (some frozen) mixed with values that are not
 * events (some whose every property read throws), alone or in arrays of any
 * size (empty too), through stages that fail events at random, into a slow
 * consumer.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { setTimeout as pause } from "node:timers/promises";
import { Actor, type Context } from "../../core/actor.ts";
import type { Event } from "../../core/event.ts";
import { toTransformStream } from "../../core/stream.ts";
import { within } from "../helpers.ts";
import { unreadable } from "./fixtures.ts";

/** Fails the events whose `data` is in `failing`; passes the others on. */
class FailSome extends Actor {
  readonly kind = "transform";
  constructor(name: string, readonly failing: ReadonlySet<number>) {
    super(name);
  }
  override consume(event: Event, context: Context) {
    if (this.failing.has(event.data as number)) {
      throw new Error(`${this.name} fails ${event.data}`);
    }
    return context.send(event);
  }
}

/** What a hostile producer writes, in place of an event. */
const notEvents = [
  () => null,
  () => 5,
  () => "text",
  () => [],
  () => ({ data: "no header" }),
  () => ({ header: [], data: 1 }),
  unreadable,
];

/** A value of the producer: an event (`n`, frozen or not), or not. */
const value = fc.oneof(
  { arbitrary: fc.constantFrom("event", "frozen"), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: notEvents.length - 1 }), weight: 1 },
);

/** A chunk written: one value, or an array of values (empty too). */
const chunk = fc.oneof(
  value.map((each) => ({ single: each })),
  fc.array(value, { maxLength: 700 }).map((each) => ({ array: each })),
);

Deno.test("A hostile producer's events and non-events, through stages that fail events at random, into a slow consumer: every event is delivered in order or failed, once; every non-event is discarded and counted", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(chunk, { minLength: 1, maxLength: 12 }),
      fc.array(fc.boolean(), { minLength: 2, maxLength: 3 }),
      fc.integer({ min: 1, max: 1000 }),
      fc.boolean(),
      async (chunks, batches, seed, slow) => {
        // Which events each stage fails, chosen from the seed.
        let n = 0;
        const written: unknown[] = [];
        let nonEvents = 0;
        const make = (each: string | number): unknown => {
          if (typeof each === "number") {
            nonEvents++;
            return notEvents[each]!();
          }
          n++;
          const event = { header: { n }, data: n };
          return each === "frozen"
            ? Object.freeze({ header: Object.freeze(event.header), data: n })
            : event;
        };
        for (const each of chunks) {
          if ("array" in each) {
            written.push(each.array.map(make));
            continue;
          }
          const single = make(each.single);
          // An array written alone is a chunk of no events, not a value.
          if (Array.isArray(single)) nonEvents--;
          written.push(single);
        }
        const stages = batches.map((batch, i) =>
          toTransformStream(
            new FailSome(
              `s${i}`,
              new Set(
                Array.from({ length: n }, (_, k) => k + 1).filter((k) =>
                  (k * 7919 + seed * (i + 3)) % 11 === 0
                ),
              ),
            ),
            { batch, errors: "readable" },
          )
        );
        const failed = stages.map((stage) =>
          Array.fromAsync(stage.errors).then((got) => got.flat())
        );
        // Not ReadableStream.from: it resolves a promise with each value, which
        // reads `then` of an unreadable one.
        let next = 0;
        let readable = new ReadableStream<Event | Event[]>({
          pull(controller) {
            controller.enqueue(written[next++] as Event);
            if (next === written.length) controller.close();
          },
        }, { highWaterMark: 0 });
        for (const stage of stages) readable = readable.pipeThrough(stage);
        const delivered: number[] = [];
        await within(
          readable.pipeTo(
            new WritableStream<Event | Event[]>({
              async write(got) {
                for (const event of [got].flat()) {
                  delivered.push(event.data as number);
                }
                if (slow) await pause(0);
              },
            }, new CountQueuingStrategy({ highWaterMark: 1 })),
          ),
          10_000,
          "the chain to end",
        );
        const errors = (await within(
          Promise.all(failed),
          10_000,
          "the errors",
        )).flat().map((event) => event.data as number);
        await within(
          Promise.all(stages.map((stage) => stage.finished)),
          10_000,
          "the actors to end",
        );
        // In order, and each event once: delivered or failed.
        assert.deepEqual(delivered, [...delivered].sort((a, b) => a - b));
        assert.deepEqual(
          [...delivered, ...errors].sort((a, b) => a - b),
          Array.from({ length: n }, (_, k) => k + 1),
        );
        assert.equal(
          stages[0]!.figures().writable!.discarded_total,
          nonEvents,
        );
      },
    ),
    { numRuns: 40 },
  );
});
