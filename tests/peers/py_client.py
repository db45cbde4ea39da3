#!/usr/bin/env python3
"""Interop peer: Python `websockets` (asyncio) client against an echo server.

usage: py_client.py URL [--deflate] [--close CODE] [--expect-close CODE] [--quick] [--big]

Sends the payloads of payloads.full_sequence() one at a time and checks each
echo (same type, same bytes), checks the negotiated extension (present iff
--deflate), pings with a payload and expects the same payload in the pong,
then closes with CODE (default 4000) reason "bye" and checks the server's
close frame carries --expect-close (default: CODE).  --quick sends only the
small text and skips the ping.  Prints "ok ..." and exits 0, or prints the
reason to stderr and exits 1.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect

import payloads

STEP_TIMEOUT = 20


async def run(args) -> str:
    conn = await connect(
        args.url,
        compression="deflate" if args.deflate else None,
        max_size=64 * payloads.MIB,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
    )
    try:
        ext = conn.response.headers.get("Sec-WebSocket-Extensions")
        negotiated = [e.name for e in conn.protocol.extensions]
        if args.deflate:
            if not ext or "permessage-deflate" not in ext or "permessage-deflate" not in negotiated:
                raise AssertionError(f"permessage-deflate offered but not negotiated (Sec-WebSocket-Extensions: {ext!r})")
        elif ext is not None:
            raise AssertionError(f"no extension offered but server answered Sec-WebSocket-Extensions: {ext!r}")

        seq = payloads.full_sequence(big=args.big)
        if args.quick:
            seq = seq[:1]
        for name, payload in seq:
            await conn.send(payload)
            try:
                got = await asyncio.wait_for(conn.recv(), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError(f"{name}: no echo within {STEP_TIMEOUT}s") from None
            if type(got) is not type(payload):
                raise AssertionError(f"{name}: sent {type(payload).__name__}, echo is {type(got).__name__}")
            if got != payload:
                first = next((i for i, (x, y) in enumerate(zip(payload, got)) if x != y), min(len(payload), len(got)))
                raise AssertionError(f"{name}: echo differs (sent {len(payload)}, got {len(got)}, "
                                     f"first difference at index {first})")

        if not args.quick:
            waiter = await conn.ping(payloads.PING_PAYLOAD)
            try:
                await asyncio.wait_for(waiter, STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError(f"no pong for ping {payloads.PING_PAYLOAD!r}") from None

        await conn.close(args.close, "bye")
    finally:
        await conn.close()

    rcvd = conn.protocol.close_rcvd
    if rcvd is None:
        raise AssertionError("server sent no close frame")
    if rcvd.code != args.expect_close:
        raise AssertionError(f"server answered close {args.close} with {rcvd.code}, expected {args.expect_close}")
    return f"extensions={ext!r} close={rcvd.code}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--deflate", action="store_true")
    ap.add_argument("--close", type=int, default=4000)
    ap.add_argument("--expect-close", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true")
    args = ap.parse_args()
    if args.expect_close is None:
        args.expect_close = args.close
    try:
        detail = asyncio.run(run(args))
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        print(f"py-websockets client: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok {detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
