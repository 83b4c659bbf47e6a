"""PROXY protocol listeners under attack: connections still sending their
header count against the limits from accept, and only trusted sources may
send one (proxy_protocol_trusted)."""

import json
import socket

from harness import Sluice, connect, free_port, is_closed, recv_all, tcp_config, wait_for


def v1(src, sport, dst, dport):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def proxied(echo_port, port, **listener):
    config = tcp_config([echo_port], port, pool={"min_idle": 0},
                        listener={"proxy_protocol": True, **listener})
    config["limits"] = {"max_connections": 50}
    return config


def listener_stats(sluice):
    return sluice.stats()["listeners"][0]


def served(port, source, client_ip, payload=b"hello", timeout=5.0):
    """A client behind a PROXY-speaking balancer at `source` is relayed."""
    sock = connect(port, source=source, timeout=timeout)
    try:
        sock.sendall(v1(client_ip, 40000, "127.0.0.1", port) + payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock, timeout=timeout) == payload
    finally:
        sock.close()


def silent_sockets(port, sources, per_source):
    """Connections that never send their header; closed ones are kept too."""
    socks = []
    for source in sources:
        for _ in range(per_source):
            s = socket.socket()
            s.bind((source, 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", port))
            socks.append(s)
    return socks


def test_silent_header_senders_from_one_ip_cannot_starve_other_clients(echo):
    port = free_port()
    config = proxied(echo.port, port, max_connections_per_ip=10, proxy_protocol_timeout="30s")
    # 128 descriptors: far fewer than the 400 silent sockets, so without the
    # per-IP limit at accept sluice runs out and stops accepting.
    with Sluice(config, workers=1, rlimit_nofile=128) as sluice:
        socks = silent_sockets(port, ["127.0.0.1"], 400)
        try:
            wait_for(lambda: listener_stats(sluice)["rejected"]["per_ip"] >= 390, timeout=10,
                     what="silent sockets over the per-IP limit refused")
            assert listener_stats(sluice)["active"] == 10
            # Another balancer's client still gets through, at once.
            assert served(port, "127.0.0.2", "127.9.9.9")
            assert sluice.fd_count() < 60
        finally:
            for s in socks:
                s.close()


def test_silent_header_senders_from_many_ips_are_capped_by_max_connections(echo):
    port = free_port()
    config = proxied(echo.port, port, max_connections_per_ip=10, proxy_protocol_timeout="30s")
    with Sluice(config, workers=1, rlimit_nofile=128) as sluice:
        sources = [f"127.0.1.{i}" for i in range(1, 21)]
        socks = silent_sockets(port, sources, 10)  # 200, never over the per-IP limit
        try:
            wait_for(lambda: listener_stats(sluice)["rejected"]["max_connections"] >= 150,
                     timeout=10, what="silent sockets over max_connections refused")
            assert listener_stats(sluice)["active"] == 50
            assert sluice.stats()["downstream_active"] == 50
            assert sluice.fd_count() < 90
            assert sluice.proc.poll() is None
        finally:
            for s in socks:
                s.close()
        # The places come back when the silent ones leave.
        wait_for(lambda: listener_stats(sluice)["active"] == 0, what="places released")
        assert served(port, "127.0.0.2", "127.9.9.9")


def test_per_ip_limit_applies_to_the_client_the_header_names(echo):
    port = free_port()
    config = proxied(echo.port, port, max_connections_per_ip=2)
    with Sluice(config, workers=1) as sluice:
        held = []
        for _ in range(2):
            s = connect(port)
            s.sendall(v1("127.9.9.1", 40000, "127.0.0.1", port) + b"x")
            assert s.recv(8) == b"x"
            held.append(s)
        # Same balancer, a third session for the same client: refused...
        third = connect(port)
        third.sendall(v1("127.9.9.1", 40001, "127.0.0.1", port) + b"x")
        assert is_closed(third)
        # ...while the balancer itself is not capped at 2: another client passes.
        assert served(port, "127.0.0.1", "127.9.9.2")
        assert listener_stats(sluice)["rejected"]["per_ip"] == 1
        for s in held:
            s.close()


def test_a_burst_from_a_trusted_balancer_is_not_capped_at_its_per_ip_limit(echo):
    # A listed balancer's connections are not keyed to its own address while
    # their headers are pending: the accept batch takes a whole burst before
    # any header is read, and keying it to the balancer refused all but two.
    port = free_port()
    config = proxied(echo.port, port, max_connections_per_ip=2,
                     proxy_protocol_trusted=["127.0.0.1/32"])

    def answer(sock):
        sock.settimeout(3)
        try:
            return sock.recv(8)
        except (ConnectionResetError, socket.timeout):
            return b""

    with Sluice(config, workers=1) as sluice:
        socks = [connect(port) for _ in range(12)]
        try:
            wait_for(lambda: listener_stats(sluice)["active"]
                     + listener_stats(sluice)["rejected"]["per_ip"] == 12, what="all accepted")
            for i, s in enumerate(socks):
                s.sendall(v1(f"127.9.9.{i + 1}", 40000, "127.0.0.1", port) + b"x")
            assert [answer(s) for s in socks] == [b"x"] * 12
            assert listener_stats(sluice)["rejected"]["per_ip"] == 0
        finally:
            for s in socks:
                s.close()
        # The limit still holds for each named client.
        held = [connect(port) for _ in range(3)]
        for s in held:
            s.sendall(v1("127.9.9.100", 40000, "127.0.0.1", port) + b"x")
        assert sorted(answer(s) for s in held) == [b"", b"x", b"x"]
        for s in held:
            s.close()
        wait_for(lambda: listener_stats(sluice)["active"] == 0, what="places released")


def test_untrusted_source_is_refused_at_accept(echo):
    port = free_port()
    config = proxied(echo.port, port,
                     proxy_protocol_trusted=["127.0.0.2/32", "10.0.0.0/8", "fd00::/8"])
    with Sluice(config, workers=1) as sluice:
        sock = connect(port, source="127.0.0.1")
        sock.sendall(v1("127.9.9.9", 40000, "127.0.0.1", port) + b"hello")
        assert is_closed(sock)
        wait_for(lambda: listener_stats(sluice)["rejected"]["untrusted"] == 1, what="counted")
        assert echo.accepted == 0
        # A trusted balancer's client is relayed.
        assert served(port, "127.0.0.2", "127.9.9.9")
        assert listener_stats(sluice)["rejected"]["untrusted"] == 1


def test_trusted_sources_are_shown_by_config(echo):
    port = free_port()
    config = proxied(echo.port, port, proxy_protocol_trusted=["127.0.0.0/8", "::1"])
    with Sluice(config, workers=1) as sluice:
        shown = json.loads(sluice.get("/config")[1])["listeners"][0]["proxy_protocol_trusted"]
        assert shown == ["127.0.0.0/8", "::1/128"]
        assert served(port, "127.0.0.1", "127.9.9.9")


def test_ipv6_peers_are_matched_against_ipv6_networks(echo):
    port = free_port()
    config = proxied(echo.port, port, proxy_protocol_trusted=["fd00::/8"])
    config["listeners"][0]["address"] = f"[::1]:{port}"
    with Sluice(config, workers=1) as sluice:
        sock = socket.create_connection(("::1", port), timeout=5)
        sock.sendall(v1("127.9.9.9", 40000, "127.0.0.1", port) + b"hello")
        assert is_closed(sock)
        wait_for(lambda: listener_stats(sluice)["rejected"]["untrusted"] == 1, what="counted")
    config["listeners"][0]["proxy_protocol_trusted"] = ["::1/128"]
    with Sluice(config, workers=1):
        sock = socket.create_connection(("::1", port), timeout=5)
        sock.sendall(v1("127.9.9.9", 40000, "127.0.0.1", port) + b"hello")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b"hello"
