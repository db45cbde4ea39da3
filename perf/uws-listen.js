// What uws-echo.js and uws-broadcast.js share, as perf/src/lib.rs is for the Rust peers: the
// uWebSockets.js module (from perf/node_modules, installed by scripts/perf.py), the command line
// and the `listening on ws://ADDR` line scripts/perf.py waits for.
'use strict';
const uWS = require('uwebsockets');

// Parses `[--listen HOST:PORT] [FLAG...]` (default 127.0.0.1:0) and returns `{ host, port,
// flags }`, `flags` holding those of `known` that were given; exits on anything else.
function parseArgs(known = []) {
  let listen = '127.0.0.1:0';
  const flags = new Set();
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--listen' && i + 1 < args.length) listen = args[++i];
    else if (known.includes(args[i])) flags.add(args[i]);
    else {
      const usage = ['[--listen HOST:PORT]', ...known.map((flag) => `[${flag}]`)].join(' ');
      console.error(`unknown argument ${args[i]} (usage: ${usage})`);
      process.exit(2);
    }
  }
  const at = listen.lastIndexOf(':');
  return {
    host: listen.slice(0, at).replace(/^\[|\]$/g, ''),
    port: Number(listen.slice(at + 1)),
    flags,
  };
}

// Listens and prints the address; with port 0, the one the kernel chose.
function listen(app, { host, port }) {
  app.listen(host, port, (token) => {
    if (!token) {
      console.error(`cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    const shown = host.includes(':') ? `[${host}]` : host;
    console.log(`listening on ws://${shown}:${uWS.us_socket_local_port(token)}`);
  });
}

module.exports = { uWS, parseArgs, listen };
