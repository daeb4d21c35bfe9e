/**
 * The dashboard in a real browser: Debian's Chromium driven by
 * playwright-core, loading the page of a running 50-actor pipeline.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BrowserContext, chromium } from "playwright-core";
import { AdminServer } from "../../admin/server.ts";
import { Router } from "../../core/router.ts";
import { Collector, eventually, numbered } from "../helpers.ts";
import { Pass } from "../core/fixtures.ts";
import { type Program, testWith } from "../requires.ts";
import { fiftyActors, Flaky } from "./support.ts";

/** The browser: Debian's `chromium` package puts it in `/usr/bin`. */
const CHROMIUM: Program = {
  name: "chromium",
  paths: ["/usr/bin/chromium"],
  install: "apt-get install -y chromium",
};

/** How long to wait for the page: up to 20 s, checking every 50 ms. */
const PATIENCE = { tries: 400, everyMs: 50 };

/** Chromium at `path`, headless, with a profile in `dir`. */
function launch(dir: string, path: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(`${dir}/profile`, {
    executablePath: path,
    headless: true,
    viewport: { width: 1600, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

testWith(
  "the dashboard draws every actor of a 50-actor pipeline, its counters rise and a clicked queue shows tapped events",
  [CHROMIUM],
  async ([chromiumPath]) => {
    const dir = await Deno.makeTempDir({ prefix: "dashboard_test_" });
    const { router, names, sinks } = fiftyActors(5);
    assert.equal(names.length, 50);
    const admin = new AdminServer({
      router,
      port: 0,
      token: "dashboard-token",
      types: { input: "generator", split: "fanout" },
    });
    await router.start();
    const context = await launch(dir, chromiumPath!);
    try {
      const page = context.pages()[0] ?? await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      const external: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith(admin.url)) external.push(request.url());
      });
      await page.goto(`${admin.url}?token=dashboard-token`);

      // Every actor is drawn, once.
      await eventually(
        async () =>
          await page.locator("[data-actor]").count() === 50 || undefined,
        "50 actors drawn",
        PATIENCE,
      );
      const drawn = await page.locator("[data-actor]").evaluateAll(
        (nodes) => nodes.map((node) => node.getAttribute("data-actor")),
      );
      assert.deepEqual([...drawn].sort(), [...names].sort());
      // 49 connections, one edge label each.
      assert.equal(await page.locator("[data-queue]").count(), 49);

      // The counters rise from one refresh to a later one.
      const handled = async () =>
        Number(await page.locator("#totals").getAttribute("data-handled"));
      const first = await eventually(
        async () => (await handled()) || undefined,
        "events handled",
        PATIENCE,
      );
      await eventually(
        async () => await handled() > first || undefined,
        "the handled counter to rise",
        PATIENCE,
      );
      const sinkCount = Number(
        await page.locator('[data-actor="branch1_sink"] .figures')
          .getAttribute("data-count"),
      );
      assert.ok(sinkCount > 0, "a sink shows what it handled");
      assert.equal(await page.textContent("#state"), "running");

      await page.screenshot({ path: `${dir}/dashboard.png` });

      // Clicking a queue opens its tap, which shows events.
      await page.click('[data-queue="branch3_sink.inbox"]');
      await eventually(
        async () =>
          await page.locator("#tap-events li").count() >= 3 || undefined,
        "3 tapped events shown",
        PATIENCE,
      );
      const title = await page.textContent("#tap-title");
      assert.equal(
        title,
        "Tap branch3_stage5.outbox \u2192 branch3_sink.inbox",
      );
      const shown = JSON.parse(
        (await page.locator("#tap-events li").first().textContent()) ?? "null",
      );
      assert.deepEqual(shown.data, { n: 1 });
      assert.equal(typeof shown.header.input.seq, "number");
      assert.equal(admin.taps, 1, "the page's tap observes the queue");

      await page.screenshot({ path: `${dir}/dashboard_tap.png` });
      for (const name of ["dashboard.png", "dashboard_tap.png"]) {
        const shot = await Deno.stat(`${dir}/${name}`);
        assert.ok(shot.size > 10_000, `the screenshot ${name} was saved`);
      }
      // DASHBOARD_SCREENSHOTS=folder keeps them for a person to look at.
      const keep = Deno.env.get("DASHBOARD_SCREENSHOTS");
      if (keep !== undefined) {
        for (const name of ["dashboard.png", "dashboard_tap.png"]) {
          await Deno.copyFile(`${dir}/${name}`, `${keep}/${name}`);
        }
      }

      // Closing the panel ends the tap.
      await page.click("#tap-close");
      await eventually(
        async () => await page.locator("#tap").isHidden() || undefined,
        "the tap panel to close",
        PATIENCE,
      );
      await eventually(
        () => admin.taps === 0 ? true : undefined,
        "the closed tap to stop observing",
      );
      assert.deepEqual(errors, [], "no script error on the page");
      assert.deepEqual(external, [], "the page fetched nothing elsewhere");
      assert.ok(sinks.every((sink) => sink.events.length > 0));
    } finally {
      await context.close();
      await admin.close();
      await router.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWith(
  "the dashboard draws a router's external ends as such, joined to their actor",
  [CHROMIUM],
  async ([chromiumPath]) => {
    const dir = await Deno.makeTempDir({ prefix: "dashboard_test_" });
    const router = new Router({ metricsIntervalMs: 0 });
    router.register(new Pass("pass"));
    const writable = router.writable("pass.inbox");
    const readable = router.readable("pass.outbox");
    const admin = new AdminServer({ router, port: 0 });
    await router.start();
    const context = await launch(dir, chromiumPath!);
    try {
      const writing = ReadableStream.from(numbered(3)).pipeTo(writable);
      const read = Array.fromAsync(readable);
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(admin.url);
      await eventually(
        async () =>
          await page.locator("[data-actor]").count() === 3 || undefined,
        "3 actors drawn",
        PATIENCE,
      );
      const ends = await page.locator(".actor.end").evaluateAll((nodes) =>
        nodes.map((node) => [
          node.getAttribute("data-actor"),
          node.querySelector(".sub")?.textContent,
        ])
      );
      assert.deepEqual(ends.sort(), [
        ["pass.inbox", "external writable end"],
        ["pass.outbox", "external readable end"],
      ]);
      assert.equal(await page.locator("[data-queue]").count(), 2);
      await writing;
      assert.equal((await read).length, 3);
    } finally {
      await context.close();
      await admin.close();
      await router.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWith(
  "the dashboard shows how often an actor restarted",
  [CHROMIUM],
  async ([chromiumPath]) => {
    const dir = await Deno.makeTempDir({ prefix: "dashboard_test_" });
    const router = new Router({ logLevel: "fatal", metricsIntervalMs: 0 });
    router.register(new Flaky("input", 2));
    const sink = router.register(new Collector("sink")) as Collector;
    router.connect("input.outbox", "sink.inbox");
    const admin = new AdminServer({ router, port: 0 });
    await router.start();
    const context = await launch(dir, chromiumPath!);
    try {
      await sink.waitFor(3);
      const page = context.pages()[0] ?? await context.newPage();
      await page.goto(admin.url);
      const figures = page.locator('[data-actor="input"] .figures');
      await eventually(
        async () =>
          await figures.getAttribute("data-restarts") === "2" || undefined,
        "the input's 2 restarts drawn",
        PATIENCE,
      );
      assert.match((await figures.textContent()) ?? "", /\b2 restarts\b/);
      // The totals are the stop report's figures.
      const totals = page.locator("#totals");
      await eventually(
        async () =>
          await totals.getAttribute("data-delivered") === "3" || undefined,
        "3 delivered in the totals",
        PATIENCE,
      );
      assert.match(
        (await totals.textContent()) ?? "",
        /3 created, 3 delivered, 0 errors, 0 filtered, 0 dropped, 0 failed$/,
      );
    } finally {
      await context.close();
      await admin.close();
      await router.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
