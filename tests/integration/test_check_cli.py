"""`sluice check` and the command line, run against the built binary.

CTest runs this with SLUICE_BIN (the binary) and SLUICE_SOURCE_DIR (the repo).
Besides the happy paths it feeds the checker random bytes and every
truncation of the annotated example: whatever the input, `sluice check`
must answer 0 or 2 within a few seconds, never die on a signal.
"""

import concurrent.futures
import glob
import os
import random
import re
import subprocess

import pytest

SLUICE_BIN = os.environ.get("SLUICE_BIN", "")
SOURCE_DIR = os.environ.get(
    "SLUICE_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
EXAMPLES = sorted(glob.glob(os.path.join(SOURCE_DIR, "config", "*.yaml")))
SUMMARY = re.compile(r"^config ok: \d+ listeners?, \d+ clusters?, \d+ backends?$")
ERROR_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
TIMEOUT_SECONDS = 5

pytestmark = pytest.mark.skipif(
    not SLUICE_BIN or not os.access(SLUICE_BIN, os.X_OK), reason="SLUICE_BIN is not set"
)


def run(*args, timeout=TIMEOUT_SECONDS):
    return subprocess.run(
        [SLUICE_BIN, *args], capture_output=True, text=True, errors="replace", timeout=timeout
    )


def check_file(path):
    """Runs `sluice check -c path`; returns (path, returncode, stderr)."""
    try:
        result = subprocess.run(
            [SLUICE_BIN, "check", "-c", path], capture_output=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return path, "timeout", b""
    return path, result.returncode, result.stderr


def assert_never_crashes(paths):
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, code, stderr in pool.map(check_file, paths):
            assert code in (0, 2), f"{path}: exit {code}\n{stderr[-2000:]!r}"


def test_examples_exist():
    names = {os.path.basename(path) for path in EXAMPLES}
    assert {"sluice.yaml", "sidecar.yaml", "postgres-tcp.yaml", "multi-backend-http.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_check_accepts_every_example(path):
    result = run("check", "-c", path)
    assert result.returncode == 0, result.stderr
    assert SUMMARY.match(result.stdout.strip()), result.stdout
    assert result.stderr == ""


def test_check_summary_counts_the_annotated_default():
    result = run("check", "-c", os.path.join(SOURCE_DIR, "config", "sluice.yaml"))
    assert result.stdout == "config ok: 1 listener, 1 cluster, 1 backend\n"


def test_check_summary_counts_the_http_example():
    result = run("check", "--config", os.path.join(SOURCE_DIR, "config", "multi-backend-http.yaml"))
    assert result.stdout == "config ok: 1 listener, 1 cluster, 3 backends\n"


def test_check_reports_every_error_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "workers: lots\n"
        "listeners:\n"
        "  - name: web\n"
        "    adress: 0.0.0.0:8080\n"
        "    cluster: legcy\n"
        "clusters:\n"
        "  - name: legacy\n"
        "    backends:\n"
        "      - address: 1.2.3:80\n"
        "    pool:\n"
        "      max_connections: 2\n"
        "      min_idle: 3\n"
    )
    result = run("check", "-c", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{bad}:1:10: workers: expected auto or a number of threads (1..256), got 'lots'",
        f"{bad}:4:5: listeners[0]: unknown key 'adress'; did you mean 'address'?",
        f"{bad}:5:14: listeners[0].cluster: unknown cluster 'legcy'; did you mean 'legacy'?",
        f"{bad}:9:18: clusters[0].backends[0].address: invalid address '1.2.3:80': "
        "'1.2.3' is not a valid IPv4 address",
        f"{bad}:12:17: clusters[0].pool.min_idle: 3 is greater than max_connections (2)",
    ]
    for line in lines:
        match = ERROR_LINE.match(line)
        assert match and match["file"] == str(bad)


def test_check_reports_a_syntax_error(tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("listeners:\n  - name: [web\n")
    result = run("check", "-c", str(bad))
    assert result.returncode == 2
    assert result.stderr == f"{bad}:3:1: end of sequence flow not found\n"


def test_check_reports_an_empty_file(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n")
    result = run("check", "-c", str(empty))
    assert result.returncode == 2
    assert result.stderr == f"{empty}:1:1: config is empty\n"


def test_check_reports_a_missing_file(tmp_path):
    missing = tmp_path / "missing.yaml"
    result = run("check", "-c", str(missing))
    assert result.returncode == 2
    assert result.stderr == f"{missing}: cannot read: No such file or directory\n"


def test_version_prints_the_version():
    result = run("version")
    assert result.returncode == 0
    assert re.match(r"^sluice \d+\.\d+\.\d+", result.stdout), result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in result.stderr


def test_unknown_flag_is_a_usage_error():
    result = run("check", "--frobnicate")
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr


def test_config_flag_without_a_file_is_a_usage_error():
    result = run("check", "-c")
    assert result.returncode == 2


def test_check_survives_random_bytes(tmp_path):
    rng = random.Random(20261123)
    paths = []
    for i in range(300):
        size = rng.choice([0, 1, 2, 8, 64, 512, 4096, rng.randrange(1, 20000)])
        path = tmp_path / f"random-{i}.yaml"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
        paths.append(str(path))
    assert_never_crashes(paths)


def test_check_survives_yaml_looking_noise(tmp_path):
    # Random bytes rarely get past the YAML scanner; splice YAML punctuation
    # and schema keys together so the loader's own readers get exercised.
    rng = random.Random(7)
    tokens = [
        "\n", "  ", "- ", ": ", "{", "}", "[", "]", ",", "&a ", "*a", "!!map ", "? ", "'", '"',
        "#", "|", ">", "~", "null", "off", "0", "-1", "99999999999999999999", "5s", "64KiB",
        "listeners", "clusters", "name", "address", "cluster", "backends", "pool", "timeouts",
        "health_check", "127.0.0.1:80", "[::1]:80", "\xff", "\t", "---\n",
    ]
    paths = []
    for i in range(200):
        text = "".join(rng.choice(tokens) for _ in range(rng.randrange(1, 120)))
        path = tmp_path / f"noise-{i}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        paths.append(str(path))
    assert_never_crashes(paths)


def test_check_survives_every_truncation_of_the_annotated_default(tmp_path):
    with open(os.path.join(SOURCE_DIR, "config", "sluice.yaml"), "rb") as f:
        text = f.read()
    lines = text.splitlines(keepends=True)
    paths = []
    for n in range(len(lines) + 1):
        path = tmp_path / f"lines-{n}.yaml"
        path.write_bytes(b"".join(lines[:n]))
        paths.append(str(path))
    rng = random.Random(3)
    offsets = {1, 2, len(text) // 2, len(text) - 1} | {rng.randrange(len(text)) for _ in range(40)}
    for offset in sorted(offsets):
        path = tmp_path / f"bytes-{offset}.yaml"
        path.write_bytes(text[:offset])
        paths.append(str(path))
    assert_never_crashes(paths)
    # The whole file, and the file cut after its last line, are valid.
    assert check_file(paths[len(lines)])[1] == 0


def test_check_survives_byte_flips_of_the_annotated_default(tmp_path):
    with open(os.path.join(SOURCE_DIR, "config", "sluice.yaml"), "rb") as f:
        text = bytearray(f.read())
    rng = random.Random(11)
    paths = []
    for i in range(150):
        mutated = bytearray(text)
        for _ in range(rng.randrange(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path = tmp_path / f"flip-{i}.yaml"
        path.write_bytes(bytes(mutated))
        paths.append(str(path))
    assert_never_crashes(paths)


def check_bounded(path):
    """`sluice check -c path` with its address space capped at 1 GiB (not in
    sanitizer builds, which reserve far more), so a checker that reads an
    endless device fails fast instead of eating the machine's memory."""
    def preexec():
        if os.environ.get("SLUICE_SANITIZED", "0") != "1":
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run([SLUICE_BIN, "check", "-c", path], capture_output=True, text=True,
                          errors="replace", timeout=TIMEOUT_SECONDS, preexec_fn=preexec)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory"])
def test_check_refuses_what_is_not_a_regular_file(tmp_path, kind):
    if kind == "dev-zero":
        path = "/dev/zero"
    elif kind == "fifo":
        path = str(tmp_path / "config.fifo")
        os.mkfifo(path)  # nobody writes: opening it must not block
    else:
        path = str(tmp_path)
    result = check_bounded(path)
    assert result.returncode == 2, result.stderr
    why = "Is a directory" if kind == "directory" else "not a regular file"
    assert result.stderr == f"{path}: cannot read: {why}\n"


def test_check_refuses_a_file_over_16_mib(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(os.path.join(SOURCE_DIR, "config", "sluice.yaml"), "rb") as f:
        valid = f.read()
    # A valid config padded with a comment past the cap: refused by size alone.
    with open(path, "wb") as f:
        f.write(valid + b"\n#" + b"x" * (16 << 20) + b"\n")
    result = check_bounded(str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"{path}: cannot read: larger than 16 MiB, the limit for a config file\n"
    # Just under the cap is read (and is a valid config).
    with open(path, "wb") as f:
        f.write(valid + b"\n#" + b"x" * ((16 << 20) - len(valid) - 4) + b"\n")
    assert os.path.getsize(path) <= 16 << 20
    assert check_bounded(str(path)).returncode == 0
