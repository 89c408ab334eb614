"""What one explain run carries from check to check, and the findings' verdicts. No I/O."""

from __future__ import annotations

from typing import Any, cast

from external_identity.api.specs import parse_identity
from external_identity.cli.explain.inputs import Subject
from external_identity.cli.explain.state import Context, Finding, failed, not_checked, ok
from external_identity.errors import ConfigurationError
from external_identity.exchange.proofs import ProofProvider

IDENTITY = {"kind": "ExternalIdentity", "metadata": {"name": "prod-aws"},
            "spec": {"provider": "aws-iam"}}
BINDING = {"kind": "ServiceAccountBinding", "metadata": {"name": "payments-api"}}


def context(identity: dict[str, Any] = IDENTITY, binding: dict[str, Any] | None = BINDING,
            namespace: str = "payments") -> Context:
    return Context(Subject(identity=identity, binding=binding, namespace=namespace,
                           origin="files"), exchange=False)


def test_each_verdict_has_its_own_constructor() -> None:
    error = ConfigurationError("spec: bad")
    assert ok("schema", "fine") == Finding("schema", "ok", "fine")
    refused = failed("schema", "spec: bad", "fix it", error)
    assert (refused.verdict, refused.fix, refused.error) == ("failed", "fix it", error)
    assert not_checked("exchange", "why") == Finding("exchange", "not checked", "why")
    assert not_checked("sts-endpoint", "azure", applicable=False).verdict == "n/a"


def test_findings_compare_by_what_they_say_not_by_the_error_object() -> None:
    first = failed("ttl", "too long", "lower it", ConfigurationError("a"))
    assert first == failed("ttl", "too long", "lower it", ConfigurationError("b"))


def test_the_subjects_are_named_as_reports_name_them() -> None:
    ctx = context()
    assert ctx.identity_name == "prod-aws"
    assert ctx.binding_name == "payments/payments-api"


def test_unnamed_subjects_are_question_marks() -> None:
    ctx = context(identity={"kind": "ExternalIdentity"}, binding=None, namespace="")
    assert ctx.identity_name == "?"
    assert ctx.binding_name == "/?"


def test_per_workload_is_known_only_once_the_spec_is_parsed() -> None:
    ctx = context()
    assert not ctx.per_workload
    ctx.identity = parse_identity({"provider": "aws-iam",
                                   "credentials": {"source": "ServiceAccount"}})
    assert ctx.per_workload
    assert ctx.spec() is ctx.identity
    ctx.identity = parse_identity({"provider": "aws-iam"})
    assert not ctx.per_workload


class Provider:
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_closing_the_run_closes_the_provider_an_earlier_check_built() -> None:
    ctx = context()
    await ctx.close()  # nothing built yet: nothing to close
    provider = Provider()
    ctx.provider = cast(ProofProvider, provider)
    await ctx.close()
    assert provider.closed == 1
