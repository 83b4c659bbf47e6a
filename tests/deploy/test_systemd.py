"""deploy/systemd/sluice.service: the keys a VM install relies on, checked
against the default config, then `systemd-analyze verify` where available."""

import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from deploy_env import ROOT

UNIT = ROOT / "deploy" / "systemd" / "sluice.service"
INSTALLED_BIN = "/usr/local/bin/sluice"
CONFIG = "/etc/sluice/sluice.yaml"


def parse_unit(path):
    """{section: {key: [values...]}}: systemd keys may repeat (ExecReload=, SystemCallFilter=)."""
    sections = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service():
    assert UNIT.is_file()
    return parse_unit(UNIT)["Service"]


def one(service, key):
    assert key in service, f"sluice.service has no {key}="
    return service[key][-1]


def seconds(value):
    match = re.fullmatch(r"(\d+)(ms|s|m|min|h)?", str(value).strip())
    assert match, f"cannot read duration {value!r}"
    n, unit = int(match.group(1)), match.group(2) or "s"
    return {"ms": n / 1000, "s": n, "m": n * 60, "min": n * 60, "h": n * 3600}[unit]


def default_config():
    return yaml.safe_load((ROOT / "config" / "sluice.yaml").read_text())


def test_runs_and_validates_the_config(service):
    start = shlex.split(one(service, "ExecStart"))
    assert start[0] == INSTALLED_BIN and start[1:] == ["run", "-c", CONFIG]
    pre = shlex.split(one(service, "ExecStartPre"))
    assert pre == [INSTALLED_BIN, "check", "-c", CONFIG], "a bad config must fail the start, with its errors"


def test_reload_checks_then_sends_sighup(service):
    reloads = service.get("ExecReload", [])
    assert reloads and reloads[-1] == "/bin/kill -HUP $MAINPID"
    assert any(shlex.split(r)[:2] == [INSTALLED_BIN, "check"] for r in reloads[:-1]), \
        "check the new config first, so that `systemctl reload` reports a bad one"


def test_stop_drains_within_the_timeout(service):
    assert one(service, "KillSignal") == "SIGTERM"
    config = default_config()
    drain = seconds(config.get("drain_delay", "0s")) + seconds(config.get("drain_timeout", "30s"))
    assert seconds(one(service, "TimeoutStopSec")) > drain, "systemd would SIGKILL sluice mid-drain"


def test_restarts_on_failure_but_not_on_bad_config(service):
    assert one(service, "Restart") == "on-failure"
    assert "2" in one(service, "RestartPreventExitStatus").split(), "exit 2 (bad config) does not heal by restarting"


def test_file_descriptor_limit(service):
    limit = one(service, "LimitNOFILE")
    assert limit == "infinity" or int(limit.split(":")[-1]) >= 65536
    max_connections = default_config().get("limits", {}).get("max_connections", 100000)
    assert limit == "infinity" or int(limit.split(":")[-1]) > 2 * max_connections, \
        "every proxied connection needs two descriptors"


def test_hardening(service):
    assert one(service, "NoNewPrivileges") == "yes"
    assert one(service, "ProtectSystem") == "strict"
    assert one(service, "DynamicUser") == "yes" or one(service, "User") not in ("", "root", "0")
    assert one(service, "PrivateTmp") == "yes"
    assert one(service, "ProtectHome") == "yes"
    # Ports above 1024 need no capability: grant none at all.
    assert service.get("AmbientCapabilities", [""])[-1] == ""
    assert one(service, "CapabilityBoundingSet") == ""
    families = one(service, "RestrictAddressFamilies").split()
    assert set(families) <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
    assert {"AF_INET", "AF_INET6"} <= set(families)


def test_default_config_needs_no_privileged_port():
    config = default_config()
    addresses = [l["address"] for l in config["listeners"]] + [config.get("admin", {}).get("address", "127.0.0.1:9901")]
    for address in addresses:
        assert int(address.rsplit(":", 1)[1]) > 1024, f"{address} would need CAP_NET_BIND_SERVICE"


def test_start_pre_accepts_the_default_config(service, sluice_bin):
    pre = shlex.split(one(service, "ExecStartPre"))
    pre[0] = str(sluice_bin)
    pre[-1] = str(ROOT / "config" / "sluice.yaml")
    result = subprocess.run(pre, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(sluice_bin, tmp_path):
    # verify wants the executables to exist: point the unit at the built binary.
    unit = tmp_path / "sluice.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BIN, str(sluice_bin)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [l for l in (result.stdout + result.stderr).splitlines() if "sluice.service" in l]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_security_exposure(sluice_bin, tmp_path):
    unit = tmp_path / "sluice.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BIN, str(sluice_bin)))
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if result.returncode != 0 and not match:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {result.stderr.strip()[:200]}")
    assert match, result.stdout
    assert float(match.group(1)) <= 2.0, result.stdout
