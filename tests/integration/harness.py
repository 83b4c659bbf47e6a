"""Test harness: the real sluice binary, waits, and client-side helpers.

Backends (echo servers, nginx, scripted HTTP servers) live in servers.py;
shared pytest fixtures in conftest.py.

Everything here binds 127.0.0.0/8 only. Ports come from free_port(), which
picks below the ephemeral range (32768+) so a port cannot collide with a
connection's source port. Every wait has a deadline; nothing sleeps and then
asserts.
"""

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import yaml

SLUICE_BIN = os.environ.get("SLUICE_BIN", "build/proxy/sluice")
SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR", os.getcwd())
# ASan/TSan builds: RSS says nothing about sluice's own memory use there.
SANITIZED = os.environ.get("SLUICE_SANITIZED", "0") == "1"

_used_ports = set()


def free_port():
    """A currently free TCP port on 127.0.0.1 in 20000-32000."""
    for _ in range(1000):
        port = random.randint(20000, 32000)
        if port in _used_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port")


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, http.client.HTTPException) as e:  # e.g. the admin port is busy
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def connect(port, host="127.0.0.1", source=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def recv_all(sock, timeout=10.0):
    """Reads until EOF; returns the bytes."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def is_closed(sock, timeout=5.0):
    """True when the peer closes (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def established_to(port):
    """Established TCP connections to local `port` right now, counted by `ss`."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


class Sluice:
    """The real sluice binary, run with a config built from a dict."""

    def __init__(self, config, workers=2, log_level="info", env=None, rlimit_nofile=None,
                 cpus=None):
        self.admin_port = free_port()
        config = dict(config)
        config.setdefault("workers", workers)
        config.setdefault("admin", {"address": f"127.0.0.1:{self.admin_port}"})
        config.setdefault("log", {"level": log_level})
        self.config = config
        self.dir = tempfile.mkdtemp(prefix="sluice-test-")
        self.config_path = os.path.join(self.dir, "sluice.yaml")
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        self.log_path = os.path.join(self.dir, "sluice.log")
        self.env = env
        self.rlimit_nofile = rlimit_nofile
        self.cpus = cpus  # a CPU set to pin the process to (sched_setaffinity)
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, wait=True):
        log = open(self.log_path, "w")
        limit, cpus = self.rlimit_nofile, self.cpus

        def preexec():
            if limit:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            if cpus:
                os.sched_setaffinity(0, cpus)

        if not limit and not cpus:
            preexec = None

        self.proc = subprocess.Popen([SLUICE_BIN, "run", "-c", self.config_path],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env, preexec_fn=preexec)
        log.close()
        if wait:
            # sluice binds every listener before the admin port: once /live
            # answers, connections are accepted (no probe connection, which
            # would reach the backend as a session of its own).
            wait_for(self._live, timeout=15, what="sluice /live")
        return self

    def _live(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"sluice exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return self.get("/live")[0] == 200
        except OSError:
            return False

    def get(self, path, method="GET", timeout=5):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stats(self):
        return json.loads(self.get("/stats")[1])

    def metrics(self):
        """{(name, frozenset(labels.items())): value}"""
        return parse_metrics(self.get("/metrics")[1])

    def metric(self, name, **labels):
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for (n, lbls), value in self.metrics().items():
            if n == name and all((k, v) in lbls for k, v in labels.items()):
                total += value
        return total

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Parses the Prometheus text format into {(name, frozenset(labels)): value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable metrics line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def tcp_config(backend_ports, listen_port, **cluster_overrides):
    """A one-listener tcp config in front of echo servers on `backend_ports`."""
    listener = {"name": "echo", "address": f"127.0.0.1:{listen_port}", "protocol": "tcp",
                "cluster": "echo"}
    listener.update(cluster_overrides.pop("listener", {}))
    cluster = {"name": "echo",
               "backends": [{"address": f"127.0.0.1:{p}"} for p in backend_ports]}
    cluster.update(cluster_overrides)
    return {"listeners": [listener], "clusters": [cluster]}


def http_config(backend_ports, listen_port, **cluster_overrides):
    listener = {"name": "web", "address": f"127.0.0.1:{listen_port}", "protocol": "http",
                "cluster": "app"}
    listener.update(cluster_overrides.pop("listener", {}))
    cluster = {"name": "app", "backends": [{"address": f"127.0.0.1:{p}"} for p in backend_ports]}
    cluster.update(cluster_overrides)
    return {"listeners": [listener], "clusters": [cluster]}


def raw_exchange(port, data, timeout=5.0, read_until_close=True):
    """Sends raw bytes, returns everything read until the server closes (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    chunks = []
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
            if not read_until_close:
                break
    except socket.timeout:
        pass
    s.close()
    return b"".join(chunks)


def status_of(response_bytes):
    line = response_bytes.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def header_of(response_bytes, name):
    head = response_bytes.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None
