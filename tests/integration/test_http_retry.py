"""protocol: http, the keep-alive race: a backend closes a reused connection
the moment the next request arrives (it read it, it never answered).

sluice retries such a request once on a fresh connection when the method is
idempotent (RFC 9110 §9.2.2), as long as its bytes fit the replay budget
(64 KiB, head and body together); otherwise the client gets the 502. A POST
is retried only when none of it left (its first write failed).
The scripted backend answers the first request of every connection and
drops the second one unanswered (RACE_SCRIPT), so every case
first warms one pooled connection with a GET, then sends the request under
test on it.
"""

import http.client
import os
import socket
import time

import pytest

from harness import Sluice, free_port, header_of, http_config, status_of
from servers import ScriptedBackend, answer, expect, send

REPLAY_BUDGET = 64 * 1024
# Each connection: the first request answered, the second read in full and
# the connection closed without a byte of answer.
RACE_SCRIPT = [expect(), send(answer), expect()]


class Race:
    """A scripted backend behind sluice, and a client with one warm pooled connection."""

    def __init__(self, backend, sluice, port):
        self.backend = backend
        self.sluice = sluice
        self.port = port
        self.client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.client.request("GET", "/warm")
        r = self.client.getresponse()
        assert (r.status, r.read()) == (200, b"path=/warm\n")
        assert backend.connections == 1

    def send(self, method, path, body):
        self.client.request(method, path, body=body)
        r = self.client.getresponse()
        return r.status, r.read(), r

    def attempts(self, path):
        """(connection number, body) of every time the backend received `path`."""
        return self.backend.attempts(path)


@pytest.fixture
def race():
    with ScriptedBackend(RACE_SCRIPT) as backend:
        port = free_port()
        # No pre-warmed connections: the only idle one is the warm, reused one.
        config = http_config([backend.port], port, pool={"min_idle": 0})
        with Sluice(config, workers=1) as s:
            yield Race(backend, s, port)


def test_put_with_a_body_is_replayed_byte_exact_on_a_fresh_connection(race):
    body = os.urandom(20000)
    status, answer, _ = race.send("PUT", "/doc", body)
    assert (status, answer) == (200, b"got 20000 bytes\n")
    # Once on the reused connection (dropped), once on a fresh one (answered).
    assert race.attempts("/doc") == [(1, body), (2, body)]
    assert race.backend.connections == 2
    assert race.sluice.metric("sluice_upstream_connect_total") == 2


def test_delete_with_a_body_near_the_budget_is_replayed(race):
    body = os.urandom(REPLAY_BUDGET - 1024)  # with its head, still within the budget
    status, answer, _ = race.send("DELETE", "/doc", body)
    assert status == 200
    assert answer == f"got {len(body)} bytes\n".encode()
    assert race.attempts("/doc") == [(1, body), (2, body)]


def test_get_without_a_body_is_retried(race):
    status, answer, _ = race.send("GET", "/again", None)
    assert (status, answer) == (200, b"path=/again\n")
    assert race.attempts("/again") == [(1, b""), (2, b"")]


def test_post_without_a_body_that_reached_the_backend_is_never_replayed(race):
    """RFC 9110 §9.2.2: the backend read the POST and closed; it may have acted on it."""
    status, _, response = race.send("POST", "/ping", b"")
    assert status == 502
    assert response.getheader("X-Sluice-Reason") == "upstream_reset"
    assert race.attempts("/ping") == [(1, b"")]
    assert race.backend.connections == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_request_with_a_body_is_never_retried(race, method):
    body = b"x" * 100
    status, _, response = race.send(method, "/order", body)
    assert status == 502
    assert response.getheader("X-Sluice-Reason") == "upstream_reset"
    assert race.attempts("/order") == [(1, body)]
    assert race.backend.connections == 1


def test_put_over_the_replay_budget_is_not_retried(race):
    body = os.urandom(REPLAY_BUDGET + 1)
    status, _, response = race.send("PUT", "/big", body)
    assert status == 502
    assert response.getheader("X-Sluice-Reason") == "upstream_reset"
    assert race.attempts("/big") == [(1, body)]
    assert race.backend.connections == 1


def test_chunked_put_streamed_in_pieces_is_replayed():
    """The body arrives while the request is already on the reused connection."""
    with ScriptedBackend(RACE_SCRIPT) as backend:
        port = free_port()
        # request_buffer_size 0: the body streams (a small one is read first otherwise).
        config = http_config([backend.port], port, pool={"min_idle": 0},
                             listener={"http": {"request_buffer_size": 0}})
        with Sluice(config, workers=1):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
            warm = b""
            while not warm.endswith(b"path=/warm\n"):
                warm += s.recv(65536)
            pieces = [os.urandom(3000) for _ in range(5)]
            s.sendall(b"PUT /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n")
            for piece in pieces:
                time.sleep(0.05)
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            s.sendall(b"0\r\n\r\n")
            out = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                out += data
            s.close()
            assert status_of(out) == 200, out
            assert out.endswith(b"got 15000 bytes\n")
            assert header_of(out, "Connection") == "close"
            assert backend.attempts("/stream") == [(1, b"".join(pieces)), (2, b"".join(pieces))]
