#!/usr/bin/env python3
"""Run the Autobahn conformance cases (via kosoku) against wskit, both ways.

* server direction: start the echo server (`wskit echo --listen 127.0.0.1:0`),
  read its `listening on ws://HOST:PORT` line, and drive it with
  `kosoku -m fuzzingclient`: all cases but 12.* / 13.* in parallel, then the
  12.* / 13.* (permessage-deflate) cases, one at a time unless
  `--serial-parallel N` (kosoku may report false timeouts for them when run in
  parallel on a busy machine).
* client direction: start `kosoku -m fuzzingserver 127.0.0.1:0` and run the
  client harness (`autobahn_client ws://127.0.0.1:PORT`) against it.

Then check the reports kosoku wrote: every case (517 each way for the whole
suite) must end with behavior and close behavior in {OK, NON-STRICT,
INFORMATIONAL}. UNIMPLEMENTED (kosoku's verdict for 12.x/13.x when no
permessage-deflate was negotiated) and a missing case count as failures.
Writes reports/autobahn-summary.json; kosoku's own reports (JSON + HTML) go to
reports/autobahn/{server,client}/. Exit status 0 only when both directions pass.

The server direction can target a path and a server that prints
`listening on http://HOST:PORT` (as `wskit serve` does), and a run can be
named so that its reports sit beside the others, e.g. the hub-served echo:

    python scripts/autobahn.py --direction server --name hub \
        --server-cmd "wskit serve --listen 127.0.0.1:0 ..." --server-path /echo

writes reports/autobahn/hub-server/ and reports/autobahn-hub-summary.json.

Run it with the Python of the venv that has kosoku (scripts/test.sh does).
Commands may be replaced, e.g. with the Python stand-ins:

    python scripts/autobahn.py \
        --server-cmd "python scripts/standin_echo.py echo --listen 127.0.0.1:0" \
        --client-cmd "python scripts/standin_autobahn_client.py {url}"
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_TOTAL = 517  # cases in the Autobahn suite as kosoku 0.1.0 ships it
SERIAL_GLOBS = ["12.*", "13.*"]  # permessage-deflate cases: run with -p 1
ALLOWED = {"OK", "NON-STRICT", "INFORMATIONAL"}
COLUMNS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "other"]
AGENT = "wskit"


def log(msg: str) -> None:
    print(f"[autobahn] {msg}", flush=True)


def target_dir() -> Path:
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else ROOT / "target"


def kosoku_cmd() -> list[str]:
    beside = Path(sys.executable).parent / "kosoku"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("kosoku")
    if found:
        return [found]
    sys.exit("kosoku not found: run with the venv's python (pip install -r tests/requirements.txt)")


def all_case_ids() -> list[str]:
    from kosoku.cases import CASES  # importing builds the index (no I/O)

    return list(CASES)


def select(ids: list[str], include: list[str], exclude: list[str]) -> list[str]:
    def hit(case_id: str, globs: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(case_id, g) for g in globs)

    chosen = [c for c in ids if not include or hit(c, include)]
    return [c for c in chosen if not hit(c, exclude)]


def selection_args(include: list[str], exclude: list[str]) -> list[str]:
    return [a for g in include for a in ("-i", g)] + [a for g in exclude for a in ("-x", g)]


class Proc:
    """A child in its own process group; its output is copied to a log file."""

    def __init__(self, argv: list[str], logfile: Path, *, watch: str, pattern: str) -> None:
        self.logfile = logfile
        self.log: IO[str] = open(logfile, "w", buffering=1)
        self.log.write(f"$ {shlex.join(argv)}\n")
        self.found: str | None = None
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        regex = re.compile(pattern)
        self.threads = [
            threading.Thread(
                target=self._pump, args=(stream, regex if name == watch else None), daemon=True
            )
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for t in self.threads:
            t.start()

    def _pump(self, stream: IO[str], regex: re.Pattern[str] | None) -> None:
        for line in stream:
            self.log.write(line)
            if regex is not None and self.found is None:
                m = regex.search(line)
                if m:
                    self.found = m.group(1)
                    self.ready.set()
        if regex is not None:
            self.ready.set()  # EOF: stop waiting

    def wait_ready(self, timeout: float) -> str | None:
        self.ready.wait(timeout)
        return self.found

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                if self.wait(grace) is not None:
                    break
        for t in self.threads:
            t.join(5)
        self.log.close()

    def tail(self, n: int = 15) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    | " + line for line in lines[-n:])


def run_logged(argv: list[str], logfile: Path, timeout: float) -> tuple[int | None, float]:
    """Run a command to completion (or kill it at `timeout`); return (rc, seconds)."""
    start = time.monotonic()
    p = Proc(argv, logfile, watch="", pattern="(?!)")
    rc = p.wait(timeout)
    p.stop()
    return rc, time.monotonic() - start


# --------------------------------------------------------------------------
# the two directions


def run_server_direction(args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    """kosoku (fuzzingclient) -> wskit echo server."""
    notes: list[str] = []
    start = time.monotonic()
    server = Proc(
        shlex.split(args.server_cmd),
        outdir / "server-under-test.log",
        watch="stdout",
        pattern=r"listening on (?:ws|http)://([^\s/]+)",
    )
    parts: list[dict[str, Any]] = []
    try:
        addr = server.wait_ready(args.startup_timeout)
        if not addr:
            notes.append(f"server did not print 'listening on ws://HOST:PORT' (or http://) within {args.startup_timeout}s")
            log(notes[-1] + "\n" + server.tail())
            return {"notes": notes, "parts": parts, "dirs": [], "seconds": time.monotonic() - start}
        url = f"ws://{addr}{args.server_path}"
        log(f"server under test listening on {url}")

        ids = select(all_case_ids(), args.include, args.exclude)
        serial = select(ids, SERIAL_GLOBS, [])
        parallel = [c for c in ids if c not in set(serial)]
        full = not args.include and not args.exclude
        plan = [
            ("parallel", parallel, args.parallel, args.timeout_parallel,
             selection_args([], SERIAL_GLOBS)),
            ("serial", serial, args.serial_parallel, args.timeout_serial,
             selection_args(SERIAL_GLOBS, [])),
        ]
        for name, cases, par, timeout, globs in plan:
            if not cases:
                continue
            if server.proc.poll() is not None:
                notes.append(f"server under test exited (rc={server.proc.returncode}) before the {name} part")
                log(notes[-1] + "\n" + server.tail())
                break
            # the whole suite by glob; a development subset by explicit ids
            sel = globs if full else selection_args(cases, [])
            part_dir = outdir / name
            argv = kosoku_cmd() + ["-m", "fuzzingclient", url, "-p", str(par), "-o", str(part_dir)] + sel
            log(f"server/{name}: {len(cases)} cases, -p {par}, timeout {timeout}s")
            rc, secs = run_logged(argv, outdir / f"kosoku-{name}.log", timeout)
            log(f"server/{name}: kosoku exit {rc if rc is not None else 'TIMEOUT'} after {secs:.1f}s")
            if rc is None:
                notes.append(f"kosoku {name} part timed out after {timeout}s (killed; its reports are missing)")
            parts.append({"part": name, "cases": len(cases), "parallelism": par,
                          "kosoku_exit": rc, "seconds": round(secs, 1)})
        if server.proc.poll() is not None:
            notes.append(f"server under test exited during the run (rc={server.proc.returncode})")
            log(notes[-1] + "\n" + server.tail())
    finally:
        server.stop()
    return {"notes": notes, "parts": parts, "dirs": [outdir / p["part"] for p in parts],
            "seconds": time.monotonic() - start}


def send_update_reports(addr: str) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://{addr}/updateReports?agent={AGENT}", open_timeout=10, close_timeout=5):
        pass


def run_client_direction(args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    """wskit autobahn client -> kosoku (fuzzingserver)."""
    notes: list[str] = []
    parts: list[dict[str, Any]] = []
    start = time.monotonic()
    report_dir = outdir / "cases"
    argv = kosoku_cmd() + ["-m", "fuzzingserver", "127.0.0.1:0", "-o", str(report_dir)]
    argv += selection_args(args.include, args.exclude)
    fuzzer = Proc(argv, outdir / "kosoku.log", watch="stderr",
                  pattern=r"fuzzingserver listening on ws://(\S+)")
    try:
        addr = fuzzer.wait_ready(args.startup_timeout)
        if not addr:
            notes.append("kosoku fuzzingserver did not start")
            log(notes[-1] + "\n" + fuzzer.tail())
            return {"notes": notes, "parts": parts, "dirs": [], "seconds": time.monotonic() - start}
        url = f"ws://{addr}"
        client_argv = [a.replace("{url}", url) for a in shlex.split(args.client_cmd)]
        if not any("{url}" in a for a in shlex.split(args.client_cmd)):
            client_argv.append(url)
        log(f"client under test -> {url}, timeout {args.timeout_client}s")
        rc, secs = run_logged(client_argv, outdir / "client-under-test.log", args.timeout_client)
        log(f"client: exit {rc if rc is not None else 'TIMEOUT'} after {secs:.1f}s")
        parts.append({"part": "client", "client_exit": rc, "seconds": round(secs, 1)})
        if rc != 0:
            notes.append(f"client under test {'timed out' if rc is None else f'exited with {rc}'}")
            log(notes[-1] + "\n" + fuzzer.tail() + "\n" + _tail_file(outdir / "client-under-test.log"))
        # kosoku's fuzzingserver only finishes (and writes its reports) on
        # /updateReports. If the client never got there, finish it ourselves so
        # the cases it did run are still reported (the rest count as missing).
        krc = fuzzer.wait(15)
        if krc is None:
            notes.append("client did not call /updateReports; the runner did")
            log(notes[-1])
            try:
                send_update_reports(addr)
            except Exception as exc:  # noqa: BLE001
                log(f"updateReports failed: {exc}")
            krc = fuzzer.wait(120)
        parts.append({"part": "kosoku", "kosoku_exit": krc})
        if krc is None:
            notes.append("kosoku fuzzingserver did not finish; killed")
    finally:
        fuzzer.stop()
    return {"notes": notes, "parts": parts, "dirs": [report_dir], "seconds": time.monotonic() - start}


def _tail_file(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    | " + line for line in lines[-n:])


# --------------------------------------------------------------------------
# checking


def case_key(case_id: str) -> list[int]:
    return [int(p) for p in case_id.split(".")]


def check(direction: str, run: dict[str, Any], expected: list[str]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    agents: set[str] = set()
    for d in run["dirs"]:
        index = Path(d) / "index.json"
        if not index.exists():
            continue
        for agent, cases in json.loads(index.read_text()).items():
            agents.add(agent)
            for case_id, entry in cases.items():
                results[case_id] = {**entry, "dir": str(d)}

    counts = {c: 0 for c in COLUMNS}
    close_counts: dict[str, int] = {}
    bad: list[dict[str, Any]] = []
    unimplemented: list[str] = []
    for case_id in sorted(results, key=case_key):
        r = results[case_id]
        beh, close = r["behavior"], r["behaviorClose"]
        counts[beh if beh in counts else "other"] += 1
        close_counts[close] = close_counts.get(close, 0) + 1
        if beh == "UNIMPLEMENTED":
            unimplemented.append(case_id)
        if beh not in ALLOWED or close not in ALLOWED:
            detail: dict[str, Any] = {}
            try:
                detail = json.loads((Path(r["dir"]) / r["reportfile"]).read_text())
            except (OSError, ValueError, KeyError):
                pass
            bad.append({
                "id": case_id,
                "behavior": beh,
                "behaviorClose": close,
                "remoteCloseCode": r.get("remoteCloseCode"),
                "description": detail.get("description", ""),
                "result": detail.get("result", ""),
                "resultClose": detail.get("resultClose", ""),
                "report": str(Path(r["dir"]) / r.get("reportfile", "")),
            })

    for part in run["parts"]:
        rc = part.get("kosoku_exit")
        if rc not in (0, None) and not bad:
            run["notes"].append(f"kosoku ({part['part']}) exited {rc} although no case failed the check")

    missing = [c for c in expected if c not in results]
    unexpected = [c for c in results if c not in set(expected)]
    ok = not bad and not missing and not unexpected and not run["notes"] and len(results) == len(expected)
    return {
        "direction": direction,
        "ok": ok,
        "total": len(results),
        "expected_total": len(expected),
        "agents": sorted(agents),
        "behavior": counts,
        "behaviorClose": close_counts,
        "unimplemented": unimplemented,
        "failures": bad,
        "missing": missing,
        "unexpected": unexpected,
        "notes": run["notes"],
        "parts": run["parts"],
        "seconds": round(run["seconds"], 1),
        "reports": [str(d) for d in run["dirs"]],
    }


def print_table(summaries: list[dict[str, Any]]) -> None:
    widths = [max(len(c), 5) + 2 for c in COLUMNS]
    head = f"{'direction':<12}{'cases':>8}" + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths))
    print(head + f"{'missing':>9}{'bad-close':>11}{'time':>8}")
    for s in summaries:
        close_bad = sum(n for k, n in s["behaviorClose"].items() if k not in ALLOWED)
        row = f"{s['direction']:<12}{s['total']:>4}/{s['expected_total']:<3}"
        row += "".join(f"{s['behavior'][c]:>{w}}" for c, w in zip(COLUMNS, widths))
        row += f"{len(s['missing']):>9}{close_bad:>11}{s['seconds']:>7.0f}s"
        print(row)
    for s in summaries:
        for note in s["notes"]:
            print(f"  {s['direction']}: {note}")
        if s["unimplemented"]:
            print(f"  {s['direction']}: UNIMPLEMENTED in {len(s['unimplemented'])} cases: {compress_ids(s['unimplemented'])}")
        for f in s["failures"][: 60]:
            print(f"  {s['direction']}: {f['id']}: {f['behavior']} / close {f['behaviorClose']}"
                  f" (remote close {f['remoteCloseCode']}) - {f['description']}"
                  f"{' -> ' + f['result'][:100] if f['result'] else ''}")
        if len(s["failures"]) > 60:
            print(f"  {s['direction']}: ... and {len(s['failures']) - 60} more (see reports/autobahn-summary.json)")
        if s["missing"]:
            print(f"  {s['direction']}: {len(s['missing'])} cases missing from the reports: {compress_ids(s['missing'])}")
        if s["unexpected"]:
            print(f"  {s['direction']}: unexpected cases in the reports: {compress_ids(s['unexpected'])}")


def compress_ids(ids: list[str], limit: int = 40) -> str:
    """'13.3.1 13.3.2 ... 13.3.18' -> '13.3.* (18)' where a whole minor group is listed."""
    groups: dict[str, list[str]] = {}
    for c in ids:
        groups.setdefault(".".join(c.split(".")[:2]), []).append(c)
    out = []
    for g, members in groups.items():
        out.append(f"{g}.* ({len(members)})" if len(members) > 3 else " ".join(members))
    text = " ".join(out)
    return text if len(text) < limit * 12 else text[: limit * 12] + " ..."


def main() -> int:
    td = target_dir()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--direction", choices=["both", "server", "client"], default="both")
    p.add_argument("--server-cmd", default=f"{td / 'release' / 'wskit'} echo --listen 127.0.0.1:0",
                   help="prints 'listening on ws://HOST:PORT' (or http://) on stdout once bound")
    p.add_argument("--server-path", default="",
                   help="path of the echo service on the server under test (default: none, i.e. /)")
    p.add_argument("--name", default="",
                   help="name of this run: reports go to reports/autobahn/NAME-DIRECTION/ and "
                        "reports/autobahn-NAME-summary.json (default: no name)")
    p.add_argument("--client-cmd", default=f"{td / 'release' / 'examples' / 'autobahn_client'} {{url}}",
                   help="'{url}' is replaced by ws://HOST:PORT of kosoku's fuzzingserver (appended if absent)")
    p.add_argument("-i", "--include", action="append", default=[], metavar="CASE",
                   help="only these case ids / globs (development; default: the whole suite)")
    p.add_argument("-x", "--exclude", action="append", default=[], metavar="CASE")
    p.add_argument("-p", "--parallel", type=int, default=int(os.environ.get("WSKIT_AUTOBAHN_PARALLEL", "4")),
                   help="kosoku parallelism for the non-12/13 server cases")
    p.add_argument("--serial-parallel", type=int,
                   default=int(os.environ.get("WSKIT_AUTOBAHN_SERIAL_PARALLEL", "1")),
                   help="kosoku parallelism for the 12.* / 13.* server cases (default 1: kosoku may "
                        "report false timeouts for them in parallel on a busy machine)")
    p.add_argument("--timeout-parallel", type=float, default=float(os.environ.get("WSKIT_AUTOBAHN_TIMEOUT_PARALLEL", "300")))
    p.add_argument("--timeout-serial", type=float, default=float(os.environ.get("WSKIT_AUTOBAHN_TIMEOUT_SERIAL", "900")))
    p.add_argument("--timeout-client", type=float, default=float(os.environ.get("WSKIT_AUTOBAHN_TIMEOUT_CLIENT", "1200")))
    p.add_argument("--startup-timeout", type=float, default=30)
    p.add_argument("--reports", default=str(ROOT / "reports"))
    args = p.parse_args()
    # children run in their own sessions: on SIGTERM unwind so `finally` stops them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ids = all_case_ids()
    full = not args.include and not args.exclude
    if full and len(ids) != EXPECTED_TOTAL:
        log(f"kosoku ships {len(ids)} cases, expected {EXPECTED_TOTAL}: update EXPECTED_TOTAL deliberately")
        return 2
    expected = select(ids, args.include, args.exclude)
    if not expected:
        log("no case selected")
        return 2

    reports = Path(args.reports)
    summaries = []
    if args.server_path and not args.server_path.startswith("/"):
        log(f"--server-path must start with '/': {args.server_path!r}")
        return 2
    prefix = f"{args.name}-" if args.name else ""
    for direction, runner in (("server", run_server_direction), ("client", run_client_direction)):
        if args.direction not in ("both", direction):
            continue
        outdir = reports / "autobahn" / f"{prefix}{direction}"
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        log(f"== {prefix}{direction} direction: {len(expected)} cases ==")
        summaries.append(check(f"{prefix}{direction}", runner(args, outdir), expected))

    print_table(summaries)
    summary = {
        "ok": all(s["ok"] for s in summaries),
        "full_suite": full,
        "allowed": sorted(ALLOWED),
        "directions": {s["direction"]: s for s in summaries},
    }
    summary_file = reports / f"autobahn-{prefix}summary.json"
    summary_file.write_text(json.dumps(summary, indent=2) + "\n")
    verdict = "PASS" if summary["ok"] else "FAIL"
    log(f"{verdict}: " + ", ".join(f"{s['direction']} {s['total']}/{s['expected_total']}"
                                   f" {'ok' if s['ok'] else 'FAILED'}" for s in summaries)
        + f" (summary: {summary_file})")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
