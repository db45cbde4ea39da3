#!/usr/bin/env node
'use strict';
// Interop peer: npm `ws` or npm `websocket` client listening to a broadcast server
// (tests/interop/run.py, part H).
//
// usage: node listen.js ws|websocket URL
//
// Connects without compression, prints "ready" once open, then expects the broadcast.COUNT
// messages of broadcast.js in order, each unchanged. Prints "ok ..." / exits 0, or prints
// the reason to stderr and exits 1.

const B = require('./broadcast.js');

const TIMEOUT_MS = 60000;
const [lib, url] = process.argv.slice(2);

function fail(msg) {
  process.stderr.write(`npm-${lib} listener: ${msg}\n`);
  process.exit(1);
}

let received = 0;
let done = false;
function onMessage(data, isBinary, close) {
  if (done) return;
  const bad = B.mismatch(received, data, isBinary);
  if (bad) fail(bad);
  received += 1;
  if (received === B.COUNT) {
    done = true;
    process.stdout.write(`ok npm-${lib} listener: ${B.COUNT} messages in order\n`);
    close();
  }
}
function onClose(code) {
  if (!done) fail(`closed (${code}) after ${received} of ${B.COUNT} messages`);
  process.exit(0);
}
setTimeout(() => fail(`timed out after ${received} of ${B.COUNT} messages`), TIMEOUT_MS).unref();

if (lib === 'ws') {
  const WebSocket = require('ws');
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10000 });
  ws.on('open', () => process.stdout.write('ready\n'));
  ws.on('message', (data, isBinary) => onMessage(data, isBinary, () => ws.close(1000)));
  ws.on('error', (err) => fail(err.message));
  ws.on('close', (code) => onClose(code));
} else if (lib === 'websocket') {
  const WebSocketClient = require('websocket').client;
  const client = new WebSocketClient({ closeTimeout: 10000 });
  client.on('connectFailed', (err) => fail(`connect failed: ${err}`));
  client.on('connect', (conn) => {
    process.stdout.write('ready\n');
    conn.on('message', (m) => {
      if (m.type === 'utf8') onMessage(Buffer.from(m.utf8Data, 'utf8'), false, () => conn.close(1000));
      else onMessage(m.binaryData, true, () => conn.close(1000));
    });
    conn.on('error', (err) => fail(err.message));
    conn.on('close', (code) => onClose(code));
  });
  client.connect(url);
} else {
  fail('usage: node listen.js ws|websocket URL');
}
