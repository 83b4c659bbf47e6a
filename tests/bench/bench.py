#!/usr/bin/env python3
"""Same-run benchmark of sluice against HAProxy and nginx on loopback; in
scrape mode, sluice alone without and with a 1-per-second GET /metrics.

Started by run.sh (which installs the tools, raises the fd limit and owns the
EXIT trap); see README.md for what the figures mean. Every process this
driver starts is written to --pidfile ("pid starttime name") before anything
else happens, so run.sh can stop it by PID even if this driver dies.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PROXIES = ("sluice", "haproxy", "nginx")
BODY = "hello\n"
PROBE_PATH = "/bench-probe-xff"  # backend echoes X-Forwarded-For here
SCRAPE_CONNS = 50  # scrape mode: keep-alive connections, as in the tcp and http tables
IDLE_SCRAPES = 1000  # scrape mode: back-to-back scrapes on the idle sluice (~15+ clock ticks)


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc helpers

def proc_tree(pid):
    """pid and all its descendants (nginx: master + worker)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except OSError:
            pass
    return found


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # Field 2 (comm) may contain spaces; everything after the last ')' is fixed.
    return text[text.rindex(")") + 2:].split()


def cpu_ticks(pid):
    total = 0
    for member in proc_tree(pid):
        try:
            fields = stat_fields(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # stat fields 14 (utime) and 15 (stime)
    return total


def rss_kib(pid):
    total = 0
    for member in proc_tree(pid):
        try:
            with open(f"/proc/{member}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def start_time(pid):
    return stat_fields(pid)[19]  # stat field 22


def socket_inodes(pid):
    """Inodes of the sockets open in pid's process tree."""
    inodes = set()
    for member in proc_tree(pid):
        try:
            fds = os.listdir(f"/proc/{member}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{member}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def count_established_to(port, pid):
    """Established TCP sockets of pid's process tree whose remote port is `port`."""
    wanted = f"{port:04X}"
    inodes = socket_inodes(pid)
    # A set, not a counter: a table read while sockets come and go can list
    # the same socket twice.
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if (parts[3] == "01" and parts[2].rsplit(":", 1)[1] == wanted
                            and parts[9] in inodes):
                        seen.add(parts[9])
        except OSError:
            pass
    return len(seen)


class PeakSampler:
    """Samples count_established_to(port, pid) in the background; keeps the peak."""

    def __init__(self, port, pid, interval=0.5):
        self.port, self.pid, self.interval = port, pid, interval
        self.peak = 0 if pid else None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while self.pid and not self.stop_event.is_set():
            self.peak = max(self.peak, count_established_to(self.port, self.pid))
            self.stop_event.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()


# ---------------------------------------------------------------- processes

class Processes:
    def __init__(self, pidfile, workdir):
        self.pidfile, self.workdir = pidfile, workdir
        self.running = {}

    def start(self, name, argv, stdin=subprocess.DEVNULL, stdout=None):
        logpath = os.path.join(self.workdir, f"{name}.log")
        logfile = open(logpath, "ab")
        proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout or logfile, stderr=logfile,
                                start_new_session=True, cwd=self.workdir)
        logfile.close()
        try:
            started = start_time(proc.pid)
        except OSError:
            started = "?"
        with open(self.pidfile, "a") as f:
            f.write(f"{proc.pid} {started} {name}\n")
        self.running[name] = proc
        return proc

    def log_tail(self, name, lines=5):
        try:
            with open(os.path.join(self.workdir, f"{name}.log"), errors="replace") as f:
                return " | ".join(line.strip() for line in f.readlines()[-lines:] if line.strip())
        except OSError:
            return ""

    def stop(self, name, grace=5.0):
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop_all(self):
        for name in list(self.running):
            self.stop(name)


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for_port(proc, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def http_get(port, path="/"):
    """One GET with Connection: close; the whole answer as bytes (b"" on error)."""
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    return data


def get_metrics(port, timeout=2.0):
    """One GET /metrics with Connection: close, `timeout` seconds in all.

    Returns (ok, seconds, body bytes); ok needs a 200, a sluice_ family and
    the whole body (Content-Length).
    """
    started = time.monotonic()
    deadline = started + timeout
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            while True:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:  # includes the timeout
        return False, time.monotonic() - started, 0
    seconds = time.monotonic() - started
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    ok = (head.startswith(b"HTTP/1.1 200") and b"# TYPE sluice_" in body
          and (length is None or int(length.group(1)) == len(body)))
    return ok, seconds, len(body)


class Scraper:
    """GETs /metrics on an admin port once per interval in the background, as a
    Prometheus would; does nothing when port is None. Bounded: each scrape
    gives up after 2 s, and the thread stops on exit (when wrk is done)."""

    def __init__(self, port, interval=1.0):
        self.port, self.interval = port, interval
        self.done = self.failed = 0
        self.seconds = []  # latency of each successful scrape
        self.body_bytes = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        due = time.monotonic()
        while self.port and not self.stop_event.is_set():
            ok, seconds, size = get_metrics(self.port)
            self.done += 1
            if ok:
                self.seconds.append(seconds)
                self.body_bytes = size
            else:
                self.failed += 1
            # On a fixed 1 s grid; a late scrape delays the next one, never doubles it.
            due = max(due + self.interval, time.monotonic())
            self.stop_event.wait(due - time.monotonic())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()


def smoke_request(port):
    """True when one GET through the target brings back the backend's body."""
    data = http_get(port)
    return data.startswith(b"HTTP/1.1 200") and data.endswith(BODY.encode())


def adds_forwarded_for(port):
    """sluice's http mode adds X-Forwarded-For; a byte pipe does not."""
    return b"xff=127.0.0.1" in http_get(port, PROBE_PATH)


# ---------------------------------------------------------------- configs

def nginx_main(workdir, name, module_line=""):
    return f"""{module_line}
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}-error.log warn;
events {{
    worker_connections 12000;
}}
"""


def nginx_http_common(workdir, name):
    return f"""    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/{name}-body;
    proxy_temp_path {workdir}/{name}-proxy;
"""


def backend_conf(workdir, port, second_port):
    # The second port is the same server, for sluice's fan-in cluster alone, so
    # that its upstream connections can be counted apart from the main cluster's.
    return nginx_main(workdir, "backend") + f"""http {{
{nginx_http_common(workdir, "backend")}    server {{
        listen 127.0.0.1:{port} backlog=4096;
        listen 127.0.0.1:{second_port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "{BODY.strip()}\\n";
        }}
        location = {PROBE_PATH} {{
            default_type text/plain;
            return 200 "xff=$http_x_forwarded_for\\n";
        }}
    }}
}}
"""


def nginx_proxy_conf(mode, workdir, port, backend):
    if mode == "tcp":
        return nginx_main(workdir, "nginx", f"load_module {STREAM_MODULE};") + f"""stream {{
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_pass 127.0.0.1:{backend};
        proxy_timeout 10m;
    }}
}}
"""
    return nginx_main(workdir, "nginx") + f"""http {{
{nginx_http_common(workdir, "nginx")}    upstream app {{
        server 127.0.0.1:{backend};
        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def haproxy_conf(mode, port, backend):
    reuse = "    http-reuse always\n    timeout http-keep-alive 60s\n" if mode == "http" else ""
    return f"""global
    nbthread 1
    maxconn 9000

defaults
    mode {mode}
    maxconn 9000
    timeout connect 2s
    timeout client 60s
    timeout server 60s
{reuse}
frontend bench
    bind 127.0.0.1:{port}
    default_backend app

backend app
    server app1 127.0.0.1:{backend}
"""


def sluice_conf(mode, port, admin, backend, fanin_port=None, fanin_backend=None):
    listeners = f"""  - name: bench
    address: 127.0.0.1:{port}
    protocol: {mode}
    cluster: app
    max_connections: 50000
"""
    pool_max = 8192 if mode == "tcp" else 1024
    clusters = f"""  - name: app
    backends:
      - address: 127.0.0.1:{backend}
    pool:
      max_connections: {pool_max}
      min_idle: 8
"""
    if fanin_port:
        listeners += f"""  - name: fanin
    address: 127.0.0.1:{fanin_port}
    protocol: {mode}
    cluster: app_fanin
    max_connections: 50000
"""
        clusters += f"""  - name: app_fanin
    backends:
      - address: 127.0.0.1:{fanin_backend}
    pool:
      max_connections: 32
      min_idle: 8
"""
    return f"""# generated by tests/bench/bench.py
workers: 1
drain_timeout: 1s
admin:
  address: 127.0.0.1:{admin}
limits:
  max_connections: 100000
log:
  level: warn
listeners:
{listeners}clusters:
{clusters}"""


# ---------------------------------------------------------------- wrk

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text):
    result = {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": 0}
    m = re.search(r"(\d+) requests in", text)
    if m:
        result["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        result["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if m:
            result[key] = float(m.group(1)) * UNIT[m.group(2)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        result["errors"] += sum(int(g) for g in m.groups())
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                           (int(g) for g in m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        result["errors"] += int(m.group(1))
    return result


def run_wrk(port, conns, duration, headers=(), timeout=None):
    argv = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency"]
    if timeout:
        argv += ["--timeout", f"{timeout}s"]
    for header in headers:
        argv += ["-H", header]
    argv.append(f"http://127.0.0.1:{port}/")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30,
                              start_new_session=True)
        return parse_wrk(done.stdout), done.stdout
    except subprocess.TimeoutExpired as err:
        return parse_wrk(err.stdout or ""), "wrk timed out"


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        base = args.port_base
        self.port = {"backend": base, "sluice": base + 1, "haproxy": base + 2, "nginx": base + 3,
                     "sluice_fanin": base + 4, "backend_fanin": base + 5, "sluice_admin": base + 9}
        self.port["direct"] = self.port["backend"]
        self.procs = Processes(args.pidfile, args.workdir)
        self.status = {}  # proxy -> "ok" or why it is not in the figures
        self.runs = []  # every single wrk run
        self.idle = {}  # proxy -> idle memory result
        self.idle_scrapes = {}  # scrape mode: protocol -> one scrape on the idle sluice

    # ---- start/stop
    def write(self, name, text):
        path = os.path.join(self.args.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_nginx(self, name, conf):
        path = self.write(f"{name}.conf", conf)
        return self.procs.start(name, ["nginx", "-p", self.args.workdir, "-e",
                                       os.path.join(self.args.workdir, f"{name}-error.log"),
                                       "-c", path])

    def start_target(self, name, mode=None):
        mode, port, backend = mode or self.mode, self.port[name], self.port["backend"]
        if name == "haproxy":
            path = self.write("haproxy.cfg", haproxy_conf(mode, port, backend))
            proc = self.procs.start(name, ["haproxy", "-db", "-f", path])
        elif name == "nginx":
            proc = self.start_nginx(name, nginx_proxy_conf(mode, self.args.workdir, port, backend))
        else:
            if not os.access(self.args.sluice, os.X_OK):
                self.status[name] = f"failed to start: no binary at {self.args.sluice}"
                return
            fanin = self.port["sluice_fanin"] if mode == "http" else None
            conf = sluice_conf(mode, port, self.port["sluice_admin"], backend, fanin,
                               self.port["backend_fanin"])
            path = self.write(f"sluice-{mode}.yaml", conf)
            proc = self.procs.start(name, [self.args.sluice, "run", "-c", path])
        if not wait_for_port(proc, port):
            why = f"exited with {proc.returncode}" if proc.poll() is not None else "never listened"
            self.status[name] = f"failed to start ({why}): {self.procs.log_tail(name)}"
            self.procs.stop(name)
            return
        if not smoke_request(port):
            self.status[name] = f"failed smoke request through 127.0.0.1:{port}"
            self.procs.stop(name)
            return
        if name == "sluice" and mode == "http":
            why = None
            if not smoke_request(self.port["sluice_fanin"]):
                why = "failed smoke request on the fan-in listener"
            elif not adds_forwarded_for(port):
                why = ("not parsing HTTP: it started with protocol: http but added no "
                       "X-Forwarded-For (bytes passed through as in tcp mode)")
            if why:
                self.status[name] = why
                self.procs.stop(name)
                return
        self.status[name] = "ok"

    def pid(self, name):
        return self.procs.running[name].pid

    def up(self):
        return [name for name in PROXIES if self.status.get(name) == "ok"]

    # ---- one measured wrk run
    def measure(self, phase, target, conns, rep, headers=(), duration=None, timeout=None,
                scrape_port=None):
        """One wrk run; with scrape_port, GET /metrics there once a second meanwhile."""
        pid = self.pid(target) if target != "direct" else None
        before = cpu_ticks(pid) if pid else 0
        upstream_port = self.port["backend_fanin" if target == "sluice" and phase == "fanin"
                                  else "backend"]
        with PeakSampler(upstream_port, pid) as sampler, Scraper(scrape_port) as scraper:
            result, raw = run_wrk(self.target_port(target, phase), conns,
                                  duration or self.args.duration, headers, timeout)
        after = cpu_ticks(pid) if pid else 0
        result.update(phase=phase, target=target, conns=conns, rep=rep,
                      upstream_peak=sampler.peak, cpu_s=(after - before) / CLK_TCK)
        result["cpu_us_per_req"] = (result["cpu_s"] * 1e6 / result["requests"]
                                    if pid and result["requests"] else None)
        scraped = ""
        if scrape_port:
            result.update(scrapes=scraper.done, scrape_failures=scraper.failed,
                          scrape_seconds=scraper.seconds, scrape_bytes=scraper.body_bytes)
            p50 = fmt_ms(statistics.median(scraper.seconds) * 1e3) if scraper.seconds else "?"
            scraped = f" scrapes {scraper.done} ({scraper.failed} failed, p50 {p50})"
        self.runs.append(result)
        p99 = f"{result['p99_ms']:.2f}ms" if result["p99_ms"] is not None else "?"
        log(f"{phase:>9} {target:>7} c={conns:<5} rep {rep}: {result['rps']:>9.0f} req/s "
            f"p99 {p99} errors {result['errors']} {result.get('socket_errors', '')} "
            f"upstream peak {sampler.peak}{scraped}")
        if not result["requests"]:
            log(f"wrk output: {raw.strip()[:400]}")

    def target_port(self, target, phase):
        if target == "sluice" and phase == "fanin":
            return self.port["sluice_fanin"]
        return self.port[target]

    def rounds(self, phase, targets, levels, headers=(), duration=None, timeout=None):
        """Repetitions round-robin across targets (start rotated per repetition)."""
        for rep in range(1, self.args.reps + 1):
            for conns in levels:
                shift = (rep - 1) % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    self.measure(phase, target, conns, rep, headers, duration, timeout)

    # ---- idle memory
    def idle_memory(self, target):
        count = self.args.idle_conns
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        per_holder = max(100, soft - 100)
        pid = self.pid(target)
        time.sleep(0.5)
        before = rss_kib(pid)
        holders, left, index = [], count, 0
        while left > 0:
            share = min(left, per_holder)
            argv = [sys.executable, os.path.join(HERE, "hold.py"), "--port", str(self.port[target]),
                    "--count", str(share), "--max-seconds", "180",
                    # http: few requests in flight at once, so no proxy needs more than a
                    # handful of upstream connections to serve them (the test is downstream memory)
                    "--parallel", "200" if self.mode == "tcp" else "16"]
            holders.append(self.procs.start(f"hold-{target}-{index}", argv, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE))
            left -= share
            index += 1
        ok = failed = 0
        deadline = time.monotonic() + 120
        for proc in holders:
            line = read_line(proc, deadline)
            m = re.match(r"READY ok=(\d+) failed=(\d+)", line)
            if m:
                ok += int(m.group(1))
                failed += int(m.group(2))
        time.sleep(1.0)
        after = rss_kib(pid)
        alive = 0
        for proc in holders:
            try:
                proc.stdin.write(b"check\n")
                proc.stdin.flush()
                m = re.match(r"ALIVE (\d+)", read_line(proc, time.monotonic() + 10))
                alive += int(m.group(1)) if m else 0
            except OSError:
                pass
        upstream = count_established_to(self.port["backend"], pid)
        for index, proc in enumerate(holders):
            try:
                proc.stdin.write(b"quit\n")
                proc.stdin.close()
            except OSError:
                pass
            self.procs.stop(f"hold-{target}-{index}")
        self.idle[target] = {
            "wanted": count, "ok": ok, "failed": failed, "alive": alive,
            "rss_before_kib": before, "rss_after_kib": after, "upstream": upstream,
            "kib_per_conn": (after - before) / ok if ok else None,
        }
        log(f"idle {target}: {ok} held ({failed} failed, {alive} alive at the end), RSS "
            f"{before} -> {after} KiB, {self.idle[target]['kib_per_conn']} KiB/conn, "
            f"{upstream} upstream conns")
        time.sleep(2.0)  # let the proxy close its side before the next phase

    # ---- whole runs
    def run(self):
        for name, port in self.port.items():
            if name != "direct" and not port_is_free(port):
                raise SystemExit(f"port {port} ({name}) is in use; set BENCH_PORT_BASE to another "
                                 f"base below 32758")
        backend = self.start_nginx("backend", backend_conf(self.args.workdir, self.port["backend"],
                                                           self.port["backend_fanin"]))
        if not wait_for_port(backend, self.port["backend"]) or not smoke_request(self.port["backend"]):
            raise SystemExit(f"backend nginx did not start: {self.procs.log_tail('backend')}")
        if self.mode == "scrape":
            self.scrape_cost()
            return
        for name in PROXIES:
            self.start_target(name)
            log(f"{name}: {self.status[name]}")
        up = self.up()
        if self.args.idle_conns > 0:
            for name in up:
                self.idle_memory(name)
        targets = ["direct"] + up
        for target in targets:  # warm-up, not measured
            run_wrk(self.port[target], 50, 1)
        levels = [50, 500] if self.mode == "tcp" else [50, 1000]
        self.rounds("keepalive", targets, levels)
        if self.mode == "http":
            self.rounds("close", targets, [50], headers=("Connection: close",))
            # 5,000 connections on 2 cores: a request can wait longer than wrk's
            # default 2 s timeout, and the connect ramp needs time; measure, don't cut off.
            self.rounds("fanin", up, [5000], duration=2 * self.args.duration, timeout=10)

    # ---- scrape mode: what a 1-per-second GET /metrics costs
    def scrape_cost(self):
        """sluice alone, per protocol on a fresh process: keep-alive load without and
        with a scraper, the variant that goes first alternating per repetition."""
        admin = self.port["sluice_admin"]
        for protocol in ("tcp", "http"):
            name = f"sluice {protocol}"
            self.start_target("sluice", protocol)
            self.status[name] = self.status.pop("sluice")
            log(f"{name}: {self.status[name]}")
            if self.status[name] != "ok":
                continue
            run_wrk(self.port["sluice"], SCRAPE_CONNS, 1)  # warm-up, not measured
            if not get_metrics(admin)[0]:
                log(f"warning: GET /metrics on 127.0.0.1:{admin} failed; scrapes will count as failed")
            variants = [None, admin]
            for rep in range(1, self.args.reps + 1):
                shift = (rep - 1) % len(variants)
                for scrape_port in variants[shift:] + variants[:shift]:
                    phase = f"{protocol}+scrape" if scrape_port else protocol
                    self.measure(phase, "sluice", SCRAPE_CONNS, rep, scrape_port=scrape_port)
            self.idle_scrapes[protocol] = self.idle_scrape(admin)
            self.procs.stop("sluice")

    def idle_scrape(self, admin):
        """sluice CPU and latency of one scrape with no load, after the load runs
        (so every family has samples): IDLE_SCRAPES scrapes back to back."""
        pid = self.pid("sluice")
        time.sleep(1.0)  # let the last run's connections close
        before = cpu_ticks(pid)
        results = [get_metrics(admin) for _ in range(IDLE_SCRAPES)]
        after = cpu_ticks(pid)
        ok = [(seconds, size) for good, seconds, size in results if good]
        result = {"scrapes": IDLE_SCRAPES, "failed": IDLE_SCRAPES - len(ok),
                  "cpu_ms_per_scrape": (after - before) * 1e3 / CLK_TCK / IDLE_SCRAPES,
                  "p50_ms": statistics.median(s for s, _ in ok) * 1e3 if ok else None,
                  "bytes": ok[-1][1] if ok else None}
        log(f"idle scrape: {IDLE_SCRAPES} done ({result['failed']} failed), {result['bytes']} bytes, "
            f"{result['cpu_ms_per_scrape']:.2f} ms CPU each, p50 {fmt_ms(result['p50_ms'])}")
        return result

    def stop(self):
        self.procs.stop_all()


def read_line(proc, deadline):
    """One line from a child's stdout, or "" once the deadline passes."""
    result = []

    def reader():
        result.append(proc.stdout.readline().decode(errors="replace"))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    return result[0] if result else ""


# ---------------------------------------------------------------- report

def version_of(argv, pattern):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        m = re.search(pattern, done.stdout + done.stderr)
        return m.group(1) if m else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "not available"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine_header(args):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    try:
        rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        rev = ""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": f"{mem_gib:.0f} GiB",
        "kernel": platform.release(),
        "haproxy": version_of(["haproxy", "-v"], r"version (\S+)"),
        "nginx": version_of(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": version_of(["wrk", "-v"], r"wrk (\S+)"),
        "sluice": version_of([args.sluice, "version"], r"sluice (\S+)"),
        "git": rev or "unknown",
        "load": load_average(),
    }


def fmt_ms(value):
    if value is None:
        return "—"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def fmt_ratio(value, base):
    if value is None or not base:
        return "—"
    return f"{value / base:.2f}×"


def median_of(runs, key):
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def short_status(bench, name):
    """Table cell for a target without figures; the full reason is listed above the tables."""
    reason = bench.status.get(name, "not run").split(":")[0].split(" (")[0]
    if name == "sluice" and bench.mode == "http" and reason != "not run":
        return f"sluice http mode not available ({reason})"
    return reason


def load_table(bench, phase, levels, targets, title, upstream_column=False):
    lines = [f"### {title}", ""]
    head = ["target", "conns", "req/s", "p50", "p99", "CPU µs/req", "req/s vs HAProxy",
            "p99 vs HAProxy", "CPU/req vs HAProxy", "errors"]
    if upstream_column:
        head.insert(6, "backend conns (peak)")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for conns in levels:
        stats = {}
        for target in targets:
            runs = [r for r in bench.runs if r["phase"] == phase and r["target"] == target
                    and r["conns"] == conns]
            if runs:
                stats[target] = {key: median_of(runs, key) for key in
                                 ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "upstream_peak")}
                stats[target]["errors"] = sum(r["errors"] for r in runs)
        base = stats.get("haproxy", {})
        for target in targets:
            if target not in stats:
                reason = short_status(bench, target)
                cells = [target, str(conns), reason] + ["—"] * (len(head) - 3)
                lines.append("| " + " | ".join(cells) + " |")
                continue
            s = stats[target]
            cpu = f"{s['cpu_us_per_req']:.1f}" if s["cpu_us_per_req"] is not None else "—"
            cells = [target, str(conns), f"{s['rps']:.0f}", fmt_ms(s["p50_ms"]), fmt_ms(s["p99_ms"]),
                     cpu,
                     fmt_ratio(s["rps"], base.get("rps")),
                     fmt_ratio(s["p99_ms"], base.get("p99_ms")),
                     fmt_ratio(s["cpu_us_per_req"], base.get("cpu_us_per_req")),
                     str(s["errors"])]
            if upstream_column:
                peak = s["upstream_peak"]
                cells.insert(6, f"{peak:.0f}" if peak is not None else "—")
            lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def idle_table(bench, what):
    lines = [f"### Idle memory: {bench.args.idle_conns} {what}", "",
             "| proxy | held | alive at end | backend conns | RSS before | RSS after | KiB/conn | vs HAProxy |",
             "|---|---|---|---|---|---|---|---|"]
    base = bench.idle.get("haproxy", {}).get("kib_per_conn")
    for name in PROXIES:
        r = bench.idle.get(name)
        if not r:
            reason = short_status(bench, name)
            lines.append(f"| {name} | {reason} | — | — | — | — | — | — |")
            continue
        per = f"{r['kib_per_conn']:.1f}" if r["kib_per_conn"] is not None else "—"
        lines.append(f"| {name} | {r['ok']}/{r['wanted']} | {r['alive']} | {r['upstream']} | "
                     f"{r['rss_before_kib'] / 1024:.1f} MiB | {r['rss_after_kib'] / 1024:.1f} MiB | "
                     f"{per} | {fmt_ratio(r['kib_per_conn'], base)} |")
    return lines + [""]


def machine_lines(header):
    return [f"- date: {header['date']}",
            f"- machine: {header['nproc']} CPUs ({header['cpu']}), {header['memory']}, "
            f"kernel {header['kernel']}"]


def load_line(header):
    return (f"- load average (1/5/15 min) before: {header['load']}, after: {header['load_after']} "
            f"(above ~0.5 before the run, other work shared the CPUs: trust the ratios, not the absolutes)")


def scrape_table(bench):
    head = ["protocol", "scrape", "req/s", "p99", "CPU µs/req", "req/s with ÷ without",
            "CPU/req with ÷ without", "scrapes done (failed)", "scrape p50", "errors"]
    lines = [f"### Keep-alive load, {SCRAPE_CONNS} connections, without and with GET /metrics "
             "once a second", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for protocol in ("tcp", "http"):
        stats = {}
        for phase in (protocol, f"{protocol}+scrape"):
            runs = [r for r in bench.runs if r["phase"] == phase]
            if runs:
                stats[phase] = {key: median_of(runs, key) for key in ("rps", "p99_ms", "cpu_us_per_req")}
                stats[phase]["errors"] = sum(r["errors"] for r in runs)
                stats[phase]["scrapes"] = sum(r.get("scrapes", 0) for r in runs)
                stats[phase]["failed"] = sum(r.get("scrape_failures", 0) for r in runs)
                latencies = [s for r in runs for s in r.get("scrape_seconds", [])]
                stats[phase]["scrape_p50_ms"] = statistics.median(latencies) * 1e3 if latencies else None
        base = stats.get(protocol, {})
        for phase, scrape in ((protocol, "none"), (f"{protocol}+scrape", "1/s")):
            if phase not in stats:
                reason = short_status(bench, f"sluice {protocol}")
                cells = [protocol, scrape, reason] + ["—"] * (len(head) - 3)
                lines.append("| " + " | ".join(cells) + " |")
                continue
            s = stats[phase]
            cpu = f"{s['cpu_us_per_req']:.1f}" if s["cpu_us_per_req"] is not None else "—"
            cells = [protocol, scrape, f"{s['rps']:.0f}", fmt_ms(s["p99_ms"]), cpu]
            if phase == protocol:
                cells += ["—", "—", "—", "—"]
            else:
                cells += [fmt_ratio(s["rps"], base.get("rps")),
                          fmt_ratio(s["cpu_us_per_req"], base.get("cpu_us_per_req")),
                          f"{s['scrapes']} ({s['failed']})", fmt_ms(s["scrape_p50_ms"])]
            lines.append("| " + " | ".join(cells + [str(s["errors"])]) + " |")
    return lines + [""]


def idle_scrape_table(bench):
    lines = [f"### One scrape on the idle sluice ({IDLE_SCRAPES} back to back, after the load runs)", "",
             "| protocol | body | sluice CPU per scrape | p50 | failed |",
             "|---|---|---|---|---|"]
    for protocol in ("tcp", "http"):
        r = bench.idle_scrapes.get(protocol)
        if not r:
            lines.append(f"| {protocol} | {short_status(bench, f'sluice {protocol}')} | — | — | — |")
            continue
        body = f"{r['bytes'] / 1024:.1f} KiB" if r["bytes"] is not None else "—"
        lines.append(f"| {protocol} | {body} | {r['cpu_ms_per_scrape']:.2f} ms | "
                     f"{fmt_ms(r['p50_ms'])} | {r['failed']} |")
    return lines + [""]


def scrape_report(bench, header):
    a = bench.args
    lines = ["# sluice benchmark: cost of a metrics scrape", "",
             *machine_lines(header),
             f"- versions: sluice {header['sluice']} (repo at git {header['git']}), backend nginx "
             f"{header['nginx']}, wrk {header['wrk']}",
             load_line(header),
             f"- method: sluice alone, `workers: 1`, the same config and backend as in tcp and http mode "
             f"(a fresh process per protocol); `wrk -t2 -c{SCRAPE_CONNS} -d{a.duration}s --latency`, "
             f"without and with a thread of this driver that GETs `/metrics` on the admin port once a "
             f"second for the whole wrk run (a new connection each time, 2 s timeout); {a.reps} "
             f"repetitions, which variant goes first alternates; figures are medians over the "
             f"repetitions, scrape p50 over all the scrapes of a row",
             "- CPU µs/req: sluice's utime+stime (/proc/PID/stat, all threads: the admin server that "
             "renders /metrics runs on the main thread, the worker on its own) over the run ÷ requests "
             "wrk counted; ratios are with ÷ without (the cost: req/s below 1, CPU/req above 1; the "
             "clock tick is 10 ms, so differences under ~5% are noise)",
             ""]
    status_lines = [f"- sluice {p}: {bench.status.get(f'sluice {p}', 'not run')}" for p in ("tcp", "http")
                    if bench.status.get(f"sluice {p}") != "ok"]
    if status_lines:
        lines += ["Not measured:", *status_lines, ""]
    return "\n".join(lines + scrape_table(bench) + idle_scrape_table(bench))


def report(bench, header):
    if bench.mode == "scrape":
        return scrape_report(bench, header)
    a = bench.args
    targets = ["direct", *PROXIES]
    lines = [f"# sluice benchmark: {bench.mode} mode", "",
             *machine_lines(header),
             f"- versions: sluice {header['sluice']} (repo at git {header['git']}), HAProxy {header['haproxy']}, "
             f"nginx {header['nginx']}, wrk {header['wrk']}",
             load_line(header),
             f"- method: `wrk -t2 -cN -d{a.duration}s --latency`, {a.reps} repetitions interleaved "
             f"round-robin; figures are medians over the repetitions; one worker per proxy; backend is "
             f"nginx (1 worker) returning a {len(BODY)}-byte body; everything on the same "
             f"{header['nproc']} CPUs, loopback only",
             "- CPU µs/req: the proxy's utime+stime (/proc/PID/stat) over the run ÷ requests wrk counted; "
             "ratios are target ÷ HAProxy (req/s: higher is better; p99 and CPU: lower is better)",
             ""]
    status_lines = [f"- {name}: {bench.status.get(name)}" for name in PROXIES
                    if bench.status.get(name) != "ok"]
    if status_lines:
        lines += ["Not measured:", *status_lines, ""]
    if bench.mode == "tcp":
        lines += load_table(bench, "keepalive", [50, 500], targets,
                            "HTTP/1.1 keep-alive load through TCP proxies")
        if a.idle_conns:
            lines += idle_table(bench, "idle TCP connections (each used for one request first)")
    else:
        lines += load_table(bench, "keepalive", [50, 1000], targets,
                            "HTTP/1.1 keep-alive load", upstream_column=True)
        lines += load_table(bench, "close", [50], targets,
                            "`Connection: close` (a new downstream connection per request)",
                            upstream_column=True)
        lines += load_table(bench, "fanin", [5000], list(PROXIES),
                            f"Fan-in: 5,000 downstream connections, `-d{2 * a.duration}s --timeout 10s` "
                            "(sluice pool max_connections 32; HAProxy and nginx uncapped)",
                            upstream_column=True)
        if a.idle_conns:
            lines += idle_table(bench, "idle keep-alive HTTP connections (each used once)")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description="sluice vs HAProxy vs nginx, same run")
    parser.add_argument("--mode", choices=["tcp", "http", "scrape"], required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--out", required=True, help="directory for latest-MODE.md/.json")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 5)))
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)))
    parser.add_argument("--idle-conns", type=int,
                        default=int(os.environ.get("BENCH_IDLE_CONNS", 5000)))
    parser.add_argument("--port-base", type=int,
                        default=int(os.environ.get("BENCH_PORT_BASE", 21100)))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    header = machine_header(args)
    bench = Bench(args)
    started = time.monotonic()
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted")
        raise SystemExit(130)
    finally:
        bench.stop()
    header["load_after"] = load_average()
    text = report(bench, header)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"latest-{args.mode}.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, f"latest-{args.mode}.json"), "w") as f:
        json.dump({"header": header, "status": bench.status, "runs": bench.runs,
                   "idle": bench.idle, "idle_scrapes": bench.idle_scrapes}, f, indent=1)
    print(text)
    log(f"{args.mode} done in {time.monotonic() - started:.0f}s; written to "
        f"{os.path.join(args.out, f'latest-{args.mode}.md')}")


if __name__ == "__main__":
    main()
