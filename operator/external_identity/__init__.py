"""external-identity-operator: keyless, short-lived service tokens for Kubernetes workloads."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("external-identity-operator")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
