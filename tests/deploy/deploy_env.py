"""Where the deployment tests find the sources, the build and the binary.

CTest sets SLUICE_BIN, SLUICE_SOURCE_DIR and SLUICE_BUILD_DIR; run by hand,
the defaults are this checkout and its build/ directory. (A module of its own,
not conftest.py, so that importing it never depends on which conftest pytest
loaded first.)
"""

import os
import pathlib

ROOT = pathlib.Path(os.environ.get("SLUICE_SOURCE_DIR") or pathlib.Path(__file__).resolve().parents[2])
BUILD = pathlib.Path(os.environ.get("SLUICE_BUILD_DIR") or ROOT / "build")
UNDER_CTEST = "SLUICE_BIN" in os.environ
