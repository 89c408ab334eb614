"""Loads the peers' fixtures for ``pytest tests/peers`` when tests/conftest.py has not.

The root conftest should register them for the whole suite with
``pytest_plugins = ["support.peers.fixtures"]``; this module then does nothing,
so the session-scoped servers are not started twice.
"""

import sys

if "support.peers.fixtures" not in sys.modules:
    from support.peers.fixtures import *  # noqa: F403
