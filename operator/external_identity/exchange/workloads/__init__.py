"""Per-workload identity (``credentials.source: ServiceAccount``): each binding proves the cloud
identity of its own Kubernetes ServiceAccount, never the operator's."""

from external_identity.exchange.workloads.source import (
    ServiceAccountCredentials,
    ServiceAccountProof,
)

__all__ = ["ServiceAccountCredentials", "ServiceAccountProof"]
