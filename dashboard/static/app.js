// meshctl dashboard: pages over /api/*, routed by the URL path; the time range lives in the query
// string (since=15m live by default, or start/end fixed), so every URL can be shared.
"use strict";

const REFRESH_MS = 5000;
const RANGES = ["5m", "15m", "1h", "6h", "24h", "168h", "720h"];
let timer = null;
let tapSource = null;
let charts = [];
let cy = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function params() { return new URLSearchParams(location.search); }

function rangeQuery(extra) {
  const p = params();
  const q = new URLSearchParams();
  for (const k of ["since", "start", "end"]) if (p.get(k)) q.set(k, p.get(k));
  for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return q.toString();
}

function isLive() { return !params().get("end"); }

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function go(href) { history.pushState(null, "", href); route(); }

function link(href, text) {
  return el("a", { href, onclick: (e) => { e.preventDefault(); go(href); } }, text);
}

function withRange(path) {
  const q = rangeQuery();
  return q ? `${path}?${q}` : path;
}

function setStatus(text, error) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function renderRangePicker() {
  const box = document.getElementById("range");
  box.replaceChildren();
  const p = params();
  if (p.get("start")) {
    box.append(el("span", {}, `${fmtTime(Number(p.get("start")) || 0)} → ${p.get("end") ? fmtTime(Number(p.get("end"))) : "now"} `));
    box.append(el("button", { onclick: () => { const q = params(); q.delete("start"); q.delete("end"); q.delete("at"); go(`${location.pathname}?${q}`); } }, "live"));
    return;
  }
  const select = el("select", { id: "since", onchange: (e) => { const q = params(); q.set("since", e.target.value); go(`${location.pathname}?${q}`); } });
  const current = p.get("since") || "15m";
  for (const r of RANGES.includes(current) ? RANGES : [current, ...RANGES]) {
    const option = el("option", { value: r }, `last ${r}`);
    if (r === current) option.selected = true;
    select.append(option);
  }
  box.append(select, el("span", { class: "muted" }, " live"));
}

function statCells(row) {
  const cell = (text, cls, value) => el("td", { class: cls || "", "data-value": value === undefined ? "" : String(value) }, text);
  const s = row.success;
  return [
    cell(row.meshed ? "yes" : "no", "meshed"),
    cell(fmtPercent(s), "success " + (s === null ? "" : s < 0.95 ? "bad" : "good"), s),
    cell(fmtRps(row), "rps", row.rps),
    cell(fmtLatency(row.latency_ms_p50), "p50", row.latency_ms_p50),
    cell(fmtLatency(row.latency_ms_p95), "p95", row.latency_ms_p95),
    cell(fmtLatency(row.latency_ms_p99), "p99", row.latency_ms_p99),
    cell(String(row.requests), "requests", row.requests),
  ];
}
const STAT_HEADERS = ["MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99", "REQUESTS"];

function table(id, headers, rows) {
  const head = el("tr", {}, ...headers.map((h, i) => el("th", { class: i === 0 ? "name" : "" }, h)));
  return el("table", { id }, el("thead", {}, head), el("tbody", {}, ...rows));
}

function workloadHref(ns, kind, name) { return withRange(`/workloads/${encodeURIComponent(ns)}/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`); }

// ---- overview

async function overview(main) {
  const data = await getJson(`/api/overview?${rangeQuery()}`);
  const rows = data.namespaces.map((r) => el("tr", { "data-name": r.name },
    el("td", { class: "name" }, link(withRange(`/namespaces/${encodeURIComponent(r.name)}`), r.name)),
    el("td", { class: "meshed-workloads" }, String(r.meshed_workloads)),
    ...statCells(r).slice(1),
    el("td", { class: "lost" }, String(r.events_lost))));
  const p = data.pipeline;
  const lossy = p.workloads_losing_events.map((r) => el("li", {}, `${r.namespace}/${r.kind}/${r.name}: ${r.events_lost} events lost`));
  main.replaceChildren(
    el("h1", {}, "Namespaces"),
    rows.length ? table("namespaces", ["NAMESPACE", "MESHED_WORKLOADS", ...STAT_HEADERS.slice(1), "EVENTS_LOST"], rows) : el("p", { class: "muted" }, "No traffic found."),
    el("h2", {}, "Pipeline"),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("div", { class: "muted" }, "events lost before Kafka"), el("div", { class: "v", id: "events-lost" }, String(p.events_lost))),
      el("div", { class: "card" }, el("div", { class: "muted" }, "newest stored window"),
        el("div", { class: "v", id: "freshness" }, p.freshness_s === null ? "none in the last hour" : `${Math.round(p.freshness_s)}s ago`)),
      el("div", { class: "card" }, el("div", { class: "muted" }, "dead letters (retained)"), el("div", { class: "v", id: "dead-letters" }, p.dead_letters === null ? "?" : String(p.dead_letters))),
      el("div", { class: "card" }, el("div", { class: "muted" }, "worker lag (requests)"), el("div", { class: "v", id: "worker-lag" }, p.worker_lag === null ? "?" : String(p.worker_lag)))),
    lossy.length ? el("ul", {}, ...lossy) : el("p", { class: "muted" }, "No proxy dropped events in this range."));
}

// ---- namespace

function sparkline(series, key, color) {
  const box = el("span", { class: "spark" });
  const xs = series.map((p) => p.t);
  const ys = series.map((p) => (p[key] === null ? null : key === "success" ? p[key] * 100 : p[key]));
  const opts = { width: 120, height: 28, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false } }, axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: color, width: 1.5, spanGaps: true, points: { size: 3 } }] };
  charts.push(new uPlot(opts, [xs, ys], box));
  return box;
}

async function namespacePage(main, ns) {
  const data = await getJson(`/api/namespaces/${encodeURIComponent(ns)}?${rangeQuery()}`);
  const rows = data.workloads.map((r) => el("tr", { "data-name": r.name, "data-kind": r.kind },
    el("td", { class: "name" }, link(workloadHref(r.namespace, r.kind, r.name), `${r.kind}/${r.name}`)),
    ...statCells(r),
    el("td", { class: "spark-rps" }, sparkline(r.series, "rps", "#3366cc")),
    el("td", { class: "spark-success" }, sparkline(r.series, "success", "#2e7d32"))));
  main.replaceChildren(
    el("h1", {}, `Namespace ${ns}`),
    rows.length ? table("workloads", ["NAME", ...STAT_HEADERS, "RPS", "SUCCESS"], rows) : el("p", { class: "muted" }, "No traffic found."));
}

// ---- workload

function chart(title, series, keys, colors, percent) {
  const box = el("div", { class: "chart" });
  const xs = series.map((p) => p.t);
  const data = [xs, ...keys.map((k) => series.map((p) => (p[k] === null ? null : percent ? p[k] * 100 : p[k])))];
  const opts = { title, width: 380, height: 200, scales: { x: { time: true } },
    series: [{}, ...keys.map((k, i) => ({ label: k, stroke: colors[i], width: 1.5, spanGaps: true, points: { size: 4 } }))] };
  charts.push(new uPlot(opts, data, box));
  return box;
}

function peerRows(rows, field) {
  return rows.map((r) => el("tr", { "data-name": r.name },
    el("td", { class: "name" }, r.kind ? link(workloadHref(r.namespace, r.kind, r.name), `${r.namespace}/${r.kind}/${r.name}`) : r.name),
    ...statCells(r)));
}

function tapPanel(w) {
  const lines = el("div", { id: "tap-lines" });
  const form = el("form", { class: "tap", id: "tap-form" });
  const fields = [["to", "to (deploy/x)"], ["method", "method"], ["path", "path prefix"], ["authority", "authority"],
    ["status", "status (5xx)"], ["grpc_status", "grpc status"], ["max_rps", "max rps"]];
  for (const [name, label] of fields) form.append(el("input", { name, placeholder: label, id: `tap-${name}` }));
  form.append(el("label", {}, el("input", { type: "checkbox", name: "failed", id: "tap-failed" }), " failed"));
  const button = el("button", { type: "submit", id: "tap-start" }, "Start");
  form.append(button);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (tapSource) { stopTap(); button.textContent = "Start"; return; }
    const q = new URLSearchParams({ resource: `${w.kind}/${w.name}`, namespace: w.namespace });
    for (const input of form.querySelectorAll("input")) {
      if (input.type === "checkbox") { if (input.checked) q.set(input.name, "1"); }
      else if (input.value) q.set(input.name, input.value);
    }
    lines.replaceChildren();
    tapSource = new EventSource(`/api/tap?${q}`);
    tapSource.onmessage = (m) => {
      const event = JSON.parse(m.data);
      for (const line of event.lines) lines.append(el("div", { class: event.failed ? "fail" : "" }, line));
      while (lines.childElementCount > 600) lines.firstChild.remove();
      lines.scrollTop = lines.scrollHeight;
    };
    tapSource.onerror = () => { setStatus("tap: connection lost", true); };
    button.textContent = "Stop";
  });
  return el("div", { id: "tap" }, form, lines);
}

function stopTap() { if (tapSource) { tapSource.close(); tapSource = null; } }

async function workloadPage(main, ns, kind, name, refresh) {
  const data = await getJson(`/api/workloads/${encodeURIComponent(ns)}/${encodeURIComponent(kind)}/${encodeURIComponent(name)}?${rangeQuery()}`);
  const s = data.stat;
  const summary = s ? table("summary", ["NAME", ...STAT_HEADERS], [el("tr", {}, el("td", { class: "name" }, `${kind}/${name}`), ...statCells(s))])
    : el("p", { class: "muted" }, "No traffic found.");
  const routes = data.routes.map((r) => el("tr", { "data-route": r.route },
    el("td", { class: "name" }, r.route), el("td", { class: "name" }, r.service),
    el("td", {}, fmtPercent(r.success)), el("td", {}, fmtRps(r)), el("td", {}, fmtLatency(r.latency_ms_p50)),
    el("td", {}, fmtLatency(r.latency_ms_p95)), el("td", {}, fmtLatency(r.latency_ms_p99))));
  const parts = [
    el("h1", {}, `${ns} / ${kind}/${name}`), summary,
    el("div", { class: "charts" },
      chart("success %", data.series, ["success"], ["#2e7d32"], true),
      chart("rps", data.series, ["rps"], ["#3366cc"], false),
      chart("latency ms", data.series, ["p50", "p95", "p99"], ["#00897b", "#f9a825", "#c62828"], false)),
    el("h2", {}, "Inbound (callers)"), data.inbound.length ? table("inbound", ["FROM", ...STAT_HEADERS], peerRows(data.inbound)) : el("p", { class: "muted" }, "none"),
    el("h2", {}, "Outbound"), data.outbound.length ? table("outbound", ["TO", ...STAT_HEADERS], peerRows(data.outbound)) : el("p", { class: "muted" }, "none"),
    el("h2", {}, "Routes"), routes.length ? table("routes", ["ROUTE", "SERVICE", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"], routes) : el("p", { class: "muted" }, "none"),
  ];
  // The tap panel survives refreshes: only the numbers above it are redrawn.
  let tap = refresh ? document.getElementById("tap") : null;
  if (!tap) tap = tapPanel({ namespace: ns, kind, name });
  main.replaceChildren(...parts, el("h2", {}, "Live tap"), tap);
}

// ---- service map

function mapRange() {
  // The slider's range: start/end when fixed, else `since` (1h by default) up to now.
  const p = params();
  const now = Date.now() / 1000;
  if (p.get("start")) return [Number(p.get("start")), p.get("end") ? Number(p.get("end")) : now];
  const since = p.get("since") || "1h";
  return [now - parseDuration(since), now];
}

function parseDuration(text) {
  const units = { s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) total += Number(m[1]) * units[m[2]];
  return total || 3600;
}

async function mapPage(main, refresh) {
  const p = params();
  const windowS = parseDuration(p.get("window") || "1m");
  const [low, high] = mapRange();
  const at = p.get("at") ? Number(p.get("at")) : high;
  const ns = p.get("namespace") || "";
  const q = new URLSearchParams({ start: String(at - windowS), end: String(at) });
  if (ns) q.set("namespace", ns);
  const data = await getJson(`/api/map?${q}`);
  if (!refresh || !document.getElementById("cy")) {
    const nsInput = el("input", { id: "map-namespace", placeholder: "all namespaces", value: ns });
    nsInput.addEventListener("change", () => { const u = params(); if (nsInput.value) u.set("namespace", nsInput.value); else u.delete("namespace"); go(`/map?${u}`); });
    const slider = el("input", { type: "range", id: "map-slider", min: String(Math.floor(low)), max: String(Math.ceil(high)), step: "10", value: String(Math.round(at)) });
    slider.addEventListener("input", () => { document.getElementById("map-at").textContent = fmtTime(Number(slider.value)); });
    slider.addEventListener("change", () => { const u = params(); u.set("at", slider.value); if (!u.get("start")) { u.set("start", String(Math.floor(low))); u.set("end", String(Math.ceil(high))); u.delete("since"); } go(`/map?${u}`); });
    main.replaceChildren(el("h1", {}, "Service map"),
      el("div", { class: "slider" }, el("label", {}, "namespace ", nsInput), slider,
        el("span", { id: "map-at" }, fmtTime(at)), el("span", { class: "muted" }, `window ${p.get("window") || "1m"}`)),
      el("div", { id: "cy" }));
  }
  drawMap(data);
}

function drawMap(data) {
  const maxRps = Math.max(0.001, ...data.edges.map((e) => e.rps));
  const elements = [
    ...data.nodes.map((n) => ({ data: { id: n.id, label: n.kind ? n.name : n.id, meshed: n.meshed } })),
    ...data.edges.map((e) => ({ data: { id: `${e.source}->${e.target}`, source: e.source, target: e.target,
      color: successColor(e.success), width: 1.5 + 8 * (e.rps / maxRps),
      label: `${fmtPercent(e.success)} ${e.rps.toFixed(1)}rps` } })),
  ];
  const container = document.getElementById("cy");
  container.dataset.edges = JSON.stringify(data.edges.map((e) => ({ source: e.source, target: e.target, success: e.success, rps: e.rps, color: successColor(e.success) })));
  container.dataset.start = String(data.range.start);
  container.dataset.end = String(data.range.end);
  if (cy) cy.destroy();
  const began = performance.now();
  cy = cytoscape({ container, elements,
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.3, padding: 30 },
    style: [
      { selector: "node", style: { label: "data(label)", "background-color": "#3f51b5", color: "#1d2330", "font-size": 13, "text-valign": "bottom", "text-margin-y": 6 } },
      { selector: "node[!meshed]", style: { "background-color": "#9aa3b2", shape: "round-rectangle" } },
      { selector: "edge", style: { width: "data(width)", "line-color": "data(color)", "target-arrow-color": "data(color)",
        "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(label)", "font-size": 11, "text-background-color": "#fff", "text-background-opacity": 0.8 } },
    ] });
  // How long building and laying out the graph took (bench/dashboard.py reads it).
  container.dataset.renderMs = String(performance.now() - began);
  cy.on("tap", "node", (e) => { const [ns, kind, name] = e.target.id().split("/"); if (name) go(workloadHref(ns, kind, name)); });
}

// ---- routing and refresh

async function route(refresh) {
  if (!refresh) { stopTap(); for (const c of charts) c.destroy(); charts = []; }
  else { for (const c of charts) c.destroy(); charts = []; }
  clearTimeout(timer);
  renderRangePicker();
  const main = document.getElementById("main");
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "namespaces" && parts.length === 2) await namespacePage(main, parts[1]);
    else if (parts[0] === "workloads" && parts.length === 4) await workloadPage(main, parts[1], parts[2], parts[3], refresh);
    else if (parts[0] === "map") await mapPage(main, refresh);
    else await overview(main);
    setStatus(`updated ${new Date().toISOString()}`);
    document.body.dataset.loaded = String(Date.now());
  } catch (err) {
    setStatus(String(err.message || err), true);
  }
  const mapFixed = parts[0] === "map" && params().get("at");
  if (isLive() && !mapFixed) timer = setTimeout(() => route(true), REFRESH_MS);
}

async function loadConfig() {
  try {
    const config = await getJson("/api/config");
    const box = document.getElementById("grafana");
    box.append("Grafana:");
    for (const g of config.grafana) box.append(el("a", { href: g.url, target: "_blank", rel: "noopener" }, g.title.replace("meshpipe / ", "")));
  } catch (err) { setStatus(String(err), true); }
}

window.addEventListener("popstate", () => route());
loadConfig();
route();
