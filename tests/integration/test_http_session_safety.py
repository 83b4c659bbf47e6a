"""protocol: http, issue #13 items 6, 7, 9 and 10 over real sockets.

* A client that stalls its request body is answered 408 and never counts as
  a failure of the backend (which only waits for the body).
* Small bodies are read before a connection is leased, so clients trickling
  them do not pin the pool; timeouts.request_body ends a stalled body (408).
* An idle upstream connection holding bytes nobody asked for is never used.
* The client's forwarding headers are replaced; only listed Upgrade
  protocols become tunnels.
"""

import http.client
import socket
import threading
import time

from harness import Sluice, free_port, header_of, http_config, status_of, wait_for
from servers import ScriptedBackend, ScriptedHttpServer, answer, expect, pause, repeat, send


def read_response(sock, timeout=10.0):
    """One response with a Content-Length body (or up to EOF)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(header_of(data, "Content-Length") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def backends(sluice):
    return sluice.stats()["clusters"][0]["backends"]


# ------------------------------------------------------------------ item 6

def test_stalled_bodies_get_408_and_never_eject_the_backend():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port, pool={"min_idle": 0},
                             outlier_detection={"consecutive_failures": 2,
                                                "ejection_time": "30s",
                                                "max_ejection_percent": 100},
                             listener={"timeouts": {"request": "1s"}})
        with Sluice(config, workers=1) as s:
            # Bodies larger than buffer_size stream: the request is on the
            # backend, which waits for the rest of the body.
            clients = []
            for _ in range(4):
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                c.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                          + b"x" * 100)
                clients.append(c)
            for c in clients:
                answer = read_response(c)
                assert status_of(answer) == 408, answer
                assert header_of(answer, "X-Sluice-Reason") == "request_timeout"
                c.close()
            assert not backends(s)[0]["ejected"]
            assert s.stats()["clusters"][0]["ejections"] == 0
            assert s.metric("sluice_requests_total", code="408") == 4
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/after")
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b"path=/after\n")


def test_a_backend_that_stops_reading_the_body_gets_the_504():
    """The client sends its body as fast as sluice takes it; the backend read
    the head and stopped reading: sluice stops reading too (back-pressure),
    and the request timeout is the backend's stall, not the client's 408."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    held = []

    def accept():
        try:
            conn, _ = listener.accept()
            held.append(conn)
            conn.recv(1024)  # the head, then nothing more and no answer
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    port = free_port()
    config = http_config([listener.getsockname()[1]], port, pool={"min_idle": 0},
                         listener={"timeouts": {"request": "1s"}})
    try:
        with Sluice(config, workers=1) as s:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(b"PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
                client.setblocking(False)
                deadline = time.monotonic() + 0.5  # fill every buffer on the way
                while time.monotonic() < deadline:
                    try:
                        client.send(b"x" * 65536)
                    except BlockingIOError:
                        time.sleep(0.02)
                client.setblocking(True)
                client.settimeout(10)
                answer = read_response(client)
            assert status_of(answer) == 504, answer[:200]
            assert s.metric("sluice_requests_total", code="504") == 1
            assert s.metric("sluice_requests_total", code="408") == 0
    finally:
        listener.close()
        for conn in held:
            conn.close()


# ------------------------------------------------------------------ item 7

def test_clients_trickling_small_bodies_do_not_pin_the_pool():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             pool={"max_connections": 2, "min_idle": 0, "queue_timeout": "500ms"})
        with Sluice(config, workers=1):
            results = []

            def trickle(i):
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                c.sendall(b"POST /slow%d HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n" % i)
                for _ in range(8):
                    time.sleep(0.3)
                    c.sendall(b"y")
                results.append(read_response(c))
                c.close()

            threads = [threading.Thread(target=trickle, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.3)  # every trickling head is in
            deadline = time.monotonic() + 2.0
            statuses = []
            while time.monotonic() < deadline and len(statuses) < 10:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/fast")
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
                conn.close()
                time.sleep(0.1)
            for t in threads:
                t.join(15)
            assert statuses and all(code == 200 for code in statuses), statuses
            assert sorted(status_of(r) for r in results) == [200] * 4, results
            assert all(r.endswith(b"got 8 bytes\n") for r in results), results


def test_expect_100_continue_is_no_way_around_request_buffering():
    """Clients that wait for 100 Continue and then trickle small bodies: sluice
    sends the 100 itself and buffers them like any other, so they pin no
    connection, and the backend gets each body whole."""
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             pool={"max_connections": 1, "min_idle": 0, "queue_timeout": "500ms"})
        with Sluice(config, workers=1):
            trickling = []
            for i in range(2):
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                c.sendall(b"POST /slow%d HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                          b"Expect: 100-continue\r\n\r\n" % i)
                assert c.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
                c.sendall(b"y")
                trickling.append(c)
            statuses = []
            for _ in range(3):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/fast")
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
                conn.close()
                time.sleep(0.3)  # past the queue timeout, were the slot pinned
            assert statuses == [200] * 3, statuses
            for c in trickling:
                c.sendall(b"yyy")
                answer = read_response(c)
                assert status_of(answer) == 200 and answer.endswith(b"got 4 bytes\n"), answer
                c.close()


def test_a_stalled_body_gets_408_after_the_body_timeout():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port, pool={"min_idle": 0},
                             listener={"timeouts": {"request_body": "500ms", "request": "60s"}})
        with Sluice(config, workers=1):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            started = time.monotonic()
            c.sendall(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
            answer = read_response(c)
            assert status_of(answer) == 408, answer
            assert header_of(answer, "X-Sluice-Reason") == "request_body_timeout"
            assert time.monotonic() - started < 5
            c.close()
            # Buffered: the backend never saw the request.
            assert backend.connections == 0


# ------------------------------------------------------------------ item 9

BOGUS = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nGARBAGE!"


def raw_backend(banner_connections=0, stale=b""):
    """Answers every request "path=<path>"; may also send a complete, bogus
    response the moment one of its first `banner_connections` connections
    opens (the pre-warmed ones; a fresh connection made for a request cannot
    be told from a slow banner) and after each answer (`stale`, a moment
    later, while the connection is idle). A pooled connection must never
    serve those bytes to a client."""
    after = [pause(0.05), send(stale)] if stale else []
    return ScriptedBackend(lambda n: ([send(BOGUS)] if n <= banner_connections else []) +
                           [repeat(expect(), send(answer), *after)])


def test_a_prewarmed_connection_with_a_banner_is_never_served_to_a_client():
    with raw_backend(banner_connections=2) as backend:
        port = free_port()
        config = http_config([backend.port], port, pool={"min_idle": 2})
        with Sluice(config, workers=1) as s:
            wait_for(lambda: backends(s)[0]["idle"] >= 2, what="pre-warmed connections")
            time.sleep(0.2)  # the banners are in
            for i in range(3):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", f"/clean{i}")
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, f"path=/clean{i}\n".encode())
                conn.close()
            assert backend.connections >= 3  # both pre-warmed ones were closed unused


def test_a_dirty_idle_connection_handed_to_another_worker_is_not_used():
    """The only slot is held by worker 0's pre-warmed connection (banner
    inside): a request on worker 1 queues, worker 0 hands the connection over
    in fd form, and the receiving session must close it and connect anew."""
    with raw_backend(banner_connections=1) as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             pool={"min_idle": 1, "max_connections": 1, "queue_timeout": "5s"})
        with Sluice(config, workers=2) as s:
            wait_for(lambda: backends(s)[0]["idle"] >= 1, what="a pre-warmed connection")
            time.sleep(0.2)  # the banner is in
            for i in range(6):  # new connections: both workers get some
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", f"/w{i}")
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, f"path=/w{i}\n".encode())
                conn.close()


def test_bytes_after_a_response_on_an_idle_connection_are_never_served():
    with raw_backend(stale=BOGUS) as backend:
        port = free_port()
        config = http_config([backend.port], port, pool={"min_idle": 0, "max_connections": 1})
        with Sluice(config, workers=1):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for i in range(3):
                conn.request("GET", f"/r{i}")
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, f"path=/r{i}\n".encode())
                time.sleep(0.2)  # the stale bytes reach the idle pooled connection
            assert backend.connections == 3


def test_bytes_behind_a_response_that_fills_a_read_are_never_served():
    """The backend's first answer ends exactly where sluice's read of
    buffer_size (1 KiB) ends, and a bogus response follows in the same write:
    still in the kernel when the pipelined second request takes the
    connection back. It must get its own answer, not the bogus one."""
    head_of_first = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
    length = 1024 - len(head_of_first % 999)
    first = head_of_first % length + b"a" * length
    assert len(first) == 1024
    # The first request (on the first connection) gets `first` and the bogus
    # response in one write; every other request its own answer.
    backend = ScriptedBackend(lambda n: ([expect(), send(first + BOGUS)] if n == 1 else []) +
                              [repeat(expect(), send(answer))])
    port = free_port()
    config = http_config([backend.port], port, pool={"min_idle": 0, "max_connections": 1},
                         listener={"buffer_size": "1KiB"})
    with backend, Sluice(config, workers=1):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 5
            while b"path=/b" not in data and b"GARBAGE" not in data:
                assert time.monotonic() < deadline, data[-200:]
                chunk = client.recv(65536)
                assert chunk, data[-200:]
                data += chunk
            assert b"GARBAGE" not in data
            assert data.endswith(b"a" * 100 + b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"
                                 b"path=/b\n")


# ----------------------------------------------------------------- item 10

def test_replace_mode_backend_sees_only_sluices_forwarding_headers():
    with ScriptedHttpServer() as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port), workers=1):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/who", headers={"X-Forwarded-For": "6.6.6.6",
                                                 "X-Real-IP": "6.6.6.7",
                                                 "Forwarded": "for=6.6.6.8;proto=https",
                                                 "X-Forwarded-Proto": "https"})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            [(path, headers)] = backend.seen
            seen = {k.lower(): v for k, v in headers.items()}
            assert path == "/who"
            assert seen["x-forwarded-for"] == "127.0.0.1"
            assert seen["x-forwarded-proto"] == "http"
            assert "x-real-ip" not in seen
            assert "forwarded" not in seen


def test_append_mode_keeps_the_chain_from_a_trusted_balancer():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port,
                             listener={"http": {"forwarded_headers": "append"}})
        with Sluice(config, workers=1):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/who", headers={"X-Forwarded-For": "10.1.2.3",
                                                 "X-Real-IP": "10.1.2.3"})
            r = conn.getresponse()
            r.read()
            [(_, headers)] = backend.seen
            seen = {k.lower(): v for k, v in headers.items()}
            assert seen["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
            assert seen["x-real-ip"] == "10.1.2.3"


def test_h2c_upgrade_is_not_tunneled_but_forwarded_as_a_plain_request():
    with ScriptedHttpServer() as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port), workers=1):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /h2 HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                      b"Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
                      b"\r\n")
            answer = read_response(c)
            assert status_of(answer) == 200, answer
            assert answer.endswith(b"path=/h2\n")
            # Still HTTP on the same connection, not a tunnel.
            c.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_response(c)
            assert status_of(answer) == 200, answer
            assert answer.endswith(b"path=/next\n")
            c.close()
            seen = {k.lower(): v for k, v in backend.seen[0][1].items()}
            assert "upgrade" not in seen
            assert "http2-settings" not in seen
            assert seen["connection"] == "keep-alive"


def test_websocket_upgrade_is_still_tunneled():
    with ScriptedHttpServer() as backend:
        port = free_port()
        with Sluice(http_config([backend.port], port), workers=1):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head
            c.sendall(b"\x81\x05hello")
            got = b""
            while len(got) < 7:
                got += c.recv(4096)
            assert got == b"\x81\x05hello"
            c.close()


def test_an_empty_upgrade_list_tunnels_nothing():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port, listener={"http": {"upgrade": []}})
        with Sluice(config, workers=1):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            c.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            answer = read_response(c)
            assert status_of(answer) == 200, answer
            c.close()
