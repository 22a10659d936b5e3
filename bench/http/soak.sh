#!/usr/bin/env bash
# A mixed soak: discovery, JWKS, client_credentials, introspection (wrk, bench/http/soak.lua)
# and complete browser sign-ins (palisade-bench flows) at once against the release binary in
# its default configuration, printing the server's resident memory idle, every minute, and at
# the end. The question it answers: does memory stay within the argon2 working memory of the
# hashing slots plus a fixed margin, and stop growing once the caches are full?
# See bench/http/README.md.
#
#   bench/http/soak.sh [--minutes 10] [--connections 8] [--concurrency 2] [--port 18084]
#                      [--database-url postgres://... --redis-url redis://...] [--bin-dir DIR]
#
# --connections is wrk's (the cheap requests); --concurrency is the sign-in driver's browsers
# (one per core keeps the hashing slots busy about half the time).
set -euo pipefail

MINUTES=10
CONNECTIONS=8
CONCURRENCY=$(nproc)
DATABASE_URL=""
REDIS_URL=""
PROFILE=release
BIN_DIR=""
PORT=18084

while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --redis-url) REDIS_URL="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "--minutes takes a positive integer" >&2; exit 2; }
if [[ -n "$DATABASE_URL" && -z "$REDIS_URL" ]] || [[ -z "$DATABASE_URL" && -n "$REDIS_URL" ]]; then
  echo "give both --database-url and --redis-url, or neither" >&2
  exit 2
fi

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
BASE="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)
# A fixed master key: benchmark databases may be reused between runs. Never use it elsewhere.
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
PASSWORD="bench soak passphrase, not a common one"
USERNAME="benchsoak"
REDIRECT_URI="http://127.0.0.1:9/cb"
SECONDS_TOTAL=$((MINUTES * 60))

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "wrk is not installed; installing the Debian package" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl awk sed grep; do
  need "$tool" || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

SERVER_PID=""
LOAD_PIDS=()
DATA_DIR="$(mktemp -d)"
cleanup() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server's default configuration: only where it lives and how it is reached are set.
export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX PALISADE_LOG_FILTER
BACKEND="embedded default: SQLite + in-process store"
if [[ -n "$DATABASE_URL" ]]; then
  export PALISADE_DATABASE_URL="$DATABASE_URL" PALISADE_REDIS_URL="$REDIS_URL"
  export PALISADE_REDIS_KEY_PREFIX="bench-soak-$$:"
  BACKEND="PostgreSQL + Redis"
  USERNAME="benchsoak$$"
fi

cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }
# The in-process store's bytes (keys, values, bookkeeping; none with Redis): what the store's
# byte bound caps, beside the resident memory it explains.
store_mib() {
  curl -fs "$BASE/metrics" | awk '$1 == "palisade_ephemeral_store_bytes" {printf "%.1f", $2 / 1048576; found = 1}
    END {if (!found) printf "-"}'
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== soak ($BACKEND, default configuration, logs to a file): $MINUTES min of wrk -c$CONNECTIONS (soak.lua) and $CONCURRENCY sign-in browsers"

echo "$PASSWORD" | "$BIN" user add "$USERNAME" --password-stdin >/dev/null
added=$("$BIN" client add --name bench-soak --redirect-uri "$REDIRECT_URI" 2>/dev/null)
FLOW_ID=$(awk '/^client_id: / {print $2}' <<<"$added")
FLOW_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$added")
added=$("$BIN" client add --name bench-soak-service --grant client_credentials --scope bench:read 2>/dev/null)
SERVICE_ID=$(awk '/^client_id: / {print $2}' <<<"$added")
SERVICE_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$added")
[[ -n "$FLOW_ID" && -n "$SERVICE_ID" ]] || { echo "could not register the clients" >&2; exit 1; }

( exec "$BIN" serve >"$DATA_DIR/server.log" 2>&1 ) &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA_DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }
sleep 2
IDLE_KIB=$(status_kib VmRSS)
echo "   idle: RSS $(mib "$IDLE_KIB") MiB (anonymous $(mib "$(status_kib RssAnon)"), file-backed $(mib "$(status_kib RssFile)")); peak so far $(mib "$(status_kib VmHWM)") MiB"

token=$(curl -fs -u "$SERVICE_ID:$SERVICE_SECRET" -d grant_type=client_credentials "$BASE/token" \
  | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
[[ -n "$token" ]] || { echo "no token" >&2; exit 1; }

start_ticks=$(cpu_ticks)
SOAK_AUTH="Basic $(printf '%s:%s' "$SERVICE_ID" "$SERVICE_SECRET" | base64 -w0)" SOAK_TOKEN="$token" \
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_TOTAL}s" -s "$HERE/soak.lua" "$BASE" >"$DATA_DIR/wrk.txt" 2>&1 &
LOAD_PIDS+=($!)
"$BENCH" flows --base "$BASE" --client-id "$FLOW_ID" --client-secret "$FLOW_SECRET" \
  --redirect-uri "$REDIRECT_URI" --username "$USERNAME" --password "$PASSWORD" \
  --concurrency "$CONCURRENCY" --threads 1 --runs 1 --seconds "$SECONDS_TOTAL" --warmup 0 \
  >"$DATA_DIR/flows.txt" 2>&1 &
LOAD_PIDS+=($!)

samples=""
for minute in $(seq 1 "$MINUTES"); do
  sleep 60
  rss=$(status_kib VmRSS)
  samples+="$rss "
  printf "   minute %2d: RSS %6s MiB (anonymous %6s, file-backed %5s)  peak %6s MiB  store %5s MiB  server CPU %6.1f s  log %s MiB\n" "$minute" \
    "$(mib "$rss")" "$(mib "$(status_kib RssAnon)")" "$(mib "$(status_kib RssFile)")" \
    "$(mib "$(status_kib VmHWM)")" "$(store_mib)" \
    "$(awk -v d="$(($(cpu_ticks) - start_ticks))" -v t="$TICKS" 'BEGIN {print d / t}')" \
    "$(awk -v b="$(stat -c %s "$DATA_DIR/server.log")" 'BEGIN {printf "%.0f", b / 1048576}')"
done
for pid in "${LOAD_PIDS[@]}"; do wait "$pid" || true; done
LOAD_PIDS=()
sleep 5
END_KIB=$(status_kib VmRSS)
echo "   resident memory at the end: $(rss_split "$SERVER_PID")"
PEAK_KIB=$(status_kib VmHWM)
cpu_s=$(awk -v d="$(($(cpu_ticks) - start_ticks))" -v t="$TICKS" 'BEGIN {printf "%.1f", d / t}')

wrk_line=$(grep '^RESULT' "$DATA_DIR/wrk.txt" || true)
flows_line=$(grep '^RESULT' "$DATA_DIR/flows.txt" || true)
[[ -n "$wrk_line" ]] || { cat "$DATA_DIR/wrk.txt"; echo "wrk printed no result" >&2; exit 1; }
[[ -n "$flows_line" ]] || { cat "$DATA_DIR/flows.txt"; echo "the sign-in driver printed no result" >&2; exit 1; }
flows_errors=$(field errors "$flows_line")
if [[ "$flows_errors" != 0 ]]; then
  sed -n '/^first errors:/,$p' "$DATA_DIR/flows.txt" | sed 's/^/     /'
fi
first=${samples%% *}
echo "   end (5 s after the load): RSS $(mib "$END_KIB") MiB (anonymous $(mib "$(status_kib RssAnon)"), file-backed $(mib "$(status_kib RssFile)"), store $(store_mib) MiB); peak $(mib "$PEAK_KIB") MiB; growth from minute 1 to the end $(mib $((END_KIB - first))) MiB"
echo "   cheap requests: $(field rps "$wrk_line")/s, p50 $(field p50_us "$wrk_line") us, p99 $(field p99_us "$wrk_line") us, errors $(field errors "$wrk_line")"
echo "   sign-ins: $(field rps "$flows_line")/s ($(field flows "$flows_line") flows), errors $flows_errors; server CPU $cpu_s s in all"
echo "SOAK minutes=$MINUTES idle_kib=$IDLE_KIB minute_kib=${samples% } end_kib=$END_KIB peak_kib=$PEAK_KIB requests=$(field requests "$wrk_line") request_errors=$(field errors "$wrk_line") flows=$(field flows "$flows_line") flow_errors=$flows_errors"
