// Broadcast server on uWebSockets.js (from perf/node_modules), for scripts/perf.py: every text
// or binary message a client sends goes to every connected client, the sender included
// (`wskit bench broadcast --protocol raw`).
// Usage: node perf/uws-broadcast.js [--listen HOST:PORT]; prints `listening on ws://HOST:PORT`.
'use strict';
const { uWS, parseArgs, listen } = require('./uws-listen.js');

const args = parseArgs();

// uWebSockets.js's own pub/sub (examples/Broadcast.js): every connection subscribes to one
// topic when it opens, and each message is published to it. `app.publish` rather than the
// example's `ws.publish`, which skips the sender. Settings as uws-echo.js without --deflate.
const app = uWS.App().ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  idleTimeout: 0,
  open: (ws) => {
    ws.subscribe('all');
  },
  message: (ws, message, isBinary) => {
    app.publish('all', message, isBinary);
  },
});
listen(app, args);
