// The Stele console: the page's state lives in the URL (log, query, time
// range, order, view, seq), so a search can be shared; the token lives in
// this tab's session storage, never in the URL. `?embed=1` drops the
// navigation chrome for an iframe inside another product, which may hand
// the token over with postMessage({type: "stele-token", token}).

import { ApiError, getJson, setToken, token, url, whenUnauthenticated } from "./api.js";
import { h } from "./dom.js";
import { showOperate } from "./operate.js";
import { showRecord } from "./record.js";
import { exportResults, runSearch } from "./search.js";
import { startTail, stopTail } from "./tail.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["search", "record", "tail", "operate"];

/** The page's state, read from the URL. */
function readState() {
  const p = new URLSearchParams(location.search);
  const view = VIEWS.includes(p.get("view")) ? p.get("view") : "search";
  return {
    view,
    log: p.get("log") || "",
    q: p.get("q") || "",
    range: p.get("range") || "24h",
    since: p.get("since") || "",
    until: p.get("until") || "",
    order: p.get("order") === "oldest" ? "oldest" : "newest",
    seq: p.get("seq") || "",
    embed: p.get("embed") === "1",
  };
}

function stateUrl(state) {
  return url("/", {
    view: state.view === "search" ? "" : state.view,
    log: state.log,
    q: state.q,
    range: state.range === "24h" ? "" : state.range,
    since: state.range === "custom" ? state.since : "",
    until: state.range === "custom" ? state.until : "",
    order: state.order === "newest" ? "" : state.order,
    seq: state.view === "record" ? state.seq : "",
    embed: state.embed ? "1" : "",
  });
}

let state = readState();

/** Navigates to the state with `change` applied (a new history entry),
 * the search page unless `change` names a view. */
function go(change) {
  const next = { ...state, view: "search", ...change };
  history.pushState(null, "", stateUrl(next));
  render();
}

/** The logs the caller may use, from its session; admin pages for admins. */
async function loadLogs() {
  const select = $("log");
  const session = await getJson("/v1/session");
  document.body.classList.toggle("admin", session.roles.includes("admin"));
  const names = session.logs;
  select.replaceChildren(...names.map((name) => h("option", { value: name }, name)));
  if (!state.log && names.length) {
    state.log = names.find((n) => n !== "_system") || names[0];
    history.replaceState(null, "", stateUrl(state));
  }
  select.value = state.log;
}

function render() {
  state = readState();
  document.body.classList.toggle("embed", state.embed);
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== state.view;
  for (const link of document.querySelectorAll("#top nav a")) {
    if (link.dataset.nav === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  $("log").value = state.log;
  if (state.view !== "tail") stopTail();
  if (!state.log && state.view !== "operate") {
    $("summary").textContent = "No log yet: create one with `stele logs create`.";
    return;
  }
  document.title = `Stele · ${state.log}`;
  if (state.view === "search") {
    $("q").value = state.q;
    $("range").value = state.range;
    $("order").value = state.order;
    $("custom-range").hidden = state.range !== "custom";
    $("since").value = localInput(state.since);
    $("until").value = localInput(state.until);
    runSearch(state, go);
  } else if (state.view === "record") {
    showRecord(state, state.seq);
  } else if (state.view === "tail") {
    $("tail-q").value = state.q;
  } else if (state.view === "operate") {
    showOperate();
  }
}

/** An RFC 3339 time as a `datetime-local` input's value. */
function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 6e4).toISOString().slice(0, 19);
}

function askForToken(why) {
  const dialog = $("sign-in");
  $("sign-in-why").textContent = why;
  if (!dialog.open) dialog.showModal();
  $("token").focus();
}

function wire() {
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const range = $("range").value;
    const toIso = (v) => (v ? new Date(v).toISOString() : "");
    go({ view: "search", q: $("q").value.trim(), range, order: $("order").value,
      since: range === "custom" ? toIso($("since").value) : "",
      until: range === "custom" ? toIso($("until").value) : "" });
  });
  $("range").addEventListener("change", () => {
    $("custom-range").hidden = $("range").value !== "custom";
  });
  $("export-csv").addEventListener("click", () => exportResults(state, "csv").catch(showSearchError));
  $("export-jsonl").addEventListener("click", () => exportResults(state, "jsonl").catch(showSearchError));
  $("log").addEventListener("change", () => go({ log: $("log").value, view: state.view === "record" ? "search" : state.view }));
  $("back").addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  $("tail-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.q = $("tail-q").value.trim();
    history.replaceState(null, "", stateUrl(state));
    startTail(state, go);
  });
  $("tail-stop").addEventListener("click", stopTail);
  $("sign-out").addEventListener("click", () => { setToken(""); askForToken("Signed out."); });
  $("sign-in-form").addEventListener("submit", () => {
    setToken($("token").value.trim());
    $("token").value = "";
    start();
  });
  // Links inside the page navigate without reloading it.
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-nav]");
    if (!link || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    const target = new URL(link.href, location.href);
    if (state.embed) target.searchParams.set("embed", "1");
    if (!target.searchParams.has("log") && state.log) target.searchParams.set("log", state.log);
    history.pushState(null, "", target.pathname + target.search);
    render();
  });
  window.addEventListener("popstate", render);
  whenUnauthenticated((e) => askForToken(token() ? `The token was refused: ${e.message}` : "This server needs a token."));
  window.addEventListener("message", async (e) => {
    if (!state.embed || e.data?.type !== "stele-token" || typeof e.data.token !== "string") return;
    const config = await getJson("/console/config.json");
    if (!config.frame_ancestors.includes(e.origin)) return;
    setToken(e.data.token);
    start();
  });
}

function showSearchError(e) {
  const error = $("search-error");
  error.textContent = e.message;
  error.hidden = false;
}

async function start() {
  try {
    await loadLogs();
    render();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // the dialog asks
    $("summary").textContent = e.message;
  }
}

wire();
start();
