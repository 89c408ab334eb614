"""Whether a binding may have a token at all: the ordered chain of spec checks. Pure; no I/O.

Each check looks at one :class:`Candidate` (a binding, its namespace and its identity as
written) and returns nothing, or the :class:`~external_identity.api.problems.Problem` that
refuses the binding. The operator (:mod:`.decisions`) and ``external-identity explain`` run
this same :data:`CHAIN`, so ``explain`` refuses exactly what the operator refuses, with the
same reason and message; ``explain`` only adds what needs the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from external_identity.api import conditions
from external_identity.api.problems import Problem
from external_identity.api.specs import BindingSpec, IdentitySpec, parse_binding, parse_identity
from external_identity.errors import ConfigurationError

__all__ = ["CHAIN", "Candidate", "Check", "first_problem"]


@dataclass(frozen=True)
class Candidate:
    """A binding and its identity as written; the parsed specs once a check has read them."""

    namespace: str
    #: The binding's ``spec``; None when only an identity is checked (``explain`` without one).
    spec: Mapping[str, Any] | None
    #: The name the binding refers to (its ``spec.externalIdentityRef.name``).
    identity_name: str
    #: The ExternalIdentity's ``spec``, None when no identity of that name exists.
    identity_spec: Mapping[str, Any] | None

    @cached_property
    def binding(self) -> BindingSpec:
        assert self.spec is not None, "only checks that need no binding run without one"
        return parse_binding(self.spec, namespace=self.namespace)

    @cached_property
    def identity(self) -> IdentitySpec:
        assert self.identity_spec is not None, "identity_exists runs first"
        return parse_identity(self.identity_spec)


def binding_spec_is_valid(candidate: Candidate) -> Problem | None:
    try:
        candidate.binding  # noqa: B018 - parsing is the check
    except ConfigurationError as error:
        return Problem(conditions.INVALID_SPEC, str(error))
    return None


def identity_exists(candidate: Candidate) -> Problem | None:
    if candidate.identity_spec is not None:
        return None
    return Problem(
        conditions.IDENTITY_NOT_FOUND,
        f"ExternalIdentity {candidate.identity_name!r} does not exist; create it or fix "
        "spec.externalIdentityRef.name",
        revokes=True,
    )


def identity_spec_is_valid(candidate: Candidate) -> Problem | None:
    try:
        candidate.identity  # noqa: B018 - parsing is the check
    except ConfigurationError as error:
        return Problem(
            conditions.INVALID_SPEC,
            f"ExternalIdentity {candidate.identity_name!r} is invalid: {error}",
        )
    return None


def service_account_named_when_per_workload(candidate: Candidate) -> Problem | None:
    if candidate.identity.credentials.source != "ServiceAccount":
        return None
    if candidate.binding.service_account_name:
        return None
    return Problem(
        conditions.INVALID_SPEC,
        f"ExternalIdentity {candidate.identity_name!r} exchanges the binding's own Kubernetes "
        "ServiceAccount (credentials.source ServiceAccount); set spec.serviceAccountName to a "
        f"ServiceAccount in namespace {candidate.namespace!r}",
    )


def namespace_is_allowed(candidate: Candidate) -> Problem | None:
    if candidate.identity.allows_namespace(candidate.namespace):
        return None
    return Problem(
        conditions.NAMESPACE_NOT_ALLOWED,
        f"ExternalIdentity {candidate.identity_name!r} does not allow namespace "
        f"{candidate.namespace!r}; ask an admin to add it to spec.allowedNamespaces",
        revokes=True,
    )


def _excluding_entries(candidate: Candidate) -> list[str]:
    """The entries naming the binding's account whose namespaces leave its namespace out."""
    account = candidate.binding.service_account_id
    return [
        f"serviceAccounts[{index}] (id {entry.id}) allows namespaces "
        f"[{', '.join(entry.namespaces or ())}]"
        for index, entry in enumerate(candidate.identity.service_accounts or ())
        if entry.names(account) and not entry.allows_namespace(candidate.namespace)
    ]


def service_account_is_allowed(candidate: Candidate) -> Problem | None:
    identity, namespace = candidate.identity, candidate.namespace
    account = candidate.binding.service_account_id
    if identity.allows_account(account, namespace):
        return None
    refused = f"ExternalIdentity {candidate.identity_name!r} "
    if identity.service_accounts is None:
        message = (
            f"{refused}lists no spec.serviceAccounts, so with credentials.source Operator it "
            f"mints for no Phase service account; ask an admin to add {{id: {account}, "
            f"namespaces: [{namespace}]}} to spec.serviceAccounts"
        )
    elif excluding := _excluding_entries(candidate):
        which = "that entry's namespaces" if len(excluding) == 1 else (
            "the namespaces of one of those entries")
        message = (
            f"{refused}does not allow service account {account} in namespace {namespace!r}: "
            f"{'; '.join(excluding)}; ask an admin to add {namespace!r} to {which}"
        )
    else:
        message = (
            f"{refused}does not list service account {account} in spec.serviceAccounts; ask an "
            f"admin to add {{id: {account}, namespaces: [{namespace}]}} to it"
        )
    return Problem(conditions.SERVICE_ACCOUNT_NOT_ALLOWED, message, revokes=True)


def ttl_within_identity_max(candidate: Candidate) -> Problem | None:
    ttl, max_ttl = candidate.binding.ttl, candidate.identity.max_ttl
    if ttl is None or ttl <= max_ttl:
        return None
    return Problem(
        conditions.INVALID_SPEC,
        f"spec.ttl ({ttl}s) exceeds ExternalIdentity {candidate.identity_name!r} maxTTL "
        f"({max_ttl}s); lower spec.ttl",
    )


@dataclass(frozen=True)
class Check:
    """One link of the chain: its name (as ``explain`` prints it) and the rule itself."""

    name: str
    judge: Callable[[Candidate], Problem | None]
    #: False for checks of the identity alone, which ``explain`` runs without a binding.
    needs_binding: bool = True


#: In order: each check may rely on every check before it having passed.
CHAIN: tuple[Check, ...] = (
    Check("binding-spec", binding_spec_is_valid),
    Check("identity", identity_exists, needs_binding=False),
    Check("identity-spec", identity_spec_is_valid, needs_binding=False),
    Check("sa-name", service_account_named_when_per_workload),
    Check("namespace", namespace_is_allowed),
    Check("service-account", service_account_is_allowed),
    Check("ttl", ttl_within_identity_max),
)


def first_problem(candidate: Candidate) -> Problem | None:
    """The first problem of the chain, or None when the binding passes every check."""
    for check in CHAIN:
        if candidate.spec is None and check.needs_binding:
            continue
        problem = check.judge(candidate)
        if problem is not None:
            return problem
    return None
