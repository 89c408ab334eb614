"""What ``explain`` looks at: an ExternalIdentity and maybe a binding, from files or the cluster.

From files (``-f``) nothing but the files is read — no cluster is contacted. From the cluster,
the objects are read through the kubeconfig like ``exchange --secret`` does; a binding brings
its identity (``spec.externalIdentityRef.name``) along.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from external_identity.api.crdschema import parse_documents
from external_identity.api.resources import BINDING_KIND, BINDINGS, GROUP, IDENTITIES, VERSION
from external_identity.api.specs import referenced_identity
from external_identity.errors import ConfigurationError, ExternalIdentityError
from external_identity.kube.calls import api_failure, call_api
from external_identity.kube.client import load_api_client

__all__ = ["IDENTITY_KIND", "Subject", "from_cluster", "from_files"]

IDENTITY_KIND = "ExternalIdentity"


@dataclass(frozen=True)
class Subject:
    """The objects to explain, as read; ``origin`` says where from (for fixes)."""

    identity: Mapping[str, Any]
    binding: Mapping[str, Any] | None
    #: The binding's namespace (its metadata's, else the one the user gave, else default).
    namespace: str
    origin: str


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    return str(metadata.get("name", "")) if isinstance(metadata, Mapping) else ""


def _namespace_of(obj: Mapping[str, Any], fallback: str) -> str:
    metadata = obj.get("metadata")
    found = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    return str(found) if found else fallback


def _plural(kind: str) -> str:
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def _pick(
    found: list[dict[str, Any]], kind: str, name: str | None, flag: str
) -> dict[str, Any] | None:
    chosen = [obj for obj in found if name is None or _name(obj) == name]
    if len(chosen) > 1:
        names = ", ".join(sorted(_name(obj) for obj in chosen))
        raise ConfigurationError(
            f"the files hold several {_plural(kind)} ({names}); choose one with {flag}"
        )
    if name is not None and not chosen:
        raise ConfigurationError(f"the files hold no {kind} named {name!r}")
    return chosen[0] if chosen else None


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read {path}: {error}") from None


def _binding_ref(ref: str | None, namespace: str | None) -> tuple[str | None, str | None]:
    if ref is None or "/" not in ref:
        return namespace, ref
    ns, _, name = ref.partition("/")
    return ns, name


def from_files(
    paths: Sequence[str],
    *,
    identity: str | None,
    binding: str | None,
    namespace: str | None,
) -> Subject:
    """Pick the objects out of the files' documents; other kinds are ignored."""
    documents = [doc for path in paths for doc in parse_documents(_read(path), source=path)]
    wanted_ns, wanted_binding = _binding_ref(binding, namespace)
    bindings = [
        doc for doc in documents if doc.get("kind") == BINDING_KIND
        and (binding is None or wanted_ns is None or _namespace_of(doc, "default") == wanted_ns)
    ]
    chosen = _pick(bindings, BINDING_KIND, wanted_binding, "--binding")
    referenced = referenced_identity(chosen.get("spec") or {}) if chosen is not None else None
    if identity is not None and referenced not in (None, identity):
        raise ConfigurationError(
            f"binding {_name(chosen or {})!r} references ExternalIdentity {referenced!r}, "
            f"not {identity!r}"
        )
    identities = [doc for doc in documents if doc.get("kind") == IDENTITY_KIND]
    picked = _pick(identities, IDENTITY_KIND, identity or referenced, "--identity")
    if picked is None:
        raise ConfigurationError(f"the files hold no {IDENTITY_KIND}")
    return Subject(
        identity=picked,
        binding=chosen,
        namespace=_namespace_of(chosen, namespace or "default") if chosen else "",
        origin="files",
    )


async def _get(what: str, function: Any, *args: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = await call_api(what, ExternalIdentityError, function, *args)
    except ApiException as error:
        reason, message = api_failure(error)
        if error.status == 404:
            raise ConfigurationError(f"cannot {what}: not found") from None
        raise ConfigurationError(f"cannot {what}: {reason} {message}".rstrip()) from None
    return found


async def from_cluster(
    *,
    identity: str | None,
    binding: str | None,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> Subject:
    """Read the binding (if named) and the identity it references (or the one named)."""
    if identity is None and binding is None:
        raise ConfigurationError("name an ExternalIdentity (--identity), a binding (--binding) "
                                 "or give files (-f)")
    api = CustomObjectsApi(load_api_client(kubeconfig, context))
    found_binding = None
    wanted_ns, wanted_binding = _binding_ref(binding, namespace)
    ns = wanted_ns or "default"
    if wanted_binding is not None:
        found_binding = await _get(
            f"read ServiceAccountBinding {ns}/{wanted_binding}",
            api.get_namespaced_custom_object, GROUP, VERSION, ns, BINDINGS, wanted_binding,
        )
        referenced = referenced_identity(found_binding.get("spec") or {})
        if identity is not None and referenced != identity:
            raise ConfigurationError(
                f"binding {ns}/{wanted_binding} references ExternalIdentity {referenced!r}, "
                f"not {identity!r}"
            )
        identity = referenced
    if not identity:
        raise ConfigurationError(f"binding {ns}/{wanted_binding} names no ExternalIdentity")
    found_identity = await _get(
        f"read ExternalIdentity {identity}",
        api.get_cluster_custom_object, GROUP, VERSION, IDENTITIES, identity,
    )
    return Subject(
        identity=found_identity,
        binding=found_binding,
        namespace=ns if found_binding is not None else "",
        origin="cluster",
    )
