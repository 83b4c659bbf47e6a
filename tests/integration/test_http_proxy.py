"""protocol: http end to end: real nginx (and a scripted backend) behind the real binary."""

import hashlib
import http.client
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from harness import (SANITIZED, Sluice, free_port, header_of, http_config, raw_exchange, status_of,
                     wait_for)
from servers import ScriptedBackend, ScriptedHttpServer, answer, expect, send


def get(port, path="/", headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read(), r, c


def test_keep_alive_requests_share_pooled_upstream_connections(nginx):
    port = free_port()
    with Sluice(http_config([nginx.port], port, pool={"max_connections": 4, "min_idle": 0})) as s:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(50):
            status, body, _, _ = get(port, conn=conn)
            assert (status, body) == (200, b"hello\n")
        assert s.metric("sluice_upstream_connect_total") <= 2
        assert s.stats()["clusters"][0]["backends"][0]["idle"] >= 1


def test_forwarded_headers_added_and_hop_by_hop_stripped(nginx):
    port = free_port()
    # append keeps the client's chain (replace, the default, is in test_http_session_safety.py).
    with Sluice(http_config([nginx.port], port,
                            listener={"http": {"forwarded_headers": "append"}})):
        status, body, _, _ = get(port, "/xff", {"X-Forwarded-For": "10.9.8.7",
                                                "Connection": "keep-alive, X-Secret",
                                                "X-Secret": "leak", "Keep-Alive": "timeout=5"})
        assert status == 200
        assert body == b"xff=10.9.8.7, 127.0.0.1 proto=http conn=keep-alive\n"


def test_two_thousand_clients_through_a_pool_of_sixteen(nginx):
    port = free_port()
    config = http_config([nginx.port], port,
                         pool={"max_connections": 16, "min_idle": 4, "max_pending": 10000,
                               "queue_timeout": "10s"})
    with Sluice(config, workers=2) as s:
        wrk = subprocess.Popen(["wrk", "-t2", "-c2000", "-d4s", "--timeout", "8s",
                                f"http://127.0.0.1:{port}/"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while wrk.poll() is None:
            peak = max(peak, nginx.connections_from())
            time.sleep(0.05)
        out = wrk.stdout.read()
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        assert "Socket errors" not in out, out
        assert "Non-2xx" not in out, out
        assert requests > 2000, out
        assert 0 < peak <= 16, f"nginx saw {peak} connections from sluice"
        connects = s.metric("sluice_upstream_connect_total")
        assert requests / connects > 100, f"{requests} requests over {connects} connections"


def test_hundred_mib_upload_and_download_stream_with_bounded_memory(nginx):
    size = 100 << 20
    path = nginx.file("big.bin", size)
    with open(path, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    port = free_port()
    with Sluice(http_config([nginx.port], port), workers=1) as s:
        baseline = s.rss_kib()
        peak = [baseline]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], s.rss_kib())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            out = subprocess.run(["curl", "-sS", "--fail", f"http://127.0.0.1:{port}/files/big.bin"],
                                 capture_output=True, timeout=120)
            assert out.returncode == 0, out.stderr
            assert hashlib.sha256(out.stdout).hexdigest() == want
            up = subprocess.run(["curl", "-sS", "--fail", "-H", "Transfer-Encoding: chunked",
                                 "--data-binary", f"@{path}", f"http://127.0.0.1:{port}/upload"],
                                capture_output=True, timeout=120)
            assert up.returncode == 0, up.stderr
            assert up.stdout == b"uploaded\n"
        finally:
            stop.set()
            sampler.join()
        growth = peak[0] - baseline
        if not SANITIZED:
            assert growth < 24 * 1024, f"RSS grew {growth} KiB while streaming 100 MiB each way"


def test_pipelined_requests_are_answered_in_order():
    with ScriptedHttpServer() as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3))
            reqs += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            out = raw_exchange(port, reqs)
            bodies = re.findall(rb"path=(/\w+)", out)
            assert bodies == [b"/p0", b"/p1", b"/p2", b"/last"]


def test_backend_closing_after_each_answer_leaves_the_client_connection_usable():
    # The upstream connection cannot be reused, the client's can: every request
    # gets a fresh upstream connection (and a parser that never saw a close).
    # Each connection: one request, answered with Connection: close, then closed.
    script = [expect(), send(lambda request: answer(request, headers=["Connection: close"]))]
    with ScriptedBackend(script) as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port, pool={"min_idle": 0}), workers=1) as s:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(3):
                status, body, response, _ = get(port, f"/n{i}", conn=conn)
                assert (status, body) == (200, f"path=/n{i}\n".encode())
                assert response.getheader("Connection") is None  # still keep-alive downstream
            assert backend.connections == 3
            assert s.metric("sluice_upstream_connect_total") == 3


def test_http10_client_without_keep_alive_gets_close(nginx):
    port = free_port()
    with Sluice(http_config([nginx.port], port)):
        out = raw_exchange(port, b"GET / HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.0 200")
        assert out.endswith(b"hello\n")
        out = raw_exchange(port, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                           timeout=1, read_until_close=False)
        assert header_of(out, "Connection") == "keep-alive"


def read_to_clean_eof(sock):
    """Everything until the peer's FIN; raises ConnectionResetError on an RST."""
    chunks = []
    while True:
        d = sock.recv(65536)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def test_connection_close_ends_with_a_fin_even_if_the_client_sent_more():
    # A client that asked for the close and sent nothing more is closed at
    # once; one that sent more must still get its whole answer and a FIN:
    # closing with its bytes unread would send an RST instead.
    with ScriptedHttpServer(delay=0.3) as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            quiet = socket.create_connection(("127.0.0.1", port), timeout=5)
            quiet.sendall(b"GET /quiet HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            out = read_to_clean_eof(quiet)
            quiet.close()
            assert status_of(out) == 200 and out.endswith(b"path=/quiet\n")

            # Bytes behind the request, more than sluice reads ahead (sent
            # while the backend thinks): some are still unread in the kernel
            # when the answer is out, so the close must linger.
            talker = socket.create_connection(("127.0.0.1", port), timeout=5)
            talker.sendall(b"GET /talk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            sender = threading.Thread(target=lambda: talker.sendall(b"x" * (512 << 10)))
            sender.start()
            out = read_to_clean_eof(talker)
            sender.join(10)
            talker.close()
            assert status_of(out) == 200 and out.endswith(b"path=/talk\n"), out[:200]


def test_expect_100_continue():
    with ScriptedHttpServer() as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            interim = s.recv(4096)
            assert interim.startswith(b"HTTP/1.1 100"), interim
            s.sendall(b"hello")
            final = b""
            while not final.endswith(b"got 5 bytes\n"):
                data = s.recv(4096)
                assert data, f"closed early: {final!r}"
                final += data
            assert final.startswith(b"HTTP/1.1 200")
            s.close()


def test_upgrade_turns_the_session_into_a_tunnel():
    with ScriptedHttpServer() as backend:
        port = free_port()
        # Only listed protocols tunnel (default [websocket]).
        with Sluice(http_config([backend.port], port, listener={"http": {"upgrade": ["echo"]}})):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101")
            assert header_of(head, "Upgrade") == "echo"
            for msg in (b"first frame", b"\x00\x01binary\xff"):
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    got += s.recv(4096)
                assert got == msg
            s.close()


BAD_REQUESTS = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
]


@pytest.mark.parametrize("request_bytes,status", BAD_REQUESTS,
                         ids=["garbage", "cl_and_te", "dup_cl", "te_not_chunked", "bad_chunk",
                              "no_host", "two_hosts", "header_too_big", "body_too_big"])
def test_bad_requests_get_a_clear_4xx_and_the_connection_closes(nginx, request_bytes, status):
    port = free_port()
    config = http_config([nginx.port], port, listener={"http": {"max_body_size": "1MiB"}})
    with Sluice(config) as s:
        out = raw_exchange(port, request_bytes)
        assert status_of(out) == status, out[:200]
        assert header_of(out, "X-Sluice-Reason")
        assert header_of(out, "Connection") == "close"
        assert s.proc.poll() is None
        # and the proxy still serves others
        assert get(port)[0] == 200


def test_malformed_response_is_a_502_and_that_upstream_is_closed():
    garbage = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"
    with ScriptedBackend([expect(), send(garbage)]) as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port)):
            out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(out) == 502
            assert header_of(out, "X-Sluice-Reason") == "bad_response"


def test_connect_failure_is_a_502():
    port = free_port()
    with Sluice(http_config([free_port()], port, pool={"min_idle": 0}, retries={"connect": 0})):
        out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(out) == 502
        assert header_of(out, "X-Sluice-Reason") == "connect_failed"


def test_slow_header_gets_408():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port, listener={"timeouts": {"request_header": "300ms"}})
        with Sluice(config):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes the head
            out = s.recv(4096)
            assert status_of(out) == 408


def test_keep_alive_connection_timeouts():
    # One timer serves the header, idle and linger deadlines: each must still
    # apply on its own, between requests too.
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             listener={"timeouts": {"request_header": "300ms", "idle": "2s"}})
        with Sluice(config, workers=1):
            # Silent from accept: the header clock runs from the start.
            silent = socket.create_connection(("127.0.0.1", port), timeout=5)
            assert status_of(silent.recv(4096)) == 408
            silent.close()

            def kept_alive():
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
                out = b""
                while not out.endswith(b"path=/one\n"):
                    out += s.recv(4096)
                return s

            # Idle between requests: no header clock, so it outlives request_header;
            # the idle timeout closes it without a byte.
            idle = kept_alive()
            idle.settimeout(0.9)
            with pytest.raises(socket.timeout):
                idle.recv(4096)
            idle.settimeout(10)
            assert idle.recv(4096) == b""
            idle.close()

            # A second request that starts and stalls gets the 408, not the idle close.
            stalled = kept_alive()
            stalled.sendall(b"GET /two HTTP/1.1\r\nHost: x\r\n")
            out = stalled.recv(4096)
            assert status_of(out) == 408, out
            assert header_of(out, "X-Sluice-Reason") == "request_header_timeout"
            stalled.close()


def test_slow_backend_gets_504():
    with ScriptedHttpServer(delay=2.0) as backend:
        port = free_port()
        config = http_config([backend.port], port, listener={"timeouts": {"request": "300ms"}})
        with Sluice(config):
            out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(out) == 504


def test_queue_serves_in_arrival_order_and_times_out_with_503():
    with ScriptedHttpServer(delay=0.4) as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             pool={"max_connections": 2, "min_idle": 0, "queue_timeout": "10s"})
        with Sluice(config, workers=2) as s:
            results = {}

            def fetch(i):
                results[i] = raw_exchange(port, b"GET /q%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i,
                                          timeout=15)

            threads = []
            for i in range(6):
                t = threading.Thread(target=fetch, args=(i,))
                t.start()
                threads.append(t)
                if i >= 2:
                    wait_for(lambda: s.metric("sluice_pool_pending") >= i - 1, what=f"q{i} queued")
                else:
                    wait_for(lambda: len(backend.seen) >= i + 1, what=f"q{i} at backend")
            for t in threads:
                t.join(30)
            assert all(status_of(results[i]) == 200 for i in range(6))
            assert [p for p, _ in backend.seen] == [f"/q{i}" for i in range(6)]

    # The blockers hold both connections far longer than the queue timeout,
    # so a slow poll of /stats cannot let the late request slip in after them.
    with ScriptedHttpServer(delay=3.0) as backend:
        config = http_config([backend.port], port,
                             pool={"max_connections": 2, "min_idle": 0, "queue_timeout": "300ms"})
        with Sluice(config) as s:
            blockers = [threading.Thread(target=raw_exchange,
                                         args=(port, b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
                        for _ in range(2)]
            for t in blockers:
                t.start()
            wait_for(lambda: s.stats()["clusters"][0]["backends"][0]["connections"] == 2,
                     what="pool full")
            out = raw_exchange(port, b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(out) == 503
            assert header_of(out, "X-Sluice-Reason") == "queue_timeout"
            for t in blockers:
                t.join(10)


def test_nginx_restart_under_load_recovers(nginx):
    port = free_port()
    with Sluice(http_config([nginx.port], port, pool={"max_connections": 8, "min_idle": 2})):
        stop = threading.Event()
        outcomes = []

        def client():
            conn = None
            while not stop.is_set():
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/")
                    r = conn.getresponse()
                    r.read()
                    outcomes.append((time.monotonic(), r.status))
                except (OSError, http.client.HTTPException):
                    outcomes.append((time.monotonic(), "error"))
                    conn = None

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(outcomes) > 200, what="load running")
        nginx.stop()
        nginx.start()
        restarted = time.monotonic()
        wait_for(lambda: sum(1 for t, st in outcomes if t > restarted + 0.5 and st == 200) > 200,
                 timeout=20, what="traffic after restart")
        stop.set()
        for t in threads:
            t.join(10)
        after = [st for t, st in outcomes if t > restarted + 0.5]
        assert after and all(st == 200 for st in after), \
            f"{sum(1 for st in after if st != 200)} failures after the pool should have recovered"


def test_drain_sends_connection_close_on_the_current_response(nginx):
    port = free_port()
    with Sluice(http_config([nginx.port], port)) as s:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        assert get(port, conn=conn)[0] == 200
        assert s.get("/drain", method="POST")[0] == 202
        wait_for(lambda: s.get("/ready")[0] == 503, what="draining")
        # The idle keep-alive connection is closed by the drain.
        with pytest.raises((http.client.HTTPException, OSError)):
            get(port, conn=conn)
