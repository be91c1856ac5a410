// The row of one record in the results and tail tables: time, actor,
// action, resource, outcome and message (the tail also shows the seq);
// it takes the focus and opens the record on a click or Enter.

import { formatTime, h } from "./dom.js";

/** A table row for `record`; `go(change)` navigates to its record view. */
export function recordRow(record, go, { seq = false } = {}) {
  const actor = record.actor || {};
  const resource = record.resource || {};
  const open = () => go({ view: "record", seq: record.seq });
  return h("tr", {
    tabindex: 0,
    "data-seq": record.seq,
    onclick: open,
    onkeydown: (e) => { if (e.key === "Enter") open(); },
  },
  seq ? h("td", { class: "seq" }, String(record.seq)) : null,
  h("td", { class: "time" }, formatTime(record.time || record.ingest_time)),
  h("td", {}, actor.display_name || actor.id || ""),
  h("td", {}, record.action || (record.redacted ? "(erased)" : "")),
  h("td", {}, [resource.kind, resource.id].filter(Boolean).join(":")),
  h("td", { class: record.outcome ? `outcome-${record.outcome}` : "" }, record.outcome || ""),
  h("td", { class: "msg" }, record.message || ""));
}
