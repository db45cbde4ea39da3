#!/usr/bin/env node
'use strict';
// Interop peer: npm `ws` echo server.
//
// usage: node ws_server.js [--deflate] [--port 0]
//
// Echoes text as text and binary as binary on any path, maxPayload 64 MiB,
// permessage-deflate (threshold 0: every message compressed) only with
// --deflate.  ws answers a close frame by echoing its code and reason.
// Prints "listening on ws://127.0.0.1:PORT" as its first stdout line.

const { WebSocketServer } = require('ws');
const { MAX_SIZE } = require('./payloads.js');

const args = process.argv.slice(2);
const deflate = args.includes('--deflate');
const portIdx = args.indexOf('--port');
const port = portIdx >= 0 ? parseInt(args[portIdx + 1], 10) : 0;

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: MAX_SIZE,
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => process.stderr.write(`ws_server: connection error: ${err.message}\n`));
});
wss.on('listening', () => {
  process.stdout.write(`listening on ws://127.0.0.1:${wss.address().port}\n`);
});
wss.on('error', (err) => {
  process.stderr.write(`ws_server: ${err.message}\n`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
