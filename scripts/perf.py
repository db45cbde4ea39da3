#!/usr/bin/env python3
"""Compare wskit's echo server with its peers: one command, standard library only.

Builds `wskit` and the peer servers in perf/ (release), then runs every server in turn,
pinned to CPU 0 with `taskset`, under `wskit bench` pinned to CPU 1, for each scenario,
interleaved over several rounds (each round visits the servers in a rotated order, and every
run gets a freshly started server). Prints a table of medians with ratios to wskit, and writes
the raw and median figures as JSON and a bar chart as SVG.

The headline figure of the echo scenarios is messages per server CPU-second (the server's
user + system time from /proc over the measured window): on a shared 2-core machine it moves
far less than messages per second, which depends on what else is running.

Usage:
    scripts/perf.py                      # the full comparison (about 10 minutes)
    scripts/perf.py --smoke              # one second, wskit and Node ws, tiny counts
    scripts/perf.py --servers wskit,fastwebsockets --scenarios echo-100x20B --rounds 5
    scripts/perf.py --out reports/perf/today
    scripts/perf.py --scenarios broadcast-100,broadcast-1000,connect-16   # the opt-in ones
    scripts/perf.py --scenarios echo-deflate-100x1KiB,echo-deflate-100x16KiB,idle-deflate-10000
    scripts/perf.py --servers wskit,uws  # uWebSockets.js: npm installs it in perf/ on first use

    # `wskit serve` against the messaging servers users deploy instead (docs/performance.md):
    scripts/perf.py --scenarios serve-broadcast-100,serve-broadcast-1000,serve-idle-10000
    scripts/perf.py --scenarios serve-broadcast-100-http,serve-broadcast-1000-http
    scripts/perf.py --smoke-servers      # one short round of each: starts, delivers in order

The serve-* scenarios run `wskit serve` and its peers, each in its own protocol: Sockudo and
soketi (Pusher protocol, published through their HTTP API) and a Socket.IO 4 server with rooms
(perf/servers/socketio-server.js); `wskit serve` and Socket.IO publish on a subscriber's
WebSocket, or through their HTTP API in the -http ones. `--servers` picks among wskit-serve, sockudo, soketi and
socketio there. On first use the script installs soketi and Socket.IO with npm and builds
Sockudo with `cargo install`, both under WSKIT_PEERS_DIR.

Environment: CARGO_TARGET_DIR (default ~/.cache/wskit/target, as scripts/test.sh);
WSKIT_PEERS_DIR (default ~/.cache/wskit/peers): the installed server peers.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = "0"
GENERATOR_CPU = "1"
START_TIMEOUT = 20.0


def target_dir() -> Path:
    default = Path.home() / ".cache" / "wskit" / "target"
    return Path(os.environ.get("CARGO_TARGET_DIR", default))


def peers_dir() -> Path:
    default = Path.home() / ".cache" / "wskit" / "peers"
    return Path(os.environ.get("WSKIT_PEERS_DIR", default))


SOCKUDO_VERSION = "5.2.0"
# What each peer's user would set for a benchmark at all; everything else is the peer's default.
# Sockudo has no app until one is configured; the app made from SOCKUDO_DEFAULT_APP_* allows 100
# connections and 100 HTTP API events per second, and its rate limiter allows 20 WebSocket
# connections and 100 API requests per minute and address: raised or turned off here.
SOCKUDO_ENV = {
    "HOST": "127.0.0.1",
    "PORT": "{port}",
    "METRICS_PORT": "{metrics_port}",
    "SOCKUDO_DEFAULT_APP_ID": "app-id",
    "SOCKUDO_DEFAULT_APP_KEY": "app-key",
    "SOCKUDO_DEFAULT_APP_SECRET": "app-secret",
    "SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS": "1000000",
    "SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND": "1000000000",
    "RATE_LIMITER_ENABLED": "false",
}
# soketi's default app (app-id, app-key, app-secret) has no limits. Its cluster discovery
# announces itself every 500 ms by UDP broadcast to 255.255.255.255, whatever the adapter:
# pointed at the loopback network here.
SOKETI_ENV = {
    "SOKETI_HOST": "127.0.0.1",
    "SOKETI_PORT": "{port}",
    "SOKETI_METRICS_SERVER_PORT": "{metrics_port}",
    "SOKETI_CLUSTER_BROADCAST_ADDRESS": "127.255.255.255",
    "SOKETI_CLUSTER_PORT": "{cluster_port}",
}


def server_peers(release: Path, peers: Path) -> dict[str, dict]:
    """The messaging servers of the serve-* scenarios, each with the protocol it speaks (`wskit
    bench --protocol`). A peer with a `port` placeholder is given a free port and waited for
    until it accepts connections; the others print `listening on ws://ADDR` first."""
    node_modules = peers / "npm" / "node_modules"
    return {
        "wskit-serve": {
            "cmd": [str(release / "wskit"), "serve", "--listen", "127.0.0.1:0"],
            "path": "/ws", "protocol": "serve",
        },
        "sockudo": {
            "cmd": [str(peers / "sockudo" / "bin" / "sockudo")],
            "env": SOCKUDO_ENV, "protocol": "pusher",
        },
        "soketi": {
            "cmd": ["node", str(node_modules / "@soketi" / "soketi" / "bin" / "server.js"),
                    "start"],
            "env": SOKETI_ENV, "protocol": "pusher",
        },
        "socketio": {
            "cmd": ["node", str(ROOT / "perf" / "servers" / "socketio-server.js")],
            "env": {"NODE_PATH": str(node_modules)}, "protocol": "socketio",
        },
    }


def servers(release: Path) -> dict[str, list[str]]:
    """Every server, as a command that prints `listening on ws://ADDR` first."""
    return {
        "wskit": [str(release / "wskit"), "echo", "--listen", "127.0.0.1:0"],
        "fastwebsockets": [str(release / "fastwebsockets-echo")],
        "tokio-websockets": [str(release / "tokio-websockets-echo")],
        "tokio-tungstenite": [str(release / "tokio-tungstenite-echo")],
        "node-ws": ["node", str(ROOT / "perf" / "ws-echo.js")],
        "uws": ["node", str(ROOT / "perf" / "uws-echo.js")],
        # The floors: what the transport costs with nothing but echoing on top (perf/README).
        "floor-epoll": [str(release / "floor-epoll-echo")],
        "floor-uring": [str(release / "floor-uring-echo"), "--multishot"],
    }


# Servers that only measure the transport: in the echo and broadcast scenarios, not in idle
# and connect, where their fixed buffers and bare handshakes say nothing.
FLOORS = {"floor-epoll", "floor-uring"}


def broadcast_servers(release: Path) -> dict[str, dict]:
    """Servers of the broadcast scenarios: `wskit echo --broadcast` and the peers fan every
    message out to every connection (raw); `wskit serve` does it for its JSON groups."""
    return {
        "wskit": {
            "cmd": [str(release / "wskit"), "echo", "--broadcast", "--listen", "127.0.0.1:0"],
            "path": "", "args": [],
        },
        # The same without io_uring: one `send` per delivery (comes along with wskit).
        "wskit-no-uring": {
            "cmd": [str(release / "wskit"), "echo", "--broadcast", "--no-io-uring", "--listen",
                    "127.0.0.1:0"],
            "path": "", "args": [],
        },
        "wskit-serve": {
            # The engine without the per-client quotas (one publisher, many clients on one IP).
            "cmd": [str(release / "wskit"), "serve", "--listen", "127.0.0.1:0",
                    "--message-rate", "1000000", "--max-connections-per-ip", "1000000",
                    "--max-connections", "1000000"],
            "path": "/ws",
            "args": ["--protocol", "serve"],
        },
        "fastwebsockets": {
            "cmd": [str(release / "fastwebsockets-broadcast")], "path": "", "args": [],
        },
        "tokio-websockets": {
            "cmd": [str(release / "tokio-websockets-broadcast")], "path": "", "args": [],
        },
        "tokio-tungstenite": {
            "cmd": [str(release / "tokio-tungstenite-broadcast")], "path": "", "args": [],
        },
        "uws": {
            "cmd": ["node", str(ROOT / "perf" / "uws-broadcast.js")], "path": "", "args": [],
        },
        "floor-epoll": {
            "cmd": [str(release / "floor-epoll-broadcast")], "path": "", "args": [],
        },
        "floor-uring": {
            "cmd": [str(release / "floor-uring-broadcast")], "path": "", "args": [],
        },
    }


def deflate_servers(release: Path) -> dict[str, list[str]]:
    """Servers of the permessage-deflate scenarios: `wskit echo` accepts it by default (zlib
    level 1); Node ws with --deflate at its default level (6) and, to tell the level's share
    from the rest, at level 1; uWebSockets.js with its shared compressor (level 6). The Rust
    peers have no permessage-deflate (fastwebsockets, tokio-websockets and tokio-tungstenite
    0.30 say so in their docs)."""
    node = ["node", str(ROOT / "perf" / "ws-echo.js"), "--deflate"]
    return {
        "wskit": [str(release / "wskit"), "echo", "--listen", "127.0.0.1:0"],
        "node-ws": node,
        "node-ws-level1": [*node, "--deflate-level", "1"],
        "uws": ["node", str(ROOT / "perf" / "uws-echo.js"), "--deflate"],
    }


# Servers that need no Rust build beyond wskit itself.
NO_EXTRA_BUILD = {"wskit", "node-ws", "node-ws-level1", "uws"}
# Servers that answer every permessage-deflate offer with server_no_context_takeover: uWS's
# shared compressor keeps no state between messages, so the takeover scenarios leave it out.
NO_TAKEOVER = {"uws"}


def scenarios(smoke: bool, duration: str, warmup: str) -> dict[str, dict]:
    """name -> the `wskit bench` arguments, the figure that heads the table, and its sense."""
    timing = ["--duration", duration, "--warmup", warmup]
    peers = {"higher_is_better": True, "headline": "deliveries_per_server_cpu_second",
             "peers": True, "optional": True, "base": "wskit-serve"}
    idle_peers = {"higher_is_better": False, "headline": "server_rss_per_connection_bytes",
                  "peers": True, "optional": True, "base": "wskit-serve"}
    if smoke == "servers":
        # One short round of every server peer: it starts, and every subscriber gets every
        # message in order.
        return {
            "serve-broadcast-4": {**peers, "args": ["broadcast", "-c", "4", "-s", "20",
                                                    "--duration", "0.5s", "--warmup", "0.1s"]},
            "serve-idle-20": {**idle_peers,
                              "args": ["idle", "-c", "20", "--hold", "0.2s", "--subscribe"]},
        }
    if smoke:
        return {
            "echo-4x20B": {
                "args": ["echo", "-c", "4", "-s", "20", *timing],
                "headline": "messages_per_server_cpu_second",
                "higher_is_better": True,
            },
            "idle-20": {
                "args": ["idle", "-c", "20", "--hold", "0.2s"],
                "headline": "server_rss_per_connection_bytes",
                "higher_is_better": False,
            },
            # About 3 s: the --deflate path of the generator and both servers, end to end.
            "echo-deflate-4x1KiB": {
                "args": ["echo", "-c", "4", "-s", "1024", "--deflate", *timing],
                "headline": "messages_per_server_cpu_second",
                "higher_is_better": True,
                "deflate": True,
            },
        }
    echo = {"headline": "messages_per_server_cpu_second", "higher_is_better": True}
    broadcast = {
        "headline": "deliveries_per_server_cpu_second",
        "higher_is_better": True,
        "broadcast": True,
    }
    return {
        # Opt-in: `wskit serve` against the messaging servers (server_peers), each in its own
        # protocol, every subscriber checking it gets every message in order.
        "serve-broadcast-100": {**peers, "args": ["broadcast", "-c", "100", "-s", "20", *timing]},
        "serve-broadcast-1000": {**peers,
                                 "args": ["broadcast", "-c", "1000", "-s", "20", *timing]},
        "serve-idle-10000": {**idle_peers,
                             "args": ["idle", "-c", "10000", "--hold", "2s", "--subscribe"]},
        # The same, every server publishing through its HTTP API (as a backend would).
        "serve-broadcast-100-http": {**peers, "args": ["broadcast", "-c", "100", "-s", "20",
                                                       "--publish", "http", *timing]},
        "serve-broadcast-1000-http": {**peers, "args": ["broadcast", "-c", "1000", "-s", "20",
                                                        "--publish", "http", *timing]},
        # Opt-in (--scenarios): wskit serve's JSON groups against the peers' raw fan-out.
        "broadcast-100": {**broadcast, "optional": True,
                          "args": ["broadcast", "-c", "100", "-s", "20", *timing]},
        "broadcast-1000": {**broadcast, "optional": True,
                           "args": ["broadcast", "-c", "1000", "-s", "20", *timing]},
        # Opt-in: opening handshakes, 16 at a time.
        "connect-16": {"optional": True, "headline": "handshakes_per_server_cpu_second",
                       "higher_is_better": True, "args": ["connect", "-c", "16", *timing]},
        "echo-100x20B": {**echo, "args": ["echo", "-c", "100", "-s", "20", *timing]},
        "echo-100x1KiB": {**echo, "args": ["echo", "-c", "100", "-s", "1024", *timing]},
        "echo-100x16KiB": {**echo, "args": ["echo", "-c", "100", "-s", "16384", *timing]},
        "echo-500x16KiB": {**echo, "args": ["echo", "-c", "500", "-s", "16384", *timing]},
        "idle-10000": {
            "args": ["idle", "-c", "10000", "--hold", "2s"],
            "headline": "server_rss_per_connection_bytes",
            "higher_is_better": False,
        },
        # Opt-in: permessage-deflate (wskit and Node ws only). The generator offers
        # server_no_context_takeover and client_no_context_takeover, and sends JSON-like text
        # that compresses about 5:1: 1 KiB, a typical compressed application message, and
        # 16 KiB, where compression itself dominates.
        "echo-deflate-100x1KiB": {**echo, "optional": True, "deflate": True,
                                  "args": ["echo", "-c", "100", "-s", "1024", "--deflate",
                                           *timing]},
        "echo-deflate-100x16KiB": {**echo, "optional": True, "deflate": True,
                                   "args": ["echo", "-c", "100", "-s", "16384", "--deflate",
                                            *timing]},
        # Idle compressed connections, each after one echoed 1 KiB message, without and with
        # context takeover (which keeps the zlib state, so fewer connections).
        "idle-deflate-10000": {
            "optional": True, "deflate": True,
            "args": ["idle", "-c", "10000", "--hold", "2s", "--deflate", "--messages", "1"],
            "headline": "server_rss_per_connection_bytes",
            "higher_is_better": False,
        },
        "idle-deflate-takeover-1000": {
            "optional": True, "deflate": True,
            "args": ["idle", "-c", "1000", "--hold", "2s", "--deflate", "takeover",
                     "--messages", "1"],
            "headline": "server_rss_per_connection_bytes",
            "higher_is_better": False,
            "takeover": True,
        },
    }


def run(cmd: list[str], cwd: Path = ROOT) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=cwd)


def build(names: list[str]) -> None:
    run(["cargo", "build", "--release", "-p", "wskit-cli", "--bin", "wskit"])
    if any(name not in NO_EXTRA_BUILD for name in names):
        run(["cargo", "build", "--release", "--manifest-path", "perf/Cargo.toml"])
    if any(n.startswith("node-ws") for n in names) and not (
            ROOT / "tests/peers/node_modules/ws").is_dir():
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "tests/peers")
    if "uws" in names:
        # The npm package carries uWebSockets.js's prebuilt binaries: nothing is compiled, and
        # nothing is downloaded but the package itself.
        if not (ROOT / "perf/node_modules/uwebsockets").is_dir():
            run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "perf")
        check_uws()


def build_peers(names: list[str], peers: Path) -> None:
    """Installs the server peers named in `names` under `peers`, once: npm installs soketi and
    Socket.IO (from perf/servers' lock file), cargo builds Sockudo. Prints how long each took."""
    if "soketi" in names or "socketio" in names:
        npm_dir = peers / "npm"
        npm_dir.mkdir(parents=True, exist_ok=True)
        wanted = {f: (ROOT / "perf" / "servers" / f).read_bytes()
                  for f in ("package.json", "package-lock.json")}
        current = all((npm_dir / f).is_file() and (npm_dir / f).read_bytes() == data
                      for f, data in wanted.items())
        if not current or not (npm_dir / "node_modules").is_dir():
            for f, data in wanted.items():
                (npm_dir / f).write_bytes(data)
            started = time.monotonic()
            # soketi asks for uWebSockets.js by a git URL, which only reaches GitHub: the lock
            # file overrides it with the npm package `uwebsockets` (prebuilt binaries inside).
            run(["npm", "ci", "--no-audit", "--no-fund"], cwd=npm_dir)
            print(f"perf.py: npm installed soketi and Socket.IO in "
                  f"{time.monotonic() - started:.0f} s", flush=True)
        if "soketi" in names:
            check_node_module("uWebSockets.js", npm_dir)
    if "sockudo" in names:
        binary = peers / "sockudo" / "bin" / "sockudo"
        stamp = peers / "sockudo" / "version"
        if not binary.is_file() or not stamp.is_file() or \
                stamp.read_text().strip() != SOCKUDO_VERSION:
            started = time.monotonic()
            env = {**os.environ, "CARGO_TARGET_DIR": str(peers / "sockudo-target")}
            cmd = ["cargo", "install", "sockudo", "--version", SOCKUDO_VERSION, "--locked",
                   "--root", str(peers / "sockudo")]
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=peers, env=env)
            stamp.write_text(SOCKUDO_VERSION + "\n")
            print(f"perf.py: cargo built Sockudo {SOCKUDO_VERSION} in "
                  f"{time.monotonic() - started:.0f} s", flush=True)


def check_node_module(name: str, cwd: Path) -> None:
    """Exits with Node's reason when a module does not load (uWebSockets.js has a binary per
    Node ABI, platform and glibc), instead of a server that never answers."""
    out = subprocess.run(["node", "-e", f"require({name!r})"], cwd=cwd, capture_output=True,
                         text=True)
    if out.returncode != 0:
        reason = [line for line in out.stderr.splitlines() if line.startswith("Error")]
        sys.exit(f"perf.py: {name} does not load with `node` {node_version()}:\n"
                 + "\n".join(reason or [out.stderr.strip()]))


def check_uws() -> None:
    """Exits with uWebSockets.js's own reason when its binary does not load on this machine
    (it has one per Node ABI, platform and glibc), instead of a server that never answers."""
    out = subprocess.run(["node", "-e", "require('uwebsockets')"], cwd=ROOT / "perf",
                         capture_output=True, text=True)
    if out.returncode != 0:
        reason = [line for line in out.stderr.splitlines() if line.startswith("Error")]
        sys.exit(f"perf.py: uWebSockets.js does not load with `node` {node_version()}:\n"
                 + "\n".join(reason or [out.stderr.strip()]))


def node_version() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True)
    return out.stdout.strip()


def raise_fd_limit(needed: int) -> None:
    """Raises the open-files limit (inherited by the servers and the generator)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        sys.exit(f"perf.py: the open-files limit is {wanted}, {needed} are needed (ulimit -Hn)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PEER_START_TIMEOUT = 60.0


def start_peer(spec: dict) -> tuple[subprocess.Popen, str]:
    """Starts a server peer on CPU 0 and returns it with its URL: on the free port given in its
    environment (waiting until it accepts connections), or as it announces."""
    settings = spec.get("env", {})
    if not any("{port}" in value for value in settings.values()):
        return start_server(spec["cmd"], {**os.environ, **settings})
    ports = {name: free_port() for name in ("port", "metrics_port", "cluster_port")}
    env = {**os.environ, **{k: v.format(**ports) for k, v in settings.items()}}
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *spec["cmd"]], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + PEER_START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", ports["port"]), timeout=1).close()
            return proc, f"ws://127.0.0.1:{ports['port']}"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"{spec['cmd'][-1]} did not listen on port {ports['port']} "
                                   f"(exit status {proc.returncode})")
            time.sleep(0.1)


def start_server(cmd: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Starts a server on CPU 0 and returns it with the URL from its first line."""
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *cmd],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + START_TIMEOUT
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"listening on ((?:ws|http)://\S+)", line)
    if not match or time.monotonic() > deadline:
        stop_server(proc)
        raise RuntimeError(f"{cmd[0]} did not announce its address (first line: {line!r})")
    return proc, re.sub(r"^http://", "ws://", match.group(1)).rstrip("/")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def bench_once(wskit: Path, server_cmd: list[str], bench_args: list[str], path: str = "/") -> dict:
    proc, url = start_server(server_cmd)
    return bench_started(wskit, proc, url + path, bench_args)


def bench_peer(wskit: Path, spec: dict, bench_args: list[str]) -> dict:
    proc, url = start_peer(spec)
    return bench_started(wskit, proc, url + spec.get("path", "/"),
                         [*bench_args, "--protocol", spec["protocol"]])


def bench_started(wskit: Path, proc: subprocess.Popen, url: str, bench_args: list[str]) -> dict:
    """Runs `wskit bench` on CPU 1 against the server `proc` at `url`, then stops it."""
    try:
        # `taskset` execs the server, so its pid is the server's.
        cmd = [
            "taskset", "-c", GENERATOR_CPU, str(wskit), "bench", *bench_args,
            "--url", url, "--server-pid", str(proc.pid), "--json",
        ]
        out = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**os.environ, "RUST_BACKTRACE": "0"},
        )
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
        return json.loads(out.stdout)
    finally:
        stop_server(proc)


def median_of(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(results: dict, plan: dict) -> dict:
    """Medians per scenario and server, and the headline's ratio to wskit."""
    summary = {}
    for scenario, by_server in results.items():
        headline = plan[scenario]["headline"]
        rows = {}
        for server, runs in by_server.items():
            row = {"runs": len(runs), headline: median_of(runs, headline)}
            if not runs:
                continue
            if runs[0]["scenario"] == "echo":
                row["messages_per_second"] = median_of(runs, "messages_per_second")
                row["p99_us"] = statistics.median(r["latency_us"]["p99"] for r in runs)
            elif runs[0]["scenario"] == "connect":
                row["messages_per_second"] = median_of(runs, "handshakes_per_second")
                row["p99_us"] = statistics.median(r["handshake_us"]["p99"] for r in runs)
            elif runs[0]["scenario"] == "broadcast":
                # In the table's msg/s and p99 columns: deliveries/s and time to the last one.
                row["messages_per_second"] = median_of(runs, "deliveries_per_second")
                row["p99_us"] = statistics.median(r["last_delivery_us"]["p99"] for r in runs)
            rows[server] = row
        base_name = plan[scenario].get("base", "wskit")
        base = rows.get(base_name, {}).get(headline)
        for server, row in rows.items():
            value = row[headline]
            if base and value is not None:
                # "x times wskit" in the better direction: > 1 means the peer does better.
                row["ratio_to_wskit"] = (
                    value / base if plan[scenario]["higher_is_better"] else base / value
                    if value > 0 else None
                )
            else:
                row["ratio_to_wskit"] = None
        block = {"headline": headline, "servers": rows, "base": base_name}
        # The base's figure over the best peer's, in the better direction (> 1: the base
        # does better than every peer).
        peers = [r[headline] for n, r in rows.items() if n != base_name and r[headline]]
        if base and peers:
            best = max(peers) if plan[scenario]["higher_is_better"] else min(peers)
            block["base_vs_best_peer"] = (
                base / best if plan[scenario]["higher_is_better"] else best / base)
            if runs_of(by_server, base_name, "last_delivery_us"):
                p99s = [r["p99_us"] for n, r in rows.items()
                        if n != base_name and r.get("p99_us") is not None]
                if p99s and rows[base_name].get("p99_us"):
                    block["base_p99_vs_best_peer"] = min(p99s) / rows[base_name]["p99_us"]
        summary[scenario] = block
    return summary


def runs_of(by_server: dict, name: str, key: str) -> bool:
    return any(key in run for run in by_server.get(name, []))


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def print_table(summary: dict) -> None:
    header = f"{'scenario':<26} {'server':<18} {'median':>12} {'unit':<17} {'vs wskit':>9} " \
             f"{'msg/s':>11} {'p99 us':>9}"
    print()
    print(header)
    print("-" * len(header))
    for scenario, block in summary.items():
        unit = {"messages": "msg/server-CPU-s", "deliveries": "dlv/server-CPU-s",
                "handshakes": "hs/server-CPU-s"}.get(
            block["headline"].split("_")[0], "B/conn")
        for server, row in block["servers"].items():
            ratio = row.get("ratio_to_wskit")
            ratio_text = "n/a" if ratio is None else f"{ratio:.2f}x"
            print(
                f"{scenario:<26} {server:<18} {fmt(row[block['headline']]):>12} {unit:<17} "
                f"{ratio_text:>9} {fmt(row.get('messages_per_second')):>11} "
                f"{fmt(row.get('p99_us'), 1):>9}"
            )
    print()
    print("vs wskit: the peer's figure over wskit's, in the better direction (below 1.00x, "
          "wskit does better). Higher msg/server-CPU-s is better; lower B/conn is better.")
    if any(block.get("base") == "wskit-serve" for block in summary.values()):
        print("(serve-* scenarios: over wskit-serve's.)")
    for scenario, block in summary.items():
        if "base_vs_best_peer" in block:
            p99 = block.get("base_p99_vs_best_peer")
            p99_text = "" if p99 is None else \
                f"; best peer's p99 over {block['base']}'s: {p99:.2f}x"
            print(f"{scenario}: {block['base']} is {block['base_vs_best_peer']:.2f}x the best "
                  f"peer{p99_text}")


def svg_chart(summary: dict, title: str) -> str:
    """One panel per scenario, a horizontal bar per server, hand-written SVG."""
    bar_h, gap, label_w, bar_w, panel_gap = 18, 4, 150, 420, 34
    colors = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#718096", "#b7791f",
              "#319795"]
    y = 40
    parts = []
    for scenario, block in summary.items():
        rows = [(s, r[block["headline"]]) for s, r in block["servers"].items()]
        top = max((v for _, v in rows if v), default=1.0)
        unit = {
            "messages": "messages per server CPU-second",
            "deliveries": "deliveries per server CPU-second",
            "handshakes": "handshakes per server CPU-second",
        }.get(block["headline"].split("_")[0],
              "server RSS per idle connection, bytes (lower is better)")
        parts.append(
            f'<text x="10" y="{y}" font-weight="bold">{html.escape(scenario)}: '
            f'{html.escape(unit)}</text>'
        )
        y += 10
        for i, (server, value) in enumerate(rows):
            width = 0 if not value else max(1, round(bar_w * value / top))
            color = colors[i % len(colors)]
            parts.append(
                f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">'
                f'{html.escape(server)}</text>'
                f'<rect x="{label_w}" y="{y}" width="{width}" height="{bar_h}" fill="{color}"/>'
                f'<text x="{label_w + width + 6}" y="{y + bar_h - 5}">{fmt(value)}</text>'
            )
            y += bar_h + gap
        y += panel_gap
    height = y
    width = label_w + bar_w + 140
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="10" y="20" font-size="14" font-weight="bold">{html.escape(title)}</text>'
        + "".join(parts)
        + "</svg>\n"
    )


def git_commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="one second, wskit and Node ws only, tiny connection counts")
    parser.add_argument("--smoke-servers", action="store_true",
                        help="one short round of `wskit serve` and every server peer (installs "
                             "and builds the peers on first use)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; smoke 1)")
    parser.add_argument("--duration", default=None, help="measured window (default 5s; smoke 1s)")
    parser.add_argument("--warmup", default=None, help="warm-up (default 1s; smoke 0.2s)")
    parser.add_argument("--servers", default=None, help="comma-separated subset of servers")
    parser.add_argument("--scenarios", default=None, help="comma-separated subset of scenarios")
    parser.add_argument("--out", default=None,
                        help="directory for results.json and chart.svg (default reports/perf, "
                             "or reports/perf/smoke with --smoke)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=BINARY",
                        help="add another wskit build as a server (`BINARY echo`), e.g. "
                             "wskit-before=/tmp/wskit-old, to compare builds in the same run")
    args = parser.parse_args()

    smoke = args.smoke or args.smoke_servers
    rounds = args.rounds or (1 if smoke else 3)
    duration = args.duration or ("1s" if smoke else "5s")
    warmup = args.warmup or ("0.2s" if smoke else "1s")
    release = target_dir() / "release"
    every_server = servers(release)
    peer_specs = server_peers(release, peers_dir())
    given = args.servers.split(",") if args.servers else list(peer_specs)
    peer_names = ["wskit-serve"] + [n for n in given if n in peer_specs and n != "wskit-serve"]
    extra = []
    for item in args.also:
        name, _, binary = item.partition("=")
        if not name or not binary:
            sys.exit(f"perf.py: --also takes NAME=BINARY, not {item!r}")
        every_server[name] = [binary, "echo", "--listen", "127.0.0.1:0"]
        NO_EXTRA_BUILD.add(name)
        extra.append(name)
    names = ["wskit", "node-ws"] if args.smoke else [n for n in every_server if n not in extra]
    if args.servers:
        names = [n for n in args.servers.split(",") if n not in peer_specs]
    names += [n for n in extra if n not in names]
    unknown = [n for n in names if n not in every_server and n != "node-ws-level1"]
    if unknown:
        sys.exit(f"perf.py: unknown server(s) {unknown}; known: "
                 f"{list(every_server) + list(peer_specs)}")
    plan = scenarios("servers" if args.smoke_servers else args.smoke, duration, warmup)
    if not args.scenarios:
        plan = {s: spec for s, spec in plan.items()
                if args.smoke_servers or not spec.get("optional")}
    else:
        wanted = args.scenarios.split(",")
        missing = [s for s in wanted if s not in plan]
        if missing:
            sys.exit(f"perf.py: unknown scenario(s) {missing}; known: {list(plan)}")
        plan = {s: plan[s] for s in wanted}
    with_peers = any(spec.get("peers") for spec in plan.values())
    only_peers = all(spec.get("peers") for spec in plan.values())
    node = any(n.startswith("node-ws") or n == "uws" for n in names) or (
        with_peers and any(n in ("soketi", "socketio") for n in peer_names))
    for tool in ["taskset", "cargo"] + (["node"] if node else []):
        if shutil.which(tool) is None:
            sys.exit(f"perf.py: `{tool}` not found")
    if (os.cpu_count() or 1) < 2:
        sys.exit("perf.py: needs two CPUs (server on 0, generator on 1)")
    out_dir = Path(args.out) if args.out else ROOT / "reports" / "perf" / (
        "smoke-servers" if args.smoke_servers else "smoke" if args.smoke else "")
    out_dir.mkdir(parents=True, exist_ok=True)

    os.environ.setdefault("CARGO_TARGET_DIR", str(target_dir()))
    if not args.no_build:
        if only_peers:
            run(["cargo", "build", "--release", "-p", "wskit-cli", "--bin", "wskit"])
        else:
            build(names)
        if with_peers:
            build_peers(peer_names, peers_dir())
    # Each process holds at most the largest connection count of the plan, plus some slack.
    counts = [int(a) for spec in plan.values() for f, a in zip(spec["args"], spec["args"][1:])
              if f == "-c"]
    raise_fd_limit(max(counts, default=0) + 1_000)

    compressing = deflate_servers(release)
    for name in extra:  # --also builds accept permessage-deflate as `wskit echo` does
        compressing[name] = every_server[name]
    fan_out = broadcast_servers(release)
    for name in extra:  # --also builds fan out as `wskit echo --broadcast` does
        fan_out[name] = {"cmd": [every_server[name][0], "echo", "--broadcast", "--listen",
                                 "127.0.0.1:0"], "path": "", "args": []}
    def members_of(spec: dict) -> list[str]:
        if spec.get("peers"):
            return peer_names
        if spec.get("broadcast"):
            return [n for n in fan_out if n in names or n == "wskit-serve"
                    or (n == "wskit-no-uring" and "wskit" in names)]
        if spec.get("deflate"):
            # node-ws-level1 comes along with node-ws, unless --servers names it alone.
            return [n for n in compressing if (n in names or (
                n == "node-ws-level1" and "node-ws" in names and not args.smoke))
                and not (spec.get("takeover") and n in NO_TAKEOVER)]
        echo = spec["args"][0] == "echo"
        return [n for n in names if n in every_server and (echo or n not in FLOORS)]

    results: dict[str, dict[str, list[dict]]] = {
        s: {n: [] for n in members_of(spec)} for s, spec in plan.items()
    }
    started = time.time()
    load_before = os.getloadavg()
    for round_index in range(rounds):
        for scenario, spec in plan.items():
            # Rotate the order each round, so no server always runs first or last.
            members = list(results[scenario])
            if not members:  # e.g. a deflate scenario with only Rust peers selected
                continue
            shift = round_index % len(members)
            for name in members[shift:] + members[:shift]:
                print(f"round {round_index + 1}/{rounds}  {scenario:<26} {name}", flush=True)
                if spec.get("peers"):
                    report = bench_peer(release / "wskit", peer_specs[name], spec["args"])
                elif spec.get("broadcast"):
                    server = fan_out[name]
                    report = bench_once(release / "wskit", server["cmd"],
                                        spec["args"] + server["args"], server["path"])
                elif spec.get("deflate"):
                    report = bench_once(release / "wskit", compressing[name], spec["args"])
                else:
                    report = bench_once(release / "wskit", every_server[name], spec["args"])
                results[scenario][name].append(report)

    summary = summarize(results, plan)
    print_table(summary)
    date = time.strftime("%Y-%m-%d", time.gmtime(started))
    meta = {
        "date": date,
        "rounds": rounds,
        "duration": duration,
        "warmup": warmup,
        "server_cpu": SERVER_CPU,
        "generator_cpu": GENERATOR_CPU,
        "note": "2 cores shared; other builds may have been running",
        "commit": git_commit(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "elapsed_seconds": round(time.time() - started, 1),
    }
    (out_dir / "results.json").write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": results}, indent=2) + "\n")
    title = f"wskit and peers, medians of {rounds} round(s), {date} (server on CPU 0)"
    (out_dir / "chart.svg").write_text(svg_chart(summary, title))
    print(f"commit {meta['commit']}, load average {meta['load_average_before']} before, "
          f"{meta['load_average_after']} after")
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'chart.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
