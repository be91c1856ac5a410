// The record view: every field, `details` as a collapsible tree, the
// receipt, a verify action, and links to the history of each entity.

import { getJson, open, readJsonLines, url } from "./api.js";
import { checkInclusion, canCheckHere } from "./proof.js";
import { append, clear, formatTime, h } from "./dom.js";

const $ = (id) => document.getElementById(id);

/** A query matching `value` exactly in `field`, quoted as the query
 * language wants. */
export function exact(field, value) {
  return `${field}:"${String(value).replace(/["\\]/g, "\\$&")}"`;
}

/** A link to the search `query` of `log`, oldest first: the history of
 * one entity or request. */
function historyLink(state, query, label) {
  return h("a", {
    href: url("/", { log: state.log, q: query, range: "all", order: "oldest" }),
    "data-nav": "search",
    title: `Every record with ${query}, oldest first`,
  }, label);
}

function row(label, value) {
  return h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, value));
}

/** `details` as nested `<details>` elements, open two levels deep. */
function tree(value, depth = 0) {
  if (value === null || typeof value !== "object") {
    return h("span", {}, JSON.stringify(value));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  return entries.map(([key, child]) => {
    if (child !== null && typeof child === "object") {
      const size = Array.isArray(child) ? `[${child.length}]` : `{${Object.keys(child).length}}`;
      return h("details", { open: depth < 2 },
        h("summary", {}, h("span", { class: "key" }, key), ` ${size}`),
        tree(child, depth + 1));
    }
    return h("div", { class: "leaf" }, h("span", { class: "key" }, `${key}: `), tree(child, depth + 1));
  });
}

/** Renders record `seq` of `state.log`. */
export async function showRecord(state, seq) {
  const title = $("record-title");
  const fields = clear($("record-fields"));
  const receipt = clear($("receipt"));
  const detailsTree = clear($("details-tree"));
  clear($("verdict"));
  title.textContent = `${state.log} · record ${seq}`;
  let answer;
  try {
    answer = await getJson(`/v1/logs/${encodeURIComponent(state.log)}/events/${encodeURIComponent(seq)}`);
  } catch (e) {
    title.textContent = `${state.log} · record ${seq}: ${e.message}`;
    return;
  }
  const r = answer.record;
  const actor = r.actor || {};
  const resource = r.resource || {};
  append(fields, [
    row("Seq", String(r.seq)),
    row("Time", formatTime(r.time || r.ingest_time)),
    row("Ingested", formatTime(r.ingest_time)),
    r.redacted ? row("Redacted", "the body was erased; its digest stays in the chain") : null,
    r.id ? row("Event id", r.id) : null,
    r.tenant ? row("Tenant", historyLink(state, exact("tenant", r.tenant), r.tenant)) : null,
    actor.id ? row("Actor", historyLink(state, exact("actor.id", actor.id), actor.id)) : null,
    actor.kind ? row("Actor kind", actor.kind) : null,
    actor.display_name ? row("Actor name", actor.display_name) : null,
    actor.ip ? row("Source address", historyLink(state, exact("actor.ip", actor.ip), actor.ip)) : null,
    actor.user_agent ? row("User agent", actor.user_agent) : null,
    actor.session_id ? row("Session", actor.session_id) : null,
    r.action ? row("Action", historyLink(state, exact("action", r.action), r.action)) : null,
    resource.id || resource.kind ? row("Resource", historyLink(state,
      [resource.kind ? exact("resource.kind", resource.kind) : "", resource.id ? exact("resource.id", resource.id) : ""]
        .filter(Boolean).join(" "),
      [resource.kind, resource.id].filter(Boolean).join(":") + (resource.name ? ` (${resource.name})` : ""))) : null,
    r.outcome ? row("Outcome", r.outcome) : null,
    r.reason ? row("Reason", r.reason) : null,
    r.message ? row("Message", r.message) : null,
    r.source ? row("Source", r.source) : null,
    r.correlation_id ? row("Correlation id",
      historyLink(state, exact("correlation_id", r.correlation_id), r.correlation_id)) : null,
    r.request_id ? row("Request id", historyLink(state, exact("request_id", r.request_id), r.request_id)) : null,
    r.duration_ms !== undefined ? row("Duration", `${r.duration_ms} ms`) : null,
  ]);
  append(receipt, [
    row("Seq", String(answer.receipt.seq)),
    row("Leaf hash", answer.receipt.leaf_hash),
    row("Chain hash", answer.receipt.chain_hash),
  ]);
  if (r.details && typeof r.details === "object") append(detailsTree, tree(r.details));
  else detailsTree.textContent = "None.";
  $("verify-record").onclick = () => verifyRecord(state, seq, answer.receipt.leaf_hash);
}

/** Checks the record's inclusion in the latest signed checkpoint: here,
 * with WebCrypto, when the page can; otherwise by the server's check of
 * that record's chain. */
async function verifyRecord(state, seq, leafHex) {
  const verdict = clear($("verdict"));
  const log = encodeURIComponent(state.log);
  verdict.textContent = "Checking…";
  try {
    if (await canCheckHere()) {
      const [checkpoint, proof] = await Promise.all([
        getJson(`/v1/logs/${log}/checkpoint`),
        getJson(url(`/v1/logs/${log}/proofs/inclusion`, { seq })),
      ]);
      const checks = await checkInclusion(proof, leafHex, checkpoint.public_key);
      const ok = checks.every((c) => c.ok);
      clear(verdict);
      append(verdict, [
        h("p", { class: ok ? "ok" : "bad" }, ok
          ? `Verified in this browser: record ${seq} is in the signed tree of ${proof.tree_size} records.`
          : `NOT verified: record ${seq} does not check against the signed checkpoint.`),
        h("ul", {}, checks.map((c) => h("li", {}, `${c.ok ? "✓" : "✗"} ${c.what}`))),
      ]);
      return;
    }
    let result;
    const response = await open(url(`/v1/logs/${log}/verify`, { from_seq: seq, to_seq: Number(seq) + 1 }));
    await readJsonLines(response, (line) => { if (line.result || line.error) result = line; });
    clear(verdict);
    if (result?.result?.ok) {
      append(verdict, h("p", { class: "ok" },
        `Verified by the server: record ${seq}'s hash chain and the log's signed checkpoints check out. ` +
        "(This page is not served over HTTPS, so it cannot check the Merkle proof itself.)"));
    } else {
      const why = result?.result?.failure?.reason || result?.error?.message || "no answer";
      append(verdict, h("p", { class: "bad" }, `NOT verified: ${why}`));
    }
  } catch (e) {
    clear(verdict);
    append(verdict, h("p", { class: "bad" }, `Could not verify: ${e.message}`));
  }
}
