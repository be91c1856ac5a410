// How fast the console shows the first results of a search, in a real
// browser: `scripts/browser-tests --first-results URL LOG [TOKEN]` runs it
// against a running steled (docs/performance.md has a run on 10 M events).
// Two timings per query, medians and p99 of RUNS runs after 2 warmups:
// opening a shared search link (the page and its modules load, then the
// search runs) and a search typed into an open page, each until the first
// result row is in the document.

import { chromium } from "playwright-core";

const [endpoint, log, token = ""] = process.argv.slice(2);
const runs = Number(process.env.RUNS || 30);
if (!endpoint || !log) {
  console.error("usage: first-results.mjs URL LOG [TOKEN]");
  process.exit(2);
}
const auth = token ? { Authorization: `Bearer ${token}` } : {};

async function top(field) {
  const url = `${endpoint}/v1/logs/${log}/aggregate?count_by=${field}&top=100`;
  const answer = await (await fetch(url, { headers: auth })).json();
  return answer.terms.top;
}
const actors = await top("actor.id");
const actions = await top("action");
const queries = [
  ["actor, newest first", `actor.id:"${actors[actors.length - 1].value}"`],
  ["action, newest first", `action:"${actions[actions.length - 1].value}"`],
  ["one rare word", process.env.WORD || "chowdhury5"],
  ["two words AND", process.env.WORDS || "failed production"],
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
if (token) await context.addInitScript((t) => sessionStorage.setItem("stele.token", t), token);
const page = await context.newPage();

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

console.log(`| query | opening a link, p50 / p99 ms | typed search, p50 / p99 ms |`);
console.log(`|---|---:|---:|`);
for (const [name, q] of queries) {
  const link = `${endpoint}/?log=${encodeURIComponent(log)}&range=all&q=${encodeURIComponent(q)}`;
  const opened = [], typed = [];
  for (let i = 0; i < runs + 2; i++) {
    let t = performance.now();
    await page.goto(link, { waitUntil: "commit" });
    await page.waitForSelector("#results tbody tr", { state: "attached" });
    if (i >= 2) opened.push(performance.now() - t);
    await page.fill("#q", "");
    await page.press("#q", "Enter");
    await page.waitForSelector("#results tbody tr", { state: "attached" });
    await page.fill("#q", q);
    t = performance.now();
    await page.press("#q", "Enter");
    await page.waitForFunction((query) => new URLSearchParams(location.search).get("q") === query
      && document.querySelector("#results tbody tr"), q, { polling: "raf" });
    if (i >= 2) typed.push(performance.now() - t);
  }
  const fmt = (xs) => `${quantile(xs, 0.5).toFixed(0)} / ${quantile(xs, 0.99).toFixed(0)}`;
  console.log(`| ${name} (\`${q}\`) | ${fmt(opened)} | ${fmt(typed)} |`);
}
await browser.close();
