"""log.access_log: one JSON line per tcp session; an unwritable path never
stops traffic; SIGUSR1 reopens the file after a rename (logrotate)."""

import datetime
import json
import os
import signal
import socket
import tempfile

from harness import Sluice, connect, free_port, recv_all, tcp_config, wait_for

FIELDS = {"time", "kind", "client", "listener", "backend", "bytes_in", "bytes_out", "duration_s",
          "termination", "reason"}


def roundtrip(port, payload=b"hello access log"):
    s = connect(port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    s.close()
    return got == payload


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def config_with_log(echo, port, target, **pool):
    config = tcp_config([echo.port], port, pool=pool or {"min_idle": 0})
    config["log"] = {"level": "info", "access_log": target}
    return config


def test_each_session_writes_one_json_line(echo):
    port = free_port()
    path = os.path.join(tempfile.mkdtemp(prefix="sluice-al-"), "access.log")
    with Sluice(config_with_log(echo, port, path)) as sluice:
        for _ in range(3):
            assert roundtrip(port)
        lines = wait_for(lambda: len(read_lines(path)) >= 3 and read_lines(path),
                         what="three access log lines")
        assert len(lines) == 3
        for line in lines:
            assert FIELDS <= line.keys()
            assert line["kind"] == "tcp"
            assert line["listener"] == "echo"
            assert line["backend"] == f"127.0.0.1:{echo.port}"
            assert line["client"].startswith("127.0.0.1:")
            assert line["bytes_in"] == line["bytes_out"] == len(b"hello access log")
            assert line["termination"] == "--" and line["reason"] == "completed"
            assert line["connect_s"] >= 0  # min_idle 0: every session connected itself
            assert line["duration_s"] >= line["connect_s"]
            stamp = datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            assert abs(stamp - datetime.datetime.utcnow()) < datetime.timedelta(minutes=1)
            assert len(line["time"]) == len("2026-01-01T00:00:00.000Z")
        assert sluice.stats()["access_log"]["dropped"] == 0


def test_failed_session_logs_its_termination_reason():
    port = free_port()
    dead = free_port()
    path = os.path.join(tempfile.mkdtemp(prefix="sluice-al-"), "access.log")
    config = tcp_config([dead], port, pool={"min_idle": 0}, retries={"connect": 0})
    config["log"] = {"level": "info", "access_log": path}
    with Sluice(config):
        s = connect(port)
        assert recv_all(s) == b""
        lines = wait_for(lambda: read_lines(path), what="a line")
        assert lines[0]["termination"] == "SC" and lines[0]["reason"] == "connect_failed"
        assert lines[0]["bytes_out"] == 0


def test_unwritable_path_does_not_stop_traffic(echo):
    port = free_port()
    with Sluice(config_with_log(echo, port, "/proc/nonexistent/x")) as sluice:
        for _ in range(5):
            assert roundtrip(port)
        wait_for(lambda: sluice.metric("sluice_access_log_dropped_total") >= 5, what="drops counted")
        assert sluice.metric("sluice_access_log_write_errors_total") >= 1
        assert sluice.log().count("access log: cannot open") == 1  # logged once
        assert roundtrip(port)


def test_sigusr1_reopens_the_file_after_rename(echo):
    port = free_port()
    directory = tempfile.mkdtemp(prefix="sluice-al-")
    path = os.path.join(directory, "access.log")
    rotated = path + ".1"
    with Sluice(config_with_log(echo, port, path)) as sluice:
        assert roundtrip(port)
        wait_for(lambda: len(read_lines(path)) == 1, what="first line")
        os.rename(path, rotated)
        sluice.signal(signal.SIGUSR1)
        # Sessions until one lands in the new file (the signal is handled asynchronously).
        wait_for(lambda: roundtrip(port) and len(read_lines(path)) >= 1, what="line in new file")
        assert len(read_lines(rotated)) >= 1
        wait_for(lambda: len(read_lines(rotated)) + len(read_lines(path)) ==
                 sluice.metric("sluice_downstream_connections_total"), what="no line lost")
