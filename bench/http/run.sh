#!/usr/bin/env bash
# HTTP load benchmarks: discovery, JWKS, client_credentials issuance and introspection, driven
# by wrk on loopback against the real binary. See bench/http/README.md.
#
#   bench/http/run.sh [--duration 15s] [--runs 3] [--connections 64] [--threads 2]
#                     [--database-url postgres://...] [--redis-url redis://...]
#                     [--debug] [--quiet] [--port 18080]
#                     [--only discovery,jwks,token,introspect,introspect_new]
#                     [--bin-dir DIR]
#
# Without --database-url/--redis-url only the embedded default (SQLite + in-process store) is
# measured; with both, PostgreSQL + Redis is measured too. Give it a database of its own: the
# benchmark registers clients in it.
set -euo pipefail

DURATION=15s
RUNS=3
CONNECTIONS=64
THREADS=2
DATABASE_URL=""
REDIS_URL=""
PROFILE=release
# --quiet: the server logs warnings only (the default configuration logs every request).
QUIET=""
# Prebuilt binaries to measure instead of building (A/B runs of two builds on one drifting host).
BIN_DIR=""
PORT=18080
ONLY="discovery,jwks,token,introspect,introspect_new"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --redis-url) REDIS_URL="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quiet) QUIET=1; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$DATABASE_URL" && -z "$REDIS_URL" ]] || [[ -z "$DATABASE_URL" && -n "$REDIS_URL" ]]; then
  echo "give both --database-url and --redis-url, or neither" >&2
  exit 2
fi

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
SCRIPT="$HERE/wrk.lua"
BASE="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)
# A fixed master key: benchmark databases may be reused between runs, and keys encrypted under
# one run's key must decrypt in the next. Never use it for anything else.
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "wrk is not installed; installing the Debian package" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl awk sort; do
  need "$tool" || { echo "$tool is required" >&2; exit 2; }
done

BIN="$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade)/palisade"
require_executable "$BIN"

SERVER_PID=""
DATA_DIR=""
trap end_run EXIT

# The environment every palisade command of one backend runs with.
use_backend() {
  local db="$1" redis="$2"
  export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
  export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
  unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX
  if [[ -n "$db" ]]; then export PALISADE_DATABASE_URL="$db"; fi
  if [[ -n "$redis" ]]; then export PALISADE_REDIS_URL="$redis" PALISADE_REDIS_KEY_PREFIX="bench-$$:"; fi
}

cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# One scenario: a warm-up, then $RUNS measured runs; prints each run and the medians.
scenario() {
  local name="$1" path="$2" method="$3" body="$4" auth="$5"
  local rps_list="" p50_list="" p99_list="" cpu_list="" errors_total=0
  export WRK_METHOD="$method" WRK_BODY="$body" WRK_AUTH="$auth"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -s "$SCRIPT" "$BASE$path" >/dev/null
  for run in $(seq 1 "$RUNS"); do
    local before after line
    before=$(cpu_ticks)
    line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$SCRIPT" "$BASE$path" | grep '^RESULT')
    after=$(cpu_ticks)
    local requests rps p50 p99 errors cpu_us
    requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
    rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line")
    p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
    errors=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$line")
    cpu_us=$(awk -v d="$((after - before))" -v t="$TICKS" -v n="$requests" 'BEGIN {printf "%.1f", (n > 0 ? d / t * 1e6 / n : 0)}')
    printf "   %-11s run %d: %10s req/s  p50 %6s us  p99 %7s us  errors %s  server CPU %6s us/req\n" \
      "$name" "$run" "$rps" "$p50" "$p99" "$errors" "$cpu_us"
    rps_list+="$rps"$'\n'; p50_list+="$p50"$'\n'; p99_list+="$p99"$'\n'; cpu_list+="$cpu_us"$'\n'
    errors_total=$((errors_total + errors))
  done
  printf "%-14s median: %10s req/s  p50 %6s us  p99 %7s us  errors %s  server CPU %6s us/req  peak RSS %s KiB\n" \
    "$name" "$(median <<<"${rps_list%$'\n'}")" "$(median <<<"${p50_list%$'\n'}")" \
    "$(median <<<"${p99_list%$'\n'}")" "$errors_total" "$(median <<<"${cpu_list%$'\n'}")" "$(peak_rss_kib)"
}

wants() { [[ ",$ONLY," == *",$1,"* ]]; }

bench_backend() {
  local label="$1"
  DATA_DIR="$(mktemp -d)"
  use_backend "$2" "$3"
  echo
  echo "== $label ($(nproc) cores, wrk -t$THREADS -c$CONNECTIONS, $RUNS x $DURATION)"

  local added client_id client_secret
  added=$("$BIN" client add --name "bench" --grant client_credentials --scope bench:read 2>/dev/null)
  client_id=$(awk '/^client_id: / {print $2}' <<<"$added")
  client_secret=$(awk '/^client_secret: / {print $2}' <<<"$added")
  local basic="Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"

  # The binary itself in the background, so $! is the server's pid (for /proc and kill).
  "$BIN" serve 2>>"$DATA_DIR/server.log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }
  sleep 1
  # Idle: started, keys loaded, nothing served yet. Its peak (VmHWM) is start-up's one argon2
  # hash (the dummy that unknown accounts are checked against), allocated and freed.
  echo "   idle: RSS $(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status") MiB, peak $(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status") MiB; $(rss_split "$SERVER_PID")"

  wants discovery && scenario discovery "/.well-known/openid-configuration" GET "" ""
  wants jwks && scenario jwks "/jwks" GET "" ""
  wants token && scenario client_creds "/token" POST "grant_type=client_credentials" "$basic"
  if wants introspect; then
    # A fresh token (they live 10 minutes), checked to be active before the load.
    local token
    token=$(curl -fs -u "$client_id:$client_secret" -d grant_type=client_credentials "$BASE/token" \
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    curl -fs -u "$client_id:$client_secret" -d "token=$token" "$BASE/introspect" | grep -q '"active":true' \
      || { echo "the benchmark token is not active" >&2; exit 1; }
    scenario introspect "/introspect" POST "token=$token" "$basic"
  fi
  if wants introspect_new; then
    # A resource server sees each token many times, which the run above measures (the server
    # remembers a verified token). This one introspects a pool of distinct tokens far larger
    # than that memory (1,024 per key ring), so every request pays the signature check.
    WRK_METHOD=POST WRK_BODY="grant_type=client_credentials" WRK_AUTH="$basic" \
      WRK_SAVE_TOKENS="$DATA_DIR/minted" \
      wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$SCRIPT" "$BASE/token" >/dev/null
    cat "$DATA_DIR"/minted.* >"$DATA_DIR/tokens"
    echo "   (introspect_new cycles through $(wc -l <"$DATA_DIR/tokens") distinct tokens)"
    export WRK_TOKENS_FILE="$DATA_DIR/tokens"
    scenario introspect_new "/introspect" POST "" "$basic"
    unset WRK_TOKENS_FILE
  fi
  # Where the resident memory is: the binary's and libraries' code pages against the process's own.
  echo "   resident memory after the scenarios: $(rss_split "$SERVER_PID")"

  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  rm -rf "$DATA_DIR"
  DATA_DIR=""
}

server_logging "$QUIET"
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== server logging: $LOGGING"
bench_backend "embedded default: SQLite + in-process store" "" ""
if [[ -n "$DATABASE_URL" ]]; then
  bench_backend "PostgreSQL + Redis" "$DATABASE_URL" "$REDIS_URL"
fi
