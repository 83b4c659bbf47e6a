#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]
# Runs the libFuzzer targets of a SLUICE_FUZZ build, each for SECONDS
# (default: $FUZZ_SECONDS, else 45), two at a time, and fails if any of them
# crashes. TARGET is a name like http_request_fuzz; default: every
# tests/fuzz/*_fuzz.cpp. See docs/fuzzing.md.
#
# Each target starts from a scratch copy of tests/fuzz/corpus/<name>/ (the
# name without _fuzz), so the repository's seeds are never written to. The
# scratch copies, logs and crash files live in $FUZZ_WORK (default: a fresh
# temporary directory); it is removed after a clean run unless FUZZ_WORK was
# given, and kept (and named) when a target failed.
#
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_SECONDS, FUZZ_JOBS
# (targets at once, default 2), FUZZ_WORK.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-45}}"
shift || true
build="${FUZZ_BUILD:-build-fuzz}"
[[ "$build" = /* ]] || build="$root/$build"
jobs="${FUZZ_JOBS:-2}"

targets=("$@")
if ((${#targets[@]} == 0)); then
  for source in "$root"/tests/fuzz/*_fuzz.cpp; do
    targets+=("$(basename "$source" .cpp)")
  done
fi
for target in "${targets[@]}"; do
  if [[ ! -x "$build/tests/fuzz/$target" ]]; then
    echo "run.sh: $build/tests/fuzz/$target is not built; build with" >&2
    echo "  bash deploy/scripts/build.sh build-fuzz -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF -DCMAKE_CXX_COMPILER=clang++-14" >&2
    exit 2
  fi
done

keep_work=1
if [[ -z "${FUZZ_WORK:-}" ]]; then
  FUZZ_WORK="$(mktemp -d /tmp/sluice-fuzz.XXXXXX)"
  keep_work=0
fi
mkdir -p "$FUZZ_WORK"

# Longest input per target: what the parser under test can meaningfully take.
max_len_of() {
  case "$1" in
    config_fuzz) echo 16384 ;;          # the reference config is ~8 KiB
    proxy_protocol_fuzz) echo 4200 ;;   # a v2 header is at most 4096 bytes
    *) echo 4096 ;;
  esac
}

# One target: scratch corpus in, log and crash files out, status in a file.
run_one() {
  local target="$1" name="${1%_fuzz}"
  local dir="$FUZZ_WORK/$target"
  mkdir -p "$dir/corpus"
  if [[ -d "$root/tests/fuzz/corpus/$name" ]]; then
    cp -R "$root/tests/fuzz/corpus/$name/." "$dir/corpus/"
  fi
  local status=0
  "$build/tests/fuzz/$target" "$dir/corpus" \
    -max_total_time="$seconds" -max_len="$(max_len_of "$target")" -timeout=30 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
    >"$dir/log" 2>&1 || status=$?
  echo "$status" >"$dir/status"
  echo "$target: exit $status ($(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$dir/log" | grep -Eo '[0-9]+$' || echo '?') runs)"
}
export -f run_one max_len_of
export root build seconds FUZZ_WORK

echo "fuzzing ${targets[*]} for ${seconds}s each, $jobs at a time (work: $FUZZ_WORK)"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}

failed=()
for target in "${targets[@]}"; do
  status="$(cat "$FUZZ_WORK/$target/status" 2>/dev/null || echo missing)"
  if [[ "$status" != 0 ]]; then
    failed+=("$target")
    echo "== $target failed (exit $status); the end of its log:"
    tail -n 60 "$FUZZ_WORK/$target/log"
    for artifact in "$FUZZ_WORK/$target"/{crash,leak,timeout,oom}-*; do
      if [[ -e "$artifact" ]]; then
        echo "input: $artifact"
        # CI's scratch directory is gone after the run: the log keeps the input.
        echo "input as base64 (base64 -d > crash): $(head -c 16384 "$artifact" | base64 -w0)"
      fi
    done
  fi
done
if ((${#failed[@]})); then
  echo "fuzzing failed: ${failed[*]} (inputs and logs kept in $FUZZ_WORK)"
  echo "reproduce: $build/tests/fuzz/<target> <input>   (docs/fuzzing.md)"
  exit 1
fi
echo "fuzzing ok: ${targets[*]}"
((keep_work)) || rm -rf "$FUZZ_WORK"
