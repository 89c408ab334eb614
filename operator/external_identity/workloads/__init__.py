"""Per-workload identity (``credentials.source: ServiceAccount``): each binding proves the cloud
identity of its own Kubernetes ServiceAccount, never the operator's."""

from .source import ServiceAccountCredentials, ServiceAccountProof

__all__ = ["ServiceAccountCredentials", "ServiceAccountProof"]
