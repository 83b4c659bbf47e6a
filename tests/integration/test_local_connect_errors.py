"""Running out of descriptors here is not the backend's fault: a connect that
fails with EMFILE answers 503 but neither ejects the backend (outlier
detection) nor fails its health check, and is counted as reason="local"."""

import socket
import time

import pytest

from harness import SANITIZED, Sluice, free_port, http_config, raw_exchange, status_of, wait_for
from servers import ScriptedHttpServer

GET = b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def hold_until_full(sluice, port, limit):
    """Opens idle client connections until sluice holds `limit` descriptors.
    A health check's socket may be open at any sample: counts are lower bounds."""
    samples = []
    for _ in range(20):  # over 0.4 s: the /live probe's connection closes meanwhile
        samples.append(sluice.fd_count())
        time.sleep(0.02)
    base = min(samples)
    clients = []
    for _ in range(limit - base):
        clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        expected = base + len(clients)
        wait_for(lambda: sluice.fd_count() >= expected, what="the connection accepted")
    return clients


@pytest.mark.skipif(SANITIZED, reason="UBSan's vptr check probes memory through a pipe; with no "
                    "descriptors left it cannot, reports a false 'invalid vptr' and aborts. "
                    "The plain build runs this test.")
def test_running_out_of_descriptors_for_a_connect_does_not_eject_the_backend():
    limit = 48
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config(
            [backend.port], port, pool={"min_idle": 0},
            outlier_detection={"consecutive_failures": 1, "ejection_time": "60s"},
            health_check={"type": "tcp", "interval": "100ms", "timeout": "50ms",
                          "unhealthy_threshold": 1, "healthy_threshold": 1})
        with Sluice(config, workers=1, rlimit_nofile=limit) as sluice:
            # No request first: a pooled connection would spare the connect.
            clients = hold_until_full(sluice, port, limit - 1)
            # The next client takes the last descriptor: its connect() gets EMFILE.
            last = socket.create_connection(("127.0.0.1", port), timeout=5)
            last.sendall(GET)
            response = last.recv(65536)
            last.close()
            assert status_of(response) == 503, response
            # Health checks run (and cannot connect) while descriptors are out.
            time.sleep(0.5)
            for c in clients:
                c.close()
            wait_for(lambda: sluice.fd_count() < limit - 10, what="descriptors freed")
            assert sluice.metric("sluice_upstream_connect_failures_total", reason="local") >= 1
            for reason in ("refused", "error", "timeout"):
                assert sluice.metric("sluice_upstream_connect_failures_total", reason=reason) == 0
            assert sluice.metric("sluice_health_checks_total", result="failed") == 0
            stats = sluice.stats()["clusters"][0]["backends"][0]
            assert stats["healthy"] and not stats["ejected"], stats
            # Served again at once: nothing to wait out.
            assert status_of(raw_exchange(port, GET)) == 200
