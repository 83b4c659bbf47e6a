"""Hot reload (SIGHUP, POST /reload): a bad file keeps the old config and is
reported with file:line:col; a good one applies to new sessions without
refusing a single connection, while load runs."""

import os
import re
import signal
import socket
import threading
import time

import yaml

from harness import Sluice, connect, free_port, recv_all, tcp_config, wait_for
from servers import EchoServer

BROKEN = """\
workers: 2
listeners:
  - name: echo
    address: 127.0.0.1:{port}
    protocol: tcp
    cluster: echo
clusters:
  - name: echo
    backends:
      - address: 127.0.0.1:{backend}
    pool:
      max_conections: 3
      idle_timeout: 5 parsecs
"""


def write_config(sluice, config=None, text=None):
    """Replaces the config file atomically (sluice may read it at any time)."""
    if text is None:
        config = dict(config)
        config.setdefault("workers", sluice.config["workers"])
        config.setdefault("admin", sluice.config["admin"])
        config.setdefault("log", sluice.config["log"])
        text = yaml.safe_dump(config, sort_keys=False)
    tmp = sluice.config_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, sluice.config_path)


def roundtrip(port, payload=b"reload me"):
    s = connect(port)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s) == payload
    finally:
        s.close()


def test_broken_config_is_rejected_with_positions_and_old_one_keeps_running():
    with EchoServer() as echo:
        port = free_port()
        with Sluice(tcp_config([echo.port], port)) as sluice:
            write_config(sluice, text=BROKEN.format(port=port, backend=echo.port))
            status, body = sluice.get("/reload", method="POST")
            assert status == 400
            lines = body.strip().splitlines()
            assert len(lines) == 2, body  # every error, not only the first
            for line in lines:
                assert re.match(rf"{re.escape(sluice.config_path)}:\d+:\d+: ", line), line
            assert any("max_conections" in l for l in lines)
            assert sluice.metric("sluice_config_reloads_total", result="failure") == 1
            assert roundtrip(port)
            # SIGHUP takes the same path and logs each error with its position.
            sluice.signal(signal.SIGHUP)
            wait_for(lambda: sluice.metric("sluice_config_reloads_total", result="failure") == 2,
                     what="SIGHUP failure counted")
            assert re.search(r"sluice\.yaml:\d+:\d+: .*max_conections", sluice.log())
            assert sluice.metric("sluice_config_reloads_total", result="success") == 0
            assert roundtrip(port)


def test_reload_opens_new_listeners_and_closes_removed_ones():
    with EchoServer() as echo:
        first, second = free_port(), free_port()
        config = tcp_config([echo.port], first)
        with Sluice(config) as sluice:
            both = tcp_config([echo.port], first)
            both["listeners"].append(dict(both["listeners"][0], name="second",
                                          address=f"127.0.0.1:{second}"))
            write_config(sluice, both)
            status, body = sluice.get("/reload", method="POST")
            assert status == 200, body
            assert "2 listeners" in body
            wait_for(lambda: roundtrip(second), what="new listener serving")
            assert roundtrip(first)
            only_second = tcp_config([echo.port], second)
            write_config(sluice, only_second)
            assert sluice.get("/reload", method="POST")[0] == 200

            def first_refused():
                try:
                    connect(first, timeout=1).close()
                    return False
                except ConnectionRefusedError:
                    return True
            wait_for(first_refused, what="removed listener closed")
            assert roundtrip(second)
            assert sluice.metric("sluice_config_reloads_total", result="success") == 2
            # The listener counters carry over by name across reloads.
            assert sluice.metric("sluice_downstream_connections_total", listener="echo") >= 1


def test_reload_under_load_refuses_nothing_and_applies_new_caps():
    with EchoServer(delay=0.005) as echo:
        port = free_port()

        def variant(cap, limit):
            return tcp_config([echo.port], port, listener={"max_connections": limit},
                              pool={"max_connections": cap, "min_idle": 1, "max_pending": 1000})

        wide, narrow = variant(4, 1000), variant(2, 500)
        with Sluice(wide, workers=2) as sluice:
            stop = threading.Event()
            results = {"ok": 0, "failed": 0, "errors": []}
            lock = threading.Lock()

            def client():
                while not stop.is_set():
                    try:
                        ok = roundtrip(port)
                        error = None if ok else "payload mismatch"
                    except OSError as e:
                        ok, error = False, repr(e)
                    with lock:
                        results["ok" if ok else "failed"] += 1
                        if error and len(results["errors"]) < 5:
                            results["errors"].append(error)

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            try:
                started = time.monotonic()
                valid = 0
                while valid < 20:
                    config = narrow if valid % 2 == 0 else wide
                    write_config(sluice, text=BROKEN.format(port=port, backend=echo.port))
                    assert sluice.get("/reload", method="POST")[0] == 400
                    write_config(sluice, config)
                    if valid % 4 == 3:
                        before = sluice.metric("sluice_config_reloads_total", result="success")
                        sluice.signal(signal.SIGHUP)
                        wait_for(lambda: sluice.metric("sluice_config_reloads_total",
                                                       result="success") == before + 1,
                                 what="SIGHUP reload")
                    else:
                        status, body = sluice.get("/reload", method="POST")
                        assert status == 200, body
                    valid += 1
                    # Spread the 20 reloads over ~10 s of load.
                    time.sleep(max(0.0, started + valid * 0.5 - time.monotonic()))
                # The last valid config is `wide` (cap 4): wait until it is used.
                wait_for(lambda: sluice.stats()["clusters"][0]["backends"][0]["max_connections"]
                         == 4, what="cap 4 in /stats")
                echo.max_active = echo.active
                wait_for(lambda: echo.max_active > 2, timeout=5, what="cap 4 reached under load")
                # Now narrow (cap 2): once the old connections are gone, never above 2.
                write_config(sluice, narrow)
                assert sluice.get("/reload", method="POST")[0] == 200
                # Counted by the kernel: the echo loop notices a close late.
                wait_for(lambda: echo.established() <= 2, what="backend down to the new cap")
                deadline = time.monotonic() + 1.5
                while time.monotonic() < deadline:
                    assert echo.established() <= 2
                    time.sleep(0.05)
                backend = sluice.stats()["clusters"][0]["backends"][0]
                assert backend["max_connections"] == 2
                assert backend["connections"] <= 2
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            assert results["failed"] == 0, results
            assert results["ok"] > 200, results
            assert sluice.metric("sluice_config_reloads_total", result="success") == 21
            assert sluice.metric("sluice_config_reloads_total", result="failure") == 20
            assert sluice.metric("sluice_downstream_rejected_total") == 0
            assert sluice.proc.poll() is None


def test_reload_refuses_a_file_that_is_not_regular_or_too_large():
    with EchoServer() as echo:
        port = free_port()
        with Sluice(tcp_config([echo.port], port)) as sluice:
            with open(sluice.config_path) as f:
                good = f.read()
            rss_before = sluice.rss_kib()
            # A valid config padded past 16 MiB: refused unread.
            write_config(sluice, text=good + "\n#" + "x" * (16 << 20) + "\n")
            sluice.signal(signal.SIGHUP)
            wait_for(lambda: sluice.metric("sluice_config_reloads_total", result="failure") == 1,
                     what="oversized reload refused")
            assert "larger than 16 MiB" in sluice.log()
            # The config path turned into a FIFO nobody writes: refused, no hang.
            os.remove(sluice.config_path)
            os.mkfifo(sluice.config_path)
            sluice.signal(signal.SIGHUP)
            wait_for(lambda: sluice.metric("sluice_config_reloads_total", result="failure") == 2,
                     what="FIFO reload refused")
            assert "not a regular file" in sluice.log()
            assert sluice.metric("sluice_config_reloads_total", result="success") == 0
            assert sluice.rss_kib() < rss_before + 8 * 1024
            assert roundtrip(port)
