#!/usr/bin/env node
'use strict';
// Interop peer: npm `websocket` (WebSocketServer) echo server.
//
// usage: node websocket_server.js [--port 0]
//
// Echoes text as text and binary as binary on any path, frames and messages
// up to 64 MiB.  No permessage-deflate (the library has none).  It fragments
// outgoing messages above 16 KiB.  NOTE: this library answers every valid
// close frame with code 1000, not with the peer's code, so a client closing
// with 4000 must expect 1000 back from it.
// Prints "listening on ws://127.0.0.1:PORT" as its first stdout line.

const http = require('http');
const WebSocketServer = require('websocket').server;
const { MAX_SIZE } = require('./payloads.js');

const args = process.argv.slice(2);
const portIdx = args.indexOf('--port');
const port = portIdx >= 0 ? parseInt(args[portIdx + 1], 10) : 0;

const httpServer = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only\n');
});
const wsServer = new WebSocketServer({
  httpServer,
  autoAcceptConnections: false,
  maxReceivedFrameSize: MAX_SIZE,
  maxReceivedMessageSize: MAX_SIZE,
});

wsServer.on('request', (request) => {
  const conn = request.accept(null, request.origin);
  conn.on('message', (m) => {
    if (m.type === 'utf8') conn.sendUTF(m.utf8Data); else conn.sendBytes(m.binaryData);
  });
  conn.on('error', (err) => process.stderr.write(`websocket_server: connection error: ${err.message}\n`));
});

httpServer.on('error', (err) => {
  process.stderr.write(`websocket_server: ${err.message}\n`);
  process.exit(1);
});
httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on ws://127.0.0.1:${httpServer.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
