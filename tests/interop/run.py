#!/usr/bin/env python3
"""wskit interoperability driver.

Run from the repository root with the venv's python (it needs `websockets`
for the Python peers, which run under the same interpreter):

    WSKIT_BIN=target/release/wskit \
    WSKIT_INTEROP_CLIENT=target/release/examples/interop_client \
    $VENV/bin/python tests/interop/run.py

Part A runs third-party clients (Python `websockets`, npm `ws`, npm
`websocket`) against `$WSKIT_BIN echo --listen 127.0.0.1:0`; part H runs the
same clients against the hub-served echo (the `/echo` service of
`$WSKIT_BIN serve`, driven by wskit-hub), and a broadcast check against
`$WSKIT_BIN echo --broadcast` (wskit-hub's fan-out, whose frames go straight
into idle sockets, through io_uring where the kernel allows it).
Part B runs `$WSKIT_INTEROP_CLIENT URL [--deflate] [--expect-close CODE]`
against third-party echo servers (same three libraries).

Overrides (to plug in stand-ins or wrappers; values are shell-split):
    --server-cmd CMD  / WSKIT_INTEROP_SERVER_CMD   replaces "$WSKIT_BIN echo --listen 127.0.0.1:0"
    --hub-cmd CMD     / WSKIT_INTEROP_HUB_CMD      replaces "$WSKIT_BIN serve --listen 127.0.0.1:0 ..."
                                                   (its echo is on /echo)
    --broadcast-cmd CMD / WSKIT_INTEROP_BROADCAST_CMD replaces "$WSKIT_BIN echo --broadcast ..."
    --client-cmd CMD  / WSKIT_INTEROP_CLIENT_CMD   replaces "$WSKIT_INTEROP_CLIENT"
    --standins        both, with tests/peers/py_server.py and tests/peers/standin_client.py
Other options: -k SUBSTR (run only checks whose name contains it; repeatable),
--list, -v (print the output of failing checks), --budget SECONDS (default 200).
NODE selects the node binary (default: node on PATH).

Output: one line per check, "ok   NAME" or "FAIL NAME: reason", then
"N passed, M failed" alone on a line; the exit status is 1 if any failed.
Every process started gets a timeout and its process group is killed at the
end.  Servers are waited for by reading their "listening on ws://..." first
stdout line; nothing sleeps for synchronisation.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "tests" / "peers"
PY = sys.executable
NODE = os.environ.get("NODE", "node")

LISTEN_RE = re.compile(r"^listening on (ws://\S+?)/?\s*$")
# `wskit serve`'s first line, "wskit serve: listening on http://HOST:PORT (open it ...)", or
# a stand-in's "listening on ws://HOST:PORT"
SERVE_LISTEN_RE = re.compile(r"^(?:wskit serve: )?listening on (?:http|ws)://([^\s/]+)")
SERVER_START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 30.0
BIG_CLIENT_TIMEOUT = 45.0

# Every process group we started, for cleanup.
_started: list[subprocess.Popen] = []
_started_lock = threading.RLock()  # re-entrant: the signal handler may run cleanup() while held


def _popen(cmd: list[str], **kw) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group: we kill the whole group
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
        **kw,
    )
    with _started_lock:
        _started.append(proc)
    return proc


def _kill_group(proc: subprocess.Popen, grace: float = 0.0) -> None:
    """Kill the process group of a process we started (and only that)."""
    if proc.poll() is None and grace > 0:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def cleanup() -> None:
    with _started_lock:
        procs = list(_started)
        _started.clear()
    for p in procs:
        _kill_group(p)


def one_line(text: str, limit: int = 700) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    s = " | ".join(lines[-4:])
    return s if len(s) <= limit else s[: limit - 3] + "..."


class Failure(Exception):
    def __init__(self, reason: str, details: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.details = details


# --------------------------------------------------------------------------
# servers


class Server:
    """A long-running server process that announces `listening on ws://...`."""

    def __init__(self, label: str, cmd: list[str], listen_re: re.Pattern[str] = LISTEN_RE,
                 path: str = "/"):
        """`listen_re` matches the first stdout line; its group 1 is ws://HOST:PORT or
        HOST:PORT. `path` is the path of the echo service."""
        self.label = label
        self.cmd = cmd
        self.listen_re = listen_re
        self.path = path
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=50)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=50)

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        try:
            self.proc = _popen(self.cmd)
        except OSError as e:
            raise Failure(f"cannot start {self.label} ({shlex.join(self.cmd)}): {e}") from None
        first: list[str] = []
        got_first = threading.Event()

        def read_stdout(stream):
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if not got_first.is_set():
                    first.append(line)
                    got_first.set()
                self.stdout_tail.append(line)
            got_first.set()

        def read_stderr(stream):
            for raw in stream:
                self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

        threading.Thread(target=read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=read_stderr, args=(self.proc.stderr,), daemon=True).start()

        if not got_first.wait(timeout):
            self.stop()
            raise Failure(f"{self.label} printed nothing on stdout within {timeout:.0f}s",
                          self.output())
        if not first:
            code = self.proc.wait(5)
            raise Failure(f"{self.label} exited ({code}) before printing 'listening on ws://...': "
                          f"{one_line(self.stderr_text())}", self.output())
        m = self.listen_re.match(first[0])
        if not m:
            self.stop()
            raise Failure(f"{self.label}: first stdout line does not match {self.listen_re.pattern!r}: "
                          f"{first[0]!r}", self.output())
        base = m.group(1) if m.group(1).startswith("ws://") else "ws://" + m.group(1)
        self.url = base + self.path

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self):
        return None if self.proc is None else self.proc.poll()

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)

    def output(self) -> str:
        return (f"--- {self.label} stdout (tail)\n" + "\n".join(self.stdout_tail)
                + f"\n--- {self.label} stderr (tail)\n" + self.stderr_text())

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc, grace=2.0)


# --------------------------------------------------------------------------
# clients


@dataclass
class ClientResult:
    cmd: list[str]
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool


def run_client(cmd: list[str], timeout: float) -> ClientResult:
    try:
        proc = _popen(cmd)
    except OSError as e:
        raise Failure(f"cannot run {shlex.join(cmd)}: {e}") from None
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = proc.communicate()
    else:
        _kill_group(proc)  # reap any stray children of the client
    return ClientResult(cmd, proc.returncode, out.decode("utf-8", "replace"),
                        err.decode("utf-8", "replace"), timed_out)


def describe(res: ClientResult) -> str:
    return (f"$ {shlex.join(res.cmd)}\n--- exit {res.code}{' (timed out)' if res.timed_out else ''}\n"
            f"--- stdout\n{res.stdout}--- stderr\n{res.stderr}")


def expect_ok(res: ClientResult, timeout: float) -> None:
    if res.timed_out:
        raise Failure(f"timed out after {timeout:.0f}s: {one_line(res.stderr) or '(no stderr)'}", describe(res))
    if res.code != 0:
        raise Failure(f"exit {res.code}: {one_line(res.stderr) or one_line(res.stdout) or '(no output)'}",
                      describe(res))
    if not any(ln.split()[:1] == ["ok"] for ln in res.stdout.splitlines()):
        raise Failure(f"exit 0 but no 'ok' line on stdout: {one_line(res.stdout) or '(empty)'}", describe(res))


# --------------------------------------------------------------------------
# peers


def py_peer(script: str) -> list[str]:
    return [PY, str(PEERS / script)]


def node_peer(script: str) -> list[str]:
    return [NODE, str(PEERS / script)]


PEER_CLIENTS = {
    # name: (command prefix, supports deflate)
    "websockets-client": (lambda: py_peer("py_client.py"), True),
    "ws-client": (lambda: node_peer("ws_client.js"), True),
    "websocket-client": (lambda: node_peer("websocket_client.js"), False),
}


def peer_problem(cmd: list[str]) -> str | None:
    """Why a peer cannot run here, or None."""
    if cmd[0] == NODE:
        if not (PEERS / "node_modules" / "ws").is_dir() or not (PEERS / "node_modules" / "websocket").is_dir():
            return "tests/peers/node_modules missing: run `npm ci` in tests/peers"
    elif cmd[0] == PY:
        if importlib.util.find_spec("websockets") is None:
            return f"python package `websockets` not importable by {PY}: use the venv's python"
    return None


# --------------------------------------------------------------------------
# checks


@dataclass
class Check:
    name: str
    run: Callable[[float], None]  # argument: seconds left in the budget


class Driver:
    def __init__(self, args):
        self.args = args
        self.server_cmd, self.server_cmd_problem = self._server_cmd()
        self.hub_cmd, self.hub_cmd_problem = self._wskit_cmd(
            "hub_cmd", "WSKIT_INTEROP_HUB_CMD",
            ["serve", "--listen", "127.0.0.1:0", "--no-demo", "--max-message-size", "64MiB",
             "--max-queued-bytes", "64MiB"])
        self.broadcast_cmd, self.broadcast_cmd_problem = self._wskit_cmd(
            "broadcast_cmd", "WSKIT_INTEROP_BROADCAST_CMD",
            ["echo", "--broadcast", "--no-deflate", "--listen", "127.0.0.1:0"], ["--broadcast"])
        self.client_cmd, self.client_cmd_problem = self._client_cmd()
        # part ("A", "H") -> its echo server, once started
        self.echos: dict[str, Server] = {}
        self.broadcast_server: Server | None = None
        # group name -> {"srv": Server} once that group's peer server was started
        self.group_servers: dict[str, dict[str, Server]] = {}

    # -- configuration

    def _server_cmd(self):
        if self.args.standins:
            return py_peer("py_server.py"), None
        raw = self.args.server_cmd or os.environ.get("WSKIT_INTEROP_SERVER_CMD")
        if raw:
            return shlex.split(raw), None
        bin_ = os.environ.get("WSKIT_BIN")
        if not bin_:
            return None, "WSKIT_BIN is not set (path to the wskit release binary), and no --server-cmd"
        bin_ = str(Path(bin_).resolve())  # subprocesses run in the repo root
        if not os.access(bin_, os.X_OK):
            return None, f"WSKIT_BIN={bin_} is not an executable file"
        return [bin_, "echo", "--listen", "127.0.0.1:0"], None

    def _wskit_cmd(self, option: str, env: str, wskit_args: list[str], standin_args=()):
        """A server of part H: the option or variable given, the stand-in, or `$WSKIT_BIN ARGS`."""
        if self.args.standins:
            return py_peer("py_server.py") + list(standin_args), None
        raw = getattr(self.args, option) or os.environ.get(env)
        if raw:
            return shlex.split(raw), None
        bin_ = os.environ.get("WSKIT_BIN")
        if not bin_:
            return None, f"WSKIT_BIN is not set (path to the wskit release binary), and no --{option.replace('_', '-')}"
        bin_ = str(Path(bin_).resolve())
        if not os.access(bin_, os.X_OK):
            return None, f"WSKIT_BIN={bin_} is not an executable file"
        return [bin_] + wskit_args, None

    def _client_cmd(self):
        if self.args.standins:
            return py_peer("standin_client.py"), None
        raw = self.args.client_cmd or os.environ.get("WSKIT_INTEROP_CLIENT_CMD")
        if raw:
            return shlex.split(raw), None
        bin_ = os.environ.get("WSKIT_INTEROP_CLIENT")
        if not bin_:
            return None, "WSKIT_INTEROP_CLIENT is not set (path to the interop_client example), and no --client-cmd"
        bin_ = str(Path(bin_).resolve())
        if not os.access(bin_, os.X_OK):
            return None, f"WSKIT_INTEROP_CLIENT={bin_} is not an executable file"
        return [bin_], None

    # -- parts A and H: peers against the wskit echo server and the hub-served echo

    def echo_server(self, part: str, left: float) -> Server:
        if part == "H":
            cmd, problem = self.hub_cmd, self.hub_cmd_problem
            listen_re, label, path = SERVE_LISTEN_RE, "hub echo (wskit serve, /echo)", "/echo"
        else:
            cmd, problem = self.server_cmd, self.server_cmd_problem
            listen_re, label, path = LISTEN_RE, "wskit echo server", "/"
        if cmd is None:
            raise Failure(problem)
        srv = self.echos.get(part)
        if srv is not None and not srv.alive():
            srv = None  # died in an earlier check (reported there); start afresh
        if srv is None:
            srv = Server(label, cmd, listen_re, path)
            srv.start(min(SERVER_START_TIMEOUT, left))
            self.echos[part] = srv
        return srv

    def check_server_survived(self, srv: Server, res_details: str) -> None:
        if not srv.alive():
            raise Failure(f"the peer finished but the echo server exited with {srv.exit_code()}: "
                          f"{one_line(srv.stderr_text()) or '(no stderr)'}", res_details + "\n" + srv.output())

    def peer_client_check(self, part: str, peer: str, flags: list[str],
                          timeout: float) -> Callable[[float], None]:
        def run(left: float) -> None:
            prefix, _ = PEER_CLIENTS[peer]
            cmd0 = prefix()
            problem = peer_problem(cmd0)
            if problem:
                raise Failure(problem)
            srv = self.echo_server(part, left)
            t = min(timeout, left)
            res = run_client(cmd0 + [srv.url] + flags, t)
            if not srv.alive():
                self.check_server_survived(srv, describe(res))
            expect_ok(res, t)
        return run

    def concurrent_check(self, part: str, timeout: float) -> Callable[[float], None]:
        def run(left: float) -> None:
            jobs = [("websockets-client", ["--deflate"]), ("ws-client", ["--deflate"]),
                    ("websocket-client", []), ("websockets-client", [])]
            for peer, _ in jobs:
                problem = peer_problem(PEER_CLIENTS[peer][0]())
                if problem:
                    raise Failure(problem)
            srv = self.echo_server(part, left)
            t = min(timeout, left)
            results: list[tuple[str, ClientResult | Exception]] = []
            lock = threading.Lock()

            def one(peer, flags):
                try:
                    r: ClientResult | Exception = run_client(PEER_CLIENTS[peer][0]() + [srv.url] + flags, t)
                except Exception as e:  # noqa: BLE001
                    r = e
                with lock:
                    results.append((peer, r))

            threads = [threading.Thread(target=one, args=j) for j in jobs]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if not srv.alive():
                self.check_server_survived(srv, "")
            for peer, r in results:
                if isinstance(r, Exception):
                    raise Failure(f"{peer}: {r}")
                try:
                    expect_ok(r, t)
                except Failure as f:
                    raise Failure(f"{shlex.join([peer] + r.cmd[3:])}: {f.reason}", f.details) from None
        return run

    def broadcast_check(self, timeout: float) -> Callable[[float], None]:
        """Three listeners (websockets, ws, websocket) stay idle while a fourth connection
        sends: each gets every message, in order and unchanged, written into its socket by
        the hub's fan-out while its connection's task sleeps."""
        def run(left: float) -> None:
            if self.broadcast_cmd is None:
                raise Failure(self.broadcast_cmd_problem)
            listeners = [py_peer("py_listen.py"), node_peer("listen.js") + ["ws"],
                         node_peer("listen.js") + ["websocket"]]
            for cmd in listeners:
                problem = peer_problem(cmd)
                if problem:
                    raise Failure(problem)
            t = min(timeout, left)
            deadline = time.monotonic() + t
            if self.broadcast_server is None or not self.broadcast_server.alive():
                self.broadcast_server = Server("wskit echo --broadcast", self.broadcast_cmd)
                self.broadcast_server.start(min(SERVER_START_TIMEOUT, left))
            srv = self.broadcast_server
            started: list[tuple[subprocess.Popen, list[str], threading.Event]] = []
            for cmd in listeners:
                proc = _popen(cmd + [srv.url])
                lines: list[str] = []
                ready = threading.Event()

                def pump(stream, lines=lines, ready=ready):
                    for raw in stream:
                        line = raw.decode("utf-8", "replace").rstrip("\n")
                        lines.append(line)
                        if line == "ready":
                            ready.set()
                    ready.set()

                threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
                started.append((proc, lines, ready))
            for proc, lines, ready in started:
                if not ready.wait(max(0.0, deadline - time.monotonic())) or "ready" not in lines:
                    err = proc.stderr.read().decode("utf-8", "replace") if proc.poll() is not None else ""
                    raise Failure(f"{shlex.join(proc.args[1:3])}: not connected: {one_line(err) or '(no output)'}")
            res = run_client(py_peer("py_listen.py") + [srv.url, "--send"], max(1.0, deadline - time.monotonic()))
            expect_ok(res, t)
            for proc, lines, _ in started:
                try:
                    code = proc.wait(max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    code = None
                err = proc.stderr.read().decode("utf-8", "replace")
                name = shlex.join(proc.args[1:3])
                if code != 0 or not any(ln.startswith("ok") for ln in lines):
                    raise Failure(f"{name}: exit {code}: {one_line(err) or one_line(chr(10).join(lines))}")
            if not srv.alive():
                self.check_server_survived(srv, "")
        return run

    # -- part B: our client against peer servers

    def our_client_check(self, server: Callable[[float], Server], flags: list[str],
                         expect_fail: bool = False) -> Callable[[float], None]:
        def run(left: float) -> None:
            if self.client_cmd is None:
                raise Failure(self.client_cmd_problem)
            srv = server(left)
            t = min(CLIENT_TIMEOUT, left)
            res = run_client(self.client_cmd + [srv.url] + flags, t)
            if not srv.alive():
                raise Failure(f"peer server {srv.label} exited with {srv.exit_code()}: "
                              f"{one_line(srv.stderr_text())}", describe(res) + "\n" + srv.output())
            if expect_fail:
                if res.timed_out:
                    raise Failure(f"timed out after {t:.0f}s instead of failing", describe(res))
                if res.code == 0:
                    raise Failure("exit 0, but --deflate against a server without permessage-deflate "
                                  "must fail", describe(res))
                return
            expect_ok(res, t)
        return run

    def checks(self) -> list[tuple[str, list[Check]]]:
        """Groups of checks; a group may own a peer server (started lazily, stopped after the group)."""
        groups: list[tuple[str, list[Check]]] = []

        # ---- A (wskit echo) and H (the hub-served echo of wskit serve)
        for part in ("A", "H"):
            a: list[Check] = []
            for peer, (_, deflate_ok) in PEER_CLIENTS.items():
                for deflate in ([False, True] if deflate_ok else [False]):
                    flags = ["--deflate"] if deflate else []
                    a.append(Check(f"{part} {peer} deflate={'on' if deflate else 'off'}",
                                   self.peer_client_check(part, peer, flags, CLIENT_TIMEOUT)))
            a.append(Check(f"{part} websockets-client 16MiB deflate=off",
                           self.peer_client_check(part, "websockets-client", ["--big"], BIG_CLIENT_TIMEOUT)))
            a.append(Check(f"{part} ws-client 16MiB deflate=on",
                           self.peer_client_check(part, "ws-client", ["--big", "--deflate"], BIG_CLIENT_TIMEOUT)))
            for peer in PEER_CLIENTS:
                for code in (1000, 1001):
                    a.append(Check(f"{part} {peer} close={code}",
                                   self.peer_client_check(part, peer, ["--quick", "--close", str(code)],
                                                          CLIENT_TIMEOUT)))
            a.append(Check(f"{part} 4 clients concurrently", self.concurrent_check(part, BIG_CLIENT_TIMEOUT)))
            groups.append((part, a))
        groups.append(("H broadcast", [Check("H broadcast: 3 listeners (websockets, ws, websocket)",
                                             self.broadcast_check(BIG_CLIENT_TIMEOUT))]))

        # ---- B
        peer_servers = [
            ("websockets-server", "deflate=off", py_peer("py_server.py") + ["--no-deflate"], False),
            ("websockets-server", "deflate=on", py_peer("py_server.py"), True),
            ("ws-server", "deflate=off", node_peer("ws_server.js"), False),
            ("ws-server", "deflate=on", node_peer("ws_server.js") + ["--deflate"], True),
            ("websocket-server", "deflate=off", node_peer("websocket_server.js"), False),
        ]
        for label, mode, cmd, deflate in peer_servers:
            holder: dict[str, Server] = {}

            def get_server(left: float, label=label, mode=mode, cmd=cmd, holder=holder) -> Server:
                problem = peer_problem(cmd)
                if problem:
                    raise Failure(problem)
                if "srv" not in holder or not holder["srv"].alive():
                    srv = Server(f"{label} ({mode})", cmd)
                    holder["srv"] = srv
                    srv.start(min(SERVER_START_TIMEOUT, left))
                return holder["srv"]

            group: list[Check] = []
            extra = ["--expect-close", "1000"] if label == "websocket-server" else []
            if deflate:
                group.append(Check(f"B {label} deflate=on", self.our_client_check(get_server, ["--deflate"] + extra)))
                group.append(Check(f"B {label} deflate=on client-no-deflate",
                                   self.our_client_check(get_server, extra)))
            else:
                group.append(Check(f"B {label} deflate=off", self.our_client_check(get_server, extra)))
            if label == "websockets-server" and not deflate:
                group.append(Check(f"B {label} deflate=off client --deflate must fail",
                                   self.our_client_check(get_server, ["--deflate"], expect_fail=True)))
            gname = f"B {label} {mode}"
            self.group_servers[gname] = holder
            groups.append((gname, group))
        return groups

    def stop_group(self, group_name: str) -> None:
        if group_name in self.echos:
            self.echos.pop(group_name).stop()
            return
        if group_name == "H broadcast":
            if self.broadcast_server is not None:
                self.broadcast_server.stop()
                self.broadcast_server = None
            return
        holder = self.group_servers.get(group_name, {})
        if "srv" in holder:
            holder["srv"].stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-cmd", help="command replacing `$WSKIT_BIN echo --listen 127.0.0.1:0`")
    ap.add_argument("--client-cmd", help="command replacing `$WSKIT_INTEROP_CLIENT`")
    ap.add_argument("--hub-cmd", help="command replacing `$WSKIT_BIN serve ...` (it must print "
                    "'listening on ws://HOST:PORT' or 'wskit serve: listening on http://HOST:PORT' "
                    "first and echo on /echo)")
    ap.add_argument("--broadcast-cmd", help="command replacing `$WSKIT_BIN echo --broadcast ...`")
    ap.add_argument("--standins", action="store_true",
                    help="use tests/peers/py_server.py and tests/peers/standin_client.py as our programs")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTR", help="only checks whose name contains SUBSTR")
    ap.add_argument("--list", action="store_true", help="list the checks and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the output of failing checks")
    ap.add_argument("--budget", type=float, default=200.0, help="overall time budget in seconds")
    args = ap.parse_args()

    driver = Driver(args)
    groups = [(g, [c for c in cs if not args.k or any(k in c.name for k in args.k)]) for g, cs in driver.checks()]
    groups = [(g, cs) for g, cs in groups if cs]
    if args.list:
        for _, cs in groups:
            for c in cs:
                print(c.name)
        return 0
    if not groups:
        print("no check matches the -k filters", file=sys.stderr)
        return 2

    server_desc = shlex.join(driver.server_cmd) if driver.server_cmd else f"(none: {driver.server_cmd_problem})"
    client_desc = shlex.join(driver.client_cmd) if driver.client_cmd else f"(none: {driver.client_cmd_problem})"
    print(f"# echo server: {server_desc}", flush=True)
    print(f"# our client:  {client_desc}", flush=True)

    def on_signal(signum, _frame):
        cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    deadline = time.monotonic() + args.budget
    passed = failed = 0
    t_start = time.monotonic()
    try:
        for gname, cs in groups:
            try:
                for c in cs:
                    left = deadline - time.monotonic()
                    t0 = time.monotonic()
                    try:
                        if left <= 1:
                            raise Failure(f"not run: the {args.budget:.0f}s time budget is used up")
                        c.run(left)
                    except Failure as f:
                        failed += 1
                        print(f"FAIL {c.name}: {f.reason}", flush=True)
                        if args.verbose and f.details:
                            for ln in f.details.rstrip().splitlines():
                                print(f"    {ln}", flush=True)
                    except Exception as e:  # noqa: BLE001 - a driver bug must not hide the other checks
                        failed += 1
                        print(f"FAIL {c.name}: driver error: {type(e).__name__}: {e}", flush=True)
                    else:
                        passed += 1
                        took = f" ({time.monotonic() - t0:.1f}s)" if args.verbose else ""
                        print(f"ok   {c.name}{took}", flush=True)
            finally:
                driver.stop_group(gname)
    finally:
        cleanup()
    print(f"# total {time.monotonic() - t_start:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
