// The search page: one query bar, a time range, results newest first with
// infinite scroll through the cursor, facets that add filters, a
// histogram to brush, and the result set exported as CSV or JSON Lines.
// The first page of results is asked for first, alone; facets and the
// histogram follow it, each on its own, so a slow aggregation never holds
// up the table. A new search cancels the requests of the one before.

import { getJson, open, url } from "./api.js";
import { append, clear, formatCount, formatTime, h, svg } from "./dom.js";
import { exact } from "./record.js";
import { recordRow } from "./rows.js";

const $ = (id) => document.getElementById(id);
const PAGE = 100;
const FACETS = [
  ["actor.id", "Actors"],
  ["action", "Actions"],
  ["outcome", "Outcomes"],
  ["resource.id", "Resources"],
];
const DURATIONS = { "15m": 9e5, "1h": 3.6e6, "24h": 8.64e7, "7d": 6.048e8, "30d": 2.592e9 };

/** The time window of `state` as {since, until} API parameters (RFC 3339
 * or durations), and its bounds in ms for the histogram. */
function timeWindow(state) {
  if (state.range === "custom") {
    const since = state.since ? new Date(state.since) : null;
    const until = state.until ? new Date(state.until) : null;
    return {
      params: { since: since?.toISOString(), until: until?.toISOString() },
      from: since?.getTime(), to: until?.getTime() ?? Date.now(),
    };
  }
  const span = DURATIONS[state.range];
  if (!span) return { params: {}, from: undefined, to: Date.now() };
  return { params: { since: state.range }, from: Date.now() - span, to: Date.now() };
}

/** The search parameters of `state` for the API. */
function params(state) {
  return { q: state.q, ...timeWindow(state).params };
}

let generation = 0;
let inFlight = new AbortController();

/** Runs the search of `state`: table, facets and histogram. `go(change)`
 * navigates to the state with `change` applied. */
export function runSearch(state, go) {
  const mine = ++generation;
  inFlight.abort();
  inFlight = new AbortController();
  const signal = inFlight.signal;
  const log = encodeURIComponent(state.log);
  const base = params(state);
  const error = $("search-error");
  error.hidden = true;
  const fail = (e) => {
    if (mine !== generation) return;
    error.textContent = e.message;
    error.hidden = false;
  };
  const tbody = clear($("results").tBodies[0]);
  const more = $("more");
  const summary = $("summary");
  summary.textContent = "Searching…";
  more.textContent = "";
  let cursor;
  let loading = false;
  let shown = 0;
  const loadPage = async () => {
    if (loading) return;
    loading = true;
    try {
      const page = await getJson(url(`/v1/logs/${log}/events`,
        { ...base, limit: PAGE, cursor, order: state.order }), { signal });
      if (mine !== generation) return;
      for (const record of page.records) tbody.append(recordRow(record, go));
      shown += page.records.length;
      cursor = page.next_cursor;
      if (shown === 0) summary.textContent = "No matching records.";
      else if (!summary.dataset.total) summary.textContent = `${formatCount(shown)} shown`;
      more.textContent = cursor ? "Scroll for more…" : (shown ? "End of results." : "");
      if (cursor) observer.observe(more);
    } catch (e) {
      fail(e);
      summary.textContent = "";
    } finally {
      loading = false;
    }
  };
  const observer = new IntersectionObserver((entries) => {
    if (mine !== generation) return observer.disconnect();
    if (entries.some((e) => e.isIntersecting) && cursor) loadPage();
  });
  delete summary.dataset.total;
  clear($("facets"));
  clear($("histogram"));
  loadPage().finally(() => {
    if (mine !== generation) return;
    loadFacets(state, log, base, mine, go, signal);
    loadHistogram(state, log, base, mine, go, summary, signal);
  });
}

async function loadFacets(state, log, base, mine, go, signal) {
  const facets = clear($("facets"));
  const lists = FACETS.map(([field, title]) => {
    const list = h("ul", { "aria-label": title }, h("li", {}, "…"));
    append(facets, [h("h3", {}, title), list]);
    return [field, list];
  });
  await Promise.all(lists.map(async ([field, list]) => {
    try {
      const answer = await getJson(url(`/v1/logs/${log}/aggregate`, { ...base, count_by: field, top: 8 }),
        { signal });
      if (mine !== generation) return;
      clear(list);
      const top = answer.terms?.top || [];
      if (!top.length) list.append(h("li", { class: "hint" }, "none"));
      for (const { value, count } of top) {
        list.append(h("li", {}, h("button", {
          type: "button",
          title: `Add ${field}: ${value} to the query`,
          onclick: () => go({ q: [state.q, exact(field, value)].filter(Boolean).join(" ") }),
        }, h("span", { class: "value" }, value), h("span", { class: "count" }, formatCount(count)))));
      }
    } catch (e) {
      if (mine === generation) { clear(list); list.append(h("li", { class: "error" }, e.message)); }
    }
  }));
}

/** A bucket width that gives about 60 bars over `span` ms. */
function interval(span) {
  const steps = [[1e3, "1s"], [1e4, "10s"], [6e4, "1m"], [3e5, "5m"], [9e5, "15m"], [3.6e6, "1h"],
    [1.08e7, "3h"], [4.32e7, "12h"], [8.64e7, "1d"], [6.048e8, "7d"], [2.592e9, "30d"]];
  return steps.find(([ms]) => span / ms <= 80) || steps[steps.length - 1];
}

async function loadHistogram(state, log, base, mine, go, summary, signal) {
  const figure = clear($("histogram"));
  const win = timeWindow(state);
  let from = win.from;
  if (from === undefined) {
    // All time: the bucket width from the oldest matching record.
    try {
      const oldest = await getJson(url(`/v1/logs/${log}/events`, { ...base, limit: 1, order: "oldest" }),
        { signal });
      const first = oldest.records[0];
      from = first ? new Date(first.time || first.ingest_time).getTime() : win.to - 8.64e7;
    } catch { from = win.to - 8.64e7; }
  }
  const [ms, every] = interval(Math.max(win.to - from, 1000));
  let answer;
  try {
    answer = await getJson(url(`/v1/logs/${log}/aggregate`, { ...base, interval: every }), { signal });
  } catch (e) {
    if (mine === generation) figure.textContent = e.message;
    return;
  }
  if (mine !== generation) return;
  const hist = answer.histogram;
  summary.dataset.total = hist.total;
  summary.textContent = hist.total ? `${formatCount(hist.total)} matching records` : "No matching records.";
  const buckets = hist.buckets.map((b) => ({ at: new Date(b.start).getTime(), count: b.count }));
  if (!buckets.length) return;
  const lo = Math.min(from, buckets[0].at);
  const hi = Math.max(win.to, buckets[buckets.length - 1].at + ms);
  const max = Math.max(...buckets.map((b) => b.count));
  const W = 1000, H = 100, x = (t) => ((t - lo) / (hi - lo)) * W;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 14}`, preserveAspectRatio: "none", role: "img",
    "aria-label": `Histogram of ${hist.total} records; drag to zoom` });
  for (const b of buckets) {
    const height = (b.count / max) * H;
    chart.append(svg("rect", { class: "bar", x: x(b.at), y: H - height,
      width: Math.max(x(b.at + ms) - x(b.at) - 1, 1), height },
    svg("title", {}, `${formatTime(new Date(b.at).toISOString())}: ${b.count}`)));
  }
  chart.append(svg("text", { class: "axis", x: 0, y: H + 12 }, formatTime(new Date(lo).toISOString())));
  chart.append(svg("text", { class: "axis", x: W, y: H + 12, "text-anchor": "end" },
    formatTime(new Date(hi).toISOString())));
  brush(chart, W, H, (a, b) => {
    const t = (px) => lo + (px / W) * (hi - lo);
    go({ range: "custom", since: new Date(t(a)).toISOString(), until: new Date(t(b)).toISOString() });
  });
  figure.append(chart);
}

/** Drag across `chart` to choose a span; `done(fromX, toX)` in viewBox units. */
function brush(chart, W, H, done) {
  const rect = svg("rect", { class: "brush", y: 0, height: H, width: 0 });
  chart.append(rect);
  let start = null;
  const at = (e) => {
    const box = chart.getBoundingClientRect();
    return Math.min(Math.max(((e.clientX - box.left) / box.width) * W, 0), W);
  };
  chart.addEventListener("pointerdown", (e) => { start = at(e); chart.setPointerCapture(e.pointerId); });
  chart.addEventListener("pointermove", (e) => {
    if (start === null) return;
    const now = at(e);
    rect.setAttribute("x", Math.min(start, now));
    rect.setAttribute("width", Math.abs(now - start));
  });
  chart.addEventListener("pointerup", (e) => {
    if (start === null) return;
    const end = at(e);
    const [a, b] = [Math.min(start, end), Math.max(start, end)];
    start = null;
    rect.setAttribute("width", 0);
    if (b - a > 3) done(a, b);
  });
}

/** Downloads the result set of `state` as `format` (`csv` or `jsonl`),
 * streamed by the server. */
export async function exportResults(state, format) {
  const response = await open(url(`/v1/logs/${encodeURIComponent(state.log)}/export`,
    { ...params(state), order: state.order, format }));
  const blob = await response.blob();
  const link = h("a", {
    href: URL.createObjectURL(blob),
    download: `${state.log}-${new Date().toISOString().replace(/[:.]/g, "-")}.${format === "csv" ? "csv" : "jsonl"}`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
