"""Loads the peers' fixtures for ``pytest tests/peers`` when tests/conftest.py has not.

The root conftest should register them for the whole suite with
``pytest_plugins = ["tests.peers.fixtures"]``; this module then does nothing,
so the session-scoped servers are not started twice.
"""

import sys

if "tests.peers.fixtures" not in sys.modules:
    from tests.peers.fixtures import *  # noqa: F403
