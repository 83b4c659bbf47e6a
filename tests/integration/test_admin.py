"""The admin port: every endpoint, its answers to wrong methods and unknown
paths, and POST /drain keeping the process (and the port) up until SIGTERM."""

import http.client
import json
import os
import signal

from harness import Sluice, connect, free_port, tcp_config, wait_for


def request(sluice, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", sluice.admin_port, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def test_every_endpoint_answers(echo):
    with Sluice(tcp_config([echo.port], free_port(), pool={"min_idle": 1})) as sluice:
        assert request(sluice, "GET", "/live")[0] == 200
        assert request(sluice, "GET", "/ready")[0] == 200
        status, headers, body = request(sluice, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert "sluice_build_info" in body
        status, headers, body = request(sluice, "GET", "/config")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body)["listeners"][0]["name"] == "echo"
        wait_for(lambda: sluice.stats()["clusters"][0]["backends"][0]["idle"] >= 1, what="idle")
        stats = sluice.stats()
        assert stats["listeners"][0]["name"] == "echo"
        cluster = stats["clusters"][0]
        assert {"pending", "max_pending", "queued", "queue_timeout", "reuses"} <= cluster.keys()
        backend = cluster["backends"][0]
        assert {"idle", "busy", "connections", "max_connections", "healthy", "connect_total",
                "connect_failures", "health_checks_ok"} <= backend.keys()
        assert backend["idle"] + backend["busy"] == backend["connections"]
        assert stats["config_reloads"] == {"success": 0, "failure": 0}
        assert stats["access_log"]["target"] == "off"


WRONG_METHODS = [
    ("POST", "/live", "GET"), ("POST", "/ready", "GET"), ("POST", "/metrics", "GET"),
    ("DELETE", "/stats", "GET"), ("PUT", "/config", "GET"),
    ("GET", "/reload", "POST"), ("GET", "/drain", "POST"),
]


def test_workers_auto_counts_the_cpus_the_process_may_use(echo):
    # Pinned to one CPU (as a cpuset or a 1-CPU quota would), `workers: auto`
    # starts one worker, not one per CPU of the machine.
    port = free_port()
    with Sluice(tcp_config([echo.port], port), workers="auto", cpus={0}) as sluice:
        assert sluice.stats()["workers"] == 1
        sock = connect(port)
        sock.sendall(b"one worker")
        assert sock.recv(64) == b"one worker"
        sock.close()
    with Sluice(tcp_config([echo.port], port), workers="auto") as sluice:
        assert 1 <= sluice.stats()["workers"] <= len(os.sched_getaffinity(0))


def test_wrong_method_is_405_with_allow(echo):
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        for method, path, allow in WRONG_METHODS:
            status, headers, _ = request(sluice, method, path)
            assert (method, path, status, headers.get("Allow")) == (method, path, 405, allow)
        # GET /drain must not have started a drain.
        assert request(sluice, "GET", "/ready")[0] == 200


def test_unknown_path_is_404(echo):
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        assert request(sluice, "GET", "/nope")[0] == 404
        assert request(sluice, "POST", "/metrics/extra")[0] == 404


def test_drain_flips_ready_and_stays_up_until_sigterm(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port)) as sluice:
        assert request(sluice, "GET", "/ready")[0] == 200
        assert request(sluice, "POST", "/drain")[0] == 202
        assert request(sluice, "GET", "/ready")[0] == 503
        # drain_delay 0: the listener closes, the drain finishes, the process stays.
        wait_for(lambda: "staying up until SIGTERM" in sluice.log(), what="drain done")
        def refused():
            try:
                connect(port, timeout=1).close()
                return False
            except ConnectionRefusedError:
                return True
        wait_for(refused, what="listener closed")
        assert sluice.proc.poll() is None
        assert request(sluice, "GET", "/live")[0] == 200
        assert request(sluice, "GET", "/ready")[0] == 503
        assert request(sluice, "GET", "/stats")[0] == 200
        sluice.signal(signal.SIGTERM)
        assert sluice.wait(10) == 0
