#!/usr/bin/env bash
# Quick start: installs what is needed, builds sluice, starts a demo backend
# (nginx on 127.0.0.1:9000, standing in for a legacy server) and sluice with
# config/sluice.yaml in front of it, then proves it with one request.
#
#   demo.sh         start (both keep running in the background)
#   demo.sh stop    stop both
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
run_dir="$root/build-demo/run"

stop() {
  for name in sluice nginx; do
    if [[ -f "$run_dir/$name.pid" ]]; then
      kill "$(cat "$run_dir/$name.pid")" 2>/dev/null || true
      rm -f "$run_dir/$name.pid"
    fi
  done
}

if [[ "${1:-}" == "stop" ]]; then
  stop
  echo "demo stopped"
  exit 0
fi

bash "$root/deploy/scripts/install-deps.sh"
bash "$root/deploy/scripts/build.sh" build-demo -DSLUICE_TESTS=OFF
mkdir -p "$run_dir"
stop

cat >"$run_dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $run_dir/nginx.run.pid;
error_log $run_dir/nginx.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:9000;
    location / { return 200 "hello from the legacy backend, through sluice\n"; }
  }
}
CONF
nohup nginx -c "$run_dir/nginx.conf" -e "$run_dir/nginx.error.log" >"$run_dir/nginx.out" 2>&1 &
echo $! >"$run_dir/nginx.pid"

nohup "$root/build-demo/proxy/sluice" run -c "$root/config/sluice.yaml" >"$run_dir/sluice.log" 2>&1 </dev/null &
echo $! >"$run_dir/sluice.pid"

for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:9901/ready >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fsS http://127.0.0.1:8080/; then
  echo "the demo did not come up; see $run_dir/sluice.log" >&2
  tail -20 "$run_dir/sluice.log" >&2
  exit 1
fi
cat <<MSG

sluice is running (log: $run_dir/sluice.log):
  curl http://127.0.0.1:8080/                 # through sluice to the demo backend
  curl http://127.0.0.1:9901/stats            # pools, backends, limits
  curl http://127.0.0.1:9901/metrics          # Prometheus
  bash deploy/scripts/demo.sh stop            # stop sluice and the demo backend
MSG
