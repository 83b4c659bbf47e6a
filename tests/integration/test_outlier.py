"""Passive outlier detection and connect retries, with no active checks."""

import socket

from harness import EchoServer, Sluice, connect, free_port, recv_all, tcp_config, wait_for


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
