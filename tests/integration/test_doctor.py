"""`sluice doctor` against the real binary: a config that needs more open
files than `ulimit -n` allows fails with the numbers and the fix; a small
config passes with `ok` lines.

Run by CTest with SLUICE_BIN (the binary) and SLUICE_SOURCE_DIR set.
"""

import os
import re
import subprocess
import textwrap

import pytest

SLUICE_BIN = os.environ.get("SLUICE_BIN", "")

pytestmark = pytest.mark.skipif(
    not SLUICE_BIN or not os.access(SLUICE_BIN, os.X_OK),
    reason="SLUICE_BIN is not set to the sluice binary",
)

# workers x listeners listening sockets + what sluice keeps spare (doctor_checks.h).
SPARE_FDS = 64


def write_config(tmp_path, *, max_connections, backends, pool_max):
    backend_lines = "\n".join(
        f"      - address: 127.0.0.1:{9000 + i}" for i in range(backends)
    )
    text = textwrap.dedent(
        """\
        workers: 2
        limits:
          max_connections: {max_connections}
        listeners:
          - name: web
            address: 127.0.0.1:18080
            protocol: tcp
            cluster: app
            max_connections: {max_connections}
        clusters:
          - name: app
            backends:
        {backend_lines}
            pool:
              max_connections: {pool_max}
              min_idle: 1
        """
    ).format(max_connections=max_connections, backend_lines=backend_lines, pool_max=pool_max)
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def run_doctor(config_path, nofile):
    # dash's `ulimit -n N` sets both the soft and the hard limit.
    script = f'ulimit -n {nofile} && exec "$SLUICE_BIN" doctor -c "$1"'
    return subprocess.run(
        ["sh", "-c", script, "sh", str(config_path)],
        env={**os.environ, "SLUICE_BIN": SLUICE_BIN},
        capture_output=True,
        text=True,
        timeout=30,
    )


def check_line(output, name):
    for line in output.splitlines():
        if re.match(rf"^(ok|warn|fail)\s+{re.escape(name)}: ", line):
            return line
    raise AssertionError(f"no '{name}' line in:\n{output}")


def test_config_needing_more_fds_than_ulimit_fails_with_fix(tmp_path):
    # 1000 downstream + 2 backends x 50 + 1 listener x 2 workers + spare.
    need = 1000 + 2 * 50 + 2 + SPARE_FDS
    config = write_config(tmp_path, max_connections=1000, backends=2, pool_max=50)
    result = run_doctor(config, 256)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    line = check_line(out, "open files")
    assert line.startswith("fail  open files: found 256, needs %d" % need), line
    assert f"\n      fix: ulimit -n {need}\n" in out
    assert f"fix: LimitNOFILE={need} in the systemd unit" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: FAIL"), summary
    assert "first to break: open files" in summary


def test_comfortable_config_passes(tmp_path):
    need = 100 + 1 * 4 + 2 + SPARE_FDS
    config = write_config(tmp_path, max_connections=100, backends=1, pool_max=4)
    result = run_doctor(config, 1024)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert check_line(out, "open files").startswith(
        "ok    open files: found 1024, needs %d" % need
    )
    assert check_line(out, "ephemeral ports").startswith("ok    ephemeral ports: found ")
    assert "needs 4 (connections to 127.0.0.1:9000)" in check_line(out, "ephemeral ports")
    assert check_line(out, "memory").startswith("ok    memory: found ")
    assert not re.search(r"^fail ", out, re.M), out
    # Host sysctls (somaxconn, syn backlog) may warn; the summary is there either way.
    assert out.strip().splitlines()[-1].startswith("summary: ")


def test_bad_config_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("listeners: [\n")
    result = run_doctor(path, 1024)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "bad.yaml" in result.stderr
