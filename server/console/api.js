// Calls to the server's HTTP API with the session's token, and readers for
// its streamed answers (JSON Lines, server-sent events).

const TOKEN_KEY = "stele.token";

/** The token of this tab's session, or "" when signed out. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Keeps `value` as this tab's token ("" signs out). */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API failure: `status` (HTTP), `code` and `message` of the error shape. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthenticated = () => {};
/** Called with the error when the server asks for a token (401). */
export function whenUnauthenticated(callback) {
  onUnauthenticated = callback;
}

function headers(extra = {}) {
  const out = { ...extra };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

/** The path `path` with the query parameters of `params` that are set. */
export function url(path, params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

async function failure(response) {
  let code = "", message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error) ({ code, message } = body.error);
  } catch { /* not the error shape */ }
  const error = new ApiError(response.status, code, message);
  if (response.status === 401) onUnauthenticated(error);
  return error;
}

/** GETs (or sends `init`) `path` and returns the JSON answer. */
export async function getJson(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** GETs `path` and returns the response, for a caller that streams it. */
export async function open(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) throw await failure(response);
  return response;
}

/** Calls `onLine` with each JSON value of a JSON Lines response. */
export async function readJsonLines(response, onLine) {
  await readLines(response, (line) => {
    if (line.trim()) onLine(JSON.parse(line));
  });
}

async function readLines(response, onLine) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let at;
    while ((at = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, at).replace(/\r$/, ""));
      buffer = buffer.slice(at + 1);
    }
  }
  if (buffer) onLine(buffer);
}

/** Reads server-sent events from `response`, calling `onEvent({event, id,
 * data})` for each. Unlike `EventSource`, it can send the token as a
 * header, so the token never goes in a URL. */
export async function readEvents(response, onEvent) {
  let event = { event: "message", id: undefined, data: [] };
  await readLines(response, (line) => {
    if (line === "") {
      if (event.data.length) onEvent({ event: event.event, id: event.id, data: event.data.join("\n") });
      event = { event: "message", id: event.id, data: [] };
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
    else if (field === "data") event.data.push(value);
  });
}
