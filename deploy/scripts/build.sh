#!/usr/bin/env bash
# build.sh [BUILD_DIR] [extra cmake args...]   (default BUILD_DIR: build)
# Configures and builds sluice and its tests. Used by the README, CI and the Dockerfile.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${1:-build}"
shift || true
[[ "$build_dir" = /* ]] || build_dir="$root/$build_dir"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build_dir" "${generator[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
