#!/usr/bin/env bash
# tests/bench/run.sh [tcp|http|scrape|all]   (default: tcp)
#
# Same-run comparison of sluice against HAProxy and nginx (and wrk straight at
# the backend), all on 127.0.0.1, one worker each; `scrape` measures sluice
# alone without and with a 1-per-second GET /metrics. Not part of the test suite.
# Run as root from a clone: installs what is missing (apt), builds sluice if
# there is no binary, runs bench.py, prints a markdown table and writes it to
# tests/bench/results/latest-MODE.md. See tests/bench/README.md.
#
# Environment: SLUICE_BIN (default build/proxy/sluice), BENCH_DURATION (5),
# BENCH_REPS (3), BENCH_IDLE_CONNS (5000; 0 skips), BENCH_PORT_BASE (21100),
# BENCH_KEEP=1 keeps the temp dir (configs and logs).
set -euo pipefail

mode="${1:-tcp}"
case "$mode" in
  tcp | http | scrape) modes=("$mode") ;;
  all) modes=(tcp http scrape) ;;
  *) echo "usage: $0 [tcp|http|scrape|all]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# ---- tools: install only what is missing
missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx-light)
[[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
command -v wrk >/dev/null || missing+=(wrk)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# ---- fd limit: 5,000 held connections need ~10,000 fds in a TCP proxy
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < 12000)); then
  echo "warning: open-file limit is $(ulimit -n); the 5,000-connection runs may fail" >&2
fi

# ---- sluice binary
sluice_bin="${SLUICE_BIN:-build/proxy/sluice}"
if [[ ! -x "$sluice_bin" ]]; then
  echo "no sluice binary at $sluice_bin; building it" >&2
  bash deploy/scripts/build.sh build >&2 || echo "warning: sluice build failed; its rows will say so" >&2
fi
[[ "$sluice_bin" = /* ]] || sluice_bin="$root/$sluice_bin"

# ---- every process started below is stopped by PID on exit
workdir="$(mktemp -d /tmp/sluice-bench.XXXXXX)"
pidfile="$workdir/pids"
: >"$pidfile"

stop_started() {
  local pid started name now left
  # Lines are "pid starttime name"; the start time guards against a reused PID.
  while read -r pid started name; do
    now="$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ -n "$now" && "$now" == "$started" ]] && kill -TERM "$pid" 2>/dev/null || true
  done <"$pidfile"
  for _ in $(seq 50); do
    left=0
    while read -r pid started name; do
      now="$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null || true)"
      [[ -n "$now" && "$now" == "$started" ]] && left=1
    done <"$pidfile"
    ((left)) || break
    sleep 0.1
  done
  while read -r pid started name; do
    now="$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null || true)"
    if [[ -n "$now" && "$now" == "$started" ]]; then
      echo "killing $name ($pid)" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$pidfile"
}

bench_pid=""
cleanup() {
  local rc=$?
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    # bench.py stops what it started on SIGTERM; give it 30 s, then stop it hard.
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in $(seq 300); do
      kill -0 "$bench_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$bench_pid" 2>/dev/null || true
  fi
  stop_started
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "kept $workdir" >&2
  else
    rm -rf "$workdir"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench.py runs in the background and is waited for, so that a signal to this
# script runs the traps at once instead of after the whole run.
for m in "${modes[@]}"; do
  mkdir -p "$workdir/$m"
  python3 tests/bench/bench.py --mode "$m" --workdir "$workdir/$m" --pidfile "$pidfile" \
    --sluice "$sluice_bin" --out "$root/tests/bench/results" &
  bench_pid=$!
  wait "$bench_pid"
  bench_pid=""
done
