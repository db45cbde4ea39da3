#!/usr/bin/env python3
"""Checks the /metrics page of a live `wskit serve` with Prometheus's `promtool check metrics`.

Usage: scripts/check_metrics.py PATH/TO/wskit

Starts `wskit serve --listen 127.0.0.1:0`, opens a WebSocket on /ws and sends a broadcast
through the HTTP API (so that the handshake and delivery histograms have samples), fetches
/metrics and pipes it to promtool, which must find nothing to say. Exits non-zero otherwise.
Needs promtool (Debian's prometheus package) and the websockets package (the test venv).
"""

import os
import re
import subprocess
import sys
import urllib.request

from websockets.sync.client import connect

LIMIT = 20  # seconds any one step may take


def main() -> int:
    wskit = sys.argv[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSKIT_")}
    server = subprocess.Popen(
        [wskit, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        line = server.stdout.readline()
        found = re.search(r"http://(\S+)", line)
        if not found:
            print(f"unexpected start-up line: {line!r}", file=sys.stderr)
            return 1
        addr = found.group(1)
        with connect(f"ws://{addr}/ws", open_timeout=LIMIT) as ws:
            welcome = ws.recv(timeout=LIMIT)
            assert '"welcome"' in welcome, welcome
            request = urllib.request.Request(
                f"http://{addr}/api/broadcast",
                data=b'{"data": "promtool"}',
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=LIMIT) as response:
                assert response.status == 200, response.status
            delivered = ws.recv(timeout=LIMIT)
            assert "promtool" in delivered, delivered
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=LIMIT) as response:
            page = response.read()
        for name in (b"wskit_build_info", b"wskit_handshake_duration_seconds_bucket",
                     b"wskit_delivery_duration_seconds_bucket", b"process_cpu_seconds_total"):
            if name not in page:
                print(f"/metrics has no {name.decode()}", file=sys.stderr)
                return 1
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=page, capture_output=True, timeout=LIMIT
        )
        sys.stdout.write(checked.stdout.decode())
        sys.stderr.write(checked.stderr.decode())
        if checked.returncode != 0:
            print("promtool check metrics failed on:\n" + page.decode(), file=sys.stderr)
            return 1
        series = sum(1 for line in page.splitlines() if line and not line.startswith(b"#"))
        print(f"promtool check metrics: clean ({series} samples)")
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
