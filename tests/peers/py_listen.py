#!/usr/bin/env python3
"""Interop peer: Python `websockets` client of a broadcast server (run.py, part H).

usage: py_listen.py URL [--send]

Connects without compression, prints "ready" once open, then expects the
broadcast.COUNT messages of broadcast.message() in order, each unchanged.
With --send it also sends them, each after its own copy came back (so no
listener falls far behind). Prints "ok ..." and exits 0, or prints the reason
to stderr and exits 1.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect

import broadcast

STEP_TIMEOUT = 20


async def run(args) -> str:
    async with connect(args.url, compression=None, max_size=1 << 20, open_timeout=10,
                       close_timeout=10, ping_interval=None) as conn:
        print("ready", flush=True)
        for i in range(broadcast.COUNT):
            want = broadcast.message(i)
            if args.send:
                await conn.send(want)
            try:
                got = await asyncio.wait_for(conn.recv(), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError(f"message {i}: not received within {STEP_TIMEOUT}s") from None
            if type(got) is not type(want) or got != want:
                raise AssertionError(f"message {i}: got {type(got).__name__} of {len(got)}, "
                                     f"expected {type(want).__name__} of {len(want)}")
    return f"ok websockets {'sender' if args.send else 'listener'}: {broadcast.COUNT} messages in order"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--send", action="store_true")
    args = ap.parse_args()
    try:
        line = asyncio.run(run(args))
    except Exception as e:  # noqa: BLE001 - any failure is the peer's verdict
        print(f"websockets listener: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
