// The live tail: matching records as they are appended, with the same
// query language; after a dropped connection it resumes from the last
// event id (the seq to resume from), so nothing is missed or repeated.

import { open, readEvents, url } from "./api.js";
import { recordRow } from "./rows.js";

const $ = (id) => document.getElementById(id);
const KEEP = 500;

let running = null;

/** Stops the tail, if one runs. */
export function stopTail() {
  if (running) running.abort();
  running = null;
  $("tail-start").disabled = false;
  $("tail-stop").disabled = true;
}

/** Follows `state.log` with `state.q` from now on. `go(change)` navigates. */
export function startTail(state, go) {
  stopTail();
  const controller = new AbortController();
  running = controller;
  const tbody = $("tail-results").tBodies[0];
  tbody.replaceChildren();
  const status = $("tail-status");
  $("tail-start").disabled = true;
  $("tail-stop").disabled = false;
  let lastId;
  let seen = 0;
  const connect = async (attempt) => {
    const headers = lastId !== undefined ? { "Last-Event-ID": lastId } : {};
    try {
      const response = await open(url(`/v1/logs/${encodeURIComponent(state.log)}/tail`, { q: state.q }),
        { headers, signal: controller.signal });
      status.textContent = `Following ${state.log}${state.q ? ` for ${state.q}` : ""}: ${seen} so far.`;
      attempt = 0;
      await readEvents(response, (event) => {
        if (event.id !== undefined) lastId = event.id;
        if (event.event === "record") {
          const record = JSON.parse(event.data);
          seen += 1;
          tbody.prepend(recordRow(record, go, { seq: true }));
          while (tbody.rows.length > KEEP) tbody.deleteRow(-1);
          status.textContent = `Following ${state.log}${state.q ? ` for ${state.q}` : ""}: ${seen} so far.`;
        } else if (event.event === "error") {
          status.textContent = JSON.parse(event.data).error?.message || "the server ended the tail";
        }
      });
    } catch (e) {
      if (controller.signal.aborted) return;
      if (e.status && e.status < 500) {
        status.textContent = e.message;
        stopTail();
        return;
      }
    }
    if (controller.signal.aborted) return;
    const wait = Math.min(1000 * 2 ** attempt, 15000);
    status.textContent = `Disconnected; resuming from seq ${lastId ?? "the head"} in ${wait / 1000} s…`;
    setTimeout(() => { if (!controller.signal.aborted) connect(attempt + 1); }, wait);
  };
  connect(0);
}

