"""Makes the kube fixtures available to ``pytest tests/kube`` even before tests/conftest.py
registers them suite-wide (``pytest_plugins = ["tests.kube.fixtures"]``).

Importing them unconditionally is safe: every fixture is function-scoped, so a second
registration only shadows the first and never starts a second server.
"""

from tests.kube.fixtures import *  # noqa: F403
