"""A Kubernetes API for tests: KMock's emulator with the API server's rules (see emulator.py)."""
