"""PROXY protocol: reading v1/v2 headers from downstream (proxy_protocol:
true) and sending them upstream (send_proxy_protocol: v1|v2)."""

import socket
import struct
import time

import pytest

from harness import (Sluice, connect, free_port, http_config, is_closed, recv_all, tcp_config,
                     wait_for)
from servers import V2_SIGNATURE, ProxyAwareBackend, ScriptedHttpServer



def v1(src, sport, dst, dport):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, sport, dst, dport):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


@pytest.fixture
def backend():
    b = ProxyAwareBackend()
    yield b
    b.close()


def listener_stats(sluice):
    return sluice.stats()["listeners"][0]


def proxied_config(backend_port, port, send, timeout="5s"):
    return tcp_config([backend_port], port, send_proxy_protocol=send, pool={"min_idle": 2},
                      listener={"proxy_protocol": True, "proxy_protocol_timeout": timeout})


@pytest.mark.parametrize("inbound,outbound", [(v1, "v1"), (v2, "v2"), (v2, "v1"), (v1, "v2")])
def test_header_round_trip_carries_the_real_client(backend, inbound, outbound):
    port = free_port()
    with Sluice(proxied_config(backend.port, port, outbound)) as sluice:
        # Pre-warmed pool connections must still get the header first.
        wait_for(lambda: sluice.metric("sluice_upstream_connections_idle") >= 2, what="pre-warm")
        sock = connect(port)
        # Header and the client's first bytes in one segment: none may be lost.
        sock.sendall(inbound("127.9.8.7", 40000, "127.0.0.1", port) + b"hello")
        sock.shutdown(socket.SHUT_WR)
        got = recv_all(sock)
        assert got == f"{outbound} 127.9.8.7:40000 127.0.0.1:{port}\nhello".encode()
        assert listener_stats(sluice)["proxy_protocol_errors"] == 0


def test_header_split_across_segments(backend):
    port = free_port()
    with Sluice(proxied_config(backend.port, port, "v1")):
        sock = connect(port)
        header = v2("127.9.8.6", 1234, "127.0.0.1", port)
        sock.sendall(header[:5])
        sock.sendall(header[5:20])
        sock.sendall(header[20:] + b"abc")
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == f"v1 127.9.8.6:1234 127.0.0.1:{port}\nabc".encode()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",          # no header at all
    b"PROXY TCP4 127.1.1.1 nonsense\r\n",           # malformed v1
    b"PROXY TCP4 " + b"1" * 200,                     # oversized v1, no CRLF
    V2_SIGNATURE + bytes([0x21, 0x11, 0xff, 0xff]),  # v2 claiming 64 KiB
])
def test_bad_headers_close_the_connection_and_count(backend, garbage):
    port = free_port()
    with Sluice(proxied_config(backend.port, port, "off")) as sluice:
        sock = connect(port)
        sock.sendall(garbage)
        assert is_closed(sock)
        wait_for(lambda: listener_stats(sluice)["proxy_protocol_errors"] == 1, what="counted")
        assert backend.headers == []


def test_truncated_header_then_eof_is_counted(backend):
    port = free_port()
    with Sluice(proxied_config(backend.port, port, "off")) as sluice:
        sock = connect(port)
        sock.sendall(b"PROXY TCP4 127.1")
        sock.shutdown(socket.SHUT_WR)
        assert is_closed(sock)
        wait_for(lambda: listener_stats(sluice)["proxy_protocol_errors"] == 1, what="counted")


def test_header_timeout_closes_a_silent_client(backend):
    port = free_port()
    with Sluice(proxied_config(backend.port, port, "off", timeout="300ms")) as sluice:
        sock = connect(port)
        sock.sendall(b"PROXY ")
        assert is_closed(sock, timeout=3)
        wait_for(lambda: listener_stats(sluice)["proxy_protocol_errors"] == 1, what="counted")
        assert sluice.stats()["sessions"] == 0


def test_a_session_whose_header_arrives_after_a_drain_closes_after_its_response():
    with ScriptedHttpServer() as backend:
        port = free_port()
        config = http_config([backend.port], port, pool={"min_idle": 0},
                             listener={"proxy_protocol": True, "proxy_protocol_timeout": "10s"})
        config["drain_timeout"] = "30s"
        with Sluice(config, workers=1) as sluice:
            sock = connect(port)  # accepted; its header is still pending
            wait_for(lambda: listener_stats(sluice)["active"] == 1, what="accepted")
            assert sluice.get("/drain", method="POST")[0] == 202
            wait_for(lambda: "listeners closed" in sluice.log(), what="listeners closed")
            time.sleep(0.2)  # the worker runs its beginDrain() after that line
            sock.sendall(v1("192.0.2.1", 40000, "127.0.0.1", port)
                         + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            response = recv_all(sock, timeout=5)  # ends: the connection closes
            head = response.split(b"\r\n\r\n")[0].lower()
            assert head.startswith(b"http/1.1 ") and b"connection: close" in head
            # The drain finishes well before drain_timeout.
            wait_for(lambda: "drain: done" in sluice.log(), timeout=5, what="drain done")
            sock.close()
