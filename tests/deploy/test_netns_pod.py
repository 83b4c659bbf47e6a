"""A pod, simulated with network namespaces: sluice as an app's sidecar.

  netns "app"                                  netns "legacy"
  +------------------------------------+       +-------------------------+
  | client --> 127.0.0.1:15000 sluice  |-veth--| 169.254.77.2:8000       |
  |            admin 0.0.0.0:9901      |  /30  |   the legacy server     |
  |            control 127.0.0.1:9902  |       |                         |
  |            169.254.77.1            |       |   (answers /slow in 4s) |
  +------------------------------------+       +-------------------------+

The client reaches the legacy server only through sluice on the pod's
loopback (protocol tcp). Then sluice is drained with SIGTERM while a slow
request is in flight: the request must complete and sluice must exit 0. A
second test runs the sidecar's real preStop hook (from deploy/k8s/sidecar.yaml)
against sluice: POST /drain, /ready turns 503, the process stays up until
SIGTERM.

Both namespaces are created here and hold only link-local addresses on their
own veth pair, with no route anywhere else. Needs root and `ip netns`
(iproute2); skipped with the reason otherwise. Everything is removed at the
end, even on failure.
"""

import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from deploy_env import ROOT

PID = os.getpid()
APP_NS = f"sluice-app-{PID}"
LEGACY_NS = f"sluice-legacy-{PID}"
VETH_APP = f"slc{PID % 100000}a"
VETH_LEGACY = f"slc{PID % 100000}l"
APP_IP = "169.254.77.1"
LEGACY_IP = "169.254.77.2"
LEGACY_PORT = 8000
LISTEN_PORT = 15000
ADMIN_PORT = 9901
CONTROL_PORT = 9902  # admin.control_address: /drain answers there, on loopback
SLOW_SECONDS = 4
DRAIN_TIMEOUT_SECONDS = 10
PYTHON = sys.executable

# The legacy server: HTTP/1.0-style, one request per connection, logs each
# request with a timestamp so the test can order events without sleeping.
LEGACY_SERVER = textwrap.dedent("""
    import socket, socketserver, sys, threading, time
    host, port, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lock = threading.Lock()
    def log(*words):
        with lock, open(log_path, "a") as f:
            f.write(" ".join(str(w) for w in (time.time(),) + words) + "\\n")
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(30)
            data = b""
            try:
                while b"\\r\\n\\r\\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return  # a pre-warmed connection closed unused
                    data += chunk
            except OSError:
                return
            path = data.split(b" ")[1].decode()
            log("start", path, self.client_address[0])
            if path.startswith("/slow"):
                time.sleep(float(sys.argv[4]))
            body = f"legacy saw {path} from {self.client_address[0]}\\n".encode()
            self.request.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body) + body)
            log("done", path)
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
    server = Server((host, port), Handler)
    log("listening")
    server.serve_forever()
""")

# One HTTP request over a fresh TCP connection; prints the raw response.
# Exit 0: a response arrived and the peer closed; 3: connection refused; 4: other error.
CLIENT = textwrap.dedent("""
    import socket, sys
    host, port, method, path, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(f"{method} {path} HTTP/1.1\\r\\nHost: {host}\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionRefusedError:
        sys.exit(3)
    except OSError as e:
        print(repr(e), file=sys.stderr)
        sys.exit(4)
    sys.stdout.buffer.write(data)
""")


def ip(*args, check=True):
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def in_ns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *map(str, cmd)]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc, timeout=5):
    """Ends a process this test started, by its PID: SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def remove_stale_namespaces():
    """Namespaces left by an earlier run of this test whose process is gone (killed hard)."""
    listing = ip("netns", "list", check=False).stdout
    for name in re.findall(r"^(sluice-(?:app|legacy)-(\d+))\b", listing, re.M):
        if not pathlib.Path(f"/proc/{name[1]}").exists():
            ip("netns", "del", name[0], check=False)


class PodNet:
    """The two namespaces, their veth link and the legacy server."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.legacy_log = workdir / "legacy.log"
        self.legacy = None

    def create(self):
        ip("netns", "add", LEGACY_NS)
        ip("link", "add", VETH_APP, "type", "veth", "peer", "name", VETH_LEGACY)
        ip("link", "set", VETH_APP, "netns", APP_NS)
        ip("link", "set", VETH_LEGACY, "netns", LEGACY_NS)
        for ns, dev, addr in ((APP_NS, VETH_APP, APP_IP), (LEGACY_NS, VETH_LEGACY, LEGACY_IP)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            # Only the /30 and loopback: nothing routes out of these namespaces.
            routes = ip("-n", ns, "route", "show").stdout
            assert "default" not in routes, routes

    def start_legacy(self):
        self.legacy = subprocess.Popen(
            in_ns(LEGACY_NS, PYTHON, "-c", LEGACY_SERVER, LEGACY_IP, LEGACY_PORT, self.legacy_log, SLOW_SECONDS),
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "legacy.err", "w"))
        wait_until(lambda: "listening" in self.log_text() or self.legacy.poll() is not None, 15,
                   "the legacy server to listen")
        assert self.legacy.poll() is None, (self.workdir / "legacy.err").read_text()

    def log_text(self):
        return self.legacy_log.read_text() if self.legacy_log.exists() else ""

    def log_time(self, event, path):
        for line in self.log_text().splitlines():
            words = line.split()
            if words[1:3] == [event, path]:
                return float(words[0])
        return None

    def destroy(self):
        stop(self.legacy)
        # Deleting a namespace deletes the veth end inside it, and so the pair.
        for ns in (APP_NS, LEGACY_NS):
            ip("netns", "del", ns, check=False)
        ip("link", "del", VETH_APP, check=False)


@pytest.fixture(scope="module")
def podnet(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    remove_stale_namespaces()
    net = PodNet(tmp_path_factory.mktemp("podnet"))
    try:
        ip("netns", "add", APP_NS)
    except (RuntimeError, FileNotFoundError) as e:
        pytest.skip(f"cannot create a network namespace here (`ip netns add` failed: {e})")
    try:
        net.create()
        net.start_legacy()
        yield net
    finally:
        net.destroy()


def client(path, method="GET", port=LISTEN_PORT, timeout=10):
    # Bytes, not text mode: text mode would turn the response's CRLFs into LFs.
    result = subprocess.run(in_ns(APP_NS, PYTHON, "-c", CLIENT, "127.0.0.1", port, method, path, timeout),
                            capture_output=True, timeout=timeout + 10)
    result.stdout = result.stdout.decode(errors="replace")
    result.stderr = result.stderr.decode(errors="replace")
    return result


def start_client(path, port=LISTEN_PORT, timeout=15):
    return subprocess.Popen(in_ns(APP_NS, PYTHON, "-c", CLIENT, "127.0.0.1", port, "GET", path, timeout),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def status_of(response):
    match = re.match(r"HTTP/1\.[01] (\d{3})", response)
    return int(match.group(1)) if match else None


def body_of(response):
    head, _, body = response.partition("\r\n\r\n")
    length = re.search(r"(?im)^content-length:\s*(\d+)", head)
    assert length and int(length.group(1)) == len(body.encode()), f"truncated response: {response!r}"
    return body


class Sluice:
    """sluice run in the app namespace, as the pod's sidecar."""

    def __init__(self, binary, workdir):
        self.config = workdir / "sluice.yaml"
        self.config.write_text(yaml.safe_dump({
            "workers": 1,
            "drain_delay": "0s",
            "drain_timeout": f"{DRAIN_TIMEOUT_SECONDS}s",
            # As the chart configures it: probes on the pod's address, control on loopback.
            "admin": {"address": f"0.0.0.0:{ADMIN_PORT}", "control_address": f"127.0.0.1:{CONTROL_PORT}"},
            "log": {"level": "info", "access_log": "off"},
            "listeners": [{"name": "app", "address": f"127.0.0.1:{LISTEN_PORT}", "protocol": "tcp",
                           "cluster": "legacy"}],
            "clusters": [{"name": "legacy", "backends": [{"address": f"{LEGACY_IP}:{LEGACY_PORT}"}],
                          "pool": {"max_connections": 4, "min_idle": 1, "idle_timeout": "4s"},
                          "timeouts": {"connect": "2s"}}],
        }, sort_keys=False))
        self.stderr_path = workdir / "sluice.err"
        check = subprocess.run([binary, "check", "-c", self.config], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"sluice check rejects the test config:\n{check.stderr}"
        # `ip netns exec` execs sluice in place: this PID is sluice's own.
        self.proc = subprocess.Popen(in_ns(APP_NS, binary, "run", "-c", self.config),
                                     stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "w"))

    def stderr(self):
        return self.stderr_path.read_text()

    def wait_serving(self, podnet):
        def served():
            assert self.proc.poll() is None, f"sluice exited {self.proc.returncode}:\n{self.stderr()}"
            result = client("/hello", timeout=2)
            return result.returncode == 0 and status_of(result.stdout) == 200 and result.stdout
        return wait_until(served, 20, "sluice to relay a request to the legacy server")

    def exit_code(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sluice did not exit within {timeout}s:\n{self.stderr()}")

    def close(self):
        stop(self.proc, timeout=DRAIN_TIMEOUT_SECONDS + 5)


@pytest.fixture
def sluice(podnet, sluice_bin, tmp_path):
    instance = Sluice(sluice_bin, tmp_path)
    try:
        yield instance
    finally:
        instance.close()


def test_client_reaches_legacy_only_through_sluice(podnet, sluice):
    response = sluice.wait_serving(podnet)
    # The client spoke to 127.0.0.1 in its own namespace; the legacy server saw
    # the app namespace's address: the bytes went through sluice and the veth.
    assert body_of(response) == f"legacy saw /hello from {APP_IP}\n"
    assert f"start /hello {APP_IP}" in podnet.log_text()


def test_sigterm_drains_an_in_flight_request(podnet, sluice):
    sluice.wait_serving(podnet)
    slow = start_client("/slow")
    try:
        wait_until(lambda: podnet.log_time("start", "/slow") or slow.poll() is not None, 10,
                   "the slow request to reach the legacy server")
        assert slow.poll() is None, f"the slow request ended early: {slow.communicate()}"

        sluice.proc.send_signal(signal.SIGTERM)
        signalled = time.time()

        # Draining closes the listener at once (drain_delay 0s) while the slow
        # session goes on.
        def refused():
            return client("/after-sigterm", timeout=2).returncode == 3
        wait_until(refused, 5, "the listener to close after SIGTERM")
        assert slow.poll() is None, "the in-flight request must not be cut when draining starts"
        assert sluice.proc.poll() is None, "sluice must wait for the in-flight session"

        out, err = (b.decode(errors="replace") for b in slow.communicate(timeout=SLOW_SECONDS + 10))
        assert slow.returncode == 0, f"the in-flight request failed: {err}\n{sluice.stderr()}"
        assert status_of(out) == 200 and body_of(out) == f"legacy saw /slow from {APP_IP}\n"

        code = sluice.exit_code(DRAIN_TIMEOUT_SECONDS + 5)
        exited = time.time()
        assert code == 0, f"sluice exited {code} after draining:\n{sluice.stderr()}"
        done = podnet.log_time("done", "/slow")
        assert done is not None and signalled < done <= exited + 0.05, \
            "sluice exited before the in-flight request was answered"
    finally:
        stop(slow)


def sidecar_prestop_script():
    """The preStop hook exactly as the chart renders it for the sidecar (deploy/k8s/sidecar.yaml)."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/sidecar.yaml").read_text()) if d]
    for doc in docs:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("initContainers", []):
            if container["name"] == "sluice":
                command = container["lifecycle"]["preStop"]["exec"]["command"]
                assert command[:2] == ["/bin/bash", "-c"]
                return command[2]
    raise AssertionError("deploy/k8s/sidecar.yaml has no sluice initContainer")


def test_sidecar_prestop_hook_drains_and_keeps_the_process(podnet, sluice):
    script = sidecar_prestop_script()
    assert f"/dev/tcp/127.0.0.1/{CONTROL_PORT}" in script, "the test's control port must be the chart's"
    sluice.wait_serving(podnet)
    wait_until(lambda: status_of(client("/ready", port=ADMIN_PORT, timeout=2).stdout) == 200, 10,
               "/ready to answer 200 before the drain")

    hook = subprocess.run(in_ns(APP_NS, "bash", "-c", script), capture_output=True, text=True, timeout=30)
    assert hook.returncode == 0, f"preStop hook failed: {hook.stderr}\n{sluice.stderr()}"

    ready = client("/ready", port=ADMIN_PORT, timeout=5)
    assert ready.returncode == 0 and status_of(ready.stdout) == 503, f"/ready while draining: {ready.stdout!r}"
    wait_until(lambda: client("/after-drain", timeout=2).returncode == 3, 5, "the listener to close after POST /drain")
    # POST /drain keeps the process and its admin port up until SIGTERM.
    live = client("/live", port=ADMIN_PORT, timeout=5)
    assert live.returncode == 0 and status_of(live.stdout) == 200, f"/live after POST /drain: {live.stdout!r}"
    assert sluice.proc.poll() is None, "POST /drain must not end the process"

    sluice.proc.send_signal(signal.SIGTERM)
    code = sluice.exit_code(DRAIN_TIMEOUT_SECONDS + 5)
    assert code == 0, f"sluice exited {code}:\n{sluice.stderr()}"
