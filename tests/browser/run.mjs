#!/usr/bin/env node
// Real browsers against `wskit serve`: Debian's Chromium, headless, driven by playwright-core.
//
//     WSKIT_BIN=target/release/wskit node tests/browser/run.mjs [-k SUBSTR]
//
// Each check starts its own `wskit serve --listen 127.0.0.1:0` (reading the address from its
// start-up line) and fresh browser profiles in temporary directories. Prints "ok   NAME" or
// "FAIL NAME: reason" per check, then "N passed, M failed"; exits 1 if any failed. Every wait is
// on an event (a DOM state, a WebSocket event, a process line) with a deadline as a hang guard.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const BIN = process.env.WSKIT_BIN || "target/release/wskit";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const DEADLINE_MS = 20_000; // a hang guard per wait, never a synchronisation delay
const CHECK_DEADLINE_MS = 120_000; // a whole check, as a hang guard
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const cleanups = [];
const defer = (fn) => cleanups.push(fn);

/// Starts `wskit serve` with `args`; resolves with its base URL once it prints its start-up line.
function serve(args = [], { scheme = "http" } = {}) {
  const listen = args.includes("--listen") ? [] : ["--listen", "127.0.0.1:0"];
  const child = spawn(BIN, ["serve", ...listen, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  defer(() => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start-up line; stderr: ${stderr}`)), DEADLINE_MS);
    child.on("exit", (code) => reject(new Error(`wskit serve exited ${code}: ${stderr}`)));
    lines.on("line", (line) => {
      const m = line.match(new RegExp(`listening on (${scheme}://[^ ]+)`));
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1].replace(/\/$/, ""), child, stderr: () => stderr });
      }
    });
  });
}

/// A fresh headless Chromium profile; closed at the end of the check.
async function browser(extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), "wskit-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...extraArgs],
  });
  context.setDefaultTimeout(DEADLINE_MS);
  defer(async () => {
    await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.errors = errors;
  return page;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// Runs `body` inside the page: opens a WebSocket to `url` and resolves with what `body` returns.
// `body` is a string (the source of an async function of `(url)`), evaluated in the browser.
const inPage = (page, url, body) => page.evaluate(`(${body})(${JSON.stringify(url)})`);

// In the browser: helpers to await one event of a WebSocket.
const WS_HELPERS = `
  const next = (ws, type) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no " + type + " event")), ${DEADLINE_MS});
    ws.addEventListener(type, (e) => { clearTimeout(t); resolve(e); }, { once: true });
    if (type !== "close") {
      ws.addEventListener("close", (e) => {
        clearTimeout(t);
        reject(new Error("closed with " + e.code + " " + e.reason + " while waiting for " + type));
      }, { once: true });
    }
  });
  const open = async (url, protocols) => {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const result = await Promise.race([next(ws, "open"), next(ws, "close")]);
    if (result.type === "close") throw new Error("closed before open: " + result.code);
    return ws;
  };
`;

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("two people chat on the page: names, a room, a message, presence and live figures", async () => {
  const server = await serve();
  const alice = await browser();
  const bob = await browser();
  for (const [page, name] of [[alice, "alice"], [bob, "bob"]]) {
    await page.goto(server.url + "/");
    await page.locator("#status", { hasText: "connected" }).waitFor();
    await page.fill("#name", name);
    await page.press("#name", "Enter");
    await page.locator("#log", { hasText: `you are now ${name}` }).waitFor();
    await page.locator("#room-title", { hasText: "# lobby" }).waitFor();
  }
  await alice.fill("#text", "hello from alice");
  await alice.press("#text", "Enter");
  const line = bob.locator("#log li", { hasText: "hello from alice" });
  await line.waitFor();
  assert((await line.locator(".who").textContent()) === "alice", "bob sees the message as alice's");
  await alice.locator("#log li", { hasText: "hello from alice" }).locator(".who", { hasText: "alice (you)" }).waitFor();
  // Presence refreshes every 3 s: bob appears in alice's member list.
  await alice.locator("#members li", { hasText: "bob" }).waitFor();
  await alice.locator("#stat-connections", { hasText: /^2$/ }).waitFor();
  await alice.locator("#stat-groups", { hasText: /^1$/ }).waitFor();
  // Rates appear from the second poll of /api/stats on.
  await alice.locator("#stat-in", { hasText: /^\d+\.\d$/ }).waitFor();
  await alice.locator("#stat-out", { hasText: /^\d+\.\d$/ }).waitFor();
  // A second room, joined by alice only: bob does not get its messages.
  await alice.fill("#room", "side");
  await alice.press("#room", "Enter");
  await alice.locator("#room-title", { hasText: "# side" }).waitFor();
  await alice.fill("#text", "only in side");
  await alice.press("#text", "Enter");
  await alice.locator("#log li", { hasText: "only in side" }).waitFor();
  await bob.fill("#text", "bob still in lobby");
  await bob.press("#text", "Enter");
  await bob.locator("#log li", { hasText: "bob still in lobby" }).waitFor();
  assert((await bob.locator("#log li", { hasText: "only in side" }).count()) === 0, "bob got a message of a room he is not in");
  // Back in the lobby, alice sees bob's message: each saw the other's.
  await alice.locator("#rooms li", { hasText: "# lobby" }).click({ position: { x: 4, y: 4 } }); // not on "leave"
  await alice.locator("#room-title", { hasText: "# lobby" }).waitFor();
  const fromBob = alice.locator("#log li", { hasText: "bob still in lobby" });
  await fromBob.waitFor();
  assert((await fromBob.locator(".who").textContent()) === "bob", "alice sees the message as bob's");
  for (const page of [alice, bob]) assert(page.errors.length === 0, `page errors: ${page.errors}`);
});

check("the page reconnects after the server restarts on the same port and joins its room again", async () => {
  const first = await serve();
  const page = await browser();
  await page.goto(first.url + "/");
  await page.locator("#status", { hasText: "connected" }).waitFor();
  const id1 = await page.locator("#my-id").textContent();
  const exited = new Promise((resolve) => first.child.on("exit", resolve));
  first.child.kill("SIGTERM");
  await page.locator("#status", { hasText: "disconnected (1001)" }).waitFor();
  const port = new URL(first.url).port;
  await exited;
  const second = await serve(["--listen", `127.0.0.1:${port}`]);
  assert(second.url === first.url, `${second.url} != ${first.url}`);
  await page.locator("#status", { hasText: "connected" }).waitFor();
  await page.waitForFunction((old) => document.getElementById("my-id").textContent !== old, id1);
  // Joined the lobby again: a message published there through the HTTP API arrives.
  await page.locator("#stat-groups", { hasText: /^1$/ }).waitFor();
  const res = await fetch(second.url + "/api/groups/lobby/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ data: { text: "from the backend" } }),
  });
  assert(res.ok, `POST /api/groups/lobby/messages: ${res.status}`);
  await page.locator("#log li", { hasText: "from the backend" }).waitFor();
});

check("browser WebSocket on /echo: text, 1 MiB binary, permessage-deflate, close 4001", async () => {
  const server = await serve(["--max-message-size", "2MiB"]);
  const page = await browser();
  await page.goto(server.url + "/healthz");
  const result = await inPage(page, server.url.replace("http", "ws") + "/echo", `async (url) => {
    ${WS_HELPERS}
    const ws = await open(url);
    const out = { extensions: ws.extensions, protocol: ws.protocol };
    ws.send("héllo ✓");
    out.text = (await next(ws, "message")).data;
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff;
    ws.send(big);
    const back = new Uint8Array((await next(ws, "message")).data);
    out.binaryEqual = back.length === big.length && back.every((b, i) => b === big[i]);
    const closed = next(ws, "close");
    ws.close(4001, "bye");
    const ev = await closed;
    Object.assign(out, { code: ev.code, reason: ev.reason, clean: ev.wasClean });
    return out;
  }`);
  assert(result.extensions.startsWith("permessage-deflate"), `extensions: ${result.extensions}`);
  assert(result.text === "héllo ✓", `text echo: ${result.text}`);
  assert(result.binaryEqual, "the 1 MiB binary message came back changed");
  // The server echoes the code (RFC 6455 5.5.1); the reason is its own (empty).
  assert(result.code === 4001 && result.clean, JSON.stringify(result));
});

check("a message over --max-message-size closes the browser's socket with 1009", async () => {
  const server = await serve(["--max-message-size", "4KiB"]);
  const page = await browser();
  await page.goto(server.url + "/healthz");
  const result = await inPage(page, server.url.replace("http", "ws") + "/ws", `async (url) => {
    ${WS_HELPERS}
    const ws = await open(url);
    const welcome = JSON.parse((await next(ws, "message")).data);
    const closed = next(ws, "close");
    ws.send(JSON.stringify({ type: "publish", group: "g", data: "x".repeat(5000) }));
    const ev = await closed;
    return { welcome: welcome.type, code: ev.code };
  }`);
  assert(result.welcome === "welcome", JSON.stringify(result));
  assert(result.code === 1009, `close code ${result.code}, wanted 1009`);
});

check("an origin outside --allowed-origins is refused (403, 1006 in the browser); an allowed one opens", async () => {
  const server = await serve(["--allowed-origins", "http://app.example"]);
  const page = await browser();
  await page.goto(server.url + "/healthz");
  const result = await inPage(page, server.url.replace("http", "ws") + "/echo", `async (url) => {
    ${WS_HELPERS}
    const ws = new WebSocket(url);
    const ev = await next(ws, "close");
    return { code: ev.code, opened: ws.readyState };
  }`);
  assert(result.code === 1006, `a refused handshake reads as 1006 in browsers, got ${result.code}`);
  // The same server, from a page whose origin is allowed: app.example:80 maps to the server.
  const port = new URL(server.url).port;
  const page2 = await browser([`--host-resolver-rules=MAP app.example:80 127.0.0.1:${port}`]);
  await page2.goto("http://app.example/healthz");
  const r2 = await inPage(page2, "ws://app.example/echo", `async (url) => {
    ${WS_HELPERS}
    const ws = await open(url);
    ws.send("allowed");
    return { echo: (await next(ws, "message")).data, origin: location.origin };
  }`);
  assert(r2.echo === "allowed", JSON.stringify(r2));
});

check("by default a page of another site cannot open /ws nor post to the key-less API", async () => {
  const server = await serve();
  const port = new URL(server.url).port;
  // A page of the server's own origin listens on /ws for whatever is broadcast.
  const own = await browser();
  await own.goto(server.url + "/healthz");
  await own.evaluate(`new Promise((resolve, reject) => {
    const ws = new WebSocket(${JSON.stringify(server.url.replace("http", "ws") + "/ws")});
    window.received = [];
    ws.onmessage = (e) => { window.received.push(JSON.parse(e.data)); resolve(); };
    ws.onerror = () => reject(new Error("the page of the server's own origin could not connect"));
  })`);
  // evil.example resolves to the server, as DNS rebinding would make it.
  const page = await browser([`--host-resolver-rules=MAP evil.example:${port} 127.0.0.1:${port}`]);
  const page404 = await page.goto(`http://evil.example:${port}/`);
  assert(page404.status() === 403, `the page under another host name: ${page404.status()}`);
  await page.goto(`http://evil.example:${port}/healthz`);
  const result = await inPage(page, server.url.replace("http", "ws") + "/ws", `async (url) => {
    ${WS_HELPERS}
    const ws = new WebSocket(url);
    const ev = await next(ws, "close");
    const posted = await fetch(url.replace("ws", "http").replace("/ws", "/api/broadcast"), {
      method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ data: "forged" }),
    }).then(() => "sent", (e) => "failed: " + e);
    return { code: ev.code, posted };
  }`);
  assert(result.code === 1006, `a refused handshake reads as 1006 in browsers, got ${result.code}`);
  // The forged post went out (no-cors hides the answer) but was refused: the listening
  // client got its welcome only, and the broadcast that follows is the first after it.
  assert(result.posted === "sent", JSON.stringify(result));
  const sent = await fetch(server.url + "/api/broadcast", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: '{"data":"real"}',
  });
  assert(sent.status === 200, `the API from node: ${sent.status}`);
  await own.waitForFunction(() => window.received.length >= 2);
  const received = await own.evaluate(() => window.received);
  assert(received.length === 2 && received[1].data === "real", `received ${JSON.stringify(received)}`);
});

check("wss: the page over https with a self-signed certificate", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wskit-tls-"));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdio: "ignore" });
  const server = await serve(["--tls-cert", cert, "--tls-key", key], { scheme: "https" });
  const page = await browser(["--ignore-certificate-errors"]);
  await page.goto(server.url + "/");
  await page.locator("#status", { hasText: "connected" }).waitFor();
  await page.fill("#text", "over tls");
  await page.press("#text", "Enter");
  await page.locator("#log li", { hasText: "over tls" }).waitFor();
  const scheme = await page.evaluate(() => state.ws.url.split(":")[0]);
  assert(scheme === "wss", `the page used ${scheme}`);
});

check("a refused name shows once, and the page loads without a console error (its icon is served)", async () => {
  const server = await serve();
  const alice = await browser();
  const bob = await browser();
  const consoleErrors = [];
  bob.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
  for (const page of [alice, bob]) {
    await page.goto(server.url + "/");
    await page.locator("#status", { hasText: "connected" }).waitFor();
    await page.locator("#room-title", { hasText: "# lobby" }).waitFor();
  }
  await alice.fill("#name", "alice");
  await alice.press("#name", "Enter");
  await alice.locator("#log", { hasText: "you are now alice" }).waitFor();
  await bob.fill("#name", "alice");
  await bob.press("#name", "Enter");
  const refused = bob.locator("#log li", { hasText: "name_taken" });
  await refused.first().waitFor();
  assert((await refused.count()) === 1, `the refusal shows ${await refused.count()} times`);
  const icon = await bob.evaluate(async () => (await fetch("/favicon.ico")).status);
  assert(icon === 200, `/favicon.ico answered ${icon}`);
  assert(consoleErrors.length === 0, `console errors: ${consoleErrors}`);
  assert(bob.errors.length === 0, `page errors: ${bob.errors}`);
});

// ---------------------------------------------------------------------------

const only = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "-k") only.push(process.argv[++i]);
}
let passed = 0;
let failed = 0;
for (const { name, fn } of checks) {
  if (only.length && !only.some((k) => name.includes(k))) continue;
  const started = Date.now();
  try {
    let timer;
    const watchdog = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${CHECK_DEADLINE_MS} ms`)), CHECK_DEADLINE_MS);
    });
    await Promise.race([fn(), watchdog]).finally(() => clearTimeout(timer));
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (_) {
      /* best effort */
    }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
