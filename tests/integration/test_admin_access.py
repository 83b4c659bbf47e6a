"""The admin port is safe on the pod network (issue #13, items 2, 4 and 11).

Probes (/live, /ready) and /metrics answer on any admin listener; control
endpoints (/stats, /config, /reload, /drain, /undrain) only on a listener
bound to loopback or with the bearer token from admin.token_file. Only
loopback is ever a target: a listener bound to 0.0.0.0 stands in for the
pod network and is reached through 127.0.0.1.
"""

import os
import select
import time

from harness import SANITIZED, Sluice, connect, free_port, tcp_config, wait_for
from servers import EchoServer

TOKEN = "t0ken-0123456789abcdef"
CONTROL = [("GET", "/stats"), ("GET", "/config"), ("POST", "/reload"), ("POST", "/drain"),
           ("POST", "/undrain")]


def exchange(port, data, timeout=5.0):
    """Sends `data`, reads until the peer closes or a whole response is in."""
    with connect(port, timeout=timeout) as s:
        s.sendall(data)
        return read_response(s)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def call(port, method, path, token=None):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    response = exchange(port, f"{method} {path} HTTP/1.1\r\nHost: admin\r\n{auth}"
                              "Connection: close\r\nContent-Length: 0\r\n\r\n".encode())
    return int(response.split(b" ", 2)[1]), response


def pod_network_sluice(echo, tmp_path=None, token=None, control_port=None, **overrides):
    """sluice with admin.address on 0.0.0.0 (the pod network's stand-in)."""
    port = free_port()
    admin = {"address": f"0.0.0.0:{port}"}
    if token is not None:
        path = os.path.join(tmp_path, "token")
        with open(path, "w") as f:
            f.write(token + "\n")
        admin["token_file"] = path
    if control_port:
        admin["control_address"] = f"127.0.0.1:{control_port}"
    config = tcp_config([echo.port], free_port(), **overrides)
    config["admin"] = admin
    sluice = Sluice(config)
    sluice.admin_port = port
    return sluice


def test_control_endpoints_refused_on_a_non_loopback_admin_without_token(echo):
    with pod_network_sluice(echo) as sluice:
        port = sluice.admin_port
        for path in ("/live", "/ready", "/metrics"):
            assert call(port, "GET", path)[0] == 200, path
        for method, path in CONTROL:
            status, response = call(port, method, path)
            assert status == 403, (method, path, response)
        # Nothing happened: no drain, no reload.
        assert call(port, "GET", "/ready")[0] == 200
        assert "reload:" not in sluice.log() and "drain:" not in sluice.log()
        assert "is not a loopback address" in sluice.log()  # said once, at start


def test_a_bearer_token_opens_the_control_endpoints_and_is_reread_on_reload(echo, tmp_path):
    with pod_network_sluice(echo, tmp_path, token=TOKEN) as sluice:
        port = sluice.admin_port
        status, response = call(port, "GET", "/stats")
        assert status == 401 and b"WWW-Authenticate: Bearer" in response
        assert call(port, "POST", "/drain", token=TOKEN[:-1] + "X")[0] == 401
        assert call(port, "GET", "/ready")[0] == 200
        assert call(port, "GET", "/stats", token=TOKEN)[0] == 200
        assert call(port, "GET", "/config", token=TOKEN)[0] == 200
        # A rotated token: the reload re-reads the file.
        rotated = "r0tated-" + TOKEN
        with open(os.path.join(tmp_path, "token"), "w") as f:
            f.write(rotated)
        assert call(port, "POST", "/reload", token=TOKEN)[0] == 200
        assert call(port, "GET", "/stats", token=TOKEN)[0] == 401
        assert call(port, "GET", "/stats", token=rotated)[0] == 200
        # An unreadable token file fails the reload and keeps the running token.
        os.remove(os.path.join(tmp_path, "token"))
        status, response = call(port, "POST", "/reload", token=rotated)
        assert status == 400 and b"admin.token_file" in response
        assert call(port, "GET", "/stats", token=rotated)[0] == 200


def test_control_address_serves_control_endpoints_on_loopback(echo):
    control = free_port()
    with pod_network_sluice(echo, control_port=control) as sluice:
        assert call(sluice.admin_port, "POST", "/drain")[0] == 403
        assert call(control, "GET", "/stats")[0] == 200
        assert call(control, "GET", "/ready")[0] == 200
        assert call(control, "POST", "/drain")[0] == 202
        assert call(sluice.admin_port, "GET", "/ready")[0] == 503


def echoes(port, data):
    # A connection the kernel queued on a socket the worker was still closing
    # (drain and undrain a moment apart) is reset: try again.
    try:
        with connect(port) as s:
            s.sendall(data)
            return s.recv(64) == data
    except OSError:
        return False


def listener_refuses(port):
    try:
        connect(port, timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_undrain_reopens_the_listeners_after_an_admin_drain(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port)) as sluice:
        admin = sluice.admin_port
        assert call(admin, "POST", "/undrain")[0] == 200  # not draining: nothing to do
        assert call(admin, "POST", "/drain")[0] == 202
        wait_for(lambda: listener_refuses(port), what="listener closed")
        assert call(admin, "GET", "/ready")[0] == 503
        status, response = call(admin, "POST", "/undrain")
        assert status == 200, response
        assert call(admin, "GET", "/ready")[0] == 200
        wait_for(lambda: echoes(port, b"back"), what="the listener to serve again")
        # A reload works again (refused while draining).
        assert call(admin, "POST", "/reload")[0] == 200
        # Drain and undrain once more.
        assert call(admin, "POST", "/drain")[0] == 202
        assert call(admin, "POST", "/undrain")[0] == 200
        wait_for(lambda: echoes(port, b"again"), what="the listener to serve again")


def test_undrain_refuses_a_signal_drain(echo):
    port = free_port()
    config = tcp_config([echo.port], port)
    config["drain_timeout"] = "10s"
    with Sluice(config) as sluice:
        held = connect(port)  # keeps the drain (and the admin port) going
        held.sendall(b"x")
        assert held.recv(8) == b"x"
        sluice.signal(15)
        wait_for(lambda: call(sluice.admin_port, "GET", "/ready")[0] == 503, what="draining")
        assert call(sluice.admin_port, "POST", "/undrain")[0] == 409
        held.close()
        assert sluice.wait(10) == 0


def flood(sock, chunk, limit=16 * 1024 * 1024):
    """Sends `chunk` until sluice answers or closes (or `limit` bytes went out),
    looking for an answer between chunks (as a client reading its socket
    would: one that never reads gets a reset once sluice stops discarding);
    returns (bytes sent, what came back: b"" for a close)."""
    sent = 0
    while sent < limit:
        readable, _, _ = select.select([sock], [], [], 0.01)
        if readable:
            try:
                return sent, read_response(sock)
            except OSError:
                return sent, b""
        try:
            sock.sendall(chunk)
        except OSError:
            return sent, b""
        sent += len(chunk)
    return sent, None


def test_huge_admin_heads_and_bodies_are_refused_early(echo):
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        port = sluice.admin_port
        call(port, "GET", "/metrics")
        rss_before = sluice.rss_kib()
        # A 300 MiB body is refused by its length, before a byte of it is read.
        with connect(port) as s:
            s.sendall(b"POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 314572800\r\n\r\n")
            response = read_response(s)
            assert response.startswith(b"HTTP/1.1 413 "), response
            sent, after = flood(s, b"x" * 65536)
            assert after == b"", f"the refused body was read on ({sent} bytes)"
        # Endless header fields: 431 once the head passes 8 KiB.
        with connect(port) as s:
            s.sendall(b"GET /live HTTP/1.1\r\n")
            sent, response = flood(s, b"X-Filler: " + b"a" * 16000 + b"\r\n")
            assert response and response.startswith(b"HTTP/1.1 431 "), (sent, response)
            assert sent < 4 * 1024 * 1024
        # Many tiny fields within 8 KiB: too many fields.
        many = b"GET /live HTTP/1.1\r\n" + b"a: b\r\n" * 200 + b"\r\n"
        assert exchange(port, many).startswith(b"HTTP/1.1 431 ")
        assert exchange(port, b"GET /live HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        ).startswith(b"HTTP/1.1 400 ")
        assert exchange(port, b"GET /live HTTP/1.1\nHost: a\n\n").startswith(b"HTTP/1.1 400 ")
        assert call(port, "GET", "/live")[0] == 200
        if not SANITIZED:
            assert sluice.rss_kib() - rss_before < 4096


def test_admin_keeps_alive_pipelines_and_closes_idle_clients(echo):
    with Sluice(tcp_config([echo.port], free_port())) as sluice:
        port = sluice.admin_port
        with connect(port) as s:
            s.sendall(b"GET /live HTTP/1.1\r\nHost: a\r\n\r\nGET /ready HTTP/1.1\r\nHost: a\r\n\r\n")
            both = b""
            while not both.endswith(b"ready\n"):
                chunk = s.recv(4096)
                assert chunk, both
                both += chunk
            assert both.count(b"HTTP/1.1 200 OK\r\n") == 2 and both.index(b"live\n") < both.index(b"ready")
            s.sendall(b"HEAD /live HTTP/1.1\r\nHost: a\r\n\r\n")
            head = s.recv(4096)
            assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        # A client that never finishes its head gets 408 after the request
        # timeout (10 s), then the connection closes.
        with connect(port, timeout=15) as s:
            s.sendall(b"GET /live HTTP/1.1\r\n")
            started = time.monotonic()
            assert read_response(s).startswith(b"HTTP/1.1 408 ")
            assert 8 < time.monotonic() - started < 14
            assert s.recv(64) == b""


def test_admin_limits_its_concurrent_clients(echo):
    # No pre-warmed upstream connections: sluice's descriptors are its own.
    with Sluice(tcp_config([echo.port], free_port(), pool={"min_idle": 0})) as sluice:
        port = sluice.admin_port
        base = sluice.fd_count()
        idle = [connect(port) for _ in range(80)]
        wait_for(lambda: sluice.fd_count() >= base + 60, what="admin clients accepted")
        time.sleep(0.3)
        assert sluice.fd_count() <= base + 64
        # Past the cap the oldest client makes room: a probe still gets its
        # answer (refusing it let 64 idle sockets fail every liveness probe),
        # and the port still holds at most 64.
        assert call(port, "GET", "/live")[0] == 200
        assert idle[0].recv(16) == b""
        time.sleep(0.3)
        assert sluice.fd_count() <= base + 64
        for s in idle:
            s.close()
        wait_for(lambda: call(port, "GET", "/live")[0] == 200, what="admin serves again")


def test_idle_and_slow_admin_clients_cannot_keep_probes_out(echo):
    with Sluice(tcp_config([echo.port], free_port(), pool={"min_idle": 0})) as sluice:
        port = sluice.admin_port
        # Twice the cap, half silent, half sending a head byte by byte.
        hogs = [connect(port) for _ in range(128)]
        for s in hogs[::2]:
            s.sendall(b"GET /li")
        try:
            for _ in range(5):
                assert call(port, "GET", "/live")[0] == 200
                assert call(port, "GET", "/ready")[0] == 200
        finally:
            for s in hogs:
                s.close()


def process_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_admin_listener_backs_off_on_emfile(echo):
    port = free_port()
    with Sluice(tcp_config([echo.port], port, pool={"min_idle": 0}), workers=1,
                rlimit_nofile=64) as sluice:
        admin = sluice.admin_port
        clients = []
        for _ in range(62):  # below the admin's own cap of 64: descriptors run out first
            try:
                clients.append(connect(admin, timeout=2))
            except OSError:
                break
        # sluice is out of descriptors; more clients wait in the backlog, so
        # the listening socket stays readable.
        wait_for(lambda: sluice.fd_count() >= 62, what="descriptors to run out")
        cpu_before = process_cpu_seconds(sluice.proc.pid)
        time.sleep(2)
        used = process_cpu_seconds(sluice.proc.pid) - cpu_before
        assert sluice.proc.poll() is None
        assert used < 0.5, f"{used:.2f}s of CPU in 2s: spinning on EMFILE"
        assert sluice.log().count("accept") <= 5
        assert "pausing accepts" in sluice.log()
        for s in clients:
            s.close()
        wait_for(lambda: call(admin, "GET", "/live")[0] == 200, timeout=10,
                 what="admin serves again")


def test_ready_ignores_a_dead_backend_unless_the_cluster_requires_one(echo):
    dead = free_port()  # nothing listens there
    check = {"type": "tcp", "interval": "100ms", "timeout": "100ms", "healthy_threshold": 1,
             "unhealthy_threshold": 1, "initial_state": "unhealthy"}
    with Sluice(tcp_config([dead], free_port(), health_check=check)) as sluice:
        time.sleep(0.5)
        assert not sluice.stats()["clusters"][0]["backends"][0]["healthy"]
        assert call(sluice.admin_port, "GET", "/ready")[0] == 200
    with Sluice(tcp_config([dead], free_port(), health_check=check,
                           readiness="requires_backend")) as sluice:
        status, response = call(sluice.admin_port, "GET", "/ready")
        assert status == 503 and b"cluster echo has no available backend" in response
        with EchoServer(port=dead):
            wait_for(lambda: call(sluice.admin_port, "GET", "/ready")[0] == 200,
                     what="ready once the backend is up")
