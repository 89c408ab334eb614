"""Suite-wide fixtures: the protocol peers, the Kubernetes API, and the operator process."""

pytest_plugins = ["tests.peers.fixtures", "tests.kube.fixtures", "tests.controller.fixtures"]
