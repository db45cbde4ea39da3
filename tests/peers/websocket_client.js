#!/usr/bin/env node
'use strict';
// Interop peer: npm `websocket` (WebSocketClient) client against an echo server.
//
// usage: node websocket_client.js URL [--close CODE] [--expect-close CODE] [--quick] [--big]
//
// Same steps as py_client.py.  This library has no permessage-deflate, so
// --deflate is rejected, and the response must carry no extension.  It
// fragments outgoing messages above 16 KiB (its default), so the server sees
// fragmented messages with UTF-8 characters split across frames.  The library
// reports its *own* close code in the 'close' event when it started the
// closing handshake, and ignores every frame that arrives after it called
// close(), so the server's close frame is parsed from the raw socket bytes
// received after close() (all echoes have been consumed by then).

const WebSocketClient = require('websocket').client;
const P = require('./payloads.js');

const STEP_TIMEOUT_MS = 20000;

function fail(msg) {
  process.stderr.write(`npm-websocket client: ${msg}\n`);
  process.exit(1);
}

async function main() {
  let opts;
  try { opts = P.parseClientArgs(process.argv.slice(2)); } catch (e) { fail(e.message); }
  if (opts.deflate) throw new Error('npm websocket has no permessage-deflate support');

  const client = new WebSocketClient({
    maxReceivedFrameSize: P.MAX_SIZE,
    maxReceivedMessageSize: P.MAX_SIZE,
    closeTimeout: 10000,
  });

  const queue = [];
  let waiter = null;
  const push = (ev) => { queue.push(ev); if (waiter) { const w = waiter; waiter = null; w(); } };
  let conn = null;
  let serverCloseCode = null;
  client.on('connectFailed', (err) => push({ kind: 'error', err }));
  client.on('connect', (c) => {
    conn = c;
    c.on('message', (m) => push(m.type === 'utf8'
      ? { kind: 'message', data: Buffer.from(m.utf8Data, 'utf8'), isBinary: false }
      : { kind: 'message', data: m.binaryData, isBinary: true }));
    c.on('pong', (data) => push({ kind: 'pong', data }));
    c.on('error', (err) => push({ kind: 'error', err }));
    c.on('close', (code, desc) => push({ kind: 'close', code, reason: desc }));
    push({ kind: 'open' });
  });

  async function next(what) {
    if (queue.length === 0) {
      let timer;
      await new Promise((resolve, reject) => {
        waiter = resolve;
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
      }).finally(() => clearTimeout(timer));
    }
    const ev = queue.shift();
    if (ev.kind === 'error') throw new Error(`${what}: ${ev.err.message || ev.err}`);
    return ev;
  }
  async function expectKind(kind, what) {
    const ev = await next(what);
    if (ev.kind !== kind) {
      const extra = ev.kind === 'close' ? ` (close frame code ${serverCloseCode})` : '';
      throw new Error(`${what}: expected ${kind}, got ${ev.kind}${extra}`);
    }
    return ev;
  }

  client.connect(opts.url);
  await expectKind('open', 'handshake');
  const ext = client.response.headers['sec-websocket-extensions'];
  if (ext !== undefined) throw new Error(`no extension offered but server answered Sec-WebSocket-Extensions: ${ext}`);

  let seq = P.fullSequence(opts.big);
  if (opts.quick) seq = seq.slice(0, 1);
  for (const [name, payload] of seq) {
    if (typeof payload === 'string') conn.sendUTF(payload); else conn.sendBytes(payload);
    const ev = await expectKind('message', `echo of ${name}`);
    const diff = P.compareEcho(payload, ev.data, ev.isBinary);
    if (diff) throw new Error(`${name}: ${diff}`);
  }

  if (!opts.quick) {
    conn.ping(P.PING_PAYLOAD);
    const ev = await expectKind('pong', 'pong');
    if (!ev.data.equals(P.PING_PAYLOAD)) throw new Error(`pong payload ${JSON.stringify(ev.data.toString())} != ping payload`);
  }

  // Parse the unmasked frames the server sends after our close frame.
  let after = Buffer.alloc(0);
  conn.socket.on('data', (d) => {
    after = Buffer.concat([after, d]);
    let off = 0;
    while (serverCloseCode === null && after.length - off >= 2) {
      const opcode = after[off] & 0x0f;
      let len = after[off + 1] & 0x7f;
      let hdr = 2;
      if (len === 126) { if (after.length - off < 4) break; len = after.readUInt16BE(off + 2); hdr = 4; }
      else if (len === 127) { if (after.length - off < 10) break; len = Number(after.readBigUInt64BE(off + 2)); hdr = 10; }
      if (after.length - off < hdr + len) break;
      if (opcode === 0x08) serverCloseCode = len >= 2 ? after.readUInt16BE(off + hdr) : 1005;
      off += hdr + len;
    }
  });
  conn.close(opts.close, 'bye');
  await expectKind('close', 'close handshake');
  if (serverCloseCode === null) throw new Error('server sent no close frame');
  if (serverCloseCode !== opts.expectClose) {
    throw new Error(`server answered close ${opts.close} with ${serverCloseCode}, expected ${opts.expectClose}`);
  }
  process.stdout.write(`ok extensions=none close=${serverCloseCode}\n`);
}

main().then(() => process.exit(0), (e) => fail(e.message));
