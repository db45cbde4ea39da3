// A minimal Socket.IO 4 server with rooms, for scripts/perf.py's comparison with `wskit serve`
// (`wskit bench --protocol socketio`): `join` puts the socket in a room and acknowledges;
// `publish` emits `message` to everyone in a room, the publisher included; so does an HTTP
// `POST /rooms/ROOM/messages` with the body `{"data": DATA}` (a backend's publish). Socket.IO's
// own defaults otherwise (both transports offered, ping every 25 s, 1 MB max payload).
//
// Usage: node socketio-server.js [--port N]   (0, the default, picks a free port)
// Prints `listening on ws://127.0.0.1:PORT` once it accepts connections.

"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const portArg = process.argv.indexOf("--port");
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;

// Largest HTTP body read; a bigger one is refused with 413.
const MAX_BODY = 1 << 20;

// Socket.IO answers its own path; every other request comes here.
const httpServer = http.createServer((req, res) => {
  const match = /^\/rooms\/([^/]+)\/messages$/.exec(req.url);
  if (req.method !== "POST" || !match) {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      res.writeHead(413).end();
      req.destroy();
    } else {
      chunks.push(chunk);
    }
  });
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    io.to(decodeURIComponent(match[1])).emit("message", body.data);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "2" }).end("{}");
  });
});
const io = new Server(httpServer);

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return;
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });
  socket.on("publish", (room, data) => {
    if (typeof room !== "string") return;
    io.to(room).emit("message", data);
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on ws://127.0.0.1:${httpServer.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
