#!/usr/bin/env bash
# Browser logins per second at the default configuration, next to the raw argon2id rate of the
# same machine in the same run, and the latency of the 503 answer when the hashing pool is
# saturated. See bench/http/README-login.md.
#
#   bench/http/login.sh [--duration 10s] [--runs 3] [--concurrency 3xcores] [--flood 64]
#                       [--probes 200] [--port 18081] [--debug] [--quiet] [--bin-dir DIR]
#
# 1. logins/s: bench/http/flows.sh --until login (every login a new browser with a new
#    interaction: a successful login spends its form's step), default configuration;
# 2. the 503 fast path: palisade-bench login-flood against a server whose attempt limits are
#    raised for that run only (its flood is wrong passwords, each a counted failure).
set -euo pipefail

DURATION=10s
RUNS=3
CONCURRENCY=""
FLOOD=64
PROBES=200
PROFILE=release
# --quiet: the server logs warnings only (the default configuration logs every request).
QUIET=""
# Prebuilt binaries to measure instead of building (A/B runs of two builds on one drifting host).
BIN_DIR=""
PORT=18081

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --flood) FLOOD="$2"; shift 2 ;;
    --probes) PROBES="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quiet) QUIET=1; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
BASE="http://127.0.0.1:$PORT"
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
PASSWORD="bench login passphrase, not a common one"
USERNAME="benchuser"
REDIRECT_URI="http://127.0.0.1:9/cb"
# Every wrong password of the flood is a failed login: without these the flooding addresses
# would be throttled (429) and the account locked within seconds, and nothing would be hashed.
# Raised for the flood's server only; the logins/s run measures the defaults.
FLOOD_LIMITS=(PALISADE_ATTEMPT_LIMITS__PER_IP=1000000000 PALISADE_ATTEMPT_LIMITS__PER_PREFIX=1000000000
  PALISADE_ATTEMPT_LIMITS__LOCKOUT_THRESHOLD=1000000000)

for tool in curl awk sed grep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

echo "== logins/s: bench/http/flows.sh --until login"
"$HERE/flows.sh" --until login ${QUIET:+--quiet} --bin-dir "$BINARIES" --duration "$DURATION" --runs "$RUNS" \
  --port "$PORT" ${CONCURRENCY:+--concurrency "$CONCURRENCY"}

SERVER_PID=""
DATA_DIR="$(mktemp -d)"
trap end_run EXIT
trap 'exit 130' INT TERM

export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX

echo "$PASSWORD" | "$BIN" user add "$USERNAME" --password-stdin >/dev/null
ADDED=$("$BIN" client add --name bench-login --redirect-uri "$REDIRECT_URI" 2>/dev/null)
CLIENT_ID=$(awk '/^client_id: / {print $2}' <<<"$ADDED")
CLIENT_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$ADDED")
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || { echo "could not read the client's id and secret" >&2; exit 1; }

server_logging "$QUIET"
echo
echo "== server logging: $LOGGING"
echo "== saturated pool (TUNED: ${FLOOD_LIMITS[*]}): $FLOOD browsers post wrong passwords on interactions of their own; $PROBES probes with the right password"
# exec, so that $! is the server itself.
( exec env "${FLOOD_LIMITS[@]}" "$BIN" serve 2>>"$DATA_DIR/server.log" ) &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
  sleep 0.1
done
curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }
"$BENCH" login-flood --base "$BASE" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
  --redirect-uri "$REDIRECT_URI" --username "$USERNAME" --password "$PASSWORD" \
  --flood "$FLOOD" --probes "$PROBES"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
