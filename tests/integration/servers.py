"""Every backend the integration tests run (loopback only).

EchoServer: an asyncio echo server (greeting, delay, reset_all). Nginx: the
real server from Debian, with its own config (default or given locations) in
a temp dir, on a free port, stopped by PID. ScriptedHttpServer: a
well-behaved threaded Python HTTP/1.1 server (delays, 100-continue, upgrade
to an echo tunnel, idle close), recording what it saw. ScriptedBackend: a
misbehaving backend, one script per connection (expect a request, send this
response, close). Then the backends of a few tests: ProxyAwareBackend, TinyDns.
"""

import asyncio
import http.server
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from harness import established_to, free_port, wait_for

class EchoServer:
    """An asyncio echo server in a background thread.

    Echoes everything; on EOF from the client it finishes writing and then
    closes (so half-close is observable). `greeting` bytes are sent on
    connect (a server-speaks-first protocol); `delay` holds each echo back.
    Records how many connections it saw at once.
    """

    def __init__(self, port=None, greeting=b"", delay=0.0, host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        self.greeting = greeting
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.accepted = 0
        self.writers = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server = None

    def __enter__(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def established(self):
        """Connections to this server the kernel holds open right now (`ss`).

        Unlike `active`, a connection the peer closed leaves this count at
        once, not when this loop gets round to reading the EOF."""
        return established_to(self.port)

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, backlog=4096,
                                 reuse_address=True))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer):
        self.active += 1
        self.accepted += 1
        self.max_active = max(self.max_active, self.active)
        self.writers.append(writer)
        try:
            if self.greeting:
                writer.write(self.greeting)
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.active -= 1
            if writer in self.writers:
                self.writers.remove(writer)
            try:
                writer.close()
            except Exception:
                pass

    def reset_all(self):
        """Aborts (RST) every open connection."""
        def abort():
            for w in list(self.writers):
                sock = w.get_extra_info("socket")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
                w.transport.abort()
        self._loop.call_soon_threadsafe(abort)

    def stop(self):
        if not self._thread.is_alive():
            return
        def shutdown():
            self._server.close()
            for w in list(self.writers):
                w.transport.abort()
            self._loop.stop()
        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)


# The default locations; a test that needs others passes its own
# `locations` (and `extra`: more of the http block, e.g. another server).
NGINX_LOCATIONS = """
    location / { return 200 "hello\\n"; }
    location /xff { return 200 "xff=$http_x_forwarded_for proto=$http_x_forwarded_proto conn=$http_connection\\n"; }
    location /files/ { alias {dir}/files/; }
    location /upload { return 200 "uploaded\\n"; }
    location /healthz { return 200 "ok\\n"; }
"""

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:{port};
{locations}
  }
{extra}
}
"""


class Nginx:
    """The real nginx from Debian on a free port, with its own config in a temp dir.

    `locations` replaces the server's default location blocks; `extra` is
    added to the http block. In both, {dir} and {port} stand for this
    instance's directory and port (plain replacement, so nginx's own braces
    need no escaping)."""

    def __init__(self, port=None, locations=NGINX_LOCATIONS, extra=""):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="sluice-nginx-")
        os.chmod(self.dir, 0o755)  # nginx workers run as www-data
        os.makedirs(os.path.join(self.dir, "files"), mode=0o755)
        self.conf = os.path.join(self.dir, "nginx.conf")
        conf = NGINX_CONF.replace("{locations}", locations).replace("{extra}", extra)
        with open(self.conf, "w") as f:
            f.write(conf.replace("{dir}", self.dir).replace("{port}", str(self.port)))
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self):
        self.proc = subprocess.Popen(["nginx", "-c", self.conf, "-e", os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._up, timeout=10, what="nginx")
        return self

    def _up(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited: " + open(os.path.join(self.dir, "error.log")).read())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def file(self, name, size):
        path = os.path.join(self.dir, "files", name)
        with open(path, "wb") as f:
            chunk = os.urandom(1 << 20)
            left = size
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        return path

    def connections_from(self):
        """Established connections to nginx's port right now (from `ss`)."""
        return established_to(self.port)


class ScriptedHttpServer:
    """A threaded HTTP/1.1 backend. `handler(request_handler)` may be replaced per test."""

    def __init__(self, delay=0.0):
        self.port = free_port()
        self.delay = delay
        self.seen = []  # (path, headers dict) in arrival order
        self.bodies = []  # (connection number, method, path, body bytes) in arrival order
        self.connections = 0  # accepted so far; numbered from 1
        self.lock = threading.Lock()
        # Seconds a connection may stay idle before this backend closes it
        # (its keep-alive timeout); None: never.
        self.idle_close = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                if outer.idle_close is not None:
                    # BaseHTTPRequestHandler ends the connection on a timeout.
                    self.connection.settimeout(outer.idle_close)
                with outer.lock:
                    outer.connections += 1
                    self.connection_number = outer.connections

            def _record(self):
                with outer.lock:
                    outer.seen.append((self.path, dict(self.headers)))

            def _read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length", "0"))
                return self.rfile.read(length) if length else b""

            def do_GET(self):
                self._record()
                with outer.lock:
                    outer.bodies.append((self.connection_number, "GET", self.path, b""))
                # Tunnels any of these it is offered (sluice decides what it forwards).
                if self.headers.get("Upgrade", "").lower() in ("echo", "websocket", "h2c"):
                    self.send_response(101)
                    self.send_header("Upgrade", "echo")
                    self.send_header("Connection", "Upgrade")
                    self.end_headers()
                    self.wfile.flush()
                    while True:
                        data = self.connection.recv(65536)
                        if not data:
                            break
                        self.connection.sendall(data)
                    self.close_connection = True
                    return
                if outer.delay:
                    time.sleep(outer.delay)
                body = f"path={self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self._record()
                data = self._read_body()
                with outer.lock:
                    outer.bodies.append((self.connection_number, self.command, self.path, data))
                body = f"got {len(data)} bytes\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = do_POST
            do_DELETE = do_POST
            do_PATCH = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- scripted backends
#
# A ScriptedBackend runs a script on every connection it accepts, like a
# reg-test's server block: expect a request, send this response, close. A
# script is a list of steps; each step is a callable (conn, backend) that
# returns False to end the script early (the peer closed). The connection is
# closed when the script ends.


class Request:
    """One request an `expect()` step read: its connection number (from 1),
    method, path, headers (a dict), body (chunked bodies decoded) and the raw
    bytes as they arrived."""

    def __init__(self, connection, method, path, headers, body, raw):
        self.connection = connection
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.raw = raw


class _Conn:
    """A connection under a script: the socket, its number and unread bytes."""

    def __init__(self, sock, number):
        self.sock = sock
        self.number = number
        self.buf = b""
        self.last = None  # the last Request read

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, marker):
        while marker not in self.buf:
            self.fill()
        out, _, self.buf = self.buf.partition(marker)
        return out + marker

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def expect():
    """Reads one HTTP/1.1 request (head and body) and records it in `backend.requests`."""
    def step(conn, backend):
        raw = conn.until(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        lowered = {k.lower(): v for k, v in headers.items()}
        body = b""
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            while True:
                size_line = conn.until(b"\r\n")
                raw += size_line
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers up to the empty line
                        line = conn.until(b"\r\n")
                        raw += line
                        if line == b"\r\n":
                            break
                    break
                data = conn.exactly(size + 2)
                raw += data
                body += data[:-2]
        else:
            body = conn.exactly(int(lowered.get("content-length", "0")))
            raw += body
        conn.last = Request(conn.number, method, path, headers, body, raw)
        with backend.lock:
            backend.requests.append(conn.last)
    return step


def read():
    """Reads whatever the peer sent first (one recv); records it in `backend.received`."""
    def step(conn, backend):
        conn.fill()
        with backend.lock:
            backend.received.append(conn.buf)
        conn.buf = b""
    return step


def send(data):
    """Sends `data`: bytes, or a function of the last Request returning bytes."""
    def step(conn, backend):
        conn.sock.sendall(data(conn.last) if callable(data) else data)
    return step


def reset():
    """Closes with a reset (SO_LINGER 0)."""
    def step(conn, backend):
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    return step


def read_to_eof():
    """Reads until the peer closes; counts it in `backend.eofs`."""
    def step(conn, backend):
        try:
            while True:
                conn.fill()
        except (EOFError, OSError):
            pass
        with backend.lock:
            backend.eofs += 1
        return False
    return step


def pause(seconds):
    """Waits `seconds`."""
    def step(conn, backend):
        time.sleep(seconds)
    return step


def repeat(*steps):
    """Runs `steps` again and again until the peer closes (or a step ends the script)."""
    def step(conn, backend):
        while True:
            for inner in steps:
                if inner(conn, backend) is False:
                    return False
    return step


def response(body, status="200 OK", headers=()):
    """A complete HTTP/1.1 response with a Content-Length."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{h}\r\n" for h in headers)
    return head.encode() + b"\r\n" + body


def answer(request, headers=()):
    """ScriptedHttpServer's answers: "path=<path>" to a GET, "got <n> bytes" to others."""
    if request.method == "GET":
        return response(f"path={request.path}\n".encode(), headers=headers)
    return response(f"got {len(request.body)} bytes\n".encode(), headers=headers)


class ScriptedBackend:
    """A TCP backend on loopback running `script` on each connection it
    accepts (`script(n)`, when callable, gives connection n's steps).
    Records `connections`, `requests`, `received` and `eofs` (under `lock`).
    Leaving the `with` block closes the listener and every open connection."""

    def __init__(self, script):
        self.script = script
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []
        self.received = []
        self.eofs = 0
        self._open = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.listener.close()
        with self.lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the script's recv; it closes
                except OSError:
                    pass

    def attempts(self, path):
        """(connection number, body) of every request for `path`, in arrival order."""
        with self.lock:
            return [(r.connection, r.body) for r in self.requests if r.path == path]

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
                self._open.add(sock)
            threading.Thread(target=self._run, args=(sock, number), daemon=True).start()

    def _run(self, sock, number):
        steps = self.script(number) if callable(self.script) else self.script
        conn = _Conn(sock, number)
        try:
            for step in steps:
                if step(conn, self) is False:
                    return
        except (EOFError, OSError):
            pass
        finally:
            with self.lock:
                self._open.discard(sock)
            sock.close()


# ---------------------------------------------------------------- the backends of a few tests

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"  # PROXY protocol v2


class ProxyAwareBackend:
    """Reads a PROXY header, answers "v<N> <src>:<port> <dst>:<port>\\n", then echoes."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.headers = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_exact(conn, n, buf):
        while len(buf) < n:
            data = conn.recv(4096)
            if not data:
                raise EOFError
            buf += data
        return buf

    def _serve(self, conn):
        try:
            buf = self._read_exact(conn, 16, b"")
            if buf.startswith(V2_SIGNATURE):
                length = struct.unpack("!H", buf[14:16])[0]
                buf = self._read_exact(conn, 16 + length, buf)
                body = buf[16:16 + length]
                src = socket.inet_ntoa(body[0:4])
                dst = socket.inet_ntoa(body[4:8])
                sport, dport = struct.unpack("!HH", body[8:12])
                seen = f"v2 {src}:{sport} {dst}:{dport}"
                rest = buf[16 + length:]
            else:
                while b"\r\n" not in buf:
                    buf = self._read_exact(conn, len(buf) + 1, buf)
                line, rest = buf.split(b"\r\n", 1)
                parts = line.decode().split()
                seen = f"v1 {parts[2]}:{parts[4]} {parts[3]}:{parts[5]}"
            self.headers.append(seen)
            conn.sendall(seen.encode() + b"\n" + rest)
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


class TinyDns:
    """UDP DNS on 127.0.0.1: A records of `name` from `self.addresses`; an
    empty AAAA answer for `name`; NXDOMAIN for anything else."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.addresses = []
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                packet, peer = self.sock.recvfrom(512)
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(packet), peer)
            except Exception:
                pass

    def _answer(self, packet):
        self.queries += 1
        ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
        # The question: labels up to the zero byte, then type and class.
        end = 12
        labels = []
        while packet[end] != 0:
            length = packet[end]
            labels.append(packet[end + 1:end + 1 + length].decode().lower())
            end += 1 + length
        qtype, qclass = struct.unpack("!HH", packet[end + 1:end + 5])
        question = packet[12:end + 5]  # echoed as sent (evdns randomizes case)
        name = ".".join(labels)
        records = []
        rcode = 0
        if name != self.name:
            rcode = 3  # NXDOMAIN
        elif qtype == 1:
            for address in list(self.addresses):
                records.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) +
                               socket.inet_aton(address))
        header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0)
        return header + question + b"".join(records)

    def close(self):
        self.sock.close()
