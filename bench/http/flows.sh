#!/usr/bin/env bash
# Complete browser-login flows per second (authorize -> login form -> consent -> code exchange)
# against the release binary, next to the raw argon2id rate of the same machine in the same run.
# The driver is `palisade-bench flows` (bench/src/flows.rs). See bench/http/README-flows.md.
#
#   bench/http/flows.sh [--duration 10s] [--runs 3] [--warmup 2s] [--concurrency 3xcores]
#                       [--threads 1] [--prompt-consent] [--until token|login] [--port 18082]
#                       [--debug] [--quiet] [--database-url postgres://...] [--redis-url redis://...]
#                       [--bin-dir DIR]
#
# Without --database-url/--redis-url the embedded default (SQLite + in-process store) is measured;
# with both, PostgreSQL + Redis instead. Give it a database of its own: it adds a user and a client.
# --until login ends each flow at the login's redirect (logins/s; bench/http/login.sh uses it).
# The server runs with its default configuration; the driver's browsers come from 4,096
# loopback addresses in 256 /24s, so the per-address sign-in limits are not what is measured.
set -euo pipefail

DURATION=10s
RUNS=3
WARMUP=2s
# Three browsers per core: every hashing slot busy, the next login ready behind it, and never
# past the hashing permits and their queue (4 x cores by default), so the figure is capacity,
# not 503s. With 2 per core a slot sometimes waited for a browser to come back from its token
# exchange and next authorize (median ratio 0.855 against 0.87 for 3 per core, 2026-11-29).
CONCURRENCY=$((3 * $(nproc)))
THREADS=1
PROMPT_CONSENT=""
UNTIL=token
DATABASE_URL=""
REDIS_URL=""
PROFILE=release
# --quiet: the server logs warnings only (the default configuration logs every request).
QUIET=""
# Prebuilt binaries to measure instead of building (A/B runs of two builds on one drifting host).
BIN_DIR=""
PORT=18082

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --prompt-consent) PROMPT_CONSENT=1; shift ;;
    --until) UNTIL="$2"; shift 2 ;;
    --database-url) DATABASE_URL="$2"; shift 2 ;;
    --redis-url) REDIS_URL="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --quiet) QUIET=1; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
case "$UNTIL" in
  token) NOUN=flows ;;
  login) NOUN=logins ;;
  *) echo "--until takes token or login" >&2; exit 2 ;;
esac
if [[ -n "$DATABASE_URL" && -z "$REDIS_URL" ]] || [[ -z "$DATABASE_URL" && -n "$REDIS_URL" ]]; then
  echo "give both --database-url and --redis-url, or neither" >&2
  exit 2
fi
# "10s", "10" or "1.5s" -> seconds for the driver.
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
# A fixed master key: benchmark databases may be reused between runs, and keys encrypted under
# one run's key must decrypt in the next. Never use it for anything else.
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
PASSWORD="bench flows passphrase, not a common one"
USERNAME="benchflows"
# Nothing listens on the discard port: the driver reads the redirect, it never follows it.
REDIRECT_URI="http://127.0.0.1:9/cb"

need() { command -v "$1" >/dev/null 2>&1; }
for tool in curl awk sort sed grep; do
  need "$tool" || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

SERVER_PID=""
DATA_DIR="$(mktemp -d)"
trap end_run EXIT
trap 'exit 130' INT TERM

# The environment every palisade command runs with (the CLI and the server alike).
export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE"
export PALISADE_MASTER_KEY="$BENCH_MASTER_KEY"
unset PALISADE_DATABASE_URL PALISADE_REDIS_URL PALISADE_REDIS_KEY_PREFIX
BACKEND="embedded default: SQLite + in-process store"
if [[ -n "$DATABASE_URL" ]]; then
  export PALISADE_DATABASE_URL="$DATABASE_URL" PALISADE_REDIS_URL="$REDIS_URL"
  export PALISADE_REDIS_KEY_PREFIX="bench-flows-$$:"
  BACKEND="PostgreSQL + Redis"
  # A reused database may hold the user from an earlier run: a fresh name each time.
  USERNAME="benchflows$$"
fi

start_server() {
  # exec, so that $! is the server itself (its /proc/PID/stat is the CPU we measure).
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

stop_server() {
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }

server_logging "$QUIET"
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== server logging: $LOGGING"
echo
echo "== raw argon2id (palisade-bench argon2, default parameters m=19456 t=2 p=1)"
"$BENCH" argon2 --runs "$RUNS" --seconds 2 | tee "$DATA_DIR/argon2.txt"
RAW_ALL=$(grep "threads=$(nproc) " "$DATA_DIR/argon2.txt" | sed -E 's/.*per_s=([0-9.]+).*/\1/' || true)
RAW_ALL=${RAW_ALL:-$(grep 'threads=1 ' "$DATA_DIR/argon2.txt" | sed -E 's/.*per_s=([0-9.]+).*/\1/')}

echo "$PASSWORD" | "$BIN" user add "$USERNAME" --password-stdin >/dev/null
ADDED=$("$BIN" client add --name bench-flows --redirect-uri "$REDIRECT_URI" 2>/dev/null)
CLIENT_ID=$(awk '/^client_id: / {print $2}' <<<"$ADDED")
CLIENT_SECRET=$(awk '/^client_secret: / {print $2}' <<<"$ADDED")
[[ -n "$CLIENT_ID" && -n "$CLIENT_SECRET" ]] || { echo "could not read the client's id and secret" >&2; exit 1; }

driver() {
  "$BENCH" flows --base "$BASE" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --redirect-uri "$REDIRECT_URI" --username "$USERNAME" --password "$PASSWORD" \
    --concurrency "$CONCURRENCY" --threads "$THREADS" --until "$UNTIL" \
    ${PROMPT_CONSENT:+--prompt-consent} "$@"
}

echo
echo "== $NOUN/s ($BACKEND, default configuration): palisade-bench flows --until $UNTIL, concurrency $CONCURRENCY, $THREADS driver thread(s), $RUNS x $DURATION"
start_server
# The warm-up (one invocation; its preflight flow gives the first consent unless
# --prompt-consent), then one invocation per run so the server's CPU is sampled around exactly
# the flows the driver counts (it finishes the flows in flight at the deadline and counts them).
driver --runs 1 --seconds "$WARMUP_SECONDS" --warmup 0 >"$DATA_DIR/warmup.txt" \
  || { cat "$DATA_DIR/warmup.txt"; echo "the warm-up failed" >&2; exit 1; }
# Its lines 2-3: what a flow is, and how the preflight flow went.
sed -n '2,3p' "$DATA_DIR/warmup.txt" | sed 's/^/   /'
warm=$(grep '^RESULT' "$DATA_DIR/warmup.txt")
echo "   warm-up: $(field flows "$warm") flows, $(field errors "$warm") errors, $(field refused "$warm") refused (503 + Retry-After)"
# The host's speed drifts (a shared VM): the raw rate is sampled again right before and right
# after each run, and each run's ratio is to the mean of those two samples.
raw_sample() {
  "$BENCH" argon2 --runs 1 --seconds 2 --threads "$(nproc)" --no-single \
    | grep '^RESULT' | sed -E 's/.*per_s=([0-9.]+).*/\1/'
}
rps_list="" p50_list="" p99_list="" cpu_list="" raw_list="" ratio_list=""
errors_total=0
# Logins refused for capacity (503 + Retry-After on the login form): counted apart from errors.
refused_total=0
raw_after=$(raw_sample)
for run in $(seq 1 "$RUNS"); do
  raw_before=$raw_after
  before=$(cpu_ticks)
  driver --runs 1 --seconds "$RUN_SECONDS" --warmup 0 >"$DATA_DIR/run.txt" \
    || { cat "$DATA_DIR/run.txt"; echo "run $run failed" >&2; exit 1; }
  after=$(cpu_ticks)
  raw_after=$(raw_sample)
  line=$(grep '^RESULT' "$DATA_DIR/run.txt")
  flows=$(field flows "$line")
  rps=$(field rps "$line")
  errors=$(field errors "$line")
  refused=$(field refused "$line")
  # The preflight flow of the invocation is served in the window too.
  cpu_ms=$(awk -v d="$((after - before))" -v t="$TICKS" -v n="$((flows + 1))" 'BEGIN {printf "%.1f", (n > 0 ? d / t * 1e3 / n : 0)}')
  raw=$(awk -v a="$raw_before" -v b="$raw_after" 'BEGIN {printf "%.1f", (a + b) / 2}')
  ratio=$(awk -v a="$rps" -v b="$raw" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  printf "   run %d: %7s %s/s  p50 %6s ms  p99 %6s ms  (%s: %s, consent pages: %s, errors: %s, refused: %s)  server CPU %s ms/%s  raw %s/s (%s, %s)  ratio %s\n" \
    "$run" "$rps" "$NOUN" "$(awk -v u="$(field p50_us "$line")" 'BEGIN {printf "%.1f", u / 1000}')" \
    "$(awk -v u="$(field p99_us "$line")" 'BEGIN {printf "%.1f", u / 1000}')" \
    "$NOUN" "$flows" "$(field consent "$line")" "$errors" "$refused" "$cpu_ms" "${NOUN%s}" "$raw" "$raw_before" "$raw_after" "$ratio"
  if [[ "$errors" != 0 ]]; then
    sed -n '/^first errors:/,$p' "$DATA_DIR/run.txt" | sed 's/^/     /'
  fi
  rps_list+="$rps"$'\n'; p50_list+="$(field p50_us "$line")"$'\n'
  p99_list+="$(field p99_us "$line")"$'\n'; cpu_list+="$cpu_ms"$'\n'
  raw_list+="$raw"$'\n'; ratio_list+="$ratio"$'\n'
  errors_total=$((errors_total + errors))
  refused_total=$((refused_total + refused))
done
FLOWS=$(median <<<"${rps_list%$'\n'}")
CPU=$(median <<<"${cpu_list%$'\n'}")
P50=$(median <<<"${p50_list%$'\n'}")
P99=$(median <<<"${p99_list%$'\n'}")
RSS=$(peak_rss_kib)
echo "   resident memory now: $(rss_split "$SERVER_PID")"
RAW_AROUND=$(median <<<"${raw_list%$'\n'}")
RATIO=$(median <<<"${ratio_list%$'\n'}")
stop_server

echo
printf "raw argon2id verifications/s on all %d cores: %s before the runs, median %s around them; %s/s median: %s (p50 %.1f ms, p99 %.1f ms); median ratio %s (target >= 0.85); server CPU %s ms/%s; peak RSS %s KiB; errors %s; refused (503 + Retry-After) %s\n" \
  "$(nproc)" "$RAW_ALL" "$RAW_AROUND" "$NOUN" "$FLOWS" "$(awk -v u="$P50" 'BEGIN {print u / 1000}')" \
  "$(awk -v u="$P99" 'BEGIN {print u / 1000}')" "$RATIO" "$CPU" "${NOUN%s}" "$RSS" "$errors_total" "$refused_total"
echo "SUMMARY until=$UNTIL raw_argon2_per_s=$RAW_AROUND flows_per_s=$FLOWS ratio=$RATIO server_cpu_ms_per_flow=$CPU p50_us=$P50 p99_us=$P99 peak_rss_kib=$RSS errors=$errors_total refused=$refused_total"
