"""protocol: tcp end to end: the real binary, real sockets, an echo backend."""

import asyncio
import hashlib
import os
import signal
import socket
import threading
import time

from harness import SANITIZED, Sluice, connect, free_port, is_closed, recv_all, tcp_config, wait_for
from servers import EchoServer


def echo_roundtrip(port, payload, chunk=1 << 16):
    """Sends payload, half-closes, reads everything back."""
    sock = connect(port)
    received = []

    def reader():
        received.append(recv_all(sock, timeout=30))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(payload), chunk):
        sock.sendall(payload[i:i + chunk])
    sock.shutdown(socket.SHUT_WR)
    t.join(60)
    sock.close()
    return received[0] if received else b""


def test_small_payload_is_echoed_byte_exact(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port)):
        assert echo_roundtrip(port, b"hello sluice\n") == b"hello sluice\n"


def test_eight_mib_payload_with_half_close_is_byte_exact(echo):
    port = free_port()
    payload = os.urandom(8 << 20)
    with Sluice(tcp_config([echo.port], port)):
        got = echo_roundtrip(port, payload)
        assert len(got) == len(payload)
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_server_greeting_on_prewarmed_connection_reaches_client():
    # A server that speaks first (MySQL, SMTP) greets the pre-warmed
    # connection before any client exists; the greeting must not be lost.
    with EchoServer(greeting=b"220 ready\r\n") as echo:
        port = free_port()
        with Sluice(tcp_config([echo.port], port, pool={"min_idle": 2})) as sluice:
            wait_for(lambda: sluice.metric("sluice_upstream_connections_idle") >= 2,
                     what="pre-warmed connections")
            sock = connect(port)
            sock.sendall(b"EHLO x\r\n")
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b"220 ready\r\nEHLO x\r\n"


def test_thousand_concurrent_sessions_over_two_workers_are_byte_exact(echo):
    port = free_port()
    config = tcp_config([echo.port], port, pool={"max_connections": 2000, "min_idle": 0})
    with Sluice(config, workers=2) as sluice:
        async def one(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            payload = os.urandom(1024 + i)
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            got = await asyncio.wait_for(reader.read(-1), 60)
            writer.close()
            return got == payload

        async def main():
            # Hold all 1,000 open at once: connect them all before any finishes.
            return await asyncio.gather(*(one(i) for i in range(1000)))

        results = asyncio.run(main())
        assert all(results), f"{results.count(False)} sessions were not byte-exact"
        assert sluice.metric("sluice_downstream_connections_total") >= 1000
        wait_for(lambda: sluice.stats()["sessions"] == 0, what="sessions to end")


def test_slow_reader_keeps_memory_bounded_while_256_mib_flows():
    total = 256 << 20
    backend_port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", backend_port))
    listener.listen(16)
    sent = []

    def blast():
        conn, _ = listener.accept()
        chunk = b"x" * (1 << 20)
        n = 0
        try:
            while n < total:
                conn.sendall(chunk)
                n += len(chunk)
        finally:
            sent.append(n)
            conn.close()

    t = threading.Thread(target=blast, daemon=True)
    t.start()
    port = free_port()
    config = tcp_config([backend_port], port, pool={"min_idle": 0})
    config["listeners"][0]["buffer_size"] = "64KiB"
    with Sluice(config, workers=1) as sluice:
        baseline = sluice.rss_kib()
        sock = connect(port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        # Read nothing for a while: the backend keeps pushing, sluice must stop reading.
        peak = baseline
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            peak = max(peak, sluice.rss_kib())
            time.sleep(0.05)
        # Then drain slowly-ish in small reads, sampling memory throughout.
        received = 0
        sock.settimeout(30)
        reads = 0
        while received < total:
            data = sock.recv(256 << 10)
            if not data:
                break
            received += len(data)
            reads += 1
            if reads % 64 == 0:
                peak = max(peak, sluice.rss_kib())
        assert received == total
        growth = peak - baseline
        # 64 KiB per direction plus libevent chains and kernel buffers: a few MiB at most.
        if not SANITIZED:
            assert growth < 16 * 1024, f"RSS grew {growth} KiB while relaying to a slow reader"
    listener.close()


def test_backend_reset_mid_stream_closes_only_that_client_and_leaks_nothing(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port, pool={"min_idle": 0}), workers=1) as sluice:
        baseline_fds = sluice.fd_count()
        victim = connect(port)
        victim.sendall(b"ping")
        assert victim.recv(4) == b"ping"
        wait_for(lambda: echo.active == 1, what="backend to see the victim")
        echo.reset_all()
        assert is_closed(victim, timeout=5)
        # A new client is served normally afterwards.
        other = connect(port)
        other.sendall(b"still here")
        assert other.recv(64) == b"still here"
        other.close()
        victim.close()
        wait_for(lambda: sluice.stats()["sessions"] == 0, what="sessions to end")
        wait_for(lambda: sluice.fd_count() <= baseline_fds, what="fds back to baseline")


def test_client_reset_closes_upstream(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port, pool={"min_idle": 0}), workers=1) as sluice:
        sock = connect(port)
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        wait_for(lambda: echo.active == 1, what="backend connection")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        wait_for(lambda: echo.active == 0, what="upstream to be closed")
        wait_for(lambda: sluice.stats()["sessions"] == 0, what="session to end")


def test_connect_refused_closes_client_promptly_and_is_counted():
    dead_port = free_port()  # nothing listens here
    port = free_port()
    config = tcp_config([dead_port], port, pool={"min_idle": 0}, retries={"connect": 0})
    with Sluice(config) as sluice:
        sock = connect(port)
        started = time.monotonic()
        assert is_closed(sock, timeout=5)
        assert time.monotonic() - started < 3
        assert sluice.metric("sluice_upstream_connect_failures_total", reason="refused") >= 1


def test_connect_timeout_on_full_backlog_closes_client_and_others_continue(echo):
    # A listener that never accepts, with its backlog filled: SYNs get no answer.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", blackhole.getsockname()[1]))
        except BlockingIOError:
            pass
        fillers.append(s)
    slow_port, ok_port = free_port(), free_port()
    config = {
        "listeners": [
            {"name": "slow", "address": f"127.0.0.1:{slow_port}", "protocol": "tcp",
             "cluster": "blackhole"},
            {"name": "ok", "address": f"127.0.0.1:{ok_port}", "protocol": "tcp",
             "cluster": "echo"},
        ],
        "clusters": [
            {"name": "blackhole",
             "backends": [{"address": f"127.0.0.1:{blackhole.getsockname()[1]}"}],
             "pool": {"min_idle": 0}, "timeouts": {"connect": "300ms"},
             "retries": {"connect": 0}},
            {"name": "echo", "backends": [{"address": f"127.0.0.1:{echo.port}"}]},
        ],
    }
    with Sluice(config) as sluice:
        healthy = connect(ok_port)
        victim = connect(slow_port)
        started = time.monotonic()
        assert is_closed(victim, timeout=5)
        elapsed = time.monotonic() - started
        assert 0.2 < elapsed < 3, f"closed after {elapsed:.2f}s"
        healthy.sendall(b"unaffected")
        assert healthy.recv(64) == b"unaffected"
        assert sluice.metric("sluice_upstream_connect_failures_total", cluster="blackhole",
                             reason="timeout") >= 1
    for s in fillers:
        s.close()
    blackhole.close()


def test_drain_finishes_in_flight_session_refuses_new_and_exits_zero(echo):
    port = free_port()
    sluice = Sluice(tcp_config([echo.port], port), workers=2)
    sluice.config["drain_timeout"] = "10s"
    with open(sluice.config_path, "w") as f:
        import yaml
        yaml.safe_dump(sluice.config, f)
    sluice.start()
    try:
        inflight = connect(port)
        inflight.sendall(b"before")
        assert inflight.recv(64) == b"before"
        sluice.signal(signal.SIGTERM)
        wait_for(lambda: sluice.get("/ready")[0] == 503, what="/ready 503")
        wait_for(lambda: not _can_connect(port), what="listener to close")
        # The in-flight session still works, then finishes cleanly.
        inflight.sendall(b"after")
        assert inflight.recv(64) == b"after"
        inflight.shutdown(socket.SHUT_WR)
        assert recv_all(inflight) == b""
        assert sluice.wait(10) == 0
    finally:
        sluice.stop()


def test_drain_timeout_closes_sessions_and_exits_zero(echo):
    port = free_port()
    config = tcp_config([echo.port], port)
    config["drain_timeout"] = "500ms"
    with Sluice(config) as sluice:
        stuck = connect(port)
        stuck.sendall(b"x")
        assert stuck.recv(1) == b"x"
        sluice.signal(signal.SIGTERM)
        assert sluice.wait(10) == 0
        assert is_closed(stuck, timeout=2)


def test_second_signal_exits_at_once(echo):
    port = free_port()
    config = tcp_config([echo.port], port)
    config["drain_timeout"] = "60s"
    with Sluice(config) as sluice:
        held = connect(port)
        held.sendall(b"x")
        assert held.recv(1) == b"x"
        sluice.signal(signal.SIGTERM)
        wait_for(lambda: sluice.get("/ready")[0] == 503, what="draining")
        started = time.monotonic()
        sluice.signal(signal.SIGINT)
        assert sluice.wait(5) == 0
        assert time.monotonic() - started < 3


def test_drain_delay_keeps_accepting(echo):
    port = free_port()
    config = tcp_config([echo.port], port)
    config["drain_delay"] = "1500ms"
    with Sluice(config) as sluice:
        sluice.signal(signal.SIGTERM)
        wait_for(lambda: sluice.get("/ready")[0] == 503, what="draining")
        late = connect(port)  # routed here before the endpoint update: still served
        late.sendall(b"late")
        assert late.recv(64) == b"late"
        late.close()
        assert sluice.wait(10) == 0


def test_idle_timeout_closes_quiet_sessions(echo):
    port = free_port()
    config = tcp_config([echo.port], port)
    config["listeners"][0]["timeouts"] = {"idle": "400ms"}
    with Sluice(config) as sluice:
        sock = connect(port)
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        started = time.monotonic()
        assert is_closed(sock, timeout=5)
        assert time.monotonic() - started >= 0.3


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False
