#!/usr/bin/env python3
"""Stand-in for wskit's `interop_client` example, written with `websockets`.

It is the executable reference for what crates/wskit/examples/interop_client.rs
must do; the interop driver runs it in place of our client with
`tests/interop/run.py --standins` (or --client-cmd).

usage: standin_client.py URL [--deflate] [--expect-close CODE]

1. Connect to URL (ws://HOST:PORT/PATH).  Opening handshake timeout 10 s.
   Accept incoming messages of at least 16 MiB.
2. With --deflate: offer permessage-deflate; fail unless the server's
   Sec-WebSocket-Extensions answer negotiated it.  Without --deflate: offer
   no extension; fail if any extension was negotiated.
3. One at a time, send each message below and wait (<= 20 s) for the next
   data message; it must have the same type (text/binary) and the same bytes:
     a. text   "hello"
     b. text   "héllo wörld €𝄞"
     c. binary the 256 bytes 0x00, 0x01, ..., 0xFF
     d. text   ""  (empty)
     e. binary b"" (empty)
     f. binary 1 MiB (1_048_576 bytes) of deterministic pseudo-random bytes
     g. text   exactly 1_048_576 UTF-8 bytes mixing 1-, 2-, 3- and 4-byte
               characters (pseudo-random choice), padded with ASCII "x"
4. Send a ping with payload b"wskit-ping"; wait (<= 20 s) for a pong with the
   same payload (pongs with other payloads may be ignored; a data message
   arriving instead is a failure).
5. Close with code 4000, reason "bye"; wait (<= 10 s) for the server's close
   frame; its code must equal --expect-close (default 4000; the driver passes
   1000 against the npm `websocket` server, which always answers 1000).  Then
   wait (<= 10 s) for the connection to be fully closed.
6. Print "ok" on stdout and exit 0.  On any failure print a one-line reason
   to stderr and exit 1.  The whole run gives up after 60 s (exit 1).
"""

import argparse
import asyncio
import random
import sys

from websockets.asyncio.client import connect

MIB = 1024 * 1024
STEP = 20


def messages():
    rng = random.Random(12345)
    alphabet = ["a", "b", " ", "é", "ß", "€", "ह", "𝄞", "😀"]
    parts, n = [], 0
    while n < MIB - 4:
        ch = rng.choice(alphabet)
        parts.append(ch)
        n += len(ch.encode())
    big_text = "".join(parts) + "x" * (MIB - n)
    assert len(big_text.encode()) == MIB
    return [
        ("text hello", "hello"),
        ("utf-8 text", "héllo wörld €𝄞"),
        ("binary 0..255", bytes(range(256))),
        ("empty text", ""),
        ("empty binary", b""),
        ("1 MiB binary", rng.randbytes(MIB)),
        ("1 MiB text", big_text),
    ]


async def run(url: str, deflate: bool, expect_close: int) -> None:
    ws = await connect(
        url,
        compression="deflate" if deflate else None,
        max_size=64 * MIB,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
    )
    try:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        if deflate and not (ext and "permessage-deflate" in ext):
            raise AssertionError(f"permessage-deflate not negotiated (Sec-WebSocket-Extensions: {ext!r})")
        if not deflate and ext is not None:
            raise AssertionError(f"unexpected Sec-WebSocket-Extensions: {ext!r}")

        for name, payload in messages():
            await ws.send(payload)
            got = await asyncio.wait_for(ws.recv(), STEP)
            if type(got) is not type(payload) or got != payload:
                raise AssertionError(f"{name}: echo mismatch (sent {type(payload).__name__} of {len(payload)}, "
                                     f"got {type(got).__name__} of {len(got)})")

        pong = await ws.ping(b"wskit-ping")
        await asyncio.wait_for(pong, STEP)

        await ws.close(4000, "bye")
    finally:
        await ws.close()
    rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        raise AssertionError("no close frame from server")
    if rcvd.code != expect_close:
        raise AssertionError(f"server's close code {rcvd.code}, expected {expect_close}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--deflate", action="store_true")
    ap.add_argument("--expect-close", type=int, default=4000)
    args = ap.parse_args()
    try:
        asyncio.run(asyncio.wait_for(run(args.url, args.deflate, args.expect_close), 60))
    except Exception as e:  # noqa: BLE001
        print(f"standin_client: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
