"""Real peers and a Kubernetes API emulator for the tests, the demo and the benchmark.

Not the product: nothing in operator/ imports from here.
"""
