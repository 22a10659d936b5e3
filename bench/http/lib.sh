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
