// A minimal Socket.IO 4 server with rooms, for scripts/perf.py's comparison with `wskit serve`
// (`wskit bench --protocol socketio`): `join` puts the socket in a room and acknowledges;
// `publish` emits `message` to everyone in a room, the publisher included. Socket.IO's own
// defaults otherwise (both transports offered, ping every 25 s, 1 MB max payload).
//
// Usage: node socketio-server.js [--port N]   (0, the default, picks a free port)
// Prints `listening on ws://127.0.0.1:PORT` once it accepts connections.

"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const portArg = process.argv.indexOf("--port");
const port = portArg >= 0 ? Number(process.argv[portArg + 1]) : 0;

const httpServer = http.createServer();
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
