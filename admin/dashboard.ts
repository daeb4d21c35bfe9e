/**
 * The dashboard page the admin server serves at `/`: one self-contained
 * document (HTML, CSS and script, no external resource) kept in a string so
 * that a compiled binary carries it.
 *
 * It polls `api/pipeline` every second and draws the pipeline as an SVG
 * graph: actors as boxes in columns by topological depth, each connection as
 * an edge with its events per second and a bar filled by its queue's
 * depth/capacity. Clicking an edge opens a side panel tapping that queue
 * (`api/tap` through an `EventSource`). The header shows the outcome of the
 * last reload (`api/reloads`, polled every 5 s), with its reason or errors
 * in its tooltip. A `?token=` in the page's address is passed on to every
 * request.
 *
 * @module
 */

const STYLE = `
:root {
  color-scheme: light;
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2330; --muted: #5b6475;
  --line: #c9ced8; --ok: #2f9e5b; --warn: #d98b16; --bad: #cf3b3b;
  --input: #e8f1fd; --output: #eaf6ec; --flow: #fdf3e3; --transform: #f1ecfb;
  --log: #eef0f3; --metric: #eef0f3;
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); height: 100vh;
  display: flex; flex-direction: column; }
body > header { display: flex; gap: 18px; align-items: baseline;
  padding: 10px 16px; background: var(--panel);
  border-bottom: 1px solid var(--line); flex-wrap: wrap; }
h1 { font-size: 16px; margin: 0; }
.pill { padding: 1px 8px; border-radius: 10px; background: #e3e6eb; }
.pill.running { background: #d7f0df; color: #1c6b3b; }
.pill.stopping, .pill.starting { background: #fbe9c9; color: #8a5a0b; }
.pill.stopped { background: #f6d5d5; color: #8d2525; }
.muted { color: var(--muted); }
main { flex: 1; display: flex; min-height: 0; }
#graph-wrap { flex: 1; overflow: auto; min-width: 0; }
svg { display: block; }
.actor rect.box { stroke: #8e96a6; stroke-width: 1; }
.actor.kind-input rect.box { fill: var(--input); }
.actor.kind-output rect.box { fill: var(--output); }
.actor.kind-flow rect.box { fill: var(--flow); }
.actor.kind-transform rect.box { fill: var(--transform); }
.actor.kind-log rect.box, .actor.kind-metric rect.box { fill: var(--log);
  stroke-dasharray: 4 3; }
.actor.end rect.box { fill: var(--panel); stroke-dasharray: 2 3; }
.actor text { font-size: 12px; fill: var(--ink); }
.actor text.name { font-weight: 600; font-size: 13px; }
.actor text.sub, .actor text.figures { fill: var(--muted); font-size: 11px; }
.dot { stroke: #fff; stroke-width: 1.5; }
.dot.ok { fill: var(--ok); } .dot.warn { fill: var(--warn); }
.dot.idle { fill: #9aa1ad; } .dot.bad { fill: var(--bad); }
path.edge { fill: none; stroke: #98a0ae; stroke-width: 1.6; }
path.edge.warn { stroke: var(--warn); } path.edge.bad { stroke: var(--bad); }
.queue { cursor: pointer; }
.queue rect.label { fill: var(--panel); stroke: var(--line); }
.queue:hover rect.label, .queue.selected rect.label { stroke: #3a6fd8;
  stroke-width: 2; }
.queue text { font-size: 11px; fill: var(--ink); }
.queue rect.track { fill: #e4e7ec; }
.queue rect.fill { fill: var(--ok); }
.queue rect.fill.warn { fill: var(--warn); }
.queue rect.fill.bad { fill: var(--bad); }
aside { width: min(460px, 45vw); background: var(--panel);
  border-left: 1px solid var(--line); display: flex; flex-direction: column; }
aside[hidden] { display: none; }
aside header { display: flex; align-items: center; gap: 10px;
  padding: 10px 12px; border-bottom: 1px solid var(--line); }
aside h2 { font-size: 14px; margin: 0; flex: 1; overflow-wrap: anywhere; }
aside button { border: 1px solid var(--line); background: var(--bg);
  border-radius: 4px; padding: 2px 8px; cursor: pointer; font: inherit; }
#tap-events { list-style: none; margin: 0; padding: 0; overflow: auto;
  flex: 1; }
#tap-events li { padding: 6px 12px; border-bottom: 1px solid #eceef2;
  font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  white-space: pre-wrap; overflow-wrap: anywhere; }
#error { position: fixed; bottom: 12px; left: 12px; background: #8d2525;
  color: #fff; padding: 6px 12px; border-radius: 4px; }
#error[hidden] { display: none; }
`;

const SCRIPT = `
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 180, NODE_H = 58, COL_W = 300, ROW_H = 78, PAD = 24;
const LABEL_W = 100, LABEL_H = 30;
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);
let topology = "";
let nodes = new Map();
let edges = new Map();
let tap = null;

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) {
    node.setAttribute(key, String(value));
  }
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, cls, content) {
  const node = el("text", { x, y, class: cls }, parent);
  node.textContent = content;
  return node;
}

function short(name, max) {
  return name.length > max ? name.slice(0, max - 1) + "\\u2026" : name;
}

function number(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n));
}

function perSecond(n) {
  if (n >= 100) return number(n) + "/s";
  return (n >= 10 ? n.toFixed(0) : n.toFixed(1)) + "/s";
}

function level(fill) {
  return fill >= 0.9 ? "bad" : fill >= 0.5 ? "warn" : "ok";
}

/** Rows within each column, ordered by where their feeders sit. */
function layout(view) {
  const byName = new Map(view.actors.map((a, i) => [a.name, { a, i }]));
  const feeders = new Map();
  for (const c of view.connections) {
    const from = c.from.slice(0, c.from.lastIndexOf("."));
    const to = c.to.slice(0, c.to.lastIndexOf("."));
    if (!feeders.has(to)) feeders.set(to, []);
    feeders.get(to).push(from);
  }
  const columns = [];
  for (const a of view.actors) (columns[a.column] ||= []).push(a.name);
  const row = new Map();
  const tallest = Math.max(1, ...columns.map((c) => (c || []).length));
  const place = new Map();
  columns.forEach((names, column) => {
    if (!names) return;
    const key = (name) => {
      const rows = (feeders.get(name) || []).filter((f) => row.has(f))
        .map((f) => row.get(f));
      return rows.length ? rows.reduce((s, r) => s + r, 0) / rows.length
        : byName.get(name).i;
    };
    names.sort((a, b) => key(a) - key(b) || byName.get(a).i - byName.get(b).i);
    const offset = (tallest - names.length) / 2;
    names.forEach((name, i) => {
      row.set(name, offset + i);
      place.set(name, { x: PAD + column * COL_W, y: PAD + (offset + i) * ROW_H });
    });
  });
  return { place, width: PAD * 2 + (columns.length - 1) * COL_W + NODE_W,
    height: PAD * 2 + (tallest - 1) * ROW_H + NODE_H };
}

function build(view) {
  const svg = $("graph");
  svg.replaceChildren();
  nodes = new Map();
  edges = new Map();
  const { place, width, height } = layout(view);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  const edgeLayer = el("g", {}, svg);
  const nodeLayer = el("g", {}, svg);
  const labelLayer = el("g", {}, svg);
  for (const a of view.actors) {
    const p = place.get(a.name);
    const g = el("g", { class: "actor kind-" + a.kind + (a.end ? " end" : ""),
      "data-actor": a.name,
      transform: "translate(" + p.x + "," + p.y + ")" }, nodeLayer);
    const role = a.end ? "external " + a.end + " end" : a.type || a.kind;
    el("title", {}, g).textContent = a.name + " (" + role + ")";
    el("rect", { class: "box", width: NODE_W, height: NODE_H, rx: 6 }, g);
    text(g, 10, 18, "name", short(a.name, 22));
    text(g, 10, 33, "sub", a.end ? role
      : (a.type ? a.type + " \\u00b7 " : "") + a.kind);
    const figures = text(g, 10, 49, "figures", "");
    const dot = el("circle", { class: "dot idle", cx: NODE_W - 12, cy: 12, r: 5 }, g);
    const dotTitle = el("title", {}, dot);
    nodes.set(a.name, { figures, dot, dotTitle });
  }
  const fanIn = new Map();
  for (const c of view.connections) {
    const to = c.to.slice(0, c.to.lastIndexOf("."));
    fanIn.set(to, (fanIn.get(to) || 0) + 1);
  }
  for (const c of view.connections) {
    const from = place.get(c.from.slice(0, c.from.lastIndexOf(".")));
    const to = place.get(c.to.slice(0, c.to.lastIndexOf(".")));
    if (!from || !to) continue;
    const x1 = from.x + NODE_W, y1 = from.y + NODE_H / 2;
    const x2 = to.x, y2 = to.y + NODE_H / 2;
    const gap = COL_W - NODE_W;
    let d, lx, ly;
    if (x2 <= x1) {
      // An edge back to an earlier column loops below both actors.
      const low = Math.max(y1, y2) + NODE_H / 2 + 24;
      d = "M" + x1 + "," + y1 + " C" + (x1 + 120) + "," + low + " " +
        (x2 - 120) + "," + low + " " + x2 + "," + y2;
      lx = (x1 + x2) / 2 - LABEL_W / 2;
      ly = low - LABEL_H / 2;
    } else if ((fanIn.get(c.to.slice(0, c.to.lastIndexOf("."))) || 0) > 1) {
      // Edges that meet at their target keep their label by their source.
      lx = x1 + gap / 2 - LABEL_W / 2;
      ly = y1 - LABEL_H / 2;
      const bend = Math.max(30, (x2 - lx - LABEL_W) / 2);
      d = "M" + x1 + "," + y1 + " L" + (lx + LABEL_W) + "," + y1 + " C" +
        (lx + LABEL_W + bend) + "," + y1 + " " + (x2 - bend) + "," + y2 +
        " " + x2 + "," + y2;
    } else {
      // Otherwise the label sits just before the target, where edges part.
      lx = x2 - gap / 2 - LABEL_W / 2;
      ly = y2 - LABEL_H / 2;
      const bend = Math.max(30, (lx - x1) / 2);
      d = "M" + x1 + "," + y1 + " C" + (x1 + bend) + "," + y1 + " " +
        (lx - bend) + "," + y2 + " " + lx + "," + y2 + " L" + x2 + "," + y2;
    }
    const path = el("path", { class: "edge", d, "marker-end": "url(#arrow)" }, edgeLayer);
    const g = el("g", { class: "queue", "data-queue": c.to, "data-from": c.from,
      transform: "translate(" + lx + "," + ly + ")", tabindex: 0 }, labelLayer);
    const title = el("title", {}, g);
    el("rect", { class: "label", width: LABEL_W, height: LABEL_H, rx: 4 }, g);
    const rate = text(g, 6, 13, "rate", "");
    el("rect", { class: "track", x: 6, y: 19, width: LABEL_W - 12, height: 6, rx: 2 }, g);
    const fill = el("rect", { class: "fill", x: 6, y: 19, width: 0, height: 6, rx: 2 }, g);
    g.addEventListener("click", () => openTap(c.to, c.from));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter") openTap(c.to, c.from); });
    edges.set(c.to, { path, rate, fill, title, g });
  }
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10,
    refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a0ae" }, marker);
}

function update(view) {
  let made = 0, handled = 0, inRate = 0, outRate = 0;
  const sums = { created: 0, delivered: 0, errors: 0, filtered: 0, lost: 0 };
  for (const a of view.actors) {
    for (const key in sums) sums[key] += a[key + "_total"];
  }
  let dropped = 0;
  for (const c of view.connections) dropped += c.dropped_total;
  for (const a of view.actors) {
    const node = nodes.get(a.name);
    if (!node) continue;
    let line, count = a.consumed_total;
    if (a.kind === "input") {
      let sent = 0, rate = 0;
      for (const q of a.queues) {
        if (q.direction === "outbound" && q.name !== "error") {
          sent += q.out_total; rate += q.out_rate;
        }
      }
      made += sent; inRate += rate; count = sent;
      line = "sent " + number(sent) + " \\u00b7 " + perSecond(rate);
    } else {
      if (a.kind === "output") { handled += a.consumed_total; outRate += a.consumed_rate; }
      line = "done " + number(a.consumed_total) + " \\u00b7 " + perSecond(a.consumed_rate);
    }
    if (a.failed_total > 0) line += " \\u00b7 " + number(a.failed_total) + " failed";
    if (a.restarts_total > 0) line += " \\u00b7 " + number(a.restarts_total) + " restarts";
    node.figures.textContent = line;
    node.figures.setAttribute("data-count", count);
    node.figures.setAttribute("data-restarts", a.restarts_total);
    const ok = a.state === "running" && a.ready && a.phase === "running";
    const broken = a.phase === "gave up" || a.phase === "abandoned";
    node.dot.setAttribute("class", "dot " + (ok ? "ok" : broken ? "bad" : a.state === "running" ? "warn" : "idle"));
    node.dotTitle.textContent = a.phase + (a.reason ? ": " + a.reason : "");
  }
  for (const c of view.connections) {
    const edge = edges.get(c.to);
    if (!edge) continue;
    const fill = Math.max(0, Math.min(1, c.fill));
    const lvl = level(fill);
    const disk = c.disk_events === undefined ? "" : " +" + number(c.disk_events) + " on disk";
    edge.rate.textContent = perSecond(c.in_rate) + "  " + number(c.depth) + "/" + number(c.capacity) + disk;
    edge.fill.setAttribute("width", String((LABEL_W - 12) * fill));
    edge.fill.setAttribute("class", "fill " + lvl);
    edge.path.setAttribute("class", "edge" + (c.dropped_total > 0 ? " bad" : lvl === "ok" ? "" : " " + lvl));
    edge.title.textContent = c.from + " \\u2192 " + c.to + "\\n" + c.depth + " of " +
      c.capacity + " held, " + perSecond(c.in_rate) + " in, " + perSecond(c.out_rate) +
      " out, " + c.in_total + " in total, " + c.dropped_total + " dropped" +
      (c.disk_events === undefined ? "" : ", " + c.disk_events + " on disk (" + c.disk_bytes + " bytes)") +
      "\\nClick to tap";
    edge.g.setAttribute("data-in-total", c.in_total);
  }
  $("state").textContent = view.state;
  $("state").className = "pill " + view.state;
  $("summary").textContent = view.actors.length + " actors, " + view.connections.length +
    " connections";
  $("totals").textContent = "in " + perSecond(inRate) + " \\u00b7 out " + perSecond(outRate) +
    " \\u00b7 " + number(sums.created) + " created, " + number(sums.delivered) + " delivered, " +
    number(sums.errors) + " errors, " + number(sums.filtered) + " filtered, " +
    number(dropped) + " dropped, " + number(sums.lost) + " failed";
  for (const key in sums) $("totals").setAttribute("data-" + key, sums[key]);
  $("totals").setAttribute("data-dropped", dropped);
  $("totals").setAttribute("data-made", made);
  $("totals").setAttribute("data-handled", handled);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const response = await fetch("api/pipeline", { headers, cache: "no-store" });
    if (!response.ok) throw new Error("api/pipeline: " + response.status + " " + (await response.text()));
    const view = await response.json();
    const key = JSON.stringify([view.actors.map((a) => [a.name, a.column]), view.connections.map((c) => [c.from, c.to])]);
    if (key !== topology) { topology = key; build(view); }
    update(view);
    $("error").hidden = true;
  } catch (error) {
    $("error").textContent = "Cannot reach the pipeline: " + error.message;
    $("error").hidden = false;
  }
  setTimeout(poll, 1000);
}

function closeTap() {
  if (tap) { tap.source.close(); tap = null; }
  $("tap").hidden = true;
  for (const e of edges.values()) e.g.classList.remove("selected");
}

function openTap(queue, from) {
  closeTap();
  const list = $("tap-events");
  list.replaceChildren();
  $("tap-title").textContent = "Tap " + from + " \\u2192 " + queue;
  $("tap-stats").textContent = "connecting";
  $("tap").hidden = false;
  edges.get(queue)?.g.classList.add("selected");
  const params = new URLSearchParams({ queue, rate: "20" });
  if (token) params.set("token", token);
  const source = new EventSource("api/tap?" + params);
  const state = { source, received: 0, dropped: 0 };
  tap = state;
  const stats = () => {
    $("tap-stats").textContent = state.received + " events" +
      (state.dropped ? ", " + state.dropped + " dropped" : "");
  };
  source.addEventListener("open", () => { $("tap-stats").textContent = "listening"; });
  source.addEventListener("dropped", (e) => { state.dropped = JSON.parse(e.data).dropped; stats(); });
  source.onmessage = (e) => {
    state.received++;
    const li = document.createElement("li");
    const body = e.data;
    li.textContent = body.length > 2000 ? body.slice(0, 2000) + "\\u2026" : body;
    list.prepend(li);
    while (list.childNodes.length > 200) list.removeChild(list.lastChild);
    stats();
  };
  source.onerror = () => { if (tap === state) $("tap-stats").textContent = "disconnected, retrying"; };
}

async function pollReloads() {
  try {
    const response = await fetch("api/reloads", { headers, cache: "no-store" });
    if (response.status === 404) { await response.body?.cancel(); return; }
    if (response.ok) {
      const last = (await response.json()).reloads.at(-1);
      if (last) {
        const c = last.change;
        const what = c ? [["replaced", c.replaced], ["added", c.added], ["removed", c.removed]]
          .filter(([, names]) => names.length > 0)
          .map(([verb, names]) => names.length + " " + verb).join(", ") : "";
        $("reload").textContent = "reload " + new Date(last.at).toLocaleTimeString() + ": " +
          last.status.replace("_", " ") + (what ? " (" + what + ")" : "");
        $("reload").className = "pill " + (last.status === "applied" || last.status === "unchanged" ? "running" : "stopped");
        $("reload").title = last.reason ?? (last.errors ?? []).join("\\n");
        $("reload").hidden = false;
      }
    }
  } catch {
    // Shown by the pipeline's poll.
  }
  setTimeout(pollReloads, 5000);
}

$("tap-close").addEventListener("click", closeTap);
document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeTap(); });
poll();
pollReloads();
`;

/**
 * The dashboard page: HTML with its style and script inline, no external
 * resource.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DASHBOARD_HTML } from "./dashboard.ts";
 * assert.equal(DASHBOARD_HTML.startsWith("<!doctype html>"), true);
 * ```
 */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compysition pipeline</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Compysition</h1>
  <span id="state" class="pill">connecting</span>
  <span id="summary" class="muted"></span>
  <span id="totals"></span>
  <span id="reload" class="pill" hidden></span>
  <span id="updated" class="muted"></span>
</header>
<main>
  <div id="graph-wrap"><svg id="graph" role="img" aria-label="The pipeline's actors and queues"></svg></div>
  <aside id="tap" hidden>
    <header><h2 id="tap-title"></h2><span id="tap-stats" class="muted"></span><button id="tap-close" title="Close (Esc)">Close</button></header>
    <ol id="tap-events"></ol>
  </aside>
</main>
<div id="error" hidden></div>
<script>${SCRIPT}</script>
</body>
</html>
`;
