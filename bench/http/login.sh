#!/usr/bin/env bash
# Browser logins per second at the default argon2id parameters, next to the raw argon2id rate of
# the same machine in the same run, and the latency of the 503 answer when the hashing pool is
# saturated. See bench/http/README-login.md.
#
#   bench/http/login.sh [--duration 10s] [--runs 3] [--connections 2xcores] [--flood 64]
#                       [--probes 200] [--port 18081] [--debug] [--bin-dir DIR]
set -euo pipefail

DURATION=10s
RUNS=3
# Twice the cores: every hashing permit held (per slot one login hashing, one getting ready),
# never past the queue (permits + queue = 4 x cores by default), so the figure is capacity, not
# the 503 fast path.
CONNECTIONS=$((2 * $(nproc)))
FLOOD=64
PROBES=200
PROFILE=release
# Prebuilt binaries to measure instead of building (A/B runs of two builds on one drifting host).
BIN_DIR=""
PORT=18081

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --flood) FLOOD="$2"; shift 2 ;;
    --probes) PROBES="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/http/lib.sh
source "$HERE/lib.sh"
BASE="http://127.0.0.1:$PORT"
TICKS=$(getconf CLK_TCK)
BENCH_MASTER_KEY="YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="
PASSWORD="bench login passphrase, not a common one"
CHALLENGE="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "wrk is not installed; installing the Debian package" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for tool in curl awk sort sed; do
  need "$tool" || { echo "$tool is required" >&2; exit 2; }
done

BINARIES=$(binaries_dir "$ROOT" "$PROFILE" "$BIN_DIR" palisade palisade-bench)
BIN="$BINARIES/palisade"
BENCH="$BINARIES/palisade-bench"
require_executable "$BIN" "$BENCH"

SERVER_PID=""
FLOOD_PID=""
DATA_DIR="$(mktemp -d)"
cleanup() {
  for pid in "$FLOOD_PID" "$SERVER_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

palisade() {
  env PALISADE_DATA_DIR="$DATA_DIR" \
      PALISADE_BIND="127.0.0.1:$PORT" \
      PALISADE_ISSUER="$BASE" \
      PALISADE_MASTER_KEY="$BENCH_MASTER_KEY" \
      PALISADE_LOG_FILTER=warn \
      "$BIN" "$@"
}

start_server() {
  # exec, so that $! is the server itself (its /proc/PID/stat is the CPU we measure).
  (
    export PALISADE_DATA_DIR="$DATA_DIR" PALISADE_BIND="127.0.0.1:$PORT" PALISADE_ISSUER="$BASE" \
      PALISADE_MASTER_KEY="$BENCH_MASTER_KEY" PALISADE_LOG_FILTER=warn
    exec "$BIN" serve
  ) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
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
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }

# Opens a sign-in in a fresh cookie jar; sets FORM_BODY and FORM_COOKIE for re-posting it.
open_login_form() {
  local jar="$DATA_DIR/jar" login page csrf interaction
  rm -f "$jar"
  login=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
    "$BASE/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&state=s&nonce=n&code_challenge=$CHALLENGE&code_challenge_method=S256")
  [[ "$login" == *"/login?"* ]] || { echo "authorize did not lead to the login page: $login" >&2; exit 1; }
  page=$(curl -s -c "$jar" -b "$jar" "$login")
  csrf=$(sed -nE 's/.*name="csrf_token" value="([^"]+)".*/\1/p' <<<"$page" | head -1)
  interaction=$(sed -nE 's/.*name="interaction_id" value="([^"]+)".*/\1/p' <<<"$page" | head -1)
  FORM_BODY="csrf_token=$csrf&interaction_id=$interaction&username=benchuser&password=$(sed 's/ /+/g; s/,/%2C/g' <<<"$PASSWORD")"
  # curl marks HttpOnly cookies with a "#HttpOnly_" prefix; they are cookies, not comments.
  FORM_COOKIE=$(sed 's/^#HttpOnly_//' "$jar" \
    | awk -F'\t' '!/^#/ && NF >= 7 {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}')
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $FORM_COOKIE" --data "$FORM_BODY" "$BASE/login")
  [[ "$status" == 303 ]] || { echo "the benchmark login does not succeed (status $status)" >&2; exit 1; }
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== raw argon2id (palisade-bench argon2, default parameters m=19456 t=2 p=1)"
"$BENCH" argon2 --runs "$RUNS" --seconds 2 | tee "$DATA_DIR/argon2.txt"
RAW_ALL=$(grep "threads=$(nproc) " "$DATA_DIR/argon2.txt" | sed -E 's/.*per_s=([0-9.]+).*/\1/' || true)
RAW_ALL=${RAW_ALL:-$(grep 'threads=1 ' "$DATA_DIR/argon2.txt" | sed -E 's/.*per_s=([0-9.]+).*/\1/')}

echo "$PASSWORD" | palisade user add benchuser --password-stdin >/dev/null
CLIENT_ID=$(palisade client add --name bench-login --redirect-uri https://rp.example/cb 2>/dev/null \
  | awk '/^client_id: / {print $2}')

echo
echo "== logins/s: POST /login with the right password (argon2id verify + session), wrk -c$CONNECTIONS, $RUNS x $DURATION"
start_server
open_login_form
export WRK_BODY="$FORM_BODY" WRK_COOKIE="$FORM_COOKIE"
wrk -t2 -c"$CONNECTIONS" -d1s -s "$HERE/login.lua" "$BASE/login" >/dev/null
rps_list=""
for run in $(seq 1 "$RUNS"); do
  before=$(cpu_ticks)
  line=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$HERE/login.lua" "$BASE/login" | grep '^RESULT')
  after=$(cpu_ticks)
  requests=$(field requests "$line")
  ok=$(field s303 "$line")
  cpu_ms=$(awk -v d="$((after - before))" -v t="$TICKS" -v n="$ok" 'BEGIN {printf "%.1f", (n > 0 ? d / t * 1e3 / n : 0)}')
  secs=$(awk -v us="$(field duration_us "$line")" 'BEGIN {print us / 1e6}')
  logins=$(awk -v n="$ok" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')
  printf "   run %d: %7s logins/s  p50 %6s ms  p99 %6s ms  (303: %s, 503: %s, other: %s, socket errors: %s)  server CPU %s ms/login\n" \
    "$run" "$logins" "$(awk -v u="$(field p50_us "$line")" 'BEGIN {printf "%.1f", u / 1000}')" \
    "$(awk -v u="$(field p99_us "$line")" 'BEGIN {printf "%.1f", u / 1000}')" \
    "$ok" "$(field s503 "$line")" "$(( $(field s200 "$line") + $(field other "$line") ))" "$(field errors "$line")" "$cpu_ms"
  rps_list+="$logins"$'\n'
done
LOGINS=$(median <<<"${rps_list%$'\n'}")
printf "logins/s median: %s; raw argon2id verifications/s on all cores: %s; ratio %s\n" \
  "$LOGINS" "$RAW_ALL" "$(awk -v a="$LOGINS" -v b="$RAW_ALL" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"

echo
echo "== saturated pool: wrk -c$FLOOD keeps the hashing slots and the queue full; $PROBES probes timed with curl"
wrk -t2 -c"$FLOOD" -d120s -s "$HERE/login.lua" "$BASE/login" >"$DATA_DIR/flood.txt" &
FLOOD_PID=$!
sleep 2
: >"$DATA_DIR/probes.txt"
for _ in $(seq 1 "$PROBES"); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Cookie: $FORM_COOKIE" --data "$FORM_BODY" "$BASE/login" \
    >>"$DATA_DIR/probes.txt"
done
kill "$FLOOD_PID" 2>/dev/null || true
wait "$FLOOD_PID" 2>/dev/null || true
FLOOD_PID=""
for status in 503 303; do
  awk -v s="$status" '$1 == s {print $2 * 1000}' "$DATA_DIR/probes.txt" | sort -n | awk -v s="$status" -v total="$PROBES" '
    {v[NR] = $1}
    END {
      if (NR == 0) { printf "   %s: none of %d probes\n", s, total; exit }
      p50 = int(NR * 0.50 + 0.5); if (p50 < 1) p50 = 1
      p90 = int(NR * 0.90 + 0.5); if (p90 < 1) p90 = 1
      p99 = int(NR * 0.99 + 0.5); if (p99 < 1) p99 = 1
      printf "   %s: %d of %d probes; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        s, NR, total, v[p50], v[p90], v[p99], v[NR]
    }'
done
other=$(awk '$1 != 503 && $1 != 303' "$DATA_DIR/probes.txt" | wc -l)
echo "   other statuses: $other"
stop_server
