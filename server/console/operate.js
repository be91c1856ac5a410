// The operators' page (admin tokens): every log with its size, segments,
// index lag, retention, lock and holds, a verify of a whole log with
// progress, and the `_system` trail.

import { getJson, open, readJsonLines, url } from "./api.js";
import { append, clear, formatCount, h } from "./dom.js";

const $ = (id) => document.getElementById(id);

function duration(ms) {
  if (ms === undefined || ms === null) return "";
  const n = Number(ms);
  for (const [unit, size] of [["d", 8.64e7], ["h", 3.6e6], ["m", 6e4], ["s", 1e3]]) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n} ms`;
}

function bytes(n) {
  const v = Number(n || 0);
  if (v >= 1e9) return `${(v / 1e9).toFixed(1)} GB`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} kB`;
  return `${v} B`;
}

/** Renders the logs table. */
export async function showOperate() {
  const tbody = clear($("logs-table").tBodies[0]);
  const error = $("operate-error");
  error.hidden = true;
  let logs;
  try {
    logs = (await getJson("/v1/logs")).logs || [];
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    return;
  }
  for (const log of logs) {
    const lag = Math.max(Number(log.nextSeq || 0) - Number(log.indexWatermark || 0), 0);
    const retention = h("td", {}, "…"), lock = h("td", {}, "…"), holds = h("td", {}, "…");
    tbody.append(h("tr", { "data-log": log.name },
      h("td", {}, h("a", { href: url("/", { log: log.name }), "data-nav": "search" }, log.name)),
      h("td", {}, `${formatCount(log.records || 0)} (${bytes(log.segmentBytes)} + index ${bytes(log.indexBytes)})`),
      h("td", {}, String(log.segments || 0)),
      h("td", {}, lag ? `${formatCount(lag)} records` : "none"),
      retention, lock, holds,
      h("td", {}, h("button", { type: "button", class: "quiet", onclick: () => verifyLog(log.name) }, "Verify"))));
    getJson(`/v1/logs/${encodeURIComponent(log.name)}/retention`).then((info) => {
      const policy = info.policy || {};
      retention.textContent = [policy.maxAgeMs ? `age ${duration(policy.maxAgeMs)}` : "",
        policy.maxBytes ? `size ${bytes(policy.maxBytes)}` : ""].filter(Boolean).join(", ") || "keep all";
      lock.textContent = policy.lockMs ? duration(policy.lockMs) : "none";
      const list = info.holds || [];
      holds.textContent = list.length ? list.map((hold) => (hold.segment !== undefined ? `segment ${hold.segment}: ` : "") + hold.reason).join("; ") : "none";
    }).catch((e) => { retention.textContent = e.message; lock.textContent = ""; holds.textContent = ""; });
  }
}

/** Verifies the whole of `log`, showing progress, then the verdict. */
async function verifyLog(log) {
  const box = clear($("verify-log"));
  const bar = h("progress", { max: 1, value: 0, "aria-label": `Verifying ${log}` });
  const text = h("span", {}, ` Verifying ${log}…`);
  append(box, [bar, text]);
  try {
    const response = await open(url(`/v1/logs/${encodeURIComponent(log)}/verify`));
    await readJsonLines(response, (line) => {
      if (line.progress) {
        bar.max = line.progress.segments_total || 1;
        bar.value = line.progress.segments_done;
        text.textContent = ` ${log}: ${line.progress.segments_done} of ${line.progress.segments_total} segments, ` +
          `${formatCount(line.progress.records)} records`;
      } else if (line.result) {
        const r = line.result;
        bar.value = bar.max;
        text.textContent = r.ok
          ? ` ${log} verifies: ${formatCount(r.records)} records, ${r.segments} segments, ${r.checkpoints} checkpoints, ` +
            `${r.tree_chunks} tree roots.`
          : ` ${log} FAILED: ${r.failure?.file ?? ""}: ${r.failure?.reason ?? ""}`;
        text.className = r.ok ? "ok" : "error";
      } else if (line.error) {
        text.textContent = ` ${log}: ${line.error.message}`;
        text.className = "error";
      }
    });
  } catch (e) {
    text.textContent = ` ${log}: ${e.message}`;
    text.className = "error";
  }
}
