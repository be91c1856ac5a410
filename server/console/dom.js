// Building the page from data: every string goes in as text, never as
// markup, so hostile event content stays inert.

/** An element `tag` with `props` (class, attributes; `on*` functions are
 * listeners) and children (strings become text nodes). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Appends `children` (nodes, strings, arrays, nullish skipped) to `el`. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of `el`. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** An SVG element `tag` with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  append(el, children);
  return el;
}

/** `ns` since the epoch (a number or an RFC 3339 string) as local time. */
export function formatTime(value) {
  if (value === undefined || value === null) return "";
  const date = typeof value === "string" ? new Date(value) : new Date(Number(value) / 1e6);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** A count with thousands separators. */
export function formatCount(n) {
  return Number(n).toLocaleString("en-US");
}
