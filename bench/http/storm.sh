#!/usr/bin/env bash
# Tail latency of cheap requests under a sign-in storm (issue 16, item 5): discovery and JWKS
# p50/p99 measured by wrk with the server idle, then again while the flows driver
# (`palisade-bench flows`, bench/src/flows.rs) keeps every hashing slot busy with complete
# sign-ins; the ratio of the two p99s against the target of 2x. The sign-ins/s of the driver
# alone and during the storm are printed beside them (the hashing rate must not drop).
#
#   bench/http/storm.sh [--duration 10s] [--runs 3] [--connections 4] [--threads 1]
#                       [--concurrency 3xcores] [--driver-nice 0] [--port 18083] [--debug]
#                       [--bin-dir DIR]
#                       [--database-url postgres://... --redis-url redis://...]
#
# The server runs with its default configuration, request logs at info included (written to a
# file in the run's data directory, as a service's logs go to a file or the journal, not to a
# terminal). Each run measures, in this order: discovery idle, JWKS idle, sign-ins alone,
# discovery during sign-ins, JWKS during sign-ins; the medians of the runs are printed last.
# --driver-nice runs the sign-in driver at that nice value: the driver shares the cores with the
# server, so this tells its own CPU apart from the server's (attribution; 0, the default, is the
# figure to report).
set -euo pipefail

DURATION=10s
RUNS=3
CONNECTIONS=4
THREADS=1
# Three browsers per core, as bench/http/flows.sh: every hashing slot busy with the next login
# ready behind it, within the hashing permits and their queue (no 503s at this load).
CONCURRENCY=$((3 * $(nproc)))
DRIVER_NICE=0
DATABASE_URL=""
REDIS_URL=""
PROFILE=release
# Prebuilt binaries to measure instead of building (A/B runs of two builds on one drifting host).
BIN_DIR=""
PORT=18083

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --driver-nice) DRIVER_NICE="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --redis-url) REDIS_URL="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$DATABASE_URL" && -z "$REDIS_URL" ]] || [[ -z "$DATABASE_URL" && -n "$REDIS_URL" ]]; then
  echo "give both --database-url and --redis-url, or neither" >&2
  exit 2
fi
SECONDS_PER_PHASE="${DURATION%s}"
[[ "$SECONDS_PER_PHASE" =~ ^[0-9]+$ ]] || { echo "--duration takes whole seconds: $DURATION" >&2; exit 2; }

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
SCRIPT="$HERE/wrk.lua"
BASE="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)
# A fixed master key: benchmark databases may be reused between runs. Never use it elsewhere.
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
PASSWORD="bench storm passphrase, not a common one"
USERNAME="benchstorm"
# Nothing listens on the discard port: the driver reads the redirect, it never follows it.
REDIRECT_URI="http://127.0.0.1:9/cb"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "wrk is not installed; installing the Debian package" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl awk sort sed grep; do
  need "$tool" || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

SERVER_PID=""
DRIVER_PID=""
DATA_DIR="$(mktemp -d)"
cleanup() {
  if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill "$DRIVER_PID" 2>/dev/null || true
  fi
  end_run
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The default configuration: no log filter is set here, so requests are logged at info.
export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX PALISADE_LOG_FILTER
BACKEND="embedded default: SQLite + in-process store"
if [[ -n "$DATABASE_URL" ]]; then
  export PALISADE_DATABASE_URL="$DATABASE_URL" PALISADE_REDIS_URL="$REDIS_URL"
  export PALISADE_REDIS_KEY_PREFIX="bench-storm-$$:"
  BACKEND="PostgreSQL + Redis"
  USERNAME="benchstorm$$"
fi

cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $BACKEND, default configuration (request logs at info, to $DATA_DIR/server.log)"
echo "== wrk -t$THREADS -c$CONNECTIONS, $RUNS x $DURATION per phase; sign-ins: palisade-bench flows, concurrency $CONCURRENCY, driver nice $DRIVER_NICE"

echo "$PASSWORD" | "$BIN" user add "$USERNAME" --password-stdin >/dev/null
ADDED=$("$BIN" client add --name bench-storm --redirect-uri "$REDIRECT_URI" 2>/dev/null)
CLIENT_ID=$(awk '/^client_id: / {print $2}' <<<"$ADDED")
CLIENT_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$ADDED")
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || { echo "could not read the client's id and secret" >&2; exit 1; }

# exec, so that $! is the server itself (its /proc/PID/stat is the CPU we measure).
( exec "$BIN" serve >"$DATA_DIR/server.log" 2>&1 ) &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
curl -fs "$BASE/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }

driver() {
  nice -n "$DRIVER_NICE" "$BENCH" flows --base "$BASE" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --redirect-uri "$REDIRECT_URI" --username "$USERNAME" --password "$PASSWORD" \
    --concurrency "$CONCURRENCY" --warmup 0 --runs 1 "$@"
}

# probe PATH: wrk's RESULT line for one phase, with the server CPU per request appended.
probe() {
  local before after line requests
  before=$(cpu_ticks)
  line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$SCRIPT" "$BASE$1" | grep '^RESULT')
  after=$(cpu_ticks)
  requests=$(field requests "$line")
  echo "$line cpu_us=$(awk -v d="$((after - before))" -v t="$TICKS" -v n="$requests" 'BEGIN {printf "%.1f", (n > 0 ? d / t * 1e6 / n : 0)}')"
}

# A warm-up: both pages, and one short storm (the first flow gives the consent).
export WRK_METHOD=GET WRK_BODY="" WRK_AUTH=""
wrk -t1 -c2 -d1s -s "$SCRIPT" "$BASE/jwks" >/dev/null
wrk -t1 -c2 -d1s -s "$SCRIPT" "$BASE/.well-known/openid-configuration" >/dev/null
driver --seconds 2 >"$DATA_DIR/warmup.txt" || { cat "$DATA_DIR/warmup.txt"; echo "the warm-up failed" >&2; exit 1; }

declare -A P50 P99 CPU
alone_list="" storm_rate_list="" errors_total=0 refused_total=0
for run in $(seq 1 "$RUNS"); do
  for name in discovery jwks; do
    path=/jwks
    [[ "$name" == discovery ]] && path=/.well-known/openid-configuration
    line=$(probe "$path")
    P50[idle_$name]+="$(field p50_us "$line")"$'\n'; P99[idle_$name]+="$(field p99_us "$line")"$'\n'
    CPU[idle_$name]+="$(field cpu_us "$line")"$'\n'
    printf "   run %d  %-9s idle:  p50 %6s us  p99 %7s us  %9s req/s  errors %s  server CPU %6s us/req\n" \
      "$run" "$name" "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field rps "$line")" "$(field errors "$line")" "$(field cpu_us "$line")"
  done

  driver --seconds "$SECONDS_PER_PHASE" >"$DATA_DIR/alone.txt" || { cat "$DATA_DIR/alone.txt"; exit 1; }
  line=$(grep '^RESULT' "$DATA_DIR/alone.txt")
  alone_list+="$(field rps "$line")"$'\n'
  errors_total=$((errors_total + $(field errors "$line"))); refused_total=$((refused_total + $(field refused "$line")))
  printf "   run %d  sign-ins alone: %6s flows/s  p50 %s us  p99 %s us  errors %s  refused %s\n" \
    "$run" "$(field rps "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field errors "$line")" "$(field refused "$line")"
  sed -n '/^errors by kind/,$p' "$DATA_DIR/alone.txt" | sed 's/^/     /'

  for name in discovery jwks; do
    path=/jwks
    [[ "$name" == discovery ]] && path=/.well-known/openid-configuration
    # The storm starts a second before the probe and ends a second after it.
    driver --seconds $((SECONDS_PER_PHASE + 2)) >"$DATA_DIR/storm.txt" &
    DRIVER_PID=$!
    sleep 1
    line=$(probe "$path")
    wait "$DRIVER_PID" || { cat "$DATA_DIR/storm.txt"; exit 1; }
    DRIVER_PID=""
    storm=$(grep '^RESULT' "$DATA_DIR/storm.txt")
    P50[storm_$name]+="$(field p50_us "$line")"$'\n'; P99[storm_$name]+="$(field p99_us "$line")"$'\n'
    CPU[storm_$name]+="$(field cpu_us "$line")"$'\n'
    storm_rate_list+="$(field rps "$storm")"$'\n'
    errors_total=$((errors_total + $(field errors "$storm"))); refused_total=$((refused_total + $(field refused "$storm")))
    printf "   run %d  %-9s storm: p50 %6s us  p99 %7s us  %9s req/s  errors %s  (sign-ins %s flows/s, errors %s, refused %s)\n" \
      "$run" "$name" "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field rps "$line")" "$(field errors "$line")" \
      "$(field rps "$storm")" "$(field errors "$storm")" "$(field refused "$storm")"
    sed -n '/^errors by kind/,$p' "$DATA_DIR/storm.txt" | sed 's/^/     /'
  done
done
RSS=$(peak_rss_kib)
echo "   resident memory now: $(rss_split "$SERVER_PID")"
LOG_BYTES=$(wc -c <"$DATA_DIR/server.log")

echo
m() { median <<<"${1%$'\n'}"; }
for name in discovery jwks; do
  idle99=$(m "${P99[idle_$name]}"); storm99=$(m "${P99[storm_$name]}")
  ratio=$(awk -v a="$storm99" -v b="$idle99" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 2.0 ? "met" : "NOT met")}')
  printf "%-9s median: idle p50 %6s us p99 %7s us; storm p50 %6s us p99 %7s us; p99 ratio %s (target <= 2.00: %s); server CPU idle %s, storm %s us/req\n" \
    "$name" "$(m "${P50[idle_$name]}")" "$idle99" "$(m "${P50[storm_$name]}")" "$storm99" "$ratio" "$verdict" \
    "$(m "${CPU[idle_$name]}")" "$(m "${CPU[storm_$name]}")"
  echo "SUMMARY endpoint=$name idle_p50_us=$(m "${P50[idle_$name]}") idle_p99_us=$idle99 storm_p50_us=$(m "${P50[storm_$name]}") storm_p99_us=$storm99 ratio=$ratio"
done
printf "sign-ins median: alone %s flows/s, during the probes %s flows/s; errors %s, refused (503 + Retry-After) %s; peak RSS %s KiB; request log %s bytes\n" \
  "$(m "$alone_list")" "$(m "$storm_rate_list")" "$errors_total" "$refused_total" "$RSS" "$LOG_BYTES"
echo "SUMMARY signins_alone_per_s=$(m "$alone_list") signins_storm_per_s=$(m "$storm_rate_list") errors=$errors_total refused=$refused_total peak_rss_kib=$RSS"
