#!/usr/bin/env python3
"""Development stand-in for the `autobahn_client` example (Python `websockets`).

    python scripts/standin_autobahn_client.py ws://127.0.0.1:9001 [--offer MODE]

The classic Autobahn client harness: GET /getCaseCount, echo every message of
/runCase?case=N&agent=wskit for N in 1..=count, then /updateReports?agent=wskit.
--offer picks the permessage-deflate offer (to study how kosoku grades it):
  full    permessage-deflate; client_no_context_takeover; client_max_window_bits
  default permessage-deflate; client_max_window_bits   (websockets' default)
  none    no extension offered
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))
sys.dont_write_bytecode = True  # importing standin_echo must not leave scripts/__pycache__

from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
)
from websockets.sync.client import connect  # noqa: E402

from standin_echo import patch_websockets  # noqa: E402

AGENT = "wskit"


def extensions(mode: str):  # type: ignore[no-untyped-def]
    if mode == "none":
        return None
    if mode == "default":
        return [ClientPerMessageDeflateFactory(client_max_window_bits=True)]
    return [
        ClientPerMessageDeflateFactory(
            client_no_context_takeover=True, client_max_window_bits=True
        )
    ]


def open_ws(url: str, mode: str):  # type: ignore[no-untyped-def]
    return connect(
        url,
        compression=None,
        extensions=extensions(mode),
        max_size=None,
        max_queue=None,
        ping_interval=None,
        close_timeout=5,
        open_timeout=10,
        user_agent_header="wskit-standin-client",
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--offer", choices=["full", "default", "none"], default="full")
    args = parser.parse_args()
    patch_websockets()
    base = args.url.rstrip("/")

    with open_ws(f"{base}/getCaseCount", args.offer) as ws:
        count = int(ws.recv())
    print(f"case count: {count}", flush=True)

    for n in range(1, count + 1):
        try:
            with open_ws(f"{base}/runCase?case={n}&agent={AGENT}", args.offer) as ws:
                for message in ws:
                    ws.send(message)
        except ConnectionClosed:
            pass
        except Exception as exc:  # a failed case must not stop the run
            print(f"case {n}: {type(exc).__name__}: {exc}", file=sys.stderr)

    with open_ws(f"{base}/updateReports?agent={AGENT}", args.offer) as ws:
        pass
    print("reports updated", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
