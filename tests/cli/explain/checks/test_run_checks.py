"""explain's checks in order, called directly: each finding up to the first failure, the schema
check's fix for files and for a cluster, and the token-service check against a small loopback
server (a GET; never an exchange). Per-workload identities need no cloud credentials here."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.peers._http import JsonHandler, LoopbackServer

from external_identity.api.specs import parse_identity
from external_identity.cli.explain.checks import CHECKS, check_token_service, run_checks
from external_identity.cli.explain.inputs import Subject
from external_identity.cli.explain.state import Context, Finding
from external_identity.controller.decide.checks import CHAIN
from external_identity.errors import ConfigurationError, Unavailable

pytestmark = pytest.mark.usefixtures("loopback_only")

API_VERSION = "externalidentity.dev/v1alpha1"
SA = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"
CHAIN_NAMES = [link.name for link in CHAIN]


@dataclass
class TokenService:
    """What the loopback token service answers to a GET, and the methods it was asked with."""

    status: int = 405
    methods: list[str] = field(default_factory=list)
    url: str = ""


class _Handler(JsonHandler):
    def _answer(self) -> None:
        owner: TokenService = self.owner
        owner.methods.append(self.command)
        self.send_response(owner.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def token_service() -> Iterator[TokenService]:
    service = TokenService()
    server = LoopbackServer(_Handler, owner=service)
    server.start()
    service.url = server.base_url
    yield service
    server.stop()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def per_workload(host: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ExternalIdentity", "metadata": {"name": "prod"},
            "spec": {"provider": "aws-iam", "credentials": {"source": "ServiceAccount"},
                     "aws": {"region": "eu-west-1"},
                     "tokenService": {"host": host, "pathPrefix": ""}, **spec}}


def binding(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ServiceAccountBinding",
            "metadata": {"name": "api", "namespace": "payments"},
            "spec": {"externalIdentityRef": {"name": "prod"}, "serviceAccountId": SA,
                     "serviceAccountName": "api", "secret": {"name": "token"}, **spec}}


def context(identity: dict[str, Any], bound: dict[str, Any] | None = None, *,
            origin: str = "files", exchange: bool = False) -> Context:
    subject = Subject(identity=identity, binding=bound, origin=origin,
                      namespace="payments" if bound is not None else "")
    return Context(subject, exchange=exchange)


async def findings(ctx: Context) -> list[Finding]:
    return [finding async for finding in run_checks(ctx)]


def verdicts(found: list[Finding]) -> list[tuple[str, str]]:
    return [(finding.check, finding.verdict) for finding in found]


def test_the_checks_run_in_the_documented_order() -> None:
    assert [name for name, _ in CHECKS] == [
        "schema", *CHAIN_NAMES, "credentials", "principal", "sts-endpoint", "token-service",
        "exchange"]


async def test_every_check_runs_in_order_and_the_exchange_only_when_asked(
    token_service: TokenService,
) -> None:
    found = await findings(context(per_workload(token_service.url), binding()))
    assert verdicts(found) == [
        ("schema", "ok"), *((name, "ok") for name in CHAIN_NAMES),
        ("credentials", "not checked"), ("principal", "not checked"), ("sts-endpoint", "ok"),
        ("token-service", "ok")]
    assert token_service.methods == ["GET"]

    asked = await findings(context(per_workload(token_service.url), binding(), exchange=True))
    assert verdicts(asked)[-1] == ("exchange", "not checked")
    assert token_service.methods == ["GET", "GET"]  # a per-workload exchange is never made


async def test_the_run_stops_at_the_first_failure() -> None:
    host = closed_port()
    found = await findings(context(per_workload(host), binding(), exchange=True))
    assert verdicts(found)[-2:] == [("sts-endpoint", "ok"), ("token-service", "failed")]
    assert f"cannot reach {host}/identities/external/v1/" in found[-1].seen


async def test_without_a_binding_its_checks_are_not_checked(token_service: TokenService) -> None:
    found = dict(verdicts(await findings(context(per_workload(token_service.url)))))
    skipped = {name for name, verdict in found.items() if verdict == "not checked"}
    assert {"binding-spec", "namespace", "credentials", "principal"} <= skipped
    assert found["identity-spec"] == "ok"
    assert found["token-service"] == "ok"


async def test_our_error_raised_by_a_check_is_its_failure() -> None:
    identity = per_workload(closed_port(),
                            aws={"stsEndpoint": "https://user@sts.eu-west-1.amazonaws.com"})
    found = await findings(context(identity))
    assert verdicts(found)[-1] == ("sts-endpoint", "failed")
    assert found[-1].seen == "STS endpoint must not carry user information"
    assert found[-1].fix == "correct what the message names"
    assert isinstance(found[-1].error, ConfigurationError)


@pytest.mark.parametrize(
    ("origin", "fix"),
    [("files", "kubectl explain externalidentities.spec"),
     ("cluster", "apply this version's CRDs if the cluster's are older")],
)
async def test_a_schema_failure_stops_everything_with_a_fix_for_where_the_objects_came_from(
    origin: str, fix: str
) -> None:
    identity = per_workload("https://phase.example.com", defaultTTL=7200, maxTTL=3600)
    [finding] = await findings(context(identity, origin=origin))
    assert (finding.check, finding.verdict) == ("schema", "failed")
    assert finding.seen == ("ExternalIdentity prod: spec: defaultTTL must be less than or "
                            "equal to maxTTL")
    assert fix in finding.fix
    assert isinstance(finding.error, ConfigurationError)


async def test_a_passing_schema_check_counts_the_rules_that_held(
    token_service: TokenService,
) -> None:
    schema = (await findings(context(per_workload(token_service.url), binding())))[0]
    assert schema.seen.startswith("ExternalIdentity prod and ServiceAccountBinding payments/api "
                                  "match the CRDs' schema; ")
    assert schema.seen.endswith("CEL rules hold (2 more apply only to updates)")


# -- the token service -----------------------------------------------------------------------------


async def token_service_finding(identity: dict[str, Any]) -> Finding:
    ctx = context(identity)
    ctx.identity = parse_identity(identity["spec"])
    return await check_token_service(ctx)


@pytest.mark.parametrize("status", [200, 401, 405])
async def test_a_token_service_that_answers_passes_over_plain_http(
    token_service: TokenService, status: int
) -> None:
    token_service.status = status
    finding = await token_service_finding(per_workload(token_service.url))
    assert finding.verdict == "ok"
    assert finding.seen == (
        f"{token_service.url}/identities/external/v1/aws/iam/auth/ answered HTTP {status} to a "
        "GET over plain HTTP (no TLS); no token was requested (an exchange is a POST)")
    assert token_service.methods == ["GET"]


async def test_no_exchange_endpoint_points_at_the_path_prefix(token_service: TokenService) -> None:
    token_service.status = 404
    finding = await token_service_finding(per_workload(token_service.url))
    assert finding.verdict == "failed"
    assert finding.seen.endswith("answered 404: no exchange endpoint at that path")
    assert "check spec.tokenService.pathPrefix" in finding.fix


async def test_a_failing_token_service_is_unavailable_and_worth_retrying(
    token_service: TokenService,
) -> None:
    token_service.status = 503
    finding = await token_service_finding(per_workload(token_service.url))
    assert finding.verdict == "failed"
    assert finding.seen.endswith("answered HTTP 503")
    assert finding.fix == "retry later; the token service is failing"
    assert isinstance(finding.error, Unavailable)


async def test_an_unreachable_token_service_names_the_network_things_to_check() -> None:
    finding = await token_service_finding(per_workload(closed_port()))
    assert finding.verdict == "failed"
    assert "ConnectError" in finding.seen
    assert "check spec.tokenService.host" in finding.fix
    assert isinstance(finding.error, Unavailable)


async def test_a_ca_bundle_that_is_not_pem_fails_before_anything_is_sent(
    token_service: TokenService,
) -> None:
    identity = per_workload(token_service.url)
    identity["spec"]["tokenService"]["caBundle"] = "not a certificate"
    finding = await token_service_finding(identity)
    assert finding.verdict == "failed"
    assert finding.fix == "spec.tokenService.caBundle must hold PEM CA certificates"
    assert token_service.methods == []
