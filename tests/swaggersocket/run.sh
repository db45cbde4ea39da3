#!/usr/bin/env bash
# SwaggerSocket v1 interop with the Go library (go-openapi/swaggersocket): builds the Go peer
# (tests/swaggersocket/peer/main.go) against the library's source and Debian's Go packages, in
# GOPATH mode and offline, into a cache outside the clone (rebuilt only when a source changes),
# builds the driver (crates/wskit-rest/examples/swaggersocket_interop.rs) and runs it: four
# directions, one line per check, then "swaggersocket interop: N passed, M failed".
#
# Needs: golang-go golang-github-gorilla-websocket-dev golang-github-satori-go.uuid-dev
# golang-github-cenkalti-backoff-dev (scripts/test.sh installs them).
#
# Environment:
#   SWAGGERSOCKET_SRC  the library's source (default: ../shared/peers/swaggersocket beside the clone)
#   WSKIT_BIN          the wskit binary for the gateway direction (default: $CARGO_TARGET_DIR/release/wskit)
#   WSKIT_GO_CACHE     where the Go peer is built (default: ~/.cache/wskit/go)
#   CARGO_TARGET_DIR   build cache of the driver (default: ~/.cache/wskit/target)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
SRC=${SWAGGERSOCKET_SRC:-$ROOT/../shared/peers/swaggersocket}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/wskit/target}
WSKIT_BIN=${WSKIT_BIN:-$CARGO_TARGET_DIR/release/wskit}
CACHE=${WSKIT_GO_CACHE:-$HOME/.cache/wskit/go}
PEER=$CACHE/swaggersocket-peer

[ -f "$SRC/connection.go" ] || { echo "the swaggersocket source is not at $SRC (set SWAGGERSOCKET_SRC)"; exit 1; }
command -v go >/dev/null || { echo "go not found: apt-get install golang-go (scripts/test.sh does)"; exit 1; }
for pkg in github.com/gorilla/websocket github.com/satori/go.uuid github.com/cenkalti/backoff; do
    [ -d "/usr/share/gocode/src/$pkg" ] || { echo "/usr/share/gocode/src/$pkg missing: install Debian's golang-${pkg#github.com/}-dev"; exit 1; }
done
[ -x "$WSKIT_BIN" ] || { echo "no wskit binary at $WSKIT_BIN (cargo build --release -p wskit-cli)"; exit 1; }

# The Go peer, rebuilt when its source, the library's or the Go version changes.
stamp=$( { cat tests/swaggersocket/peer/main.go "$SRC"/*.go; go version; } | sha256sum | cut -d' ' -f1)
if [ ! -x "$PEER" ] || [ "$(cat "$CACHE/stamp" 2>/dev/null || true)" != "$stamp" ]; then
    echo "building the Go peer into $CACHE"
    rm -rf "$CACHE/gopath"
    mkdir -p "$CACHE/gopath/src/github.com/go-openapi/swaggersocket" "$CACHE/gopath/src/swaggersocket-peer"
    cp "$SRC"/*.go "$CACHE/gopath/src/github.com/go-openapi/swaggersocket/"
    rm -f "$CACHE"/gopath/src/github.com/go-openapi/swaggersocket/*_test.go
    cp tests/swaggersocket/peer/main.go "$CACHE/gopath/src/swaggersocket-peer/"
    (cd "$CACHE/gopath/src/swaggersocket-peer" &&
        GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="$CACHE/gopath:/usr/share/gocode" \
            GOCACHE="$CACHE/build" go build -o "$PEER.new" .)
    mv "$PEER.new" "$PEER"
    echo "$stamp" >"$CACHE/stamp"
else
    echo "Go peer up to date ($PEER)"
fi

cargo build -q -p wskit-rest --all-features --example swaggersocket_interop
exec timeout 600 "$CARGO_TARGET_DIR/debug/examples/swaggersocket_interop" "$PEER" "$WSKIT_BIN"
