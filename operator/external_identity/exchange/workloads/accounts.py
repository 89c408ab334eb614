"""What a team's Kubernetes ServiceAccount says about its cloud identity. Pure; no I/O.

The annotations are the conventions teams already use for IRSA and Azure Workload Identity:
``eks.amazonaws.com/role-arn`` names the IAM role; ``azure.workload.identity/client-id`` (and
optionally ``azure.workload.identity/tenant-id``) the Entra app or managed identity. Every
refusal names the ServiceAccount, the annotation and the fix, and never any token.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from external_identity.errors import CredentialsUnavailable
from external_identity.exchange.proofs import AWS_IAM

__all__ = [
    "CLIENT_ID_ANNOTATION",
    "ENTRA_AUDIENCE",
    "ROLE_ARN_ANNOTATION",
    "STS_AUDIENCE",
    "TENANT_ID_ANNOTATION",
    "AzureApp",
    "ServiceAccount",
    "audience_for",
    "azure_app",
    "role_arn",
    "role_session_name",
]

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
TENANT_ID_ANNOTATION = "azure.workload.identity/tenant-id"
STS_AUDIENCE = "sts.amazonaws.com"
ENTRA_AUDIENCE = "api://AzureADTokenExchange"

_ROLE_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SESSION_NAME_LIMIT = 64


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a Kubernetes ServiceAccount that decide its cloud identity."""

    namespace: str
    name: str
    uid: str
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(
        cls, namespace: str, name: str, uid: str, annotations: Mapping[str, str] | None
    ) -> ServiceAccount:
        return cls(namespace, name, uid, tuple(sorted((annotations or {}).items())))

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def subject(self) -> str:
        """The ``sub`` of its tokens, which cloud trust policies name."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)


@dataclass(frozen=True)
class AzureApp:
    tenant_id: str
    client_id: str


def audience_for(provider: str, configured: str | None) -> str:
    """The TokenRequest audience: the identity's own, else the cloud's federation default."""
    if configured:
        return configured
    return STS_AUDIENCE if provider == AWS_IAM else ENTRA_AUDIENCE


def role_arn(account: ServiceAccount) -> str:
    """The IAM role the ServiceAccount's bindings assume (IRSA's annotation)."""
    value = (account.annotation(ROLE_ARN_ANNOTATION) or "").strip()
    fix = (f"kubectl annotate serviceaccount -n {account.namespace} {account.name} "
           f"{ROLE_ARN_ANNOTATION}=arn:aws:iam::<account>:role/<role>")
    if not value:
        raise CredentialsUnavailable(
            f"ServiceAccount {account.ref} has no {ROLE_ARN_ANNOTATION} annotation naming the "
            f"IAM role its bindings assume; {fix}"
        )
    if not _ROLE_ARN.match(value):
        raise CredentialsUnavailable(
            f"ServiceAccount {account.ref}: annotation {ROLE_ARN_ANNOTATION} is not an IAM role "
            f"ARN like arn:aws:iam::123456789012:role/NAME; {fix}"
        )
    return value


def azure_app(account: ServiceAccount, *, default_tenant: str | None) -> AzureApp:
    """The Entra app (client ID, tenant) the ServiceAccount's bindings sign in as."""
    client = (account.annotation(CLIENT_ID_ANNOTATION) or "").strip()
    fix = (f"kubectl annotate serviceaccount -n {account.namespace} {account.name} "
           f"{CLIENT_ID_ANNOTATION}=<application (client) ID>")
    if not client:
        raise CredentialsUnavailable(
            f"ServiceAccount {account.ref} has no {CLIENT_ID_ANNOTATION} annotation naming the "
            f"Entra application or managed identity its bindings sign in as; {fix}"
        )
    if not _UUID.match(client):
        raise CredentialsUnavailable(
            f"ServiceAccount {account.ref}: annotation {CLIENT_ID_ANNOTATION} is not a client ID "
            f"(a UUID); {fix}"
        )
    tenant = (account.annotation(TENANT_ID_ANNOTATION) or "").strip() or default_tenant or ""
    if not _UUID.match(tenant):
        raise CredentialsUnavailable(
            f"ServiceAccount {account.ref}: annotation {TENANT_ID_ANNOTATION} is not a tenant ID "
            "(a UUID); fix it or remove it to use the ExternalIdentity's spec.azure.tenantId"
        )
    return AzureApp(tenant_id=tenant, client_id=client)


def role_session_name(account: ServiceAccount) -> str:
    """``NAMESPACE.NAME`` (STS allows 64 characters: longer names end in a short hash).

    It shows in the assumed-role ARN and in CloudTrail, so an admin sees which team's
    ServiceAccount acted; namespaces contain no dots, so the first one separates the two.
    """
    name = f"{account.namespace}.{account.name}"
    if len(name) <= _SESSION_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:_SESSION_NAME_LIMIT - 9]}-{digest}"
