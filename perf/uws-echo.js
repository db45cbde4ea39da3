// Echo server on uWebSockets.js (from perf/node_modules), for scripts/perf.py.
// Usage: node perf/uws-echo.js [--listen HOST:PORT] [--deflate];
// prints `listening on ws://HOST:PORT`.
'use strict';
const { uWS, parseArgs, listen } = require('./uws-listen.js');

const args = parseArgs(['--deflate']);
const deflate = args.flags.has('--deflate');

// As uWebSockets.js's own examples (examples/WebSockets.js, the README's echo): one route, the
// message sent back as it came. Compression off unless --deflate, then the shared compressor
// of the examples (no context takeover, zlib's default level 6) and every echo compressed, as
// wskit and perf/ws-echo.js do; the payload cap raised from 16 KiB to 16 MiB for the large
// scenarios, and no idle timeout (the other servers have none).
const app = uWS.App().ws('/*', {
  compression: deflate ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  idleTimeout: 0,
  message: (ws, message, isBinary) => {
    ws.send(message, isBinary, deflate);
  },
});
listen(app, args);
