// Echo server on Node's `ws` (from tests/peers/node_modules), for scripts/perf.py.
// Usage: node perf/ws-echo.js [--listen HOST:PORT] [--deflate [--deflate-level N]];
// prints `listening on ws://HOST:PORT`.
'use strict';
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, '..', 'tests', 'peers', 'node_modules', 'ws'));

let listen = '127.0.0.1:0';
let deflate = false;
let level;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--listen') listen = args[++i];
  else if (args[i] === '--deflate') deflate = true;
  else if (args[i] === '--deflate-level') level = Number(args[++i]);
  else {
    console.error(`unknown argument ${args[i]} (usage: --listen HOST:PORT [--deflate [--deflate-level N]])`);
    process.exit(2);
  }
}
const at = listen.lastIndexOf(':');
const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(at + 1));

// As the ws README's echo example, with no payload cap beyond the default 100 MiB, and
// compression off (its default) unless --deflate: then permessage-deflate with ws's defaults
// (zlib's default level 6 unless --deflate-level, memLevel 8, windows and context takeover as
// the client offers) except the threshold, 0 instead of 1024, so that every message is
// compressed, as wskit does.
const perMessageDeflate = { threshold: 0 };
if (level !== undefined) perMessageDeflate.zlibDeflateOptions = { level };
const wss = new WebSocketServer({
  host,
  port,
  perMessageDeflate: deflate ? perMessageDeflate : false,
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const a = wss.address();
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  console.log(`listening on ws://${shown}:${a.port}`);
});
