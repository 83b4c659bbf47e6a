"""DNS discovery: a backend named by DNS follows the name's A records
(answered by a tiny DNS server on loopback that the test controls)."""

import os
import socket

from harness import Sluice, connect, free_port, recv_all, tcp_config, wait_for
from servers import EchoServer, TinyDns

NAME = "svc.sluice.test"


def backend_names(sluice):
    return sorted(b["address"] for b in sluice.stats()["clusters"][0]["backends"])


def session(port):
    sock = connect(port)
    try:
        sock.sendall(b"dns\n")
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock, timeout=5)
    finally:
        sock.close()


def test_backends_follow_the_names_a_records():
    backend_port = free_port()
    hosts = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    servers = [EchoServer(port=backend_port, host=h).__enter__() for h in hosts]
    dns = TinyDns(NAME)
    dns.addresses = ["127.0.0.11"]
    port = free_port()
    # A short interval (the floor is 100ms): rounds overlap the test's record
    # changes and a dead resolver's timeouts, which must not stack or flap.
    config = tcp_config([], port, resolve_interval="300ms", pool={"min_idle": 0})
    config["clusters"][0]["backends"] = [{"address": f"{NAME}:{backend_port}"}]
    config["dns"] = {"resolvers": [f"127.0.0.1:{dns.port}"]}
    # The startup resolution goes through the system resolver, which knows
    # nothing of the test name: keep its wait short.
    env = dict(os.environ, RES_OPTIONS="timeout:1 attempts:1")
    names = lambda hs: sorted(f"{h}:{backend_port}" for h in hs)
    try:
        with Sluice(config, env=env) as sluice:
            wait_for(lambda: backend_names(sluice) == names(["127.0.0.11"]), what="one backend")
            assert session(port) == b"dns\n"
            assert servers[0].accepted == 1

            dns.addresses = hosts
            wait_for(lambda: backend_names(sluice) == names(hosts), what="three backends")
            for _ in range(9):
                assert session(port) == b"dns\n"
            assert all(s.accepted >= 1 for s in servers), [s.accepted for s in servers]

            dns.addresses = ["127.0.0.12", "127.0.0.13"]
            wait_for(lambda: backend_names(sluice) == names(dns.addresses), what="two backends")
            before = servers[0].accepted
            for _ in range(6):
                assert session(port) == b"dns\n"
            assert servers[0].accepted == before  # drained: no new sessions

            # A failing resolver keeps the last good set.
            dns.close()
            failures = lambda: sluice.stats()["clusters"][0]["resolve_failures"]
            wait_for(lambda: failures() >= 1, timeout=15, what="a failed refresh")
            assert backend_names(sluice) == names(dns.addresses)
            assert session(port) == b"dns\n"
            assert sluice.stats()["clusters"][0]["resolve_ok"] >= 3
    finally:
        dns.close()
        for s in servers:
            s.stop()
