"""Suite-wide fixtures: the protocol peers (tests/peers) and the Kubernetes API (tests/kube)."""

pytest_plugins = ["tests.peers.fixtures", "tests.kube.fixtures"]
