"""Fixtures shared by the integration tests (pytest loads this file itself).

Each fixture starts one backend from servers.py for one test and stops it
afterwards, whatever the test's outcome.
"""

import pytest

from servers import EchoServer, Nginx


@pytest.fixture
def echo():
    """An EchoServer on a free port."""
    with EchoServer() as server:
        yield server


@pytest.fixture
def nginx():
    """A real nginx with the default locations of servers.NGINX_LOCATIONS."""
    with Nginx() as server:
        yield server
