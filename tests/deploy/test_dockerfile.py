"""Checks the Dockerfile without a Docker engine.

The Dockerfile is parsed into stages and instructions; the runtime stage's
`apt-get install` list is compared with what `ldd` says the real binary loads
(each library mapped to its Debian package with `dpkg -S`).
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

from deploy_env import BUILD, ROOT

DOCKERFILE = ROOT / "Dockerfile"
CONFIG_PATH = "/etc/sluice/sluice.yaml"
# Sanitizer runtimes appear in ldd only for the ASan/TSan test builds, never in the image's build.
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|tsan|lsan)\.so")


def parse_dockerfile(path):
    """Returns (global ARG defaults, stages). A stage is a dict with its base, name and instructions."""
    lines = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment line inside a continued instruction
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    global_args = {}
    stages = []
    for line in lines:
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name] = default
            continue
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--platform")]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                          lambda m: global_args.get(m.group(1) or m.group(2), ""), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append({"base": base, "name": name, "instructions": []})
            continue
        assert stages, f"instruction before the first FROM: {line}"
        stages[-1]["instructions"].append((keyword, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def stages():
    assert DOCKERFILE.is_file(), "no Dockerfile at the repository root"
    return parse_dockerfile(DOCKERFILE)[1]


@pytest.fixture(scope="module")
def build_stage(stages):
    return stages[0]


@pytest.fixture(scope="module")
def runtime(stages):
    return stages[-1]


def instructions(stage, keyword):
    return [rest for kw, rest in stage["instructions"] if kw == keyword]


def shell_commands(run_text):
    """Splits a RUN's shell text into simple commands (on &&, ||, ;)."""
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", run_text) if part.strip()]


def installed_packages(stage):
    """Every package an `apt-get install` in the stage names."""
    packages = set()
    for run in instructions(stage, "RUN"):
        for words in shell_commands(run):
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                packages.update(w for w in after if not w.startswith("-"))
    return packages


def test_is_multi_stage_on_debian_bookworm(stages):
    assert len(stages) >= 2, "want a build stage and a runtime stage"
    for stage in stages:
        assert stage["base"].startswith("debian:bookworm"), f"{stage['base']} is not Debian bookworm"
    assert stages[0]["name"], "the build stage needs a name for COPY --from"
    assert stages[-1]["base"] == "debian:bookworm-slim", "the runtime stage must be bookworm-slim"


def build_sh_call(build_stage):
    """(build dir, extra args) of the build stage's deploy/scripts/build.sh call."""
    runs = " && ".join(instructions(build_stage, "RUN"))
    match = re.search(r"deploy/scripts/build\.sh\s+(\S+)([^&]*)", runs)
    assert match, "the build stage must build with deploy/scripts/build.sh, like README and CI"
    return match.group(1), match.group(2)


def test_build_stage_builds_with_the_ci_scripts(build_stage, root):
    runs = " && ".join(instructions(build_stage, "RUN"))
    assert "deploy/scripts/install-deps.sh" in runs
    _, args = build_sh_call(build_stage)
    assert "-DSLUICE_TESTS=OFF" in args, "the image does not need the tests built"
    # The same scripts are what CI runs.
    assert "deploy/scripts/build.sh" in (root / "deploy/scripts/test.sh").read_text()
    assert "deploy/scripts/install-deps.sh" in (root / "deploy/scripts/test.sh").read_text()
    # The runtime stage copies build/proxy/sluice: proxy/ must hold the sluice target.
    assert re.search(r"add_executable\(\s*sluice\b", (root / "proxy/CMakeLists.txt").read_text())


def test_runtime_copies_binary_and_default_config(runtime, build_stage, root):
    copies = instructions(runtime, "COPY")
    binary = [c for c in copies if c.startswith(f"--from={build_stage['name']}")]
    assert binary, "the runtime stage must COPY --from the build stage"
    src, dest = binary[0].split()[1:3]
    build_dir, _ = build_sh_call(build_stage)
    assert src.endswith(f"{build_dir}/proxy/sluice"), f"{src} is not where build.sh {build_dir} puts sluice"
    assert dest == "/usr/local/bin/sluice", "sluice must be on PATH for ENTRYPOINT [\"sluice\"]"
    config = [c for c in copies if c.split()[-1] == CONFIG_PATH]
    assert config and config[0].split()[0] == "config/sluice.yaml", "copy config/sluice.yaml to " + CONFIG_PATH
    assert (root / "config/sluice.yaml").is_file(), "config/sluice.yaml is missing from the repository"


def test_runtime_runs_as_a_numeric_non_root_user(runtime):
    users = instructions(runtime, "USER")
    assert users, "the runtime stage needs a USER"
    user, _, group = users[-1].partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert user.isdigit() and int(user) != 0, f"USER {users[-1]} must be a numeric non-root uid"
    assert not group or (group.isdigit() and int(group) != 0)
    runs = " ".join(instructions(runtime, "RUN"))
    assert re.search(rf"useradd\b[^&]*--uid {user}\b", runs), "create the user the image runs as"


def test_entrypoint_and_cmd(runtime):
    entrypoint = instructions(runtime, "ENTRYPOINT")
    cmd = instructions(runtime, "CMD")
    assert entrypoint and cmd
    # Exec form: sluice is PID 1 and receives SIGTERM itself (no shell in between).
    assert json.loads(entrypoint[-1]) == ["sluice"]
    assert json.loads(cmd[-1]) == ["run", "-c", CONFIG_PATH]
    stop = instructions(runtime, "STOPSIGNAL")
    assert not stop or stop[-1] in ("SIGTERM", "15")


def test_exposes_the_default_ports(runtime):
    ports = {p.split("/")[0] for e in instructions(runtime, "EXPOSE") for p in e.split()}
    assert {"8080", "9901"} <= ports


def test_oci_labels(runtime):
    text = " ".join(instructions(runtime, "LABEL"))
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)=("[^"]*"|\S+)', text))
    for key in ("title", "description", "version", "revision"):
        assert f"org.opencontainers.image.{key}" in labels, f"missing OCI label {key}"


def test_runtime_stage_installs_lean(runtime):
    runs = instructions(runtime, "RUN")
    installs = [r for r in runs if "apt-get install" in r]
    assert installs, "the runtime stage installs the runtime libraries with apt-get"
    for run in installs:
        assert "--no-install-recommends" in run
        assert "rm -rf /var/lib/apt/lists" in run, "drop the apt lists in the same layer"
    packages = installed_packages(runtime)
    for dev in sorted(packages):
        assert not dev.endswith("-dev"), f"{dev}: no -dev package in the runtime image"
    for tool in ("build-essential", "cmake", "g++", "gcc", "ninja-build"):
        assert tool not in packages


def path_spellings(path):
    """`path` as dpkg may have recorded it: as given and resolved, with /lib or /usr/lib (usrmerge)."""
    spellings = []
    for p in (path, os.path.realpath(path)):
        spellings.append(p)
        if p.startswith("/usr/lib/"):
            spellings.append(p[len("/usr"):])
        elif p.startswith("/lib"):
            spellings.append("/usr" + p)
    return list(dict.fromkeys(spellings))


def owning_packages(paths):
    """{path: Debian package shipping it}, from one `dpkg -S` over every spelling of every path."""
    spellings = {path: path_spellings(path) for path in paths}
    result = subprocess.run(["dpkg", "-S", *{s for group in spellings.values() for s in group}],
                            capture_output=True, text=True, timeout=120)
    owner_of = {}
    for line in result.stdout.splitlines():
        if line.startswith("diversion"):
            continue
        packages, _, file = line.rpartition(": ")
        owner_of[file.strip()] = packages.split(",")[0].split(":")[0].strip()
    return {path: next((owner_of[s] for s in group if s in owner_of), None) for path, group in spellings.items()}


def ldd_libraries(binary):
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    libs = {}
    for line in result.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            target = rest.split("(")[0].strip()
            assert target != "not found", f"{name.strip()} is not found on this machine"
            if target:
                libs[name.strip()] = target
        elif line.startswith("/"):
            libs[os.path.basename(line.split()[0])] = line.split()[0]  # the dynamic loader
    return libs


def sanitized_build():
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        return False
    return bool(re.search(r"^SLUICE_(ASAN|TSAN):BOOL=ON$", cache.read_text(), re.M))


@pytest.mark.skipif(not shutil.which("dpkg") or not shutil.which("ldd"), reason="needs dpkg and ldd (Debian)")
def test_every_shared_library_comes_from_a_runtime_package(runtime, sluice_bin):
    packages = installed_packages(runtime)
    libs = ldd_libraries(sluice_bin)
    assert libs, "ldd listed no library"
    missing = []
    owners = owning_packages(libs.values())
    for name, path in sorted(libs.items()):
        if SANITIZER_LIBS.match(name) and sanitized_build():
            continue
        package = owners[path]
        assert package, f"dpkg -S knows no package for {path} ({name})"
        if package not in packages:
            missing.append(f"{name} ({path}) is in {package}")
    assert not missing, "the runtime stage does not install:\n  " + "\n  ".join(missing)


@pytest.mark.skipif(not shutil.which("apt-cache"), reason="needs apt-cache")
def test_runtime_packages_exist_in_debian(runtime):
    packages = sorted(installed_packages(runtime))
    result = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                            capture_output=True, text=True, timeout=120)
    known = set(re.findall(r"^Package: (\S+)$", result.stdout, re.M))
    unknown = [p for p in packages if p not in known]
    assert not unknown, f"not Debian packages: {unknown}\n{result.stderr}"


def docker_ignored(patterns, path):
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", "")) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_sources_and_drops_build_trees(root):
    path = root / ".dockerignore"
    assert path.is_file()
    patterns = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
    for needed in ("CMakeLists.txt", "proxy/main.cpp", "proxy/CMakeLists.txt", "config/sluice.yaml",
                   "deploy/scripts/install-deps.sh", "deploy/scripts/build.sh"):
        assert not docker_ignored(patterns, needed), f".dockerignore drops {needed}, which the build needs"
    for dropped in (".git/HEAD", "build/CMakeCache.txt", "build-asan/proxy/sluice"):
        assert docker_ignored(patterns, dropped), f".dockerignore should drop {dropped}"
