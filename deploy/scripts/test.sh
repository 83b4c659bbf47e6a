#!/usr/bin/env bash
# Installs everything, then builds and runs the whole test suite three times:
# ASan+UBSan, ThreadSanitizer, and a plain -Werror build (last, so CTest's
# summary closes the output). Also checks formatting, runs clang-tidy, and
# runs every fuzz target for FUZZ_SECONDS (default 45) each.
# This is what CI runs (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

bash deploy/scripts/install-deps.sh --test
# Everything the tests start binds loopback only.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== clang-format"
mapfile -t sources < <(git ls-files -- 'proxy/*.cpp' 'proxy/*.h' 'tests/*.cpp' 'tests/*.h' 2>/dev/null || find proxy tests -name '*.cpp' -o -name '*.h')
clang-format --dry-run --Werror "${sources[@]}"

run_suite() {
  local dir="$1"; shift
  echo "== build $dir $*"
  bash deploy/scripts/build.sh "$dir" -DSLUICE_WERROR=ON "$@"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j2 --timeout 900)
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
run_suite build-asan -DSLUICE_ASAN=ON -DCMAKE_BUILD_TYPE=Debug
run_suite build-tsan -DSLUICE_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

# libFuzzer targets (tests/fuzz, docs/fuzzing.md): clang 14 with ASan+UBSan,
# a short bounded run of each on a scratch copy of its seed corpus.
echo "== build build-fuzz (clang 14, libFuzzer)"
bash deploy/scripts/build.sh build-fuzz -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF \
  -DSLUICE_WERROR=ON -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== fuzz build-fuzz"
FUZZ_BUILD=build-fuzz bash tests/fuzz/run.sh "${FUZZ_SECONDS:-45}"

echo "== build build (plain, -Werror)"
bash deploy/scripts/build.sh build -DSLUICE_WERROR=ON
echo "== clang-tidy"
mapfile -t core_sources < <(find proxy -name '*.cpp' | sort)
run-clang-tidy -quiet -p build -j "$(nproc)" "${core_sources[@]}" >/tmp/sluice-tidy.log 2>&1 || {
  grep -E 'warning:|error:' /tmp/sluice-tidy.log | head -50; echo "clang-tidy failed"; exit 1; }
echo "== test build"
cd build && ctest --output-on-failure -j2 --timeout 900
