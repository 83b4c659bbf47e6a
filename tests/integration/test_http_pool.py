"""The http upstream pool keeps a connection's socket between leases: what
happens to such a connection while it is idle, and when a tcp listener on the
same cluster takes it."""

import http.client
import socket

from harness import Sluice, free_port, http_config, recv_all, wait_for
from servers import ScriptedHttpServer


def get(port, path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read(), c


def backend_stats(sluice):
    return sluice.stats()["clusters"][0]["backends"][0]


def test_idle_connection_the_backend_closes_is_dropped_from_the_pool():
    with ScriptedHttpServer() as backend:
        backend.idle_close = 0.3  # the backend's keep-alive timeout
        port = free_port()
        config = http_config([backend.port], port, pool={"max_connections": 1, "min_idle": 0})
        with Sluice(config) as sluice:
            status, body, client = get(port, "/one")
            assert (status, body) == (200, b"path=/one\n")
            wait_for(lambda: backend_stats(sluice)["idle"] == 1, what="connection back in the pool")
            # The backend closes it; the pool notices on its own, before any
            # request could try it (a request would hide this behind a retry).
            wait_for(lambda: backend_stats(sluice)["connections"] == 0, timeout=5,
                     what="closed idle connection dropped")
            status, body, _ = get(port, "/two", client)
            assert (status, body) == (200, b"path=/two\n")
            assert backend.connections == 2
            assert sluice.stats()["clusters"][0]["reuses"] == 0
            client.close()


def test_tcp_listener_takes_an_idle_connection_an_http_exchange_left():
    with ScriptedHttpServer() as backend:
        http_port, tcp_port = free_port(), free_port()
        config = http_config([backend.port], http_port,
                             pool={"max_connections": 1, "min_idle": 0})
        config["listeners"].append({"name": "raw", "address": f"127.0.0.1:{tcp_port}",
                                    "protocol": "tcp", "cluster": "app"})
        # One worker: pools are per worker, and the tcp session must land on
        # the worker whose pool holds the connection.
        config["workers"] = 1
        with Sluice(config) as sluice:
            status, body, client = get(http_port, "/via-http")
            assert (status, body) == (200, b"path=/via-http\n")
            client.close()
            wait_for(lambda: backend_stats(sluice)["idle"] == 1, what="connection back in the pool")
            # Cap 1: the tcp session can only use the connection the http
            # exchange left in the pool.
            raw = socket.create_connection(("127.0.0.1", tcp_port), timeout=5)
            raw.sendall(b"GET /via-tcp HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            answer = recv_all(raw, timeout=5)
            raw.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert answer.endswith(b"path=/via-tcp\n"), answer
            assert backend.connections == 1
            # A raw tcp upstream is never reused: http gets a new connection.
            wait_for(lambda: backend_stats(sluice)["connections"] == 0, what="tcp upstream closed")
            status, body, client = get(http_port, "/again")
            assert (status, body) == (200, b"path=/again\n")
            assert backend.connections == 2
            client.close()


def test_idle_connection_on_one_worker_serves_a_request_queued_on_another():
    # Cap 1 and two workers: the one connection sits idle in the pool of the
    # worker that used it last, while the next client may land on the other
    # worker and queue. It must get that connection, not wait for it to hit
    # idle_timeout (30s here), which would end in the queue's 503 at 10s.
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             pool={"max_connections": 1, "min_idle": 0, "idle_timeout": "30s",
                                   "queue_timeout": "10s"})
        config["workers"] = 2
        with Sluice(config) as sluice:
            # Each request on a new client connection: the kernel spreads them
            # over both workers (SO_REUSEPORT), so with 12 of them some land on
            # the worker without the idle connection (all on one: 1 in 2048).
            statuses = []
            for i in range(12):
                status, body, client = get(port, f"/n{i}")
                client.close()
                statuses.append(status)
                assert (status, body) == (200, f"path=/n{i}\n".encode()), statuses
            # The connection moved between the workers instead of being replaced.
            assert backend.connections == 1
            assert sluice.stats()["clusters"][0]["queue_timeout"] == 0


def test_reuse_counter_counts_only_requests_on_a_previously_used_connection():
    # One pre-warmed connection (cap 1) on one of two workers: a first request
    # that lands on the other worker queues and is handed that connection. Its
    # first request on it is no reuse; every later one is. So after N requests
    # over the one connection, upstream_connection_reuses_total is N - 1. Which
    # worker the first client reaches is the kernel's choice (SO_REUSEPORT), so
    # a few fresh processes make the hand-off on a first use near certain.
    with ScriptedHttpServer() as backend:
        for attempt in range(6):
            port = free_port()
            config = http_config([backend.port], port,
                                 pool={"max_connections": 1, "min_idle": 1, "idle_timeout": "30s",
                                       "queue_timeout": "10s"})
            config["workers"] = 2
            with Sluice(config) as sluice:
                wait_for(lambda: backend_stats(sluice)["idle"] == 1, what="pre-warmed connection")
                requests = 6
                for i in range(requests):
                    status, _, client = get(port, f"/r{attempt}-{i}")
                    client.close()
                    assert status == 200
                assert sluice.metric("sluice_upstream_connect_total") == 1
                reuses = sluice.metric("sluice_upstream_connection_reuses_total")
                assert reuses == requests - 1, f"attempt {attempt}: {reuses} reuses"
