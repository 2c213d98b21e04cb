// The live page: polls the gateway's /admin/ui/* JSON (and /admin/usage) with the admin key in a header.
// Plain JS, no build step; charts by the vendored uPlot. Data goes into the page with textContent only.
"use strict";

(function () {
  const KEY = "llm-gateway.admin-key"; // sessionStorage: this tab only, gone when it closes
  const $ = (id) => document.getElementById(id);
  const RATE_METRICS = new Set(["requests", "rps", "tokens_per_s", "cost_per_hour_usd"]);
  const COLORS = ["#2c5cc5", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#1098ad", "#c2255c", "#5c940d",
    "#364fc7", "#a61e4d", "#087f5b", "#862e9c"];
  const CHARTS = [
    { id: "rps", title: "Requests/s", metrics: [["rps", ""]] },
    { id: "errors", title: "Error rate (5xx and cut streams)", metrics: [["error_rate", ""]], percent: true },
    { id: "latency", title: "Latency ms (p95 solid, p50 dashed)", metrics: [["latency_p95_ms", "p95"], ["latency_p50_ms", "p50"]] },
    { id: "ttft", title: "Time to first token ms (streams; p95 solid, p50 dashed)", metrics: [["ttft_p95_ms", "p95"], ["ttft_p50_ms", "p50"]] },
    { id: "tokens", title: "Tokens/s (input + output)", metrics: [["tokens_per_s", ""]] },
    { id: "cost", title: "Cost per hour (USD)", metrics: [["cost_per_hour_usd", ""]] },
    { id: "cache", title: "Cache hit ratio", metrics: [["cache_hit_ratio", ""]], percent: true, noTargets: true },
  ];

  const state = {
    key: sessionStorage.getItem(KEY),
    timer: null,
    pid: null,
    since: 0,
    after: 0,
    kept: 300,
    window: 900,
    bucket: 5,
    poll: 2,
    store: { start: [], series: {} },
    charts: {},
    requests: [],
    tracing: false,
  };

  // -- talking to the gateway ---------------------------------------------------------------------------------

  class Refused extends Error {}

  async function api(path) {
    const headers = state.key ? { Authorization: "Bearer " + state.key } : {};
    const response = await fetch(path, { headers, cache: "no-store", credentials: "omit", redirect: "error" });
    if (response.status === 401 || response.status === 403) throw new Refused(String(response.status));
    if (!response.ok) throw new Error(path.split("?")[0] + ": HTTP " + response.status);
    return response.json();
  }

  async function start() {
    try {
      const summary = await api("/admin/ui/summary");
      showDashboard();
      applySummary(summary);
      await poll();
    } catch (error) {
      if (error instanceof Refused) {
        const hadKey = !!state.key;
        logout(hadKey ? (error.message === "403"
          ? "This gateway has no [admin] key and serves its admin endpoints to this machine only."
          : "That key was refused.") : "");
      } else {
        logout("The gateway could not be reached: " + error.message);
      }
    }
  }

  async function poll() {
    clearTimeout(state.timer);
    try {
      const [summary, series, requests, usage] = await Promise.all([
        api("/admin/ui/summary"),
        api("/admin/ui/series?since=" + state.since),
        api("/admin/ui/requests?after=" + state.after),
        api("/admin/usage").catch((error) => { if (error instanceof Refused) throw error; return { error: error.message }; }),
      ]);
      if (state.pid !== null && summary.worker.pid !== state.pid) return resetForWorker(summary);
      applySummary(summary);
      mergeSeries(series);
      drawCharts();
      mergeRequests(requests);
      drawKeys(usage);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      if (error instanceof Refused) return logout("The key is no longer accepted.");
      $("updated").textContent = "update failed: " + error.message;
    }
    state.timer = setTimeout(poll, state.poll * 1000);
  }

  function resetForWorker(summary) {
    // another worker answered (--workers N): its figures are its own, so start over with them
    state.pid = null; state.since = 0; state.after = 0;
    state.store = { start: [], series: {} }; state.requests = [];
    $("requests").tBodies[0].replaceChildren();
    destroyCharts();
    applySummary(summary);
    state.timer = setTimeout(poll, 0);
  }

  // -- login ----------------------------------------------------------------------------------------------------

  function showDashboard() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("logout").hidden = false;
  }

  function logout(message) {
    clearTimeout(state.timer);
    state.key = null;
    sessionStorage.removeItem(KEY);
    Object.assign(state, { pid: null, since: 0, after: 0, store: { start: [], series: {} }, requests: [] });
    destroyCharts();
    for (const id of ["tiles", "charts"]) $(id).replaceChildren();
    for (const id of ["targets", "keys", "requests", "timeline"]) $(id).tBodies[0].replaceChildren();
    for (const id of ["config", "worker", "updated", "series-note", "requests-note", "timeline-facts", "timeline-bars"]) {
      $(id).replaceChildren();
    }
    $("config-details").open = false;
    $("timeline-panel").hidden = true;
    $("dashboard").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("admin-key").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("admin-key");
    state.key = input.value.trim() || null;
    input.value = "";
    if (state.key) sessionStorage.setItem(KEY, state.key);
    $("login-error").textContent = "";
    start();
  });
  $("logout").addEventListener("click", () => logout(""));

  // -- summary: worker, tiles, targets ----------------------------------------------------------------------------

  function applySummary(summary) {
    state.pid = summary.worker.pid;
    state.poll = summary.poll_s; state.window = summary.window_s; state.bucket = summary.bucket_s;
    state.tracing = summary.tracing;
    const w = summary.worker;
    $("worker").textContent = w.workers > 1
      ? `worker pid ${w.pid}, one of ${w.workers}: figures are this worker's own (keys: every worker's)`
      : `pid ${w.pid}`;
    drawTiles(summary);
    drawTargets(summary);
  }

  function drawTiles(summary) {
    const all = summary.last_minute.all || {};
    const tiles = [
      ["requests/s", fmt(all.rps, 2)],
      ["error rate", pct(all.error_rate)],
      ["p50 / p95 latency", ms(all.latency_p50_ms) + " / " + ms(all.latency_p95_ms)],
      ["p95 TTFT", ms(all.ttft_p95_ms)],
      ["tokens/s", fmt(all.tokens_per_s, 1)],
      ["cost per hour", usd(all.cost_per_hour_usd)],
      ["cache hit ratio", pct(all.cache_hit_ratio)],
      ["in flight", String(summary.in_flight)],
      ["recorded", String(summary.recorded)],
    ];
    const refused = Object.entries(summary.refused || {});
    if (refused.length) tiles.push(["refused", refused.map(([k, v]) => `${k} ${v}`).join(", ")]);
    $("tiles").replaceChildren(...tiles.map(([label, value]) => {
      const tile = el("div", "tile");
      tile.append(el("div", "label", label + " (1 min)".repeat(label === "in flight" || label === "recorded" ||
        label === "refused" ? 0 : 1)), el("div", "value", value));
      tile.dataset.tile = label;
      return tile;
    }));
  }

  function drawTargets(summary) {
    const minute = summary.last_minute;
    $("targets").tBodies[0].replaceChildren(...summary.targets.map((t) => {
      const own = minute["target:" + t.target] || {};
      const last = t.last_error;
      const row = el("tr");
      row.dataset.target = t.target;
      row.append(
        el("td", "", t.route), el("td", "", t.target), badge(t.state),
        el("td", "", t.cooling_until ? `${clock(t.cooling_until)} (in ${Math.ceil(t.cooling_for_s)} s)` : ""),
        el("td", "num", String(t.in_flight)), el("td", "num", ms(t.latency_ms)),
        el("td", "num", t.recent_requests ? pct(t.recent_error_rate) : "-"),
        el("td", "num", fmt(own.rps, 2)), el("td", "num", ms(own.latency_p95_ms)),
        el("td", "", last ? `${last.error || "error"}${last.status && String(last.status) !== last.error ? " (HTTP " + last.status + ")" : ""} ${ago(summary.now - last.at)}` : ""),
      );
      return row;
    }));
    const stuck = summary.routes_without_usable_target;
    $("stuck").hidden = !stuck.length;
    $("stuck").textContent = stuck.length ? "Every target cooling down: " + stuck.join(", ") : "";
  }

  function badge(kind) {
    const cell = el("td");
    cell.append(el("span", "badge " + kind, kind));
    return cell;
  }

  // -- charts ----------------------------------------------------------------------------------------------------

  function mergeSeries(data) {
    const store = state.store;
    const first = data.start[0];
    let cut = store.start.indexOf(first);
    if (cut < 0) cut = first > (store.start[store.start.length - 1] ?? -Infinity) ? store.start.length : 0;
    const names = new Set([...Object.keys(store.series), ...Object.keys(data.series)]);
    const series = {};
    for (const name of names) {
      const old = store.series[name], fresh = data.series[name];
      const merged = {};
      for (const metric of Object.keys((fresh || old))) {
        const blank = RATE_METRICS.has(metric) ? 0 : null;
        const head = old ? old[metric].slice(0, cut) : new Array(cut).fill(blank);
        const tail = fresh ? fresh[metric] : new Array(data.start.length).fill(blank);
        merged[metric] = head.concat(tail);
      }
      series[name] = merged;
    }
    store.start = store.start.slice(0, cut).concat(data.start);
    const keep = Math.round(state.window / state.bucket);
    const drop = Math.max(0, store.start.length - keep);
    store.start = store.start.slice(drop);
    for (const [name, metrics] of Object.entries(series)) {
      for (const metric of Object.keys(metrics)) metrics[metric] = metrics[metric].slice(drop);
      if (!metrics.requests.some((n) => n > 0)) delete series[name]; // nothing left in the window
    }
    store.series = series;
    if (data.start.length) state.since = data.start[data.start.length - 1];
  }

  function chosenSeries(chart) {
    const group = $("group").value;
    const names = Object.keys(state.store.series);
    if (group === "all" || (chart.noTargets && group === "target")) return names.filter((n) => n === "all");
    return names.filter((n) => n.startsWith(group + ":"));
  }

  function drawCharts() {
    const container = $("charts");
    const xs = state.store.start;
    $("series-note").textContent = `${Math.round(state.window / 60)} minutes, one point per ${state.bucket} s`;
    for (const chart of CHARTS) {
      const names = chosenSeries(chart);
      const lines = [];
      for (const [i, name] of names.entries()) {
        for (const [metric, label] of chart.metrics) {
          lines.push({ name, metric, label, color: COLORS[i % COLORS.length], dash: label === "p50" });
        }
      }
      const signature = lines.map((l) => l.name + "|" + l.metric).join(",");
      let holder = state.charts[chart.id];
      if (!holder) {
        const box = el("div", "chart");
        box.id = "chart-" + chart.id;
        const plot = el("div", "plot");
        box.append(el("h3", "", chart.title), plot);
        container.append(box);
        holder = state.charts[chart.id] = { box, plot, plotter: null, signature: null };
      }
      const data = [xs, ...lines.map((l) => state.store.series[l.name][l.metric].map((v) =>
        v === null ? null : (chart.percent ? v * 100 : v)))];
      if (holder.plotter === null || holder.signature !== signature) {
        if (holder.plotter) holder.plotter.destroy();
        holder.plot.replaceChildren();
        holder.plotter = new uPlot(options(chart, lines, holder.plot), data, holder.plot);
        holder.signature = signature;
      } else {
        holder.plotter.setData(data);
      }
      holder.box.dataset.points = String(data.slice(1).reduce((n, ys) => n + ys.filter((v) => v !== null && v !== 0).length, 0));
      holder.box.dataset.series = names.join(",");
    }
  }

  function options(chart, lines, plot) {
    return {
      width: Math.max(300, plot.clientWidth || 420),
      height: 180,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max || 0, chart.percent ? 1 : 0.001) * 1.1] } },
      axes: [{}, { size: 60, values: (u, ticks) => ticks.map((v) => short(v) + (chart.percent ? "%" : "")) }],
      series: [{}, ...lines.map((l) => ({
        label: (l.name === "all" ? "all" : l.name.replace(/^(route|target):/, "")) + (l.label ? " " + l.label : ""),
        stroke: l.color, width: l.dash ? 1 : 2, dash: l.dash ? [5, 4] : undefined, spanGaps: false, points: { show: false },
      }))],
    };
  }

  function destroyCharts() {
    for (const holder of Object.values(state.charts)) if (holder.plotter) holder.plotter.destroy();
    state.charts = {};
    $("charts").replaceChildren();
  }

  window.addEventListener("resize", () => {
    for (const holder of Object.values(state.charts)) {
      if (holder.plotter) holder.plotter.setSize({ width: Math.max(300, holder.plot.clientWidth), height: 180 });
    }
  });
  $("group").addEventListener("change", drawCharts);

  // -- keys -------------------------------------------------------------------------------------------------------

  function drawKeys(usage) {
    const body = $("keys").tBodies[0];
    const note = $("keys-note");
    if (usage.error) {
      note.hidden = false; note.textContent = "Usage unavailable: " + usage.error; body.replaceChildren();
      return;
    }
    const keys = Object.entries(usage.keys || {});
    note.hidden = keys.length > 0;
    note.textContent = keys.length ? "" : "No [[keys]] configured: the gateway takes calls from anyone who reaches it.";
    body.replaceChildren(...keys.map(([name, k]) => {
      const row = el("tr");
      row.dataset.key = name;
      const used = k.budget_usd ? k.cost_usd / k.budget_usd : null;
      const meter = el("td");
      if (used !== null) {
        const bar = el("span", "meter" + (used >= 1 ? " over" : used >= 0.8 ? " high" : ""));
        const fill = el("span");
        fill.style.width = Math.min(100, used * 100).toFixed(1) + "%";
        bar.append(fill);
        meter.append(bar, document.createTextNode(pct(used)));
      } else {
        meter.textContent = "no budget";
      }
      row.append(el("td", "", name), el("td", "num", String(k.requests)), el("td", "num", String(k.input_tokens)),
        el("td", "num", String(k.output_tokens)), el("td", "num", usd(k.cost_usd)),
        el("td", "num", k.budget_usd === null ? "-" : usd(k.budget_usd)), meter,
        el("td", "", k.budget_period + (k.period ? " " + k.period : "")), el("td", "", k.resets_at || "never"));
      return row;
    }));
  }

  // -- requests and their timelines ------------------------------------------------------------------------------

  function mergeRequests(data) {
    state.kept = data.kept;
    state.after = data.seq;
    $("requests-note").textContent = `(this worker's last ${state.kept}; click one for its attempts)`;
    if (!data.requests.length && $("requests").tBodies[0].rows.length) return; // nothing new: the rows stay
    state.requests = data.requests.concat(state.requests).slice(0, state.kept);
    $("requests").tBodies[0].replaceChildren(...state.requests.map((r) => {
      const row = el("tr", r.status >= 400 || r.error ? "error" : "");
      row.tabIndex = 0;
      row.dataset.id = r.id;
      row.dataset.attempts = String(r.attempts);
      row.dataset.cache = r.cache || "";
      row.append(
        el("td", "", clock(r.time)), el("td", "", r.key || "-"), el("td", "", r.route || "-"),
        el("td", "", r.target || "-"), el("td", "num", String(r.status) + (r.error && r.status < 400 ? " (" + r.error + ")" : "")),
        el("td", "num", ms(r.latency_ms)), el("td", "num", ms(r.ttft_ms)),
        el("td", "num", `${r.input_tokens} / ${r.output_tokens}`), el("td", "num", usd(r.cost_usd)),
        el("td", "", r.cache || "-"), el("td", "num", String(r.attempts)),
      );
      return row;
    }));
  }

  function openRequest(id) {
    api("/admin/ui/requests/" + encodeURIComponent(id)).then(showTimeline).catch((error) => {
      if (error instanceof Refused) logout("The key is no longer accepted.");
      else $("updated").textContent = "That request is no longer kept (" + error.message + ").";
    });
  }

  $("requests").tBodies[0].addEventListener("click", (event) => {
    const row = event.target.closest("tr");
    if (row && row.dataset.id) openRequest(row.dataset.id);
  });
  $("requests").tBodies[0].addEventListener("keydown", (event) => {
    const row = event.target.closest("tr");
    if (row && row.dataset.id && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); openRequest(row.dataset.id); }
  });

  function showTimeline(r) {
    $("timeline-title").textContent = `Request ${r.id}`;
    const facts = [
      ["time", new Date(r.time * 1000).toLocaleString()], ["key", r.key || "-"],
      ["route", r.route || "-"], ["answered by", r.target || "-"],
      ["status", String(r.status) + (r.error ? " (" + r.error + ")" : "")], ["latency", ms(r.latency_ms)],
      ["stream", r.stream ? "yes, TTFT " + ms(r.ttft_ms) : "no"], ["cache", r.cache || "-"],
      ["tokens in/out", `${r.input_tokens} / ${r.output_tokens}`], ["cost", usd(r.cost_usd)],
      ["attempts", String(r.attempts)],
      ["trace id", r.trace_id || (state.tracing ? "not sampled" : "tracing is off")],
    ];
    const dl = $("timeline-facts");
    dl.replaceChildren();
    for (const [name, value] of facts) {
      const dd = el("dd", "", value);
      if (name === "trace id" && r.trace_url) {
        const link = el("a", "", value);
        link.href = r.trace_url; link.target = "_blank"; link.rel = "noopener noreferrer";
        dd.replaceChildren(link);
      }
      dd.dataset.fact = name;
      dl.append(el("dt", "", name), dd);
    }
    const total = Math.max(r.latency_ms, ...r.timeline.map((a) => a.start_ms + a.duration_ms), 1);
    const bars = $("timeline-bars");
    bars.replaceChildren(...r.timeline.map((a) => {
      const row = el("div", "bar-row");
      if (a.backoff_ms) row.append(bar("wait", a.start_ms - a.backoff_ms, a.backoff_ms, total));
      row.append(bar(a.outcome, a.start_ms, a.duration_ms, total));
      if (a.ttft_ms !== null) row.append(bar("first", a.start_ms + a.ttft_ms, 0, total));
      row.append(el("span", "label", `#${a.number} ${a.target}: ${a.outcome}${a.error ? " " + a.error : ""}`));
      return row;
    }));
    $("timeline").tBodies[0].replaceChildren(...r.timeline.map((a) => {
      const row = el("tr", a.outcome === "error" ? "error" : "");
      row.dataset.outcome = a.outcome;
      row.append(el("td", "num", String(a.number)), el("td", "", a.target + (a.route !== r.route ? ` (route ${a.route})` : "")),
        el("td", "", a.why),
        el("td", "", a.outcome + (a.status ? " " + a.status : "") + (a.error && String(a.status) !== a.error ? " " + a.error : "")),
        el("td", "num", a.backoff_ms ? ms(a.backoff_ms) : "-"), el("td", "num", ms(a.start_ms)),
        el("td", "num", ms(a.duration_ms)), el("td", "num", ms(a.ttft_ms)),
        el("td", "num", a.input_tokens === null ? "-" : `${a.input_tokens} / ${a.output_tokens}`),
        el("td", "num", usd(a.cost_usd)));
      return row;
    }));
    $("timeline-panel").hidden = false;
    $("timeline-close").focus();
  }

  function bar(kind, startMs, durationMs, total) {
    const b = el("div", "bar " + kind);
    b.style.left = (100 * Math.max(0, startMs) / total).toFixed(2) + "%";
    b.style.width = Math.max(0.4, 100 * durationMs / total).toFixed(2) + "%";
    return b;
  }

  $("timeline-close").addEventListener("click", () => { $("timeline-panel").hidden = true; });
  $("timeline-panel").addEventListener("click", (event) => {
    if (event.target === $("timeline-panel")) $("timeline-panel").hidden = true;
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("timeline-panel").hidden = true; });

  // -- config ------------------------------------------------------------------------------------------------------

  $("config-details").addEventListener("toggle", () => {
    if (!$("config-details").open) return;
    api("/admin/ui/config").then((config) => { $("config").textContent = JSON.stringify(config, null, 2); })
      .catch((error) => { if (error instanceof Refused) logout("The key is no longer accepted."); });
  });

  // -- formatting ----------------------------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, digits) { return v === null || v === undefined ? "-" : Number(v).toFixed(digits); }
  function pct(v) { return v === null || v === undefined ? "-" : (v * 100).toFixed(1) + "%"; }
  function ms(v) {
    if (v === null || v === undefined) return "-";
    return v >= 10000 ? (v / 1000).toFixed(1) + " s" : v >= 100 ? v.toFixed(0) + " ms" : v.toFixed(1) + " ms";
  }
  function usd(v) {
    if (v === null || v === undefined) return "-";
    return v === 0 ? "$0" : v < 0.01 ? "$" + v.toPrecision(2) : "$" + v.toFixed(2);
  }
  function short(v) {
    const a = Math.abs(v);
    return a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e3 ? (v / 1e3).toFixed(1) + "k" : a >= 1 || a === 0 ? String(+v.toFixed(2)) : v.toPrecision(2);
  }
  function clock(epoch) { return new Date(epoch * 1000).toLocaleTimeString(); }
  function ago(seconds) { return seconds < 90 ? Math.round(seconds) + " s ago" : Math.round(seconds / 60) + " min ago"; }

  start();
})();
