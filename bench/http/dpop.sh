#!/usr/bin/env bash
# client_credentials tokens per second against the release binary: plain, and DPoP-bound
# (RFC 9449) with ES256, EdDSA and RS256 proofs, with the server's CPU time per token of each,
# so the cost of verifying a proof can be read per algorithm. The driver is
# `palisade-bench dpop` (bench/src/dpop_tokens.rs). See bench/README.md, "dpop".
#
#   bench/http/dpop.sh [--duration 10s] [--runs 3] [--warmup 2s] [--concurrency 2xcores]
#                      [--threads 1] [--variants plain,ES256,EdDSA,RS256] [--port 18083]
#                      [--debug] [--quiet] [--database-url postgres://...] [--redis-url redis://...]
#                      [--bin-dir DIR]
#
# Without --database-url/--redis-url the embedded default (SQLite + in-process store) is
# measured; with both, PostgreSQL + Redis (every proof's jti is a Redis round trip there).
# Give it a database of its own: it adds a client. The server runs with its default
# configuration (no server nonce); PALISADE_DPOP__REQUIRE_NONCE=true in the environment
# measures nonces too (the driver answers use_dpop_nonce as a client would).
set -euo pipefail

DURATION=10s
RUNS=3
WARMUP=2s
CONCURRENCY=$((2 * $(nproc)))
THREADS=1
VARIANTS="plain,ES256,EdDSA,RS256"
DATABASE_URL=""
REDIS_URL=""
PROFILE=release
QUIET=""
BIN_DIR=""
PORT=18083

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --variants) VARIANTS="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --redis-url) REDIS_URL="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quiet) QUIET=1; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$DATABASE_URL" && -z "$REDIS_URL" ]] || [[ -z "$DATABASE_URL" && -n "$REDIS_URL" ]]; then
  echo "give both --database-url and --redis-url, or neither" >&2
  exit 2
fi
seconds() {
  local value="${1%s}"
  [[ "$value" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "not a duration in seconds: $1" >&2; exit 2; }
  echo "$value"
}
RUN_SECONDS=$(seconds "$DURATION")
WARMUP_SECONDS=$(seconds "$WARMUP")

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
BASE="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)
# A fixed master key, as flows.sh: benchmark databases may be reused between runs.
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="

for tool in curl awk sort sed grep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

SERVER_PID=""
DATA_DIR="$(mktemp -d)"
trap end_run EXIT
trap 'exit 130' INT TERM

export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX
BACKEND="embedded default: SQLite + in-process store"
if [[ -n "$DATABASE_URL" ]]; then
  export PALISADE_DATABASE_URL="$DATABASE_URL" PALISADE_REDIS_URL="$REDIS_URL"
  export PALISADE_REDIS_KEY_PREFIX="bench-dpop-$$:"
  BACKEND="PostgreSQL + Redis"
fi

start_server() {
  ( exec "$BIN" serve 2>>"$DATA_DIR/server.log" ) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  exit 1
}

cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }

server_logging "$QUIET"
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== server logging: $LOGGING; DPoP nonces required: ${PALISADE_DPOP__REQUIRE_NONCE:-false}"

ADDED=$("$BIN" client add --name bench-dpop --grant client_credentials 2>/dev/null)
CLIENT_ID=$(awk '/^client_id: / {print $2}' <<<"$ADDED")
CLIENT_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$ADDED")
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || { echo "could not read the client's id and secret" >&2; exit 1; }

driver() {
  "$BENCH" dpop --base "$BASE" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --concurrency "$CONCURRENCY" --threads "$THREADS" "$@"
}

echo
echo "== tokens/s ($BACKEND, default configuration): palisade-bench dpop, concurrency $CONCURRENCY, $THREADS driver thread(s), $RUNS x $DURATION per variant"
start_server
IFS=',' read -r -a VARIANT_LIST <<<"$VARIANTS"
declare -A RPS CPU MEAN ERRORS
# Variants take turns within each run, so a drifting host affects them alike; one driver
# invocation per variant and run, so the server's CPU is sampled around exactly its tokens.
for run in $(seq 1 "$RUNS"); do
  for variant in "${VARIANT_LIST[@]}"; do
    # Warm-up outside the CPU window (its first request checks the setup).
    driver --variants "$variant" --runs 1 --seconds "$WARMUP_SECONDS" --warmup 0 >"$DATA_DIR/warm.txt" \
      || { cat "$DATA_DIR/warm.txt"; echo "the $variant warm-up failed" >&2; exit 1; }
    before=$(cpu_ticks)
    driver --variants "$variant" --runs 1 --seconds "$RUN_SECONDS" --warmup 0 >"$DATA_DIR/run.txt" \
      || { cat "$DATA_DIR/run.txt"; echo "run $run ($variant) failed" >&2; exit 1; }
    after=$(cpu_ticks)
    line=$(grep '^RESULT' "$DATA_DIR/run.txt")
    tokens=$(field tokens "$line")
    # The invocation's first request (the setup check) is served in the window too.
    cpu_ms=$(awk -v d="$((after - before))" -v t="$TICKS" -v n="$((tokens + 1))" 'BEGIN {printf "%.3f", d / t * 1e3 / n}')
    printf "   run %d %-6s %9s tokens/s  mean %7.2f ms  p99 %7.2f ms  errors %s  server CPU %s ms/token\n" \
      "$run" "$variant" "$(field tokens_per_s "$line")" \
      "$(awk -v u="$(field mean_us "$line")" 'BEGIN {print u / 1000}')" \
      "$(awk -v u="$(field p99_us "$line")" 'BEGIN {print u / 1000}')" "$(field errors "$line")" "$cpu_ms"
    grep -A5 '^first errors:' "$DATA_DIR/run.txt" | sed 's/^/     /' || true
    RPS[$variant]+="$(field tokens_per_s "$line")"$'\n'
    MEAN[$variant]+="$(field mean_us "$line")"$'\n'
    CPU[$variant]+="$cpu_ms"$'\n'
    ERRORS[$variant]=$(( ${ERRORS[$variant]:-0} + $(field errors "$line") ))
  done
done

echo
PLAIN_CPU=""
for variant in "${VARIANT_LIST[@]}"; do
  rps=$(median <<<"${RPS[$variant]%$'\n'}")
  mean=$(median <<<"${MEAN[$variant]%$'\n'}")
  cpu=$(median <<<"${CPU[$variant]%$'\n'}")
  [[ "$variant" == plain ]] && PLAIN_CPU=$cpu
  extra=""
  if [[ -n "$PLAIN_CPU" && "$variant" != plain ]]; then
    extra=$(awk -v c="$cpu" -v p="$PLAIN_CPU" 'BEGIN {printf "%.3f", c - p}')
  fi
  echo "SUMMARY variant=$variant tokens_per_s=$rps mean_us=$mean server_cpu_ms_per_token=$cpu proof_cpu_ms=${extra:-0} errors=${ERRORS[$variant]}"
done
