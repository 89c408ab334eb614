"""The operator's view of its own token Secrets, kept by the label-selected Secret watch.

The reconciler reads a binding's Secret from here instead of asking the API server, so a
step costs no GET: the watch (and one LIST at start-up) already said what is there. Only
what deciding needs is kept — annotations, which data keys are filled, the resourceVersion —
never the data itself. A Secret that is not labelled is never in the cache: before minting
for a Secret the cache does not know, the reconciler reads it once (its name may be taken, or
its label lost).

Our own writes update the cache from the API's reply, so the next step sees the
resourceVersion it wrote without waiting for the watch event, and a late watch event with an
older resourceVersion never rolls the cache back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from typing import Any

from external_identity.api.resources import BINDING_KIND
from external_identity.errors import SecretConflict
from external_identity.secrets.data import (
    ControllerRef,
    DataFacts,
    SecretTarget,
    StoredToken,
    controller_of,
    data_facts,
    not_ours,
    stored_token,
)

__all__ = ["CachedSecret", "SecretCache", "cached_secret", "stored"]

SecretKey = tuple[str, str]  # (namespace, name)

#: Kept by ``kubectl apply``: a copy of the whole object, and nothing deciding reads.
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class CachedSecret:
    resource_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    facts: DataFacts
    finalizers: tuple[str, ...]
    #: The owner reference marked controller: whose Secret this is.
    controller: ControllerRef | None

    @property
    def owner(self) -> str | None:
        """The binding (name, in the Secret's namespace) that owns it, if any."""
        if self.controller is None or self.controller.kind != BINDING_KIND:
            return None
        return self.controller.name


def cached_secret(body: Mapping[str, Any]) -> CachedSecret:
    """The parts of a Secret (as the API returns it, JSON) that deciding needs: its metadata
    and which data keys are filled, never the values."""
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(_LAST_APPLIED, None)
    return CachedSecret(
        resource_version=str(metadata.get("resourceVersion") or ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=annotations,
        facts=data_facts(annotations, body.get("data") or {}),
        finalizers=tuple(metadata.get("finalizers") or ()),
        controller=controller_of(metadata.get("ownerReferences")),
    )


def stored(secret: CachedSecret, target: SecretTarget) -> StoredToken:
    """What the last write left in ``secret``; raises SecretConflict if it is not ours."""
    if (why := not_ours(secret.labels, secret.annotations, secret.controller, target)) is not None:
        raise SecretConflict(why)
    return stored_token(
        secret.annotations, secret.facts, keys=target.keys,
        resource_version=secret.resource_version, finalizers=secret.finalizers,
        labels=secret.labels,
    )


def _newer(candidate: str, current: str) -> bool:
    """resourceVersions are opaque, but a real API server's are increasing integers."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


class SecretCache:
    def __init__(self) -> None:
        self._secrets: dict[SecretKey, CachedSecret] = {}

    def __len__(self) -> int:
        return len(self._secrets)

    def saw(self, namespace: str, name: str, secret: CachedSecret) -> bool:
        """A Secret as listed, watched or written; False if it is not newer than what we have
        (the watch's echo of our own write, or an event that arrived late)."""
        current = self._secrets.get((namespace, name))
        if current is not None and (
            secret.resource_version == current.resource_version
            or not _newer(secret.resource_version, current.resource_version)
        ):
            return False
        self._secrets[(namespace, name)] = secret
        return True

    def gone(self, namespace: str, name: str, resource_version: str = "") -> None:
        current = self._secrets.get((namespace, name))
        if current is not None and _newer(resource_version, current.resource_version):
            del self._secrets[(namespace, name)]

    def clear(self) -> None:
        self._secrets.clear()

    def retain(self, covers: Callable[[str], bool], keys: Set[SecretKey], version: str) -> None:
        """A LIST at ``version`` found ``keys`` in the namespaces it ``covers``: drop the others
        (deleted meanwhile) unless written after that LIST."""
        for key, secret in list(self._secrets.items()):
            if covers(key[0]) and key not in keys and _newer(version, secret.resource_version):
                del self._secrets[key]

    def lookup(self, target: SecretTarget) -> StoredToken | None:
        """What the last write left; None if there is none; raises SecretConflict if not ours."""
        secret = self._secrets.get((target.namespace, target.name))
        return None if secret is None else stored(secret, target)
