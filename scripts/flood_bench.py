"""A victim's publish round trip on `wskit serve` while attackers flood it (loopback only).

Starts `wskit serve` once per condition, connects one victim that joins a group and
publishes to it at a steady pace (a chat client: 50 messages a second), and measures each
publish's round trip (publish sent -> its delivery back). Meanwhile ATTACKERS clients each
flood joins of new groups, publishes and `presence` requests as fast as they can, reading and
dropping what comes back, reconnecting when closed. Conditions:

- baseline: no attackers, default settings;
- flood, no quotas: attackers, with the per-connection quotas raised out of the way;
- flood, defaults: attackers, default quotas.

Prints one line per condition (p50, p99, max in ms; the attackers' messages sent, refusals
and closes). Standard library and `websockets` (the project venv) only.

    ~/.cache/wskit/venv/bin/python scripts/flood_bench.py --wskit target/release/wskit
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import time

import websockets

NO_QUOTAS = [
    "--message-rate", "1000000", "--presence-rate", "1000000",
    "--max-groups-per-connection", "10000000",
]


async def victim(url, seconds, pace):
    rtts = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # welcome
        await ws.send(json.dumps({"type": "join", "group": "victim", "ref": 0}))
        while json.loads(await ws.recv()).get("type") != "ack":
            pass
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "publish", "group": "victim", "data": n}))
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("type") == "message" and msg.get("data") == n:
                    break
            rtts.append((time.monotonic() - sent) * 1000)
            await asyncio.sleep(max(0.0, 1 / pace - (time.monotonic() - sent)))
    return rtts


async def attacker(url, stop, counts, index):
    n = 0
    while not stop.is_set():
        try:
            async with websockets.connect(url, max_size=None) as ws:
                async def drain():
                    async for raw in ws:
                        if '"rate_limited"' in raw or '"too_many_groups"' in raw:
                            counts["refused"] += 1
                reader = asyncio.create_task(drain())
                try:
                    while not stop.is_set():
                        for _ in range(100):
                            n += 1
                            group = f"a{index}-{n}"
                            await ws.send(json.dumps({"type": "join", "group": group}))
                            await ws.send(json.dumps({"type": "publish", "group": group, "data": "x" * 100}))
                            await ws.send(json.dumps({"type": "presence", "group": "victim"}))
                            counts["sent"] += 3
                        await asyncio.sleep(0)
                finally:
                    reader.cancel()
        except (websockets.ConnectionClosed, OSError):
            counts["closed"] += 1
            await asyncio.sleep(0.05)


async def condition(wskit, args, attackers, seconds, pace):
    server = subprocess.Popen([wskit, "serve", "--listen", "127.0.0.1:0", *args],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        addr = line.split("://")[1].split(" ")[0]
        url = f"ws://{addr}/ws"
        stop = asyncio.Event()
        counts = {"sent": 0, "refused": 0, "closed": 0}
        tasks = [asyncio.create_task(attacker(url, stop, counts, i)) for i in range(attackers)]
        await asyncio.sleep(1 if attackers else 0)
        rtts = await victim(url, seconds, pace)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return rtts, counts
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wskit", required=True)
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pace", type=float, default=50, help="victim publishes a second")
    opts = parser.parse_args()
    for name, args, attackers in [
        ("baseline", [], 0),
        ("flood, no quotas", NO_QUOTAS, opts.attackers),
        ("flood, defaults", [], opts.attackers),
    ]:
        rtts, counts = asyncio.run(condition(opts.wskit, args, attackers, opts.seconds, opts.pace))
        rtts.sort()
        p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
        print(f"{name:18} samples {len(rtts):5}  p50 {statistics.median(rtts):8.2f} ms  "
              f"p99 {p99:8.2f} ms  max {rtts[-1]:8.2f} ms  attackers: sent {counts['sent']}, "
              f"refused {counts['refused']}, closed {counts['closed']}", flush=True)


if __name__ == "__main__":
    main()
