"""Where a binding's token goes: its Secret, owned by the binding. Pure; no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from external_identity.api.resources import BINDING_KIND, GROUP, VERSION
from external_identity.api.specs import BindingSpec, parse_binding
from external_identity.errors import ConfigurationError
from external_identity.secrets.data import OwnerReference, SecretTarget

__all__ = ["read_target", "secret_target"]


def secret_target(
    *, namespace: str, name: str, uid: str, binding: BindingSpec, issued_for: str,
    token_name: str = "",
) -> SecretTarget:
    return SecretTarget(
        namespace=namespace,
        name=binding.secret.name,
        owner_key=uid,
        identity=binding.external_identity_ref.name,
        issued_for=issued_for,
        keys=binding.secret.data_keys(),
        type=binding.secret.type,
        labels=binding.secret.labels,
        annotations=binding.secret.annotations,
        token_name=token_name,
        owner=OwnerReference(
            api_version=f"{GROUP}/{VERSION}", kind=BINDING_KIND, name=name, uid=uid
        ),
    )


def read_target(
    *, namespace: str, name: str, uid: str, spec: Mapping[str, Any]
) -> SecretTarget | None:
    """The Secret to read back before deciding; None when the spec names none."""
    try:
        binding = parse_binding(spec)
    except ConfigurationError:
        return None
    return secret_target(namespace=namespace, name=name, uid=uid, binding=binding, issued_for="")
