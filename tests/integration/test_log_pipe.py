"""A worker never blocks on its log: with stderr a pipe nobody reads and
debug logging (a line per session), sessions are still served; the lines that
did not fit are counted and reported once the pipe drains."""

import os
import re
import socket
import subprocess
import time

from harness import SLUICE_BIN, Sluice, free_port, tcp_config, wait_for
from servers import EchoServer

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) \[[^\]]+\] ")


class SluiceOnAPipe(Sluice):
    """sluice with stdout and stderr on a pipe the test leaves unread."""

    def start(self, wait=True):
        self.proc = subprocess.Popen([SLUICE_BIN, "run", "-c", self.config_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if wait:
            wait_for(self._live, timeout=15, what="sluice /live")
        return self

    def log(self):
        return ""

    def drain(self, timeout=2.0):
        """Reads what the pipe holds now (non-blocking)."""
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                if chunks:
                    break
                time.sleep(0.02)
                continue
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode(errors="replace")


def echo_once(port, payload=b"ping"):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            data = s.recv(4096)
            if not data:
                return got
            got += data


def test_a_full_stderr_pipe_drops_lines_instead_of_stalling_workers():
    with EchoServer() as echo:
        port = free_port()
        config = tcp_config([echo.port], port, pool={"min_idle": 0})
        with SluiceOnAPipe(config, workers=1, log_level="debug") as sluice:
            # A pipe holds 64 KiB: 3,000 sessions log about three times that.
            started = time.monotonic()
            for i in range(3000):
                payload = b"n%d" % i
                assert echo_once(port, payload) == payload, f"session {i}"
                assert time.monotonic() - started < 60, "sessions stalled"
            dropped = sluice.metric("sluice_log_dropped_total")
            assert dropped > 0
            # Once the pipe drains, the next line says how many were lost.
            sluice.drain()
            assert echo_once(port) == b"ping"
            text = wait_for(lambda: sluice.drain(), what="log lines after the drain")
            assert "log line(s) dropped: stderr is not read fast enough" in text, text[-2000:]
            # The format is unchanged: "<UTC time> <level> [<thread>] <message>".
            for line in text.splitlines():
                assert LINE.match(line), line
