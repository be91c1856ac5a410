// The console in a real browser: Debian's Chromium, driven by
// playwright-core, against a real steled (scripts/browser-tests starts it
// and passes STELE_ENDPOINT and an admin token in STELE_ADMIN_TOKEN).
// The browser reaches steled through a relay (`front`) that a test can cut,
// as a network failure would. Every string of the events loaded here is
// hostile somewhere; a dialog
// opened by any script fails the run. With STELE_SCREENSHOTS set to a
// directory, one screenshot of each page is written there.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { chromium } from "playwright-core";

const endpoint = process.env.STELE_ENDPOINT;
const admin = process.env.STELE_ADMIN_TOKEN;
const shots = process.env.STELE_SCREENSHOTS;
assert.ok(endpoint && admin, "STELE_ENDPOINT and STELE_ADMIN_TOKEN are set");

/** A TCP relay from the browser to steled; `cut()` drops every connection
 * through it. */
const relayed = new Set();
const relay = net.createServer((browserSide) => {
  const { hostname, port } = new URL(endpoint);
  const serverSide = net.connect(Number(port), hostname);
  for (const [socket, other] of [[browserSide, serverSide], [serverSide, browserSide]]) {
    relayed.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => { relayed.delete(socket); other.destroy(); });
    socket.pipe(other);
  }
});
await new Promise((resolve) => relay.listen(0, "127.0.0.1", resolve));
const front = `http://127.0.0.1:${relay.address().port}`;
const cut = () => { for (const socket of relayed) socket.destroy(); };

async function api(method, path, body, token = admin) {
  const response = await fetch(endpoint + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const HOSTILE = {
  actor: "<img src=x onerror=alert('actor')>",
  message: "<script>alert('message')</script> rotated the key",
  link: "javascript:alert('link')",
  formula: "=HYPERLINK(\"http://evil.example\",\"click\")",
};

/** 400 events over the last 20 hours, two tenants; every tenth carries the
 * hostile strings. */
async function load() {
  await api("POST", "/v1/logs", { name: "audit" });
  const actors = ["alice", "bob", "carol", HOSTILE.actor];
  const actions = ["workflow.delete", "workflow.update", "git.push", "member.invite"];
  const outcomes = ["success", "denied", "failure"];
  const now = Date.now();
  const events = Array.from({ length: 400 }, (_, i) => ({
    action: actions[i % actions.length],
    tenant: i % 3 === 0 ? "globex" : "acme",
    time: new Date(now - ((i * 7919) % 72000) * 1000).toISOString(),
    actor: { id: i % 10 === 0 ? HOSTILE.actor : actors[i % actors.length], ip: i % 5 === 0 ? "AWS Internal" : `10.0.0.${i % 250}` },
    resource: { kind: "workflow", id: String(i % 40) },
    outcome: outcomes[i % outcomes.length],
    message: i % 10 === 0 ? HOSTILE.message : `${["alice", "bob", "carol"][(i >> 1) % 3]} changed workflow ${i % 40}`,
    reason: i % 10 === 0 ? HOSTILE.formula : "",
    request_id: `req-${String(i).padStart(5, "0")}`,
    details: { request: { method: "PUT", path: `/workflows/${i % 40}` },
      ...(i % 10 === 0 ? { link: HOSTILE.link, formula: HOSTILE.formula } : {}) },
  }));
  await api("POST", "/v1/logs/audit/events", events);
  for (let i = 0; i < 100; i++) {
    const page = await api("GET", "/v1/logs/audit/events?limit=1&q=rotated");
    if (page.records.length) return events;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the events never became searchable");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const dialogs = [];

async function signedIn(token) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  page.on("pageerror", (e) => { throw e; });
  await page.goto(front + "/");
  await page.waitForSelector("#sign-in[open]");
  await page.fill("#token", token);
  await page.press("#token", "Enter");
  await page.waitForSelector("#results tbody tr");
  return page;
}

/** The cell texts of the results table, by column name. */
async function rows(page, table = "#results") {
  return page.$$eval(`${table} tbody tr`, (trs, t) => {
    const names = [...document.querySelectorAll(`${t} thead th`)].map((th) => th.textContent.toLowerCase());
    return trs.map((tr) => Object.fromEntries([...tr.cells].map((td, i) => [names[i], td.textContent])));
  }, table);
}

async function search(page, query) {
  if (await page.locator("#view-search").isHidden()) {
    await page.click('#top nav a[data-nav="search"]');
    await page.waitForSelector("#view-search:not([hidden])");
  }
  await page.fill("#q", query);
  await page.press("#q", "Enter");
  await page.waitForFunction((q) => (new URLSearchParams(location.search).get("q") || "") === q, query);
  await page.waitForFunction(() => /matching/.test(document.querySelector("#summary").textContent));
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/console-${name}.png` });
}

const results = [];
async function test(name, body) {
  try {
    await body();
    results.push([name, "ok"]);
    console.log(`ok      ${name}`);
  } catch (e) {
    results.push([name, e]);
    console.log(`FAILED  ${name}\n${e.stack}`);
    if (shots) await page.screenshot({ path: `${shots}/failed-${results.length}.png` }).catch(() => {});
  }
}

const events = await load();
const page = await signedIn(admin);

await test("search combines exact fields and full text", async () => {
  await search(page, "outcome:denied alice");
  const found = await rows(page);
  assert.ok(found.length > 0);
  for (const r of found) {
    assert.equal(r.outcome, "denied");
    assert.match(r.message, /alice/);
  }
  const expected = events.filter((e) => e.outcome === "denied" && /alice/.test(e.message)).length;
  assert.match(await page.textContent("#summary"), new RegExp(`^${expected} matching`));
});

await test("a facet click adds its filter", async () => {
  await search(page, "");
  const facet = page.locator('#facets ul[aria-label="Actions"] button').first();
  const value = await facet.locator(".value").textContent();
  await facet.click();
  await page.waitForFunction((v) => (new URLSearchParams(location.search).get("q") || "").includes(v), value);
  await page.waitForSelector("#results tbody tr");
  await page.waitForFunction((v) => [...document.querySelectorAll("#results tbody tr")]
    .every((tr) => tr.cells[2].textContent === v), value);
  assert.equal(new URLSearchParams(new URL(page.url()).search).get("q"), `action:"${value}"`);
});

await test("brushing the histogram zooms into that time", async () => {
  await search(page, "");
  await shot(page, "search");
  const total = Number((await page.textContent("#summary")).replace(/\D/g, ""));
  const box = await page.locator("#histogram svg").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + 30);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + 30, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => new URLSearchParams(location.search).get("range") === "custom");
  await page.waitForFunction(() => /matching/.test(document.querySelector("#summary").textContent));
  const params = new URL(page.url()).searchParams;
  const [since, until] = [Date.parse(params.get("since")), Date.parse(params.get("until"))];
  assert.ok(since < until);
  const zoomed = Number((await page.textContent("#summary")).replace(/\D/g, ""));
  assert.ok(zoomed > 0 && zoomed < total, `${zoomed} of ${total}`);
  const inRange = events.filter((e) => Date.parse(e.time) >= since && Date.parse(e.time) < until).length;
  assert.equal(zoomed, inRange);
});

await test("a record opens by keyboard, shows every field and verifies in the browser", async () => {
  await search(page, "rotated");
  // By keyboard: a result row takes the focus and opens on Enter.
  await page.focus("#results tbody tr >> nth=0");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#record-fields tr");
  assert.match(await page.textContent("#record-fields"), /Request id/);
  assert.match(await page.textContent("#details-tree"), /javascript:alert/);
  await page.click("#verify-record");
  await page.waitForSelector("#verdict p");
  assert.match(await page.textContent("#verdict"), /Verified in this browser: record \d+ is in the signed tree of 400 records/);
  await shot(page, "record");
});

await test("hostile content stays text", async () => {
  // The record above shows the hostile actor, message and details.
  assert.equal(await page.locator("main img, main script").count(), 0);
  assert.match(await page.textContent("#record-fields"), /<img src=x onerror=alert\('actor'\)>/);
  assert.equal(await page.locator('#details-tree a').count(), 0);
  await search(page, "rotated");
  assert.equal(await page.locator("#results img, #results script").count(), 0);
  assert.ok((await rows(page)).some((r) => r.message.includes("<script>alert('message')</script>")));
  assert.deepEqual(dialogs, []);
});

await test("an actor links to its history, oldest first", async () => {
  await search(page, "outcome:success");
  await page.click("#results tbody tr >> nth=0");
  await page.waitForSelector("#record-fields tr");
  const actorLink = page.locator("#record-fields tr:has(th:text('Actor')) a");
  const actor = await actorLink.textContent();
  await actorLink.click();
  await page.waitForFunction(() => new URLSearchParams(location.search).get("order") === "oldest");
  await page.waitForSelector("#results tbody tr");
  // Scrolling loads the next pages.
  const expected = events.filter((e) => e.actor.id === actor).length;
  for (let i = 0; i < 20 && (await page.locator("#results tbody tr").count()) < expected; i++) {
    await page.locator("#more").scrollIntoViewIfNeeded();
    await page.waitForTimeout(200);
  }
  const found = await rows(page);
  assert.ok(found.every((r) => r.actor === actor), actor);
  const times = found.map((r) => r.time);
  assert.deepEqual(times, [...times].sort());
  assert.equal(found.length, expected);
});

await test("the CSV export is the result set, formulas made inert", async () => {
  await search(page, "rotated");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const text = await readFile(await download.path(), "utf8");
  const lines = text.trim().split("\n").filter((l) => /^\d/.test(l));
  assert.equal(lines.length, events.filter((e) => e.message === HOSTILE.message).length);
  assert.ok(text.split("\n")[0].startsWith("seq,time,ingest_time,tenant,actor.id"));
  // The reason column: the formula, quoted, behind a '.
  assert.ok(text.includes(`"'=HYPERLINK(""http://evil.example"",""click"")"`), text.slice(0, 600));
  assert.ok(!/(^|,)"?[=+@]/m.test(text), "no cell starts a formula");
});

await test("the live tail shows events appended while it follows, and resumes after a disconnect", async () => {
  await page.click('#top nav a[data-nav="tail"]');
  await page.fill("#tail-q", "action:tail.check");
  await page.click("#tail-start");
  await page.waitForFunction(() => /Following/.test(document.querySelector("#tail-status").textContent));
  await api("POST", "/v1/logs/audit/events", { action: "tail.check", actor: { id: "tailer" }, message: "appended during the test" });
  await page.waitForSelector("#tail-results tbody tr");
  const found = await rows(page, "#tail-results");
  assert.equal(found.length, 1);
  assert.equal(found[0].action, "tail.check");
  await shot(page, "tail");
  // Cut off: the event appended meanwhile arrives once, after it resumes.
  cut();
  await page.waitForFunction(() => /Disconnected/.test(document.querySelector("#tail-status").textContent));
  await api("POST", "/v1/logs/audit/events", { action: "tail.check", actor: { id: "tailer" }, message: "appended while offline" });
  await page.waitForFunction(() => document.querySelectorAll("#tail-results tbody tr").length >= 2);
  await page.waitForTimeout(500);
  const after = await rows(page, "#tail-results");
  assert.deepEqual(after.map((r) => r.message), ["appended while offline", "appended during the test"]);
  assert.equal(Number(after[0].seq), Number(after[1].seq) + 1);
  await page.click("#tail-stop");
});

await test("operators see every log and verify one with progress", async () => {
  await page.click('#top nav a[data-nav="operate"]');
  await page.waitForSelector('#logs-table tr[data-log="audit"]');
  await page.click('#logs-table tr[data-log="audit"] button');
  await page.waitForSelector("#verify-log .ok");
  const { records } = await api("GET", "/v1/logs/audit");
  assert.match(await page.textContent("#verify-log"), new RegExp(`audit verifies: ${records} records`));
  await shot(page, "operate");
});

await test("a tenant's viewer token sees only that tenant, even by editing the URL", async () => {
  const minted = await api("POST", "/v1/tokens", { name: "acme console", logs: ["audit"], tenants: ["acme"], ttl: "1h" });
  const viewer = await signedIn(minted.secret);
  const acme = events.filter((e) => e.tenant === "acme").length;
  await viewer.waitForFunction(() => /matching/.test(document.querySelector("#summary").textContent));
  assert.match(await viewer.textContent("#summary"), new RegExp(`^${acme} matching`));
  assert.equal(await viewer.locator('#top nav a[data-nav="operate"]').isVisible(), false);
  await viewer.goto(`${front}/?log=audit&q=${encodeURIComponent("tenant:globex")}&range=all`);
  await viewer.waitForSelector("#summary:has-text('No matching records')");
  const globexSeq = events.findIndex((e) => e.tenant === "globex");
  await viewer.goto(`${front}/?log=audit&view=record&seq=${globexSeq}`);
  await viewer.waitForFunction(() => /record \d+:/.test(document.querySelector("#record-title").textContent));
  assert.equal(await viewer.locator("#record-fields tr").count(), 0);
  await viewer.goto(`${front}/?log=audit&range=all`);
  await viewer.waitForSelector("#results tbody tr");
  const [download] = await Promise.all([viewer.waitForEvent("download"), viewer.click("#export-jsonl")]);
  const exported = (await readFile(await download.path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(exported.length, acme);
  assert.ok(exported.every((r) => r.tenant === "acme"));
  await viewer.context().close();
});

await test("embed mode drops the navigation chrome", async () => {
  await page.goto(`${front}/?embed=1&log=audit`);
  await page.waitForSelector("#results tbody tr");
  assert.equal(await page.locator("#top .brand").isVisible(), false);
  assert.equal(await page.locator('#top nav a[data-nav="operate"]').isVisible(), false);
});

await browser.close();
relay.close();
const failed = results.filter(([, r]) => r !== "ok");
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
