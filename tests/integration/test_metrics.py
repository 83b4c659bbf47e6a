"""GET /metrics: every metric of DESIGN.md with HELP/TYPE, and the values
following real traffic through the real binary (tcp mode)."""

import re
import socket

from harness import Sluice, connect, free_port, is_closed, recv_all, tcp_config, wait_for

DESIGN_METRICS = [
    ("downstream_connections_active", "gauge"),
    ("downstream_connections_total", "counter"),
    ("downstream_rejected_total", "counter"),
    ("upstream_connections_active", "gauge"),
    ("upstream_connections_idle", "gauge"),
    ("upstream_connect_total", "counter"),
    ("upstream_connect_failures_total", "counter"),
    ("upstream_connect_duration_seconds", "histogram"),
    ("pool_pending", "gauge"),
    ("pool_wait_duration_seconds", "histogram"),
    ("upstream_requests_per_connection", "histogram"),
    ("upstream_connection_reuses_total", "counter"),
    ("limit", "gauge"),
    ("requests_total", "counter"),
    ("request_duration_seconds", "histogram"),
    ("bytes_total", "counter"),
    ("backend_healthy", "gauge"),
    ("health_checks_total", "counter"),
    ("config_reloads_total", "counter"),
    ("build_info", "gauge"),
]


def test_every_design_metric_is_served_with_help_and_type(echo):
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        status, text = sluice.get("/metrics")
        assert status == 200
        for name, kind in DESIGN_METRICS:
            full = "sluice_" + name
            assert re.search(rf"^# HELP {full} \S", text, re.M), f"no HELP for {full}"
            assert re.search(rf"^# TYPE {full} {kind}$", text, re.M), f"no TYPE {kind} for {full}"
        assert re.search(r"^# TYPE sluice_access_log_dropped_total counter$", text, re.M)
        samples = sluice.metrics()  # parses every line
        assert samples[("sluice_build_info", frozenset({("version", _version(text))}))] == 1


def _version(text):
    return re.search(r'sluice_build_info\{version="([^"]+)"\}', text).group(1)


def test_counters_gauges_and_connect_histogram_follow_traffic(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port, pool={"min_idle": 2})) as sluice:
        wait_for(lambda: sluice.metric("sluice_upstream_connections_idle") >= 2, what="pre-warm")
        # Two pre-warm connects were timed.
        wait_for(lambda: sluice.metric("sluice_upstream_connect_duration_seconds_count",
                                       cluster="echo") >= 2, what="connect histogram count")
        held = connect(port)
        held.sendall(b"ping")
        assert held.recv(4) == b"ping"
        wait_for(lambda: sluice.metric("sluice_downstream_connections_active", listener="echo") == 1,
                 what="active gauge")
        assert sluice.metric("sluice_upstream_connections_active", cluster="echo") >= 1
        held.shutdown(socket.SHUT_WR)
        recv_all(held)
        held.close()
        wait_for(lambda: sluice.metric("sluice_downstream_connections_active") == 0,
                 what="active gauge back to 0")
        m = sluice.metrics()
        def total(metric_name, **labels):
            return sum(v for (n, ls), v in m.items()
                       if n == metric_name and all((k, x) in ls for k, x in labels.items()))
        assert total("sluice_downstream_connections_total", listener="echo") == 1
        assert total("sluice_bytes_total", direction="downstream_rx") == 4
        assert total("sluice_bytes_total", direction="downstream_tx") == 4
        assert total("sluice_upstream_connect_total") >= 2
        assert total("sluice_backend_healthy") == 1
        assert total("sluice_limit", scope="cluster:echo", name="pool_max_connections") > 0
        # Histogram buckets are cumulative and +Inf equals the count.
        buckets = sorted((float(dict(ls)["le"]), v) for (n, ls), v in m.items()
                         if n == "sluice_upstream_connect_duration_seconds_bucket")
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)
        assert buckets[-1][0] == float("inf")
        assert buckets[-1][1] == total("sluice_upstream_connect_duration_seconds_count")


def test_rejections_by_reason_pending_and_pool_wait(echo):
    port = free_port()
    config = tcp_config([echo.port], port,
                        pool={"max_connections": 1, "min_idle": 0, "queue_timeout": "400ms"},
                        listener={"max_connections": 2})
    with Sluice(config, workers=1) as sluice:
        first = connect(port)
        first.sendall(b"a")
        assert first.recv(1) == b"a"  # holds the only upstream slot
        second = connect(port)  # queued for a slot
        wait_for(lambda: sluice.metric("sluice_pool_pending", cluster="echo") == 1, what="pending")
        third = connect(port)  # over the listener's max_connections
        assert is_closed(third)
        wait_for(lambda: sluice.metric("sluice_downstream_rejected_total",
                                       reason="max_connections") == 1, what="max_connections")
        assert is_closed(second)  # queue_timeout
        wait_for(lambda: sluice.metric("sluice_downstream_rejected_total",
                                       reason="queue_timeout") == 1, what="queue_timeout")
        assert sluice.metric("sluice_pool_pending") == 0
        assert sluice.metric("sluice_pool_wait_duration_seconds_count", cluster="echo") == 1
        assert sluice.metric("sluice_pool_wait_duration_seconds_sum", cluster="echo") >= 0.3
        first.close()


def test_connect_failures_are_counted_by_reason():
    dead = free_port()  # nothing listens there
    port = free_port()
    with Sluice(tcp_config([dead], port, pool={"min_idle": 0}, retries={"connect": 0})) as sluice:
        s = connect(port)
        assert is_closed(s)
        wait_for(lambda: sluice.metric("sluice_upstream_connect_failures_total",
                                       reason="refused") >= 1, what="refused connect counted")


def test_grafana_dashboard_only_uses_served_metrics(echo):
    import json
    import os
    from harness import SOURCE_DIR
    with open(os.path.join(SOURCE_DIR, "deploy/grafana/sluice-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for e in exprs for n in re.findall(r"sluice_\w+", e)}
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        served = set(re.findall(r"^# TYPE (\S+) ", sluice.get("/metrics")[1], re.M))
    assert used and used <= served, used - served
