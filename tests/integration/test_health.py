"""Active health checks (tcp and http) against real backends: rise/fall,
traffic leaving a dead backend and coming back, idle pooled connections
closed when a backend turns unhealthy."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from harness import EchoServer, Sluice, connect, free_port, recv_all, tcp_config, wait_for


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


class Nginx:
    """Real nginx from apt: two servers (ports a and b) whose /healthz
    answers 500 while the file `down_<port>` exists in its directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-nginx-")
        self.ports = (free_port(), free_port())
        servers = "".join(f"""
    server {{
        listen 127.0.0.1:{p};
        location = /healthz {{
            if (-f {self.dir}/down_{p}) {{ return 500 "down\\n"; }}
            return 200 "ok\\n";
        }}
        location / {{ return 200 "server {p}\\n"; }}
    }}""" for p in self.ports)
        conf = f"""
daemon off;
user root;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    {servers}
}}
"""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", f"{self.dir}/error.log",
                                      "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in self.ports:
            wait_for(lambda: self._listening(p), what=f"nginx on {p}")
        return self

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def set_down(self, port, down):
        path = os.path.join(self.dir, f"down_{port}")
        if down:
            open(path, "w").close()
        elif os.path.exists(path):
            os.remove(path)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def http_get_through(port):
    sock = connect(port)
    try:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return recv_all(sock, timeout=5)
    finally:
        sock.close()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_http_check_against_nginx_closes_idle_pool_and_recovers():
    with Nginx() as nginx:
        a, b = nginx.ports
        port = free_port()
        check = dict(TCP_CHECK, type="http", path="/healthz", expect_status="200-299")
        config = tcp_config([a, b], port, health_check=check, pool={"min_idle": 4})
        b_name = f"127.0.0.1:{b}"
        with Sluice(config) as sluice:
            wait_for(lambda: backend_stats(sluice)[b_name]["idle"] >= 2, what="b pre-warmed")
            nginx.set_down(b, True)
            wait_for(lambda: not backend_stats(sluice)[b_name]["healthy"], timeout=5,
                     what="b unhealthy on 500")
            # nginx keeps the idle connections open; sluice closes them itself.
            wait_for(lambda: backend_stats(sluice)[b_name]["idle"] == 0, timeout=3,
                     what="b's idle pooled connections closed")
            for _ in range(10):
                assert f"server {a}".encode() in http_get_through(port)
            assert backend_stats(sluice)[b_name]["connections"] == 0
            nginx.set_down(b, False)
            wait_for(lambda: backend_stats(sluice)[b_name]["healthy"], timeout=5,
                     what="b healthy again")
            wait_for(lambda: any(f"server {b}".encode() in http_get_through(port)
                                 for _ in range(4)), what="traffic back on b")
            stats = backend_stats(sluice)[b_name]
            assert stats["health_checks_failed"] >= 2 and stats["health_checks_ok"] >= 2
