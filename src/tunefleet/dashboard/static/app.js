// tunefleet dashboard front end. Every value from the server is written with textContent
// (never innerHTML), so a config value such as "<script>" is shown as text.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const state = { exp: null, sort: "index", desc: false, q: "", status: "", offset: 0, limit: 50,
  seq: -1, slow: 0, trial: null, columns: [] };

async function api(path) {
  const headers = TOKEN ? { "X-Tunefleet-Token": TOKEN } : {};
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) throw new Error(r.status + " " + path);
  return r.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fmtTime(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "-"; }
function fmtDur(s) {
  if (s === null || s === undefined) return "-";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
}
function enc(s) { return encodeURIComponent(s); }
function base() { return "api/experiments/" + enc(state.exp); }
function plot(id, data, layout) {
  if (!window.Plotly) return;
  const lay = Object.assign({ margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: false }, layout || {});
  Plotly.react(id, data, lay, { displaylogo: false, responsive: true });
}

// ---------------------------------------------------------------- the experiment list
async function refreshList() {
  const data = await api("api/experiments");
  const body = document.querySelector("#experiments tbody");
  body.replaceChildren();
  document.getElementById("list-empty").hidden = data.experiments.length > 0;
  for (const x of data.experiments) {
    const tr = el("tr");
    const c = x.counts || {};
    const best = x.best === null || x.best === undefined ? "-" : fmt(x.best) + " (" + (x.metric || [])[0] + ")";
    const cells = [x.name, x.status, x.trials, c.RUNNING, c.PAUSED, c.TERMINATED, c.ERROR, c.PENDING,
      best, fmtTime(x.started), fmtDur(x.duration)];
    cells.forEach((v, i) => tr.append(el("td", fmt(v), i === 1 ? "status-" + x.status : "")));
    if (x.problem) tr.title = x.problem;
    tr.addEventListener("click", () => { location.hash = "exp=" + enc(x.name); });
    body.append(tr);
  }
}

// ---------------------------------------------------------------- one experiment
function card(label, value, cls) {
  const d = el("div", null, "card");
  d.append(el("span", label, "muted"), el("b", value, cls));
  return d;
}

async function refreshSummary() {
  const s = await api(base());
  const c = s.counts || {};
  const box = document.getElementById("summary");
  box.replaceChildren(
    card("experiment", s.name), card("status", s.status, "status-" + s.status),
    card("trials", s.trials), card("running", c.RUNNING || 0), card("paused", c.PAUSED || 0),
    card("terminated", c.TERMINATED || 0), card("error", c.ERROR || 0),
    card("results", s.results),
    card("best " + fmt((s.metric || [])[0]), fmt(s.best)), card("started", fmtTime(s.started)),
    card("duration", fmtDur(s.duration)));
  const p = document.getElementById("problem");
  p.hidden = !s.problem; p.textContent = s.problem || "";
  document.getElementById("crumb").textContent = "/ " + s.name + (s.loading ? " (loading…)" : "");
  const changed = s.seq !== state.seq;
  state.seq = s.seq;
  state.metric = (s.metric || [])[0];
  state.metricMode = (s.mode || [])[0];
  return changed;
}

const BASE_COLS = [["trial_id", "trial"], ["status", "status"], ["iteration", "iter"],
  ["score", "best"], ["last", "last"]];

// Requests overlap (the 1 s tick and a click on a header): only the latest one may draw, so
// a slow answer to an older query never paints its rows under the newer query's headers.
let trialsGeneration = 0;
async function refreshTrials() {
  const generation = ++trialsGeneration;
  const qs = new URLSearchParams({ sort: state.sort, desc: state.desc, q: state.q,
    status: state.status, offset: state.offset, limit: state.limit });
  const page = await api(base() + "/trials?" + qs);
  if (generation !== trialsGeneration) return;
  document.getElementById("trial-count").textContent = page.total + " trials";
  document.getElementById("trial-count").dataset.total = page.total;
  document.getElementById("page").textContent =
    page.total ? (page.offset + 1) + "–" + (page.offset + page.rows.length) + " of " + page.total : "0";
  const keys = new Set();
  for (const r of page.rows) for (const k of Object.keys(r.config)) keys.add(k);
  const cfg = [...keys].slice(0, 8);
  const head = document.querySelector("#trials thead tr");
  head.replaceChildren();
  for (const [key, label] of BASE_COLS) {
    const th = el("th", label + (state.sort === key ? (state.desc ? " ▼" : " ▲") : ""));
    th.dataset.sort = key;
    th.addEventListener("click", () => {
      state.desc = state.sort === key ? !state.desc : key === "score" && state.metricMode === "max";
      state.sort = key; state.offset = 0; refreshTrials();
    });
    head.append(th);
  }
  for (const k of cfg) head.append(el("th", k));
  head.append(el("th", "error"));
  const body = document.querySelector("#trials tbody");
  body.replaceChildren();
  for (const r of page.rows) {
    const tr = el("tr");
    tr.dataset.trial = r.trial_id;
    for (const [key] of BASE_COLS) tr.append(el("td", fmt(r[key]), key === "status" ? "status-" + r.status : ""));
    for (const k of cfg) tr.append(el("td", fmt(r.config[k])));
    tr.append(el("td", r.error || ""));
    tr.addEventListener("click", () => { state.trial = r.trial_id; refreshDetail(); });
    body.append(tr);
  }
}

async function refreshDetail() {
  const box = document.getElementById("detail");
  if (!state.trial) { box.hidden = true; return; }
  const asked = state.trial;
  const t = await api(base() + "/trials/" + enc(asked));
  if (asked !== state.trial) return;  // another row was clicked meanwhile
  box.hidden = false;
  document.getElementById("detail-id").textContent = t.trial_id + " (" + t.status + ")";
  document.getElementById("detail-config").textContent = JSON.stringify(t.config, null, 2);
  document.getElementById("detail-worker").textContent = t.worker || "-";
  document.getElementById("detail-checkpoints").textContent =
    t.checkpoints.map((c) => "iter " + fmt(c.iteration) + ": " + c.path).join("\n") || (t.checkpoint || "-");
  document.getElementById("detail-markers").textContent =
    t.markers.map((m) => "iter " + m.iteration + ": " + m.kind + (m.detail ? " " + m.detail : "")).join("\n") || "-";
  document.getElementById("detail-result").textContent = JSON.stringify(t.last_result, null, 2);
  document.getElementById("detail-traceback").textContent = t.traceback || t.error || "-";
}

async function refreshHistory() {
  const h = await api(base() + "/history");
  const name = h.metric || "metric";
  const t = h.time.concat(h.time.length ? [h.end.time] : []);
  const c = h.compute.concat(h.compute.length ? [h.end.compute] : []);
  const y = h.best.concat(h.best.length ? [h.best[h.best.length - 1]] : []);
  plot("hist-time", [{ x: t, y, mode: "lines+markers", line: { shape: "hv" }, text: h.trial }],
    { xaxis: { title: { text: "wall time (s)" } }, yaxis: { title: { text: "best " + name } } });
  plot("hist-compute", [{ x: c, y, mode: "lines+markers", line: { shape: "hv" }, text: h.trial }],
    { xaxis: { title: { text: "compute (trial-seconds)" } }, yaxis: { title: { text: "best " + name } } });
}

const MARKER_SYMBOL = { stopped: "x", paused: "circle-open", promoted: "triangle-up",
  exploited: "diamond", failed: "x-thin-open", error: "x-thin-open" };

async function refreshCurves() {
  const d = await api(base() + "/curves");
  document.getElementById("curves-note").textContent =
    d.curves.length + " of " + d.total + " trials (running and best first)";
  const traces = d.curves.map((c) => ({ x: c.x, y: c.y, mode: "lines", name: c.trial_id,
    line: { width: 1 }, hoverinfo: "name+x+y" }));
  const kinds = {};
  for (const c of d.curves) {
    for (const m of c.markers) {
      const i = c.x.lastIndexOf(m.iteration);
      const y = i >= 0 ? c.y[i] : c.y[c.y.length - 1];
      (kinds[m.kind] = kinds[m.kind] || { x: [], y: [], text: [] });
      kinds[m.kind].x.push(m.iteration); kinds[m.kind].y.push(y);
      kinds[m.kind].text.push(c.trial_id + " " + m.kind);
    }
  }
  for (const [kind, v] of Object.entries(kinds)) {
    traces.push({ x: v.x, y: v.y, text: v.text, mode: "markers", name: kind, hoverinfo: "text",
      marker: { symbol: MARKER_SYMBOL[kind] || "circle", size: 9 } });
  }
  plot("curves", traces, { xaxis: { title: { text: "training_iteration" } },
    yaxis: { title: { text: d.metric || "" } } });
}

async function refreshParams() {
  const p = await api(base() + "/params");
  document.getElementById("params-note").textContent =
    p.trial_ids.length + " of " + p.total + " scored trials" + (p.sampled ? " (best tenth + sample)" : "");
  const dims = p.params.map((q) => {
    const dim = { label: q.name, values: q.values };
    if (q.categorical) { dim.tickvals = q.categories.map((_, i) => i); dim.ticktext = q.categories; }
    return dim;
  });
  dims.push({ label: p.metric, values: p.scores });
  if (p.trial_ids.length) {
    plot("parcoords", [{ type: "parcoords", dimensions: dims,
      line: { color: p.scores, colorscale: "Viridis", showscale: true, reversescale: p.mode === "min" } }],
      { margin: { l: 60, r: 60, t: 40, b: 20 } });
  }
  const box = document.getElementById("slices");
  const want = p.params.slice(0, 12).map((q) => "slice-" + q.name.replace(/[^A-Za-z0-9_-]/g, "_"));
  if ([...box.children].map((c) => c.id).join() !== want.join()) {
    box.replaceChildren(...want.map((id) => { const d = el("div"); d.id = id; return d; }));
  }
  p.params.slice(0, 12).forEach((q, i) => {
    plot(want[i], [{ x: q.values, y: p.scores, mode: "markers", type: "scattergl", text: p.trial_ids,
      marker: { size: 5, opacity: 0.6 } }],
    { xaxis: { title: { text: q.name }, type: q.log ? "log" : "linear",
      tickvals: q.categorical ? q.categories.map((_, j) => j) : undefined,
      ticktext: q.categorical ? q.categories : undefined },
      yaxis: { title: { text: p.metric } }, margin: { l: 50, r: 10, t: 10, b: 40 } });
  });
}

async function refreshImportance() {
  const d = await api(base() + "/importance");
  state.importancePending = !!d.pending;
  const note = document.getElementById("importance-note");
  note.textContent = d.pending ? "(computing…)" : d.problem ? d.problem
    : "random forest, permutation importance, " + d.trials + " trials";
  const names = Object.keys(d.importance || {});
  plot("importance", [{ type: "bar", orientation: "h", x: names.map((n) => d.importance[n]),
    y: names }], { margin: { l: 120, r: 10, t: 10, b: 30 }, yaxis: { autorange: "reversed" } });
}

async function refreshLineage() {
  const d = await api(base() + "/lineage");
  document.getElementById("lineage-note").textContent = d.total ? d.total + " edges" : "(no PBT/PB2 exploits)";
  const x = [], y = [], text = [];
  for (const e of d.edges) {
    x.push(e.iteration, e.iteration, null); y.push(e.parent, e.child, null);
    text.push(e.parent, e.parent + " → " + e.child, null);
  }
  plot("lineage", [{ x, y, text, mode: "lines+markers", hoverinfo: "text" }],
    { xaxis: { title: { text: "iteration of the exploit" } }, yaxis: { type: "category" } });
}

// the pair of objectives on the Pareto chart (the front itself is over all of them)
const paretoAxes = { x: 0, y: 1 };
async function refreshPareto() {
  const d = await api(base() + "/pareto");
  const box = document.getElementById("pareto-box");
  box.hidden = !(d.metrics && d.metrics.length >= 2);
  if (box.hidden) return;
  const m = d.metrics.length;
  for (const [axis, id] of [["x", "pareto-x"], ["y", "pareto-y"]]) {
    const sel = document.getElementById(id);
    if (sel.options.length !== m) {
      sel.replaceChildren();
      d.metrics.forEach((name, i) => sel.append(Object.assign(el("option", name + " (" + d.modes[i] + ")"), { value: String(i) })));
      sel.onchange = () => { paretoAxes[axis] = Number(sel.value); refreshPareto(); };
    }
    if (paretoAxes[axis] >= m) paretoAxes[axis] = axis === "x" ? 0 : 1;
    sel.value = String(paretoAxes[axis]);
  }
  document.getElementById("pareto-note").textContent = d.front_size + " of " + (d.total || d.points.length) +
    " trials on the front over all " + m + " objectives (last results)";
  const ix = paretoAxes.x, iy = paretoAxes.y;
  const on = d.points.filter((p) => p.front), off = d.points.filter((p) => !p.front);
  const tr = (pts, name, size) => ({ x: pts.map((p) => p.values[ix]), y: pts.map((p) => p.values[iy]),
    text: pts.map((p) => p.trial_id + "  " + p.values.map((v, i) => d.metrics[i] + "=" + fmt(v)).join(", ")),
    hoverinfo: "text", mode: "markers", name, marker: { size } });
  plot("pareto", [tr(off, "dominated", 5), tr(on, "front", 9)], { showlegend: true,
    xaxis: { title: { text: d.metrics[ix] + " (" + d.modes[ix] + ")" } },
    yaxis: { title: { text: d.metrics[iy] + " (" + d.modes[iy] + ")" } } });
}

async function refreshErrors() {
  const d = await api(base() + "/errors");
  document.getElementById("errors-note").textContent = d.total ? d.total + " trials" : "(none)";
  const box = document.getElementById("errors");
  box.replaceChildren();
  for (const r of d.rows) {
    const det = el("details");
    det.append(el("summary", r.trial_id + " (" + r.status + ", " + r.failures + " failures): " + (r.error || "")));
    det.append(el("pre", r.traceback || r.error || ""));
    box.append(det);
  }
}

// ---------------------------------------------------------------- routing and polling
function route() {
  const m = location.hash.match(/^#exp=(.*)$/);
  state.exp = m ? decodeURIComponent(m[1]) : null;
  state.seq = -1; state.slowSeq = -1; state.trial = null; state.offset = 0; state.slow = 0;
  document.getElementById("list-view").hidden = !!state.exp;
  document.getElementById("exp-view").hidden = !state.exp;
  document.getElementById("detail").hidden = true;
  if (!state.exp) document.getElementById("crumb").textContent = "";
  tick();
}

let busy = false;
async function tick() {
  if (busy) return;
  busy = true;
  const dot = document.getElementById("live-dot");
  try {
    if (!state.exp) { await refreshList(); }
    else {
      const changed = await refreshSummary();
      await refreshTrials();
      if (changed) {
        await Promise.all([refreshHistory(), refreshCurves()]);
        if (state.trial) await refreshDetail();
      }
      // the heavier views: at most every 3 s, and only when something new was logged
      // (importance also until its fit in the background is done)
      if ((state.seq !== state.slowSeq || state.importancePending) && Date.now() - state.slow > 3000) {
        state.slow = Date.now(); state.slowSeq = state.seq;
        await Promise.all([refreshParams(), refreshImportance(), refreshLineage(), refreshPareto(), refreshErrors()]);
      }
    }
    dot.className = "";
  } catch (e) {
    dot.className = "stale"; dot.title = String(e);
  } finally { busy = false; }
}

document.addEventListener("DOMContentLoaded", () => {
  let timer = null;
  document.getElementById("filter").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = e.target.value; state.offset = 0; refreshTrials(); }, 200);
  });
  document.getElementById("status-filter").addEventListener("change", (e) => {
    state.status = e.target.value; state.offset = 0; refreshTrials();
  });
  document.getElementById("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit); refreshTrials();
  });
  document.getElementById("next").addEventListener("click", () => {
    const total = Number(document.getElementById("trial-count").dataset.total || 0);
    if (state.offset + state.limit < total) { state.offset += state.limit; refreshTrials(); }
  });
  document.getElementById("detail-close").addEventListener("click", () => {
    state.trial = null; document.getElementById("detail").hidden = true;
  });
  document.getElementById("home").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
  window.addEventListener("hashchange", route);
  route();
  setInterval(tick, 1000);
});
