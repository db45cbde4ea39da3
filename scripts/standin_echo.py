#!/usr/bin/env python3
"""Development stand-in for `wskit echo`: a WebSocket echo server (Python `websockets`).

Same command-line contract as the real binary, so scripts/autobahn.py can be
validated before wskit exists:

    python scripts/standin_echo.py echo --listen 127.0.0.1:0

prints `listening on ws://127.0.0.1:PORT` once bound, then echoes every message
on any path. permessage-deflate is negotiated (websockets' default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

# websockets caps fragmented messages at 4096 frames (Autobahn 9.3.x/9.4.x send more).
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.frames import Opcode  # noqa: E402
from websockets.protocol import Protocol  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402


def patch_websockets() -> None:
    """websockets answers a Close that arrives inside a fragmented message with
    1002; Autobahn 7.1.5 expects a normal close (1000). Treat it as one."""
    original = Protocol.recv_frame
    if getattr(original, "_wskit_patched", False):
        return

    def recv_frame(self, frame):  # type: ignore[no-untyped-def]
        if frame.opcode is Opcode.CLOSE:
            self.current_size = None
        return original(self, frame)

    recv_frame._wskit_patched = True  # type: ignore[attr-defined]
    Protocol.recv_frame = recv_frame  # type: ignore[method-assign]


async def echo(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass


async def main() -> None:
    patch_websockets()
    parser = argparse.ArgumentParser()
    parser.add_argument("cmd", nargs="?", default="echo")
    parser.add_argument("--listen", default="127.0.0.1:9001")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    async with serve(
        echo,
        host,
        int(port),
        max_size=None,
        max_queue=None,
        ping_interval=None,
        server_header="wskit-standin",
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on ws://{bound[0]}:{bound[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
