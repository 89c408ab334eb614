"""``external-identity explain``: every check between a spec and a token, in order.

:func:`run_checks` yields one :class:`~.state.Finding` per check and stops after the first
that fails: schema (the CRDs' OpenAPI schema and CEL rules, as the API server applies them),
then every link of the operator's own decision chain
(:data:`~external_identity.controller.decide.checks.CHAIN`: binding-spec, identity,
identity-spec, sa-name, namespace, service-account, ttl — a failure gives the operator's
reason and message),
then what needs the network: credentials, principal, sts-endpoint (:mod:`.cloud`),
token-service (a GET over TLS with the identity's CA bundle — no exchange) and, when asked,
exchange (one real exchange, whose token the caller prints as ``exchange --no-store`` does).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

from external_identity.api.crdschema import check_object
from external_identity.cli.explain.cloud import (
    check_credentials,
    check_principal,
    check_sts_endpoint,
)
from external_identity.cli.explain.state import Check, Context, Finding, failed, not_checked, ok
from external_identity.cli.oneshot import ExchangeRequest, exchange_once
from external_identity.controller.decide import checks as decide
from external_identity.controller.decide.checks import Candidate
from external_identity.errors import (
    ConfigurationError,
    EndpointMismatch,
    ExternalIdentityError,
    InvalidRequest,
    KeyManagementDisabled,
    NotFound,
    ProofRejected,
    SignatureExpired,
    TransientError,
    TTLTooLong,
    Unavailable,
    UntrustedPrincipal,
)
from external_identity.exchange.client import build_http_client
from external_identity.exchange.proofs import AWS_IAM
from external_identity.exchange.providers import aws, azure
from external_identity.exchange.providers.settings import settings_for
from external_identity.secrets.data import SecretKeys

__all__ = ["CHECKS", "run_checks"]


async def check_schema(ctx: Context) -> Finding:
    subject = ctx.subject
    objects = [subject.identity, *([subject.binding] if subject.binding is not None else [])]
    rules = transition = 0
    fix = (
        "correct the fields named (kubectl explain externalidentities.spec lists them)"
        if subject.origin == "files"
        else "correct the fields named, or apply this version's CRDs if the cluster's are older"
    )
    for obj in objects:
        report = check_object(obj)
        name = (obj.get("metadata") or {}).get("name", "?")
        if report.errors:
            error = ConfigurationError(f"{obj.get('kind')} {name}: " + "; ".join(report.errors))
            return failed("schema", str(error), fix, error)
        rules, transition = rules + report.rules_checked, transition + report.transition_rules
    what = f"ExternalIdentity {ctx.identity_name}"
    if subject.binding is not None:
        what += f" and ServiceAccountBinding {ctx.binding_name}"
    return ok("schema", f"{what} match the CRDs' schema; {rules} CEL rules hold "
              f"({transition} more apply only to updates)")


def _candidate(ctx: Context) -> Candidate:
    binding = ctx.subject.binding
    return Candidate(
        namespace=ctx.subject.namespace,
        spec=None if binding is None else binding.get("spec") or {},
        identity_name=ctx.identity_name,
        identity_spec=ctx.subject.identity.get("spec") or {},
    )


def _account_allowed_by(candidate: Candidate) -> str:
    account = candidate.binding.service_account_id
    entries = candidate.identity.service_accounts
    if entries is None:
        return (f"{account} is allowed: serviceAccounts is absent and credentials.source is "
                "ServiceAccount (each binding proves its own principal)")
    index, entry = next((index, entry) for index, entry in enumerate(entries)
                        if entry.names(account) and entry.allows_namespace(candidate.namespace))
    where = ("every allowed namespace" if entry.namespaces is None
             else f"namespaces [{', '.join(entry.namespaces)}]")
    return f"{account} is allowed by serviceAccounts[{index}] (id {entry.id}, {where})"


def _passed(check: str, candidate: Candidate) -> str:
    """What held, in words, for the checks whose pass says more than that."""
    if check == "namespace":
        allowed = candidate.identity.allowed_namespaces
        shown = ("absent: every namespace" if allowed is None
                 else f"[{', '.join(allowed)}]" if allowed else "[]: none")
        return f"{candidate.namespace} is allowed by allowedNamespaces {shown}"
    if check == "service-account":
        return _account_allowed_by(candidate)
    return "holds, as the operator checks it"


def chain_check(check: decide.Check) -> Check:
    """An explain check that runs one link of the operator's own decision chain."""

    async def run(ctx: Context) -> Finding:
        candidate = ctx.candidate = ctx.candidate or _candidate(ctx)
        if candidate.spec is None and check.needs_binding:
            return not_checked(check.name, "no ServiceAccountBinding given (--binding, or one "
                               "in the -f files)")
        problem = check.judge(candidate)
        if problem is not None:
            refused = ConfigurationError(f"{problem.reason}: {problem.message}")
            return failed(check.name, str(refused), "the operator refuses the binding for this "
                          "reason; correct what the message names", refused)
        if check.name == "identity-spec":
            ctx.identity = candidate.identity
        elif check.name == "binding-spec":
            ctx.binding = candidate.binding
        return ok(check.name, _passed(check.name, candidate))

    return run


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def check_token_service(ctx: Context) -> Finding:
    service = ctx.spec().token_service
    path = aws.EXCHANGE_PATH if ctx.spec().provider == AWS_IAM else azure.EXCHANGE_PATH
    url = service.endpoint().url_for(path)
    trust = "spec.tokenService.caBundle and the system's CAs" if service.ca_bundle else (
        "the system's CAs")
    try:
        http = build_http_client(ca_bundle_pem=service.ca_bundle, timeout=service.timeout_seconds)
    except ConfigurationError as unusable:
        return failed("token-service", str(unusable),
                      "spec.tokenService.caBundle must hold PEM CA certificates", unusable)
    async with http:
        try:
            async with http.stream("GET", url) as response:
                stream = response.extensions.get("network_stream")
                tls = stream.get_extra_info("ssl_object") if stream is not None else None
                status = response.status_code
        except httpx.HTTPError as raw:
            bad_tls = _tls_failure(raw)
            if bad_tls is not None:
                refused = Unavailable(f"TLS handshake with {url} failed: {bad_tls}")
                return failed("token-service", str(refused),
                              "set spec.tokenService.caBundle to the PEM of the CA that issued "
                              f"the token service's certificate (now trusted: {trust})", refused)
            unreachable = Unavailable(f"cannot reach {url}: {type(raw).__name__}: {raw}")
            return failed("token-service", str(unreachable),
                          "check spec.tokenService.host and that this pod may reach it "
                          "(DNS, NetworkPolicy, egress proxy)", unreachable)
    if status == 404:
        missing = ConfigurationError(f"GET {url} answered 404: no exchange endpoint at that path")
        return failed("token-service", str(missing),
                      "check spec.tokenService.pathPrefix: /service/public for the console host, "
                      '"" for the API host (https://api.phase.dev)', missing)
    if status >= 500:
        down = Unavailable(f"GET {url} answered HTTP {status}", status=status)
        return failed("token-service", str(down), "retry later; the token service is failing",
                      down)
    channel = (f"over {tls.version()}, certificate verified with {trust}" if tls is not None
               else "over plain HTTP (no TLS)")
    return ok("token-service", f"{url} answered HTTP {status} to a GET {channel}; no token "
              "was requested (an exchange is a POST)")


def _exchange_fix(error: ExternalIdentityError, principal: str | None) -> str:
    if isinstance(error, UntrustedPrincipal):
        return (f"trust {error.principal or principal or 'the principal above'} in the Phase "
                "identity (trusted principals / allowed service principal IDs)")
    fixes: list[tuple[type[ExternalIdentityError], str]] = [
        (EndpointMismatch, "set spec.aws.stsEndpoint to the Phase identity's STS endpoint"),
        (NotFound, "check spec.serviceAccountId and that the external identity is attached "
         "to that service account in Phase"),
        (KeyManagementDisabled, "enable server-side key management for the service account"),
        (TTLTooLong, "lower spec.ttl (or the identity's defaultTTL) to the Phase identity's "
         "maximum TTL"),
        (SignatureExpired, "correct this machine's clock (NTP)"),
        (ProofRejected, "check the Phase identity's STS endpoint, or its Entra tenant and "
         "resource (spec.azure.resource)"),
        (InvalidRequest, "check spec.serviceAccountId"),
        (TransientError, "retry later; check the token service's health"),
    ]
    return next((fix for kind, fix in fixes if isinstance(error, kind)), "see the message")


async def check_exchange(ctx: Context) -> Finding:
    if ctx.per_workload:
        return not_checked("exchange", "credentials.source ServiceAccount: an exchange needs "
                           "the workload's own Kubernetes token, which explain does not request")
    spec, binding = ctx.spec(), ctx.binding
    assert binding is not None, "--exchange requires a binding"
    ttl = binding.ttl if binding.ttl is not None else spec.default_ttl
    request = ExchangeRequest(
        provider=settings_for(spec),
        endpoint=spec.token_service.endpoint(),
        service_account_id=binding.service_account_id,
        ttl=ttl,
        ca_bundle=None,
        ca_bundle_pem=spec.token_service.ca_bundle,
        timeout=spec.token_service.timeout_seconds,
        secret=None,
        secret_keys=SecretKeys(),
    )
    try:
        ctx.issued = issued = await exchange_once(request)
    except ExternalIdentityError as error:
        return failed("exchange", str(error), _exchange_fix(error, ctx.principal), error)
    return ok("exchange", f"token issued for service account {binding.service_account_id}: "
              f"TTL {issued.ttl}s (asked {ttl}s), expires {issued.metadata()['expiresAt']}, "
              f"principal {issued.principal or ctx.principal}")


CHECKS: tuple[tuple[str, Check], ...] = (
    ("schema", check_schema),
    *((link.name, chain_check(link)) for link in decide.CHAIN),
    ("credentials", check_credentials),
    ("principal", check_principal),
    ("sts-endpoint", check_sts_endpoint),
    ("token-service", check_token_service),
    ("exchange", check_exchange),
)


async def run_checks(ctx: Context) -> AsyncIterator[Finding]:
    """Each check's finding, in order, up to and including the first failure."""
    try:
        for name, check in CHECKS:
            if name == "exchange" and not ctx.exchange:
                continue
            try:
                finding = await check(ctx)
            except ExternalIdentityError as error:
                finding = failed(name, str(error), "correct what the message names", error)
            yield finding
            if finding.verdict == "failed":
                return
    finally:
        await ctx.close()
