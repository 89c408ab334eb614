"""IdentityProbe: the operator's own credentials are proved per identity (never exchanged), and
what that says becomes the identity's Ready condition and principal.

The proof is a function passed in; the status writer is a recorder passed in, or the real one
against the Kubernetes API emulator. Nothing waits on a timer: a probe is due at once when an
identity changes, and an interval of zero makes every turn of the loop a due one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from support.kube.fixtures import KubeAPI

from external_identity.api import conditions
from external_identity.api.specs import IdentitySpec
from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.identities.probe import IdentityProbe
from external_identity.controller.statuses import StatusWriter
from external_identity.errors import CredentialsUnavailable, StatusWriteError
from external_identity.exchange.proofs import Proof

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAME = "prod-aws"
ARN = "arn:aws:sts::123456789012:assumed-role/operator/i-1"
NO_CREDENTIALS = "no AWS credentials found (tried env, web identity, container, IMDS)"
#: Lists an account, as an identity with the operator's own credentials must to be usable.
AWS = {"provider": "aws-iam", "serviceAccounts": [{"id": "0f1a2b3c-4d5e-6789-abcd-ef0123456789"}]}


class Prover:
    """The identity's provider: proves ``ARN``, or fails with ``problem`` while it is set."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.asked: list[str] = []

    async def __call__(self, spec: IdentitySpec) -> Proof:
        self.asked.append(spec.provider)
        if self.problem is not None:
            raise CredentialsUnavailable(self.problem)
        return Proof(provider="aws-iam", path="aws/iam/auth/", payload={}, principal=ARN)


class Writes:
    """Stands in for the StatusWriter: records patches; refuses while ``refusing``."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.refusing = False

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        if self.refusing:
            raise StatusWriteError(f"cannot update status of ExternalIdentity {name}: HTTP 500")
        self.patches.append((name, dict(status)))


class Setup:
    def __init__(self, *, writer: Any = None, interval: float = 600.0) -> None:
        self.prover = Prover()
        self.writes = Writes()
        self.identities = IdentityCache()
        self.principals: list[tuple[str, str]] = []
        self.probe = IdentityProbe(
            prove=self.prover, identities=self.identities,
            statuses=cast(StatusWriter, writer or self.writes),
            principals=lambda name, principal: self.principals.append((name, principal)),
            clock=lambda: NOW, interval=interval,
        )

    def identity(self, spec: Mapping[str, Any] = AWS, *, name: str = NAME) -> None:
        self.identities.saw({"metadata": {"name": name, "generation": 2}, "spec": dict(spec),
                             "status": {"conditions": []}})


@contextlib.asynccontextmanager
async def running(probe: IdentityProbe) -> AsyncIterator[None]:
    task = asyncio.create_task(probe.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], object]) -> None:
    """Give the probe's loop turns (no timers) until ``condition`` holds."""
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the probe never got there")


async def probed(setup: Setup, count: int = 1) -> None:
    await until(lambda: len(setup.prover.asked) >= count)
    for _ in range(5):  # the rest of that probe: no timers, only turns of the loop
        await asyncio.sleep(0)


def ready(status: Mapping[str, Any]) -> dict[str, Any]:
    [condition] = [c for c in status["conditions"] if c["type"] == conditions.READY]
    return dict(condition)


async def test_a_working_proof_reports_the_principal_and_leaves_the_status_as_it_is() -> None:
    setup = Setup()
    setup.identity()
    async with running(setup.probe):
        setup.probe.changed(NAME)
        await probed(setup)
    assert setup.principals == [(NAME, ARN)]
    assert setup.writes.patches == []  # the spec check's Ready=True stands
    assert setup.probe.problem(NAME) is None


async def test_credentials_that_cannot_prove_make_the_identity_not_ready_naming_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = Setup()
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    with caplog.at_level(logging.WARNING, logger="external_identity.controller.identities.probe"):
        async with running(setup.probe):
            setup.probe.changed(NAME)
            await probed(setup)

    [(name, status)] = setup.writes.patches
    assert name == NAME
    assert status["observedGeneration"] == 2
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == (
        "False", conditions.CREDENTIALS_UNAVAILABLE)
    assert NO_CREDENTIALS in condition["message"]
    assert condition["lastTransitionTime"] == "2026-03-01T12:00:00Z"  # the injected clock
    assert setup.probe.problem(NAME) == NO_CREDENTIALS
    assert f"ExternalIdentity {NAME}: {NO_CREDENTIALS}" in caplog.text
    assert setup.principals == []


async def test_credentials_that_work_again_make_it_ready_again() -> None:
    setup = Setup()
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    async with running(setup.probe):
        setup.probe.changed(NAME)
        await probed(setup)
        setup.prover.problem = None
        setup.probe.changed(NAME)
        await probed(setup, 2)

    assert [ready(status)["reason"] for _, status in setup.writes.patches] == [
        conditions.CREDENTIALS_UNAVAILABLE, conditions.VALID]
    assert setup.probe.problem(NAME) is None


async def test_the_same_problem_again_is_not_written_again() -> None:
    setup = Setup()
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    async with running(setup.probe):
        for count in (1, 2, 3):
            setup.probe.changed(NAME)
            await probed(setup, count)
    assert len(setup.writes.patches) == 1


async def test_every_interval_each_identity_is_probed_again() -> None:
    setup = Setup(interval=0)
    setup.identity()
    setup.identity(name="prod-aws-2")
    async with running(setup.probe):
        setup.probe.changed(NAME)
        setup.probe.changed("prod-aws-2")
        await probed(setup, 6)
    assert {name for name, _ in setup.principals} == {NAME, "prod-aws-2"}


@pytest.mark.parametrize(
    "spec",
    [{"provider": "aws-iam", "credentials": {"source": "ServiceAccount"}},
     {"provider": "aws-iam", "defaultTTL": 10, "maxTTL": 5}],
    ids=["per-workload credentials", "invalid spec"],
)
async def test_an_identity_with_nothing_to_prove_centrally_is_never_proved(
    spec: dict[str, Any],
) -> None:
    setup = Setup(interval=0)
    setup.identity(spec)
    async with running(setup.probe):
        setup.probe.changed(NAME)
        for _ in range(20):
            await asyncio.sleep(0)
    assert setup.prover.asked == []
    assert setup.writes.patches == []
    assert setup.probe.problem(NAME) is None


async def test_an_identity_no_longer_cached_is_forgotten_without_a_proof() -> None:
    setup = Setup()
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    async with running(setup.probe):
        setup.probe.changed(NAME)
        await probed(setup)
        setup.identities.gone(NAME)
        setup.probe.changed(NAME)
        for _ in range(20):
            await asyncio.sleep(0)
    assert len(setup.prover.asked) == 1
    assert setup.probe.problem(NAME) is None


async def test_a_status_that_could_not_be_written_is_written_on_the_next_probe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = Setup()
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    setup.writes.refusing = True
    with caplog.at_level(logging.WARNING):
        async with running(setup.probe):
            setup.probe.changed(NAME)
            await probed(setup)
            assert setup.writes.patches == []
            assert setup.probe.problem(NAME) is None  # not "not probed yet": no such problem
            setup.writes.refusing = False
            setup.probe.changed(NAME)
            await probed(setup, 2)
    assert len(setup.writes.patches) == 1
    assert f"ExternalIdentity {NAME}: status not written: cannot update status" in caplog.text


async def test_a_forgotten_identity_is_probed_no_more_and_its_problem_is_dropped() -> None:
    setup = Setup(interval=0)
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    async with running(setup.probe):
        setup.probe.changed(NAME)
        await probed(setup, 2)
        setup.probe.forget(NAME)
        asked = len(setup.prover.asked)
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(setup.prover.asked) == asked
    assert setup.probe.problem(NAME) is None


class SignallingWriter(StatusWriter):
    """The real writer, saying when a write is done."""

    def __init__(self, kube_api: KubeAPI) -> None:
        super().__init__(kube_api.custom_objects())
        self.written = asyncio.Event()

    async def patch_identity(self, *, name: str, status: Mapping[str, Any]) -> None:
        await super().patch_identity(name=name, status=status)
        self.written.set()


async def test_failing_credentials_show_on_the_identity_in_the_api(kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": "externalidentity.dev/v1alpha1", "kind": "ExternalIdentity",
                     "metadata": {"name": NAME}, "spec": AWS})
    writer = SignallingWriter(kube_api)
    setup = Setup(writer=writer)
    setup.identity()
    setup.prover.problem = NO_CREDENTIALS
    async with running(setup.probe), asyncio.timeout(10):
        setup.probe.changed(NAME)
        await writer.written.wait()

    stored = kube_api.get("externalidentity.dev/v1alpha1/externalidentities", None, NAME)
    condition = ready((stored or {})["status"])
    assert (condition["status"], condition["reason"]) == (
        "False", conditions.CREDENTIALS_UNAVAILABLE)
