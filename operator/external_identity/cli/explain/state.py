"""What one ``explain`` run carries from check to check, and what each check finds.

A :class:`Finding` is a check's verdict: ``ok``, ``failed`` (with what was seen, the fix and
the error that sets the exit code, as ``exchange`` would for the same failure), or ``not
checked`` / ``n/a`` with the reason. No secret material is ever put into one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from external_identity.api.specs import BindingSpec, IdentitySpec
from external_identity.cli.explain.inputs import Subject
from external_identity.controller.decide.checks import Candidate
from external_identity.errors import ExternalIdentityError
from external_identity.exchange.proofs import ProofProvider
from external_identity.exchange.tokens import IssuedToken

__all__ = ["Check", "Context", "Finding", "Verdict", "failed", "not_checked", "ok"]

Verdict = Literal["ok", "failed", "not checked", "n/a"]


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: Verdict
    seen: str
    fix: str = ""
    error: ExternalIdentityError | None = field(default=None, compare=False)


def ok(check: str, seen: str) -> Finding:
    return Finding(check, "ok", seen)


def failed(check: str, seen: str, fix: str, error: ExternalIdentityError) -> Finding:
    return Finding(check, "failed", seen, fix, error)


def not_checked(check: str, why: str, *, applicable: bool = True) -> Finding:
    return Finding(check, "not checked" if applicable else "n/a", why)


@dataclass
class Context:
    """Inputs, and what earlier checks learned (parsed specs, the provider, the principal)."""

    subject: Subject
    exchange: bool
    identity: IdentitySpec | None = None
    binding: BindingSpec | None = None
    provider: ProofProvider | None = None
    principal: str | None = None
    issued: IssuedToken | None = None
    #: What the operator's decision chain looks at, built once from the subject.
    candidate: Candidate | None = None

    @property
    def identity_name(self) -> str:
        metadata = self.subject.identity.get("metadata") or {}
        return str(metadata.get("name", "?"))

    @property
    def binding_name(self) -> str:
        metadata = (self.subject.binding or {}).get("metadata") or {}
        return f"{self.subject.namespace}/{metadata.get('name', '?')}"

    def spec(self) -> IdentitySpec:
        assert self.identity is not None, "the schema check runs first"
        return self.identity

    @property
    def per_workload(self) -> bool:
        """credentials.source ServiceAccount: the workload's own token, not this process's."""
        return self.identity is not None and self.identity.credentials.source == "ServiceAccount"

    async def close(self) -> None:
        if self.provider is not None:
            await self.provider.close()


Check = Callable[[Context], Awaitable[Finding]]
