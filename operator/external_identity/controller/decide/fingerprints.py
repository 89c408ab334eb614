"""Fingerprints of what a token or a failed attempt depended on. Pure; no I/O.

:func:`issued_for` goes into the Secret next to the token, so a restarted operator can tell
whether the binding or identity settings changed while it was down. :func:`inputs_key` stays
in memory: any change to it cuts a backoff short.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from external_identity.api import defaults
from external_identity.api.specs import BindingSpec, IdentitySpec

__all__ = ["inputs_key", "issued_for"]

#: Identity fields that do not change the token it mints (they are checked on every wake-up);
#: ``credentials.audience`` matters only for per-workload identities, which add it themselves
#: (so the fingerprints of tokens minted before the field existed stay the same).
_NOT_MINTING: dict[str, Any] = {
    "description": True, "allowed_namespaces": True, "service_accounts": True,
    "credentials": {"audience"},
}


def _minting_settings(identity: IdentitySpec) -> dict[str, Any]:
    """The identity's settings that change the token it mints.

    ``tokenName`` (a label on the Secret), ``tokenService.caBundle`` and ``timeoutSeconds``
    (how the service is reached) do not: they stand at their defaults here, so fingerprints
    of tokens minted with the defaults are the same as before these were left out.
    """
    service = identity.token_service.model_copy(
        update={"ca_bundle": None, "timeout_seconds": defaults.TOKEN_SERVICE_TIMEOUT}
    )
    normalised = identity.model_copy(update={"token_name": None, "token_service": service})
    return normalised.model_dump(mode="json", exclude=_NOT_MINTING)


def _digest(document: object) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def issued_for(binding: BindingSpec, identity_name: str, identity: IdentitySpec) -> str:
    """What a token minted now would answer: account, TTL and the identity's minting settings
    (and, for per-workload identities, whose Kubernetes ServiceAccount proved it)."""
    inputs: dict[str, Any] = {
        "serviceAccountId": binding.service_account_id.lower(),
        "ttl": binding.ttl,
        "identity": identity_name,
        "identitySpec": _minting_settings(identity),
    }
    if identity.credentials.source == "ServiceAccount":
        inputs["serviceAccountName"] = binding.service_account_name
        inputs["audience"] = identity.credentials.audience
    return _digest(inputs)


def inputs_key(
    generation: int | None,
    identity: Mapping[str, Any] | None,
    refresh_request: str | None = None,
) -> str:
    """The binding's generation, its identity's whole spec (None when it is missing) and any
    refresh request: what, when it changes, deserves an attempt before a backoff ends."""
    spec = None if identity is None else identity.get("spec")
    return _digest([generation, spec, refresh_request] if refresh_request else [generation, spec])
