# Shared by the bench/http scripts (sourced, not run).

# binaries_dir ROOT PROFILE BIN_DIR PACKAGE...
# Prints the directory holding the binaries to measure: BIN_DIR when one is given (prebuilt
# binaries, e.g. two builds compared turn by turn), else ROOT/target/PROFILE after building the
# PACKAGEs there. Progress goes to stderr.
binaries_dir() {
  local root="$1" profile="$2" bin_dir="$3"
  shift 3
  if [[ -n "$bin_dir" ]]; then
    echo "== using the binaries in $bin_dir (not building)" >&2
    (cd "$bin_dir" && pwd)
    return
  fi
  echo "== building $* ($profile)" >&2
  local packages=() package
  for package in "$@"; do packages+=(-p "$package"); done
  if [[ "$profile" == release ]]; then
    (cd "$root" && cargo build --release "${packages[@]}") >&2
  else
    (cd "$root" && cargo build "${packages[@]}") >&2
  fi
  echo "$root/target/$profile"
}

# require_executable PATH...: exits 2 naming the first PATH that is not an executable.
require_executable() {
  local binary
  for binary in "$@"; do
    [[ -x "$binary" ]] || { echo "no binary at $binary" >&2; exit 2; }
  done
}

# server_logging QUIET: sets the server's log filter, and LOGGING to a description of it.
# Without QUIET the server logs as shipped (every request at info) unless PALISADE_LOG_FILTER
# is set in the environment; with it (--quiet) only warnings. Neither is what users run, so
# every report says which. The scripts send the server's stderr to a file in its data
# directory, as a service manager would, never to the terminal running the benchmark.
server_logging() {
  if [[ -n "$1" ]]; then
    export PALISADE_LOG_FILTER=warn
    LOGGING="warn (--quiet; not the default), ${PALISADE_LOG_FORMAT:-human} format"
  elif [[ -n "${PALISADE_LOG_FILTER:-}" ]]; then
    LOGGING="$PALISADE_LOG_FILTER (set in the environment; not the default), ${PALISADE_LOG_FORMAT:-human} format"
  else
    LOGGING="info (the default configuration), ${PALISADE_LOG_FORMAT:-human} format"
  fi
}

# end_run: stops this run's server (SERVER_PID) if it still runs and removes its data
# directory (DATA_DIR). The scripts' EXIT trap, directly or from their own clean-up.
end_run() {
  if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "${DATA_DIR:-}" ]]; then rm -rf "$DATA_DIR"; fi
}

# rss_split PID: one line splitting the process's resident memory (from /proc/PID/smaps) into
# file-backed pages (code and read-only data of the binary and its libraries: clean, shared,
# dropped and re-read by the kernel under pressure) and anonymous memory (the process's own),
# with the anonymous regions of at least 16 MiB apart: the hashing slots' argon2 buffers.
rss_split() {
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6 ? $6 : ""); next }
    /^Rss:/ {
      kib = $2
      if (name == "" || name ~ /^\[(heap|stack|anon)/) {
        anon += kib
        if (kib >= 16384) { big += kib; regions++ }
      } else {
        n = split(name, parts, "/"); base = parts[n]
        file[base] += kib; files += kib
      }
    }
    END {
      line = sprintf("file-backed %.1f MiB (", files / 1024)
      # The three largest files.
      for (i = 1; i <= 3; i++) {
        best = ""; max = -1
        for (f in file) if (file[f] > max) { max = file[f]; best = f }
        if (best == "") break
        line = line sprintf("%s%s %.1f", (i > 1 ? ", " : ""), best, max / 1024)
        delete file[best]
      }
      printf "%s); anonymous %.1f MiB, of which %d argon2-sized region(s) %.1f MiB and %.1f MiB else\n",
        line, anon / 1024, regions, big / 1024, (anon - big) / 1024
    }' "/proc/$1/smaps"
}
