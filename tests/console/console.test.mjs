// Browser test of the web console: Debian's chromium, headless, driven by puppeteer-core.
// Starts the real binary with --console, then does what a person would: list streams,
// create one, append from the page (and see invalid JSON refused), watch a message appended
// with the CLI arrive in the live tail within one second, page through history, view
// subscriptions, fork, and delete with the confirmation dialog; with access control on, it
// shows nothing until a token is entered. A screenshot of each page
// goes to target/console-screenshots/.
//
// Usage: node tests/console/console.test.mjs   (DURASTREAM_BIN, CHROMIUM override paths)

import { spawn, execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import puppeteer from "puppeteer-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const target = process.env.CARGO_TARGET_DIR || path.join(root, "target");
const bin = process.env.DURASTREAM_BIN || path.join(target, "debug", "durastream");
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = path.join(target, "console-screenshots");
mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (ok) passed++; else failed++;
}

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

const port = await freePort();
const base = `http://127.0.0.1:${port}/v1/stream`;
const server = spawn(bin, ["serve", "--memory", "--console", "--bind", `127.0.0.1:${port}`],
  { stdio: ["ignore", "ignore", "inherit"] });
const cli = (...args) => promisify(execFile)(bin, args, { env: { ...process.env, DURASTREAM_URL: base } });

async function waitForServer(at = port) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${at}/_console/`)).ok) return;
    } catch (_) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("server did not start");
}

const run = Date.now().toString(36);
const name = `browser/test-${run}`;
let browser;
let guarded;
try {
  await waitForServer();
  for (const s of ["orders/eu", "orders/us", "logs/app", "wake/billing"]) {
    await cli("create", s, "-t", s.startsWith("logs") ? "text/plain" : "application/json");
  }
  await cli("append", "orders/eu", "--json", '{"id":1,"total":12.5}');
  const sub = await fetch(`${base}/__ds/subscriptions/billing`, {
    method: "PUT", headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "pull-wake", pattern: "orders/*", wake_stream: "wake/billing" }),
  });
  check(sub.status === 201, `a pull-wake subscription is created (${sub.status})`);

  browser = await puppeteer.launch({
    executablePath: chromium, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));

  // The list.
  await page.goto(`http://127.0.0.1:${port}/_console/`);
  await page.waitForSelector("#streams-table tbody tr");
  const paths = await page.$$eval("#streams-table tbody tr", (rows) => rows.map((r) => r.dataset.path));
  check(JSON.stringify(paths) === JSON.stringify(["logs/app", "orders/eu", "orders/us", "wake/billing"]),
    `the list shows the streams in path order (${paths})`);
  const size = await page.$eval("#streams-table tbody tr:nth-child(2) td:nth-child(3)", (td) => td.textContent);
  check(size === "23 B", `the list shows sizes (${size})`);
  await page.screenshot({ path: path.join(shots, "01-streams.png") });

  // Create from the page.
  await page.click("#show-create");
  await page.type("#create-path", name);
  await page.select("#create-type", "application/json");
  await page.screenshot({ path: path.join(shots, "02-create.png") });
  await page.click("#create-submit");
  await page.waitForFunction((n) => document.getElementById("stream-title").textContent === n, {}, name);
  const head = await fetch(`${base}/${name}`, { method: "HEAD" });
  check(head.status === 200 && head.headers.get("content-type") === "application/json",
    "the stream created from the page exists on the server");
  await page.waitForFunction(() => document.getElementById("live-status").textContent.includes("up to date"));

  // Append from the page; invalid JSON is refused before sending.
  await page.type("#append-data", "{not json");
  await page.click("#append-submit");
  await page.waitForFunction(() => document.getElementById("append-error").textContent.includes("Not valid JSON"));
  check(true, "invalid JSON is refused by the page");
  await page.$eval("#append-data", (t) => { t.value = ""; });
  await page.type("#append-data", '{"from":"page","text":"hello"}');
  await page.click("#append-submit");
  await page.waitForFunction(() => [...document.querySelectorAll("#live-log li")]
    .some((li) => li.textContent.includes('"from":"page"')), { timeout: 5000 });
  const stored = await (await fetch(`${base}/${name}?offset=-1`)).json();
  check(stored.length === 1 && stored[0].from === "page", "the page's append is stored once");

  // A CLI append reaches the live tail within one second of being acknowledged.
  await cli("append", name, "--json", '{"from":"cli","n":2}');
  const acked = Date.now();
  let seenMs = Infinity;
  try {
    await page.waitForFunction(() => [...document.querySelectorAll("#live-log li")]
      .some((li) => li.textContent.includes('"from":"cli"')), { timeout: 1000, polling: 10 });
    seenMs = Date.now() - acked;
  } catch (_) { /* not seen in time */ }
  check(seenMs < 1000, `a CLI append appears in the live tail within 1 s (${seenMs} ms)`);
  await page.screenshot({ path: path.join(shots, "03-live-tail.png") });

  // History.
  await page.click("#tab-history");
  await page.waitForFunction(() => document.querySelectorAll("#history-log li").length === 2);
  check(true, "history shows both messages");
  await page.screenshot({ path: path.join(shots, "04-history.png") });

  // Subscriptions and their cursors.
  await page.goto(`http://127.0.0.1:${port}/_console/#/subscriptions`);
  await page.waitForSelector("#subs-list .sub");
  const subText = await page.$eval("#subs-list", (e) => e.textContent);
  check(subText.includes("billing") && subText.includes("orders/eu")
    && subText.includes("0000000000000000_0000000000000023"),
  "subscriptions show their streams, cursors and tails");
  await page.screenshot({ path: path.join(shots, "05-subscriptions.png") });

  // Fork.
  await page.goto(`http://127.0.0.1:${port}/_console/#/stream/${encodeURIComponent(name)}`);
  await page.waitForFunction(() => document.getElementById("live-status").textContent.includes("up to date"));
  await page.click("#fork-stream");
  await page.$eval("#fork-path", (i) => { i.value = ""; });
  await page.type("#fork-path", `${name}-fork`);
  await page.click("#fork-ok");
  await page.waitForFunction((n) => document.getElementById("stream-title").textContent === n, {}, `${name}-fork`);
  const forked = await (await fetch(`${base}/${name}-fork?offset=-1`)).json();
  check(forked.length === 2, "the fork made from the page shares the history");
  await page.screenshot({ path: path.join(shots, "06-fork.png") });

  // Delete, with the confirmation: Cancel keeps it, Delete removes it.
  await page.click("#delete-stream");
  await page.waitForSelector("#confirm[open]");
  await page.screenshot({ path: path.join(shots, "07-delete-confirm.png") });
  await page.click("#confirm-cancel");
  check((await fetch(`${base}/${name}-fork`, { method: "HEAD" })).status === 200, "Cancel keeps the stream");
  await page.click("#delete-stream");
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => !document.getElementById("view-streams").hidden
    && document.querySelectorAll("#streams-table tbody tr").length > 0);
  check((await fetch(`${base}/${name}-fork`, { method: "HEAD" })).status === 404, "Delete removes the fork");
  await page.goto(`http://127.0.0.1:${port}/_console/#/stream/${encodeURIComponent(name)}`);
  await page.waitForFunction((n) => document.getElementById("stream-title").textContent === n, {}, name);
  await page.click("#delete-stream");
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => !document.getElementById("view-streams").hidden
    && document.querySelectorAll("#streams-table tbody tr").length === 4);
  const left = await page.$$eval("#streams-table tbody tr", (rows) => rows.map((r) => r.dataset.path));
  check(!left.includes(name) && (await fetch(`${base}/${name}`, { method: "HEAD" })).status === 404,
    "the deleted stream is gone from the list and the server");
  await page.screenshot({ path: path.join(shots, "08-after-delete.png") });

  // With access control on, the console shows nothing until a token is entered, and then
  // what that token may see.
  const tokens = path.join(target, `console-tokens-${run}.txt`);
  writeFileSync(tokens, "console-test-token-0123 admin /\n");
  const authPort = await freePort();
  guarded = spawn(bin, ["serve", "--memory", "--console", "--bind", `127.0.0.1:${authPort}`,
    "--auth-token-file", tokens], { stdio: ["ignore", "ignore", "ignore"] });
  await waitForServer(authPort);
  rmSync(tokens);
  const authed = { authorization: "Bearer console-test-token-0123" };
  await fetch(`http://127.0.0.1:${authPort}/v1/stream/private/a`, { method: "PUT", headers: authed });
  await page.goto(`http://127.0.0.1:${authPort}/_console/`);
  await page.waitForFunction(() => document.getElementById("toast").textContent.includes("Access denied"));
  check(await page.$$eval("#streams-table tbody tr", (r) => r.length) === 0,
    "without a token the console lists nothing");
  await page.screenshot({ path: path.join(shots, "09-token-needed.png") });
  await page.type("#token", "console-test-token-0123");
  await page.click("#token-form button");
  await page.waitForSelector("#streams-table tbody tr");
  const privatePaths = await page.$$eval("#streams-table tbody tr", (rows) => rows.map((r) => r.dataset.path));
  check(JSON.stringify(privatePaths) === JSON.stringify(["private/a"]), "with the token it lists the streams");
  check(pageErrors.length === 0, `no script errors on the page ${pageErrors.join("; ")}`);
} catch (e) {
  console.log(`FAIL ${e.stack || e}`);
  failed++;
} finally {
  if (browser) await browser.close();
  for (const p of [server, guarded].filter(Boolean)) {
    p.kill("SIGTERM");
    await new Promise((r) => p.once("exit", r));
  }
}
console.log(`screenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
