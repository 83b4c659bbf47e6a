"""Active health checks (tcp and http) against real backends: rise/fall,
traffic leaving a dead backend and coming back, idle pooled connections
closed when a backend turns unhealthy."""

import http.client
import os
import shutil
import socket
import threading
import time

import pytest

from harness import Sluice, connect, free_port, http_config, recv_all, tcp_config, wait_for
from servers import EchoServer, Nginx


def backend_stats(sluice, cluster="echo"):
    for c in sluice.stats()["clusters"]:
        if c["name"] == cluster:
            return {b["address"]: b for b in c["backends"]}
    return {}


def echo_once(port, payload=b"ping\n"):
    sock = connect(port)
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock, timeout=5)
    finally:
        sock.close()


class Load:
    """Sessions one after another in a thread; records the failed ones."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failed = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                got = echo_once(self.port)
                if got == b"ping\n":
                    self.ok += 1
                else:
                    self.failed.append((started, got))
            except OSError as e:
                self.failed.append((started, e))

    def failed_since(self, t):
        return [f for f in self.failed if f[0] >= t]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


TCP_CHECK = {"type": "tcp", "interval": "200ms", "timeout": "150ms",
             "healthy_threshold": 2, "unhealthy_threshold": 2}


def test_tcp_check_takes_a_dead_backend_out_and_back():
    a = EchoServer().__enter__()
    b = EchoServer().__enter__()
    port = free_port()
    config = tcp_config([a.port, b.port], port, health_check=TCP_CHECK,
                        retries={"connect": 0})
    b_name = f"127.0.0.1:{b.port}"
    try:
        with Sluice(config) as sluice:
            wait_for(lambda: backend_stats(sluice)[b_name]["health_checks_ok"] >= 2,
                     what="first checks")
            with Load(port) as load:
                wait_for(lambda: load.ok >= 20, what="steady load")
                b.stop()
                wait_for(lambda: not backend_stats(sluice)[b_name]["healthy"], timeout=5,
                         what="b unhealthy")
                fall = time.monotonic()
                ok_at_fall = load.ok
                wait_for(lambda: load.ok >= ok_at_fall + 50, what="load on a alone")
                # Once marked down, no session started after it fails (retries are off).
                # (One started before may: it may have taken a pooled connection
                # to b just before b died.)
                assert load.failed_since(fall) == []
                accepted_before = a.accepted
                b = EchoServer(port=b.port).__enter__()
                wait_for(lambda: backend_stats(sluice)[b_name]["healthy"], timeout=5,
                         what="b healthy again")
                wait_for(lambda: b.accepted >= 5, what="traffic back on b")
                assert a.accepted > accepted_before
            assert "is unhealthy after 2 failed check(s)" in sluice.log()
            assert "is healthy after 2 passed check(s)" in sluice.log()
    finally:
        a.stop()
        b.stop()


def test_no_healthy_backend_closes_tcp_sessions_at_once():
    dead = free_port()
    port = free_port()
    config = tcp_config([dead], port, health_check=dict(TCP_CHECK, initial_state="unhealthy"))
    with Sluice(config) as sluice:
        wait_for(lambda: backend_stats(sluice)[f"127.0.0.1:{dead}"]["health_checks_failed"] >= 1,
                 what="a failed check")
        sock = connect(port)
        assert recv_all(sock, timeout=5) == b""
        assert sluice.stats()["clusters"][0]["no_healthy_backend"] >= 1


# /healthz answers 500 while the file `down` exists in nginx's directory;
# `/` answers "server <port>", so the client can tell which backend served it.
HEALTH_LOCATIONS = """
    location = /healthz {
        if (-f {dir}/down) { return 500 "down\\n"; }
        return 200 "ok\\n";
    }
    location / { return 200 "server {port}\\n"; }
"""


def health_nginx():
    return Nginx(locations=HEALTH_LOCATIONS)


def set_down(nginx, down):
    path = os.path.join(nginx.dir, "down")
    if down:
        open(path, "w").close()
    elif os.path.exists(path):
        os.remove(path)


def http_get_through(port):
    sock = connect(port)
    try:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return recv_all(sock, timeout=5)
    finally:
        sock.close()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_http_check_against_nginx_closes_idle_pool_and_recovers():
    with health_nginx() as nginx_a, health_nginx() as nginx_b:
        a, b = nginx_a.port, nginx_b.port
        port = free_port()
        check = dict(TCP_CHECK, type="http", path="/healthz", expect_status="200-299")
        config = tcp_config([a, b], port, health_check=check, pool={"min_idle": 4})
        b_name = f"127.0.0.1:{b}"
        with Sluice(config) as sluice:
            wait_for(lambda: backend_stats(sluice)[b_name]["idle"] >= 2, what="b pre-warmed")
            set_down(nginx_b, True)
            wait_for(lambda: not backend_stats(sluice)[b_name]["healthy"], timeout=5,
                     what="b unhealthy on 500")
            # nginx keeps the idle connections open; sluice closes them itself.
            wait_for(lambda: backend_stats(sluice)[b_name]["idle"] == 0, timeout=3,
                     what="b's idle pooled connections closed")
            for _ in range(10):
                assert f"server {a}".encode() in http_get_through(port)
            assert backend_stats(sluice)[b_name]["connections"] == 0
            set_down(nginx_b, False)
            wait_for(lambda: backend_stats(sluice)[b_name]["healthy"], timeout=5,
                     what="b healthy again")
            wait_for(lambda: any(f"server {b}".encode() in http_get_through(port)
                                 for _ in range(4)), what="traffic back on b")
            stats = backend_stats(sluice)[b_name]
            assert stats["health_checks_failed"] >= 2 and stats["health_checks_ok"] >= 2


class KeepAliveLoad:
    """`threads` clients doing keep-alive GETs through sluice, each request
    recorded as (start, end, outcome) with outcome the body or the error.
    Bounded: stops at exit, after `max_seconds`, or `max_requests` per thread."""

    def __init__(self, port, threads=4, max_seconds=60, max_requests=50000):
        self.port = port
        self.results = []  # appended from the load threads (list.append is atomic)
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._max_requests = max_requests
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        conn = None
        for _ in range(self._max_requests):
            if self._stop.is_set() or time.monotonic() > self._deadline:
                break
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read()
                outcome = body if resp.status == 200 else f"status {resp.status}"
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                outcome = repr(e)
                if conn is not None:
                    conn.close()
                conn = None
            self.results.append((started, time.monotonic(), outcome))
        if conn is not None:
            conn.close()

    def ok(self, body=None, since=0.0):
        return sum(1 for s, _, o in list(self.results)
                   if s >= since and isinstance(o, bytes) and (body is None or o == body))

    def failed(self, since=0.0):
        return [(s, o) for s, _, o in list(self.results) if s >= since and not isinstance(o, bytes)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(10)


HTTP_CHECK = {"type": "http", "path": "/healthz", "expect_status": "200-299", "interval": "200ms",
              "timeout": "150ms", "healthy_threshold": 2, "unhealthy_threshold": 2}


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_http_load_survives_a_killed_nginx_and_returns_to_it():
    a = health_nginx().__enter__()
    b = health_nginx().__enter__()
    port = free_port()
    config = http_config([a.port, b.port], port, health_check=HTTP_CHECK)
    a_name, b_name = f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"
    a_body, b_body = f"server {a.port}\n".encode(), f"server {b.port}\n".encode()
    interval = 0.2
    try:
        with Sluice(config) as sluice:
            stats = lambda: backend_stats(sluice, "app")
            healthy = lambda name: sluice.metric("sluice_backend_healthy", cluster="app",
                                                 backend=name)
            wait_for(lambda: stats()[b_name]["health_checks_ok"] >= 2, what="first checks")
            with KeepAliveLoad(port) as load:
                wait_for(lambda: load.ok(a_body) >= 50 and load.ok(b_body) >= 50,
                         what="steady load on both")
                checks_failed_before = stats()[b_name]["health_checks_failed"]
                killed = time.monotonic()
                b.stop()
                # unhealthy_threshold x interval, plus a margin for the ±15% jitter,
                # the phase of the next check and a loaded machine.
                settled = killed + HTTP_CHECK["unhealthy_threshold"] * interval + 0.8
                wait_for(lambda: not stats()[b_name]["healthy"], timeout=5, what="b unhealthy")
                assert stats()[b_name]["health_checks_failed"] >= checks_failed_before + 2
                assert healthy(b_name) == 0 and healthy(a_name) == 1
                assert not stats()[b_name]["available"] and stats()[a_name]["healthy"]
                assert sluice.get("/ready")[0] == 200  # a still serves
                wait_for(lambda: time.monotonic() > settled and load.ok(since=settled) >= 200,
                         what="load on a alone")
                assert load.ok(b_body, since=settled) == 0
                assert load.failed(since=settled) == []

                checks_ok_before = stats()[b_name]["health_checks_ok"]
                restarted = time.monotonic()
                b.start()
                wait_for(lambda: stats()[b_name]["healthy"], timeout=5, what="b healthy again")
                assert stats()[b_name]["health_checks_ok"] >= checks_ok_before + 2
                assert healthy(b_name) == 1
                wait_for(lambda: load.ok(b_body, since=restarted) >= 20, what="traffic back on b")
                assert load.ok(a_body, since=restarted) > 0
                # Nothing failed from the settle point on: not on a alone, not
                # while b came back.
                assert load.failed(since=settled) == []
            log = sluice.log()
            assert "is unhealthy after 2 failed check(s)" in log
            assert "is healthy after 2 passed check(s)" in log
            # The whole run, kill included, was bounded and mostly ok.
            assert load.ok() > 300
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)
        b.__exit__(None, None, None)
