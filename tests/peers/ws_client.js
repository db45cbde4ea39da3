#!/usr/bin/env node
'use strict';
// Interop peer: npm `ws` client against an echo server.
//
// usage: node ws_client.js URL [--deflate] [--close CODE] [--expect-close CODE] [--quick] [--big]
//
// Same steps as py_client.py: each payload of payloads.fullSequence() is sent
// and its echo awaited and compared (type and bytes); the negotiated extension
// must be permessage-deflate iff --deflate (offered with threshold 0, so even
// the small messages go compressed); ping with payload -> pong with the same
// payload; close CODE "bye" -> the server's close frame must carry
// --expect-close (default CODE).  Prints "ok ..." / exits 0, or prints the
// reason to stderr and exits 1.

const WebSocket = require('ws');
const P = require('./payloads.js');

const STEP_TIMEOUT_MS = 20000;

function fail(msg) {
  process.stderr.write(`npm-ws client: ${msg}\n`);
  process.exit(1);
}

async function main() {
  let opts;
  try { opts = P.parseClientArgs(process.argv.slice(2)); } catch (e) { fail(e.message); }

  const ws = new WebSocket(opts.url, {
    perMessageDeflate: opts.deflate ? { threshold: 0 } : false,
    maxPayload: P.MAX_SIZE,
    handshakeTimeout: 10000,
  });

  // Every event goes into one queue, consumed in order by next().
  const queue = [];
  let waiter = null;
  const push = (ev) => { queue.push(ev); if (waiter) { const w = waiter; waiter = null; w(); } };
  ws.on('open', () => push({ kind: 'open' }));
  ws.on('message', (data, isBinary) => push({ kind: 'message', data, isBinary }));
  ws.on('pong', (data) => push({ kind: 'pong', data }));
  ws.on('error', (err) => push({ kind: 'error', err }));
  ws.on('close', (code, reason) => push({ kind: 'close', code, reason: reason.toString() }));

  async function next(what) {
    if (queue.length === 0) {
      let timer;
      await new Promise((resolve, reject) => {
        waiter = resolve;
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
      }).finally(() => clearTimeout(timer));
    }
    const ev = queue.shift();
    if (ev.kind === 'error') throw new Error(`${what}: ${ev.err.message}`);
    return ev;
  }
  async function expectKind(kind, what) {
    const ev = await next(what);
    if (ev.kind !== kind) {
      const extra = ev.kind === 'close' ? ` (code ${ev.code} ${JSON.stringify(ev.reason)})` : '';
      throw new Error(`${what}: expected ${kind}, got ${ev.kind}${extra}`);
    }
    return ev;
  }

  await expectKind('open', 'handshake');
  const ext = ws.extensions;
  if (opts.deflate && !ext.includes('permessage-deflate')) {
    throw new Error(`permessage-deflate offered but not negotiated (extensions: ${JSON.stringify(ext)})`);
  }
  if (!opts.deflate && ext !== '') {
    throw new Error(`no extension offered but server negotiated ${JSON.stringify(ext)}`);
  }

  let seq = P.fullSequence(opts.big);
  if (opts.quick) seq = seq.slice(0, 1);
  for (const [name, payload] of seq) {
    ws.send(payload, { binary: typeof payload !== 'string' });
    const ev = await expectKind('message', `echo of ${name}`);
    const diff = P.compareEcho(payload, ev.data, ev.isBinary);
    if (diff) throw new Error(`${name}: ${diff}`);
  }

  if (!opts.quick) {
    ws.ping(P.PING_PAYLOAD);
    const ev = await expectKind('pong', 'pong');
    if (!ev.data.equals(P.PING_PAYLOAD)) throw new Error(`pong payload ${JSON.stringify(ev.data.toString())} != ping payload`);
  }

  ws.close(opts.close, 'bye');
  const ev = await expectKind('close', 'close handshake');
  if (ev.code !== opts.expectClose) {
    throw new Error(`server answered close ${opts.close} with ${ev.code}, expected ${opts.expectClose}`);
  }
  process.stdout.write(`ok extensions=${JSON.stringify(ext)} close=${ev.code}\n`);
}

main().then(() => process.exit(0), (e) => fail(e.message));
