#!/usr/bin/env bash
# The test command of wskit: installs what the tests need (once), then runs
# fmt, clippy, the unit/integration tests, a release build, the Autobahn
# TestSuite both ways (kosoku), the interop tests (Python websockets, npm ws
# and websocket), the browser tests (Debian's Chromium) and a smoke run of the
# perf harness (scripts/perf.py --smoke). The Autobahn server-side cases and the interop
# clients also run against the hub-served echo (`wskit serve`'s /echo). Ends with
# "N passed, 0 failed" or exits non-zero at the first failing step.
#
# Environment:
#   CARGO_TARGET_DIR  build cache (default ~/.cache/wskit/target, outside the clone)
#   WSKIT_VENV        Python venv with kosoku + websockets (default ~/.cache/wskit/venv)
#   WSKIT_AUTOBAHN_TIMEOUT_{PARALLEL,SERIAL,CLIENT}, WSKIT_AUTOBAHN_PARALLEL: see scripts/autobahn.py
#   WSKIT_AUTOBAHN_HUB_SERIAL_PARALLEL  parallelism of the hub run's deflate cases (default 4)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wskit/target}
mkdir -p "$CARGO_TARGET_DIR"
VENV=${WSKIT_VENV:-$HOME/.cache/wskit/venv}
PY=$VENV/bin/python
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RELEASE=$CARGO_TARGET_DIR/release

passed=0
skipped=0
current="start"
t_all=$SECONDS
t_step=$SECONDS

step() {
    current=$1
    t_step=$SECONDS
    printf '\n==> [%d] %s\n' "$((passed + skipped + 1))" "$1"
}
done_step() {
    passed=$((passed + 1))
    printf '==> ok: %s (%ds)\n' "$current" "$((SECONDS - t_step))"
}
skip_step() {
    skipped=$((skipped + 1))
    printf '==> skipped: %s (%s)\n' "$current" "$1"
}
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n==> FAILED: %s (exit %d, after %ds)\n' "$current" "$rc" "$((SECONDS - t_all))"
        printf '%d passed, 1 failed\n' "$passed"
    fi
}
trap on_exit EXIT

# sha256 over the files that exist among the arguments
hash_files() {
    local f
    for f in "$@"; do
        if [ -f "$f" ]; then cat "$f"; fi
    done | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------------------
step "setup: Python venv ($VENV), npm peers, Chromium, redis-server"
if [ -x "$PY" ] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    echo "venv at $VENV is broken; recreating"
    rm -rf "$VENV"
fi
if [ ! -x "$PY" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
fi
req_stamp=$( { cat tests/requirements.txt; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.wskit-requirements" 2>/dev/null || true)" != "$req_stamp" ]; then
    echo "installing tests/requirements.txt into $VENV"
    "$PY" -m pip install --disable-pip-version-check --no-input -q -r tests/requirements.txt
    echo "$req_stamp" >"$VENV/.wskit-requirements"
else
    echo "venv up to date"
fi
"$PY" -c 'import kosoku, websockets' # fail here, not in the middle of the run

# npm packages of a test directory, installed from its lock file when it changed.
npm_install() {
    local dir=$1 stamp
    [ -f "$dir/package.json" ] || { echo "$dir/package.json not there: no npm install"; return; }
    command -v npm >/dev/null || { echo "npm not found (needed for $dir)"; exit 1; }
    stamp=$(hash_files "$dir/package.json" "$dir/package-lock.json")
    if [ ! -d "$dir/node_modules" ] ||
        [ "$(cat "$dir/node_modules/.wskit-stamp" 2>/dev/null || true)" != "$stamp" ]; then
        if [ -f "$dir/package-lock.json" ]; then
            (cd "$dir" && npm ci --no-audit --no-fund)
        else
            (cd "$dir" && npm install --no-audit --no-fund)
        fi
        # npm install may have written package-lock.json: stamp what is there now
        hash_files "$dir/package.json" "$dir/package-lock.json" >"$dir/node_modules/.wskit-stamp"
    else
        echo "$dir/node_modules up to date"
    fi
}
npm_install tests/peers
npm_install tests/browser

# Debian packages: Chromium for tests/browser (driven by playwright-core, never downloaded by
# it), openssl for its test certificate. Installed only when missing.
apt_missing=()
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
command -v openssl >/dev/null || apt_missing+=(openssl)
# Go and the Debian packages of what go-openapi/swaggersocket imports, for tests/swaggersocket.
command -v go >/dev/null || apt_missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/gorilla/websocket ] || apt_missing+=(golang-github-gorilla-websocket-dev)
[ -d /usr/share/gocode/src/github.com/satori/go.uuid ] || apt_missing+=(golang-github-satori-go.uuid-dev)
[ -d /usr/share/gocode/src/github.com/cenkalti/backoff ] || apt_missing+=(golang-github-cenkalti-backoff-dev)
if [ "${#apt_missing[@]}" -gt 0 ]; then
    echo "apt-get install ${apt_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi
/usr/bin/chromium --version

# redis-server (and redis-cli, from its dependency redis-tools) for the multi-node tests, which
# start their own servers and clusters on free loopback ports. Installed only when missing, with
# no service started (policy-rc.d refuses it) nor enabled.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing redis-server (apt)"
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt_rc=0
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server ||
        apt_rc=$?
    if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ "$apt_rc" -ne 0 ]; then exit "$apt_rc"; fi
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
fi
redis-server --version

# promtool (Debian's prometheus package) checks the /metrics page of wskit serve, in the metrics
# step and in crates/wskit-cli/tests/metrics.rs. Installed only when missing, with no service
# started (policy-rc.d refuses it) nor enabled.
if ! command -v promtool >/dev/null; then
    echo "installing prometheus for promtool (apt)"
    policy_added=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt_rc=0
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o DPkg::Lock::Timeout=600 --no-install-recommends prometheus || apt_rc=$?
    if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ "$apt_rc" -ne 0 ]; then exit "$apt_rc"; fi
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
promtool --version | head -1
done_step

# ---------------------------------------------------------------------------
step "cargo fmt --all -- --check"
cargo fmt --all -- --check
done_step

step "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings
done_step

step "cargo doc: every library's docs, broken links are errors"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --all-features --no-deps --lib
done_step

# What a release needs: each published crate packages and builds from its tarball alone, as
# `cargo publish` would check (metadata, a dependency on an unpublished crate, a file outside
# the crate's directory all fail here; the workspace's crates resolve to each other's
# tarballs), and the docs also build with default features only, as a user's `cargo doc`
# does, links clean. The first run builds the crates once more (minutes); later runs reuse
# that build (about 30 s). --offline: the steps above fetched every dependency.
step "packaging: cargo package of each crate, docs with default features"
cargo package --locked --offline --allow-dirty \
    -p wskit-proto -p wskit -p wskit-hub -p wskit-rest -p wskit-cli
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --lib -p wskit-proto -p wskit -p wskit-hub -p wskit-rest
done_step

step "cargo test --workspace --all-features"
cargo test --workspace --all-features
done_step

step "cargo build --release (wskit binary, autobahn_client and interop_client examples)"
cargo build --release -p wskit-cli --bin wskit
examples=(--example autobahn_client)
if [ -f crates/wskit/examples/interop_client.rs ]; then
    examples+=(--example interop_client)
fi
cargo build --release -p wskit "${examples[@]}"
ls -l "$RELEASE/wskit" "$RELEASE/examples/autobahn_client"
done_step

# ---------------------------------------------------------------------------
step "Autobahn TestSuite both ways (kosoku): scripts/autobahn.py"
"$PY" scripts/autobahn.py \
    --server-cmd "$RELEASE/wskit echo --listen 127.0.0.1:0" \
    --client-cmd "$RELEASE/examples/autobahn_client {url}"
done_step

# The same server-side cases against wskit-hub: the /echo service of `wskit serve` (the hub's
# connection driver behind axum's upgrade, its queue and its writes). The deflate cases run 4 at
# a time too (WSKIT_AUTOBAHN_HUB_SERIAL_PARALLEL), which shortens this step on two cores.
step "Autobahn TestSuite against the hub (kosoku): wskit serve's /echo"
"$PY" scripts/autobahn.py --direction server --name hub --server-path /echo \
    --serial-parallel "${WSKIT_AUTOBAHN_HUB_SERIAL_PARALLEL:-4}" \
    --server-cmd "$RELEASE/wskit serve --listen 127.0.0.1:0 --no-demo --max-message-size 64MiB --max-queued-bytes 64MiB --backpressure wait --heartbeat-interval off"
done_step

step "interop: tests/interop/run.py (peers against wskit echo and the hub: serve's /echo, echo --broadcast; our client against theirs)"
if [ -f tests/interop/run.py ]; then
    export WSKIT_BIN=$RELEASE/wskit
    if [ -x "$RELEASE/examples/interop_client" ]; then
        export WSKIT_INTEROP_CLIENT=$RELEASE/examples/interop_client
    fi
    "$PY" tests/interop/run.py
    done_step
else
    skip_step "tests/interop/run.py not there"
fi

step "SwaggerSocket interop with the Go library: tests/swaggersocket/run.sh"
WSKIT_BIN=$RELEASE/wskit tests/swaggersocket/run.sh
done_step

step "metrics: promtool check metrics on a live wskit serve (scripts/check_metrics.py)"
"$PY" scripts/check_metrics.py "$RELEASE/wskit"
done_step

step "browser: headless Chromium against wskit serve (tests/browser/run.mjs)"
WSKIT_BIN=$RELEASE/wskit node tests/browser/run.mjs
done_step

# ---------------------------------------------------------------------------
step "perf harness smoke run: scripts/perf.py --smoke (checks the harness, measures nothing)"
"$PY" scripts/perf.py --smoke --no-build
done_step

# ---------------------------------------------------------------------------
printf '\n==> all steps passed in %ds (%s)\n' "$((SECONDS - t_all))" "$ROOT"
if [ "$skipped" -gt 0 ]; then
    printf '%d passed, 0 failed, %d skipped\n' "$passed" "$skipped"
else
    printf '%d passed, 0 failed\n' "$passed"
fi
