#!/usr/bin/env python3
"""Interop peer: Python `websockets` (asyncio) echo server.

usage: py_server.py [--no-deflate] [--broadcast] [--host 127.0.0.1] [--port 0]

Echoes text as text and binary as binary on any path, accepts messages up to
64 MiB, accepts permessage-deflate when offered (websockets' default, which
answers with server_max_window_bits=12 and, if the client offered
client_max_window_bits, client_max_window_bits=12) unless --no-deflate, and
answers a close frame by echoing its code and reason (websockets' default).
Prints "listening on ws://HOST:PORT" as its first stdout line once bound.

It behaves like `wskit echo`, so the interop driver also uses it as the
stand-in for that server (run.py --standins); with --broadcast, like
`wskit echo --broadcast`: every message goes to every connection.
"""

import argparse
import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(conn) -> None:
    try:
        async for message in conn:
            await conn.send(message)
    except ConnectionClosed:
        pass


CONNECTIONS: set = set()


async def fan_out(conn) -> None:
    CONNECTIONS.add(conn)
    try:
        async for message in conn:
            for other in list(CONNECTIONS):
                try:
                    await other.send(message)
                except ConnectionClosed:
                    pass
    except ConnectionClosed:
        pass
    finally:
        CONNECTIONS.discard(conn)


async def main_async(args) -> None:
    async with serve(
        fan_out if args.broadcast else echo,
        args.host,
        args.port,
        compression=None if args.no_deflate else "deflate",
        max_size=64 * 1024 * 1024,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{args.host}:{port}", flush=True)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
        await stop


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-deflate", action="store_true")
    ap.add_argument("--broadcast", action="store_true")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    asyncio.run(main_async(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
