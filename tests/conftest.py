"""Suite-wide fixtures: the protocol peers, the Kubernetes API, and the operator process."""

pytest_plugins = ["support.peers.fixtures", "support.kube.fixtures", "tests.operator.fixtures"]
