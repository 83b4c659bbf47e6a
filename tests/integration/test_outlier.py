"""Passive outlier detection and connect retries, with no active checks."""

import socket

from harness import (Sluice, connect, free_port, http_config, raw_exchange, recv_all, status_of,
                     tcp_config, wait_for)
from servers import EchoServer, ScriptedBackend, ScriptedHttpServer, expect, read, repeat, reset


def backends(sluice):
    return {b["address"]: b for b in sluice.stats()["clusters"][0]["backends"]}


def echo_once(port, payload=b"hi\n"):
    sock = connect(port)
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock, timeout=5)
    except OSError:
        return None
    finally:
        sock.close()


def test_connect_retry_reaches_the_live_backend_every_time():
    with EchoServer() as live:
        dead = free_port()  # nothing listens: connect is refused
        port = free_port()
        config = tcp_config([dead, live.port], port, balance="round_robin",
                            retries={"connect": 1}, pool={"min_idle": 0})
        with Sluice(config) as sluice:
            for i in range(20):
                assert echo_once(port, b"n%d\n" % i) == b"n%d\n" % i
            stats = backends(sluice)
            # Round robin sent about half of the first attempts to the dead one.
            assert stats[f"127.0.0.1:{dead}"]["connect_failures"] >= 5
            assert live.accepted == 20


def test_refusing_backend_is_ejected_after_consecutive_failures():
    with EchoServer() as live:
        dead = free_port()
        port = free_port()
        config = tcp_config([dead, live.port], port, balance="round_robin",
                            retries={"connect": 1}, pool={"min_idle": 0},
                            outlier_detection={"consecutive_failures": 3,
                                               "ejection_time": "30s"})
        dead_name = f"127.0.0.1:{dead}"
        with Sluice(config) as sluice:
            for i in range(10):
                assert echo_once(port) == b"hi\n"
            wait_for(lambda: backends(sluice)[dead_name]["ejected"], what="ejection")
            attempts = backends(sluice)[dead_name]["connect_total"]
            assert attempts == 3
            for i in range(20):
                assert echo_once(port) == b"hi\n"
            # Ejected: no further attempt on it for ejection_time.
            assert backends(sluice)[dead_name]["connect_total"] == attempts
            assert not backends(sluice)[dead_name]["available"]
            assert sluice.stats()["clusters"][0]["ejections"] == 1
            assert "outlier: ejected " + dead_name in sluice.log()


def test_ejection_never_takes_more_than_the_max_share():
    dead = [free_port(), free_port()]
    port = free_port()
    config = tcp_config(dead, port, retries={"connect": 0}, pool={"min_idle": 0},
                        outlier_detection={"consecutive_failures": 2, "ejection_time": "30s",
                                           "max_ejection_percent": 50})
    with Sluice(config) as sluice:
        def ejected():
            return sum(1 for b in backends(sluice).values() if b["ejected"])

        def one_more_session():
            echo_once(port)
            return ejected() >= 1

        wait_for(one_more_session, what="one ejection")
        for _ in range(15):
            assert echo_once(port) in (b"", None)
        # Both keep failing, but with 2 backends at 50% only one may be out.
        assert ejected() == 1
        total = sum(b["connect_total"] for b in backends(sluice).values())
        assert total >= 15


def test_tcp_backend_resetting_every_session_is_ejected():
    # Connects succeed, so only the resets can tell sluice this backend is sick.
    # Reads what the client sent, then resets: up, but failing every session.
    with EchoServer() as live, ScriptedBackend([read(), reset()]) as resetter:
        port = free_port()
        config = tcp_config([resetter.port, live.port], port, balance="round_robin",
                            pool={"min_idle": 0},
                            outlier_detection={"consecutive_failures": 3,
                                               "ejection_time": "30s"})
        name = f"127.0.0.1:{resetter.port}"
        with Sluice(config) as sluice:
            results = []
            for _ in range(12):
                results.append(echo_once(port))
                if backends(sluice)[name]["ejected"]:
                    break
            assert backends(sluice)[name]["ejected"], results
            assert resetter.connections == 3, results
            assert results.count(b"hi\n") == len(results) - 3
            for _ in range(20):
                assert echo_once(port) == b"hi\n"
            assert resetter.connections == 3
            assert sluice.stats()["clusters"][0]["ejections"] == 1


# Reads every request and never answers (a backend stuck on every request).
HANG = [repeat(expect())]


def get_status(port):
    """One GET on its own connection through sluice; the status code."""
    return status_of(raw_exchange(port, b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))


HTTP_OUTLIER = {"consecutive_failures": 3, "ejection_time": "30s"}
# Requests time out fast; the pool keeps pre-warming (min_idle 4 by
# default), so each 504 is followed by successful connects to the hanging
# backend: those must not wipe its failure count.
HANG_LISTENER = {"timeouts": {"request": "300ms"}}


def test_http_504s_eject_a_hanging_backend():
    with ScriptedBackend(HANG) as hang, ScriptedHttpServer() as live:
        port = free_port()
        config = http_config([hang.port, live.port], port, balance="round_robin",
                             outlier_detection=HTTP_OUTLIER, listener=HANG_LISTENER)
        hang_name = f"127.0.0.1:{hang.port}"
        live_name = f"127.0.0.1:{live.port}"
        with Sluice(config) as sluice:
            wait_for(lambda: backends(sluice)[hang_name]["idle"] >= 2, what="pool pre-warmed")
            statuses = []
            # Bounded: round robin sends about every other request to the
            # hanging backend until it is ejected.
            for _ in range(30):
                statuses.append(get_status(port))
                if backends(sluice)[hang_name]["ejected"]:
                    break
            assert backends(sluice)[hang_name]["ejected"], statuses
            # Exactly consecutive_failures answers of 504, then out.
            assert statuses.count(504) == 3, statuses
            assert set(statuses) == {200, 504}, statuses
            seen = len(hang.requests)
            served = len(live.seen)
            for _ in range(20):
                assert get_status(port) == 200
            assert len(live.seen) == served + 20
            assert len(hang.requests) == seen  # no request reached it while ejected
            assert not backends(sluice)[hang_name]["available"]
            assert sluice.stats()["clusters"][0]["ejections"] == 1
            assert sluice.metric("sluice_backend_healthy", backend=hang_name) == 0
            assert sluice.metric("sluice_backend_healthy", backend=live_name) == 1
            assert "outlier: ejected " + hang_name in sluice.log()
            assert sluice.metric("sluice_requests_total", code="504") == 3


def test_http_504s_never_eject_more_than_the_max_share():
    with ScriptedBackend(HANG) as h1, ScriptedBackend(HANG) as h2:
        port = free_port()
        config = http_config([h1.port, h2.port], port, outlier_detection=HTTP_OUTLIER,
                             listener=HANG_LISTENER)
        with Sluice(config) as sluice:
            def ejected():
                return sum(1 for b in backends(sluice).values() if b["ejected"])

            statuses = []
            for _ in range(20):
                statuses.append(get_status(port))
                if ejected():
                    break
            assert ejected() == 1, statuses
            # Both keep hanging; with 2 backends at 50% only one may be out,
            # so the other keeps getting (and failing) the requests.
            for _ in range(8):
                assert get_status(port) == 504
            assert ejected() == 1
            assert sluice.stats()["clusters"][0]["ejections"] == 1
