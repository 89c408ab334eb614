"""Builders for the pure controller tests: specs, tokens, Secrets and situations at a fixed time.

Nothing here does I/O or reads a clock: every moment is derived from :data:`NOW`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from external_identity.api.specs import parse_binding, parse_identity
from external_identity.api.times import rfc3339
from external_identity.controller.decide.backoffs import Backoff
from external_identity.controller.decide.fingerprints import inputs_key, issued_for
from external_identity.controller.decide.plans import Held, Situation
from external_identity.controller.settings import OperatorSettings
from external_identity.errors import SecretConflict
from external_identity.exchange.tokens import IssuedToken
from external_identity.secrets.data import SecretTarget, StoredToken, ours_metadata
from external_identity.secrets.targets import secret_target

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: When the default token was minted: ten minutes ago; it lives an hour, refresh at 40 min.
ISSUED = NOW - timedelta(minutes=10)
TTL = 3600
REFRESH_AFTER = 2400

NAMESPACE = "payments"
NAME = "api-token"
UID = "7c0e9a52-2f4b-4d8e-9a55-0b6a1d2c3e4f"
IDENTITY_NAME = "prod-aws"
SECRET_NAME = "phase-service-token"
SA = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"

SETTINGS = OperatorSettings()


class NoJitter(random.Random):
    """An rng whose every draw is 0: backoff delays and refresh times come out exact."""

    def random(self) -> float:
        return 0.0


def binding_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "externalIdentityRef": {"name": IDENTITY_NAME},
        "serviceAccountId": SA,
        "secret": {"name": SECRET_NAME},
    }
    spec.update(overrides)
    return spec


def identity_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "provider": "aws-iam",
        "tokenService": {"host": "https://phase.example.com"},
        "aws": {"region": "eu-west-1"},
        "maxTTL": 7200,
        "serviceAccounts": [{"id": SA}],
    }
    spec.update(overrides)
    return spec


def identity_body(name: str = IDENTITY_NAME, **overrides: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": identity_spec(**overrides)}


def target(
    spec: Mapping[str, Any] | None = None, identity: Mapping[str, Any] | None = None
) -> SecretTarget:
    """The Secret target decide() computes for these specs (with its issued-for fingerprint)."""
    binding = parse_binding(spec or binding_spec())
    body = identity or identity_body()
    name = binding.external_identity_ref.name
    return secret_target(
        namespace=NAMESPACE, name=NAME, uid=UID, binding=binding,
        issued_for=issued_for(binding, name, parse_identity(body["spec"])),
    )


def issued_token(
    *, issued_at: datetime = ISSUED, ttl: int = TTL, principal: str | None = None
) -> IssuedToken:
    return IssuedToken(
        token="pss_service:v2:abc", bearer_token="ServiceAccount abc", token_type="Service",
        ttl=ttl, max_ttl=7200, issued_at=issued_at, host="https://phase.example.com",
        principal=principal,
    )


def held(
    held_target: SecretTarget | None = None,
    *,
    issued_at: datetime = ISSUED,
    ttl: int = TTL,
    refresh_after: int = REFRESH_AFTER,
    with_token: bool = True,
) -> Held:
    return Held(
        target=held_target or target(),
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=ttl),
        refresh_at=issued_at + timedelta(seconds=refresh_after),
        token=issued_token(issued_at=issued_at, ttl=ttl) if with_token else None,
    )


def stored(
    *,
    issued_at: datetime | None = ISSUED,
    ttl: int = TTL,
    intact: bool = True,
    identity: str = IDENTITY_NAME,
    issued_for: str | None = None,
) -> StoredToken:
    """What reading back our Secret finds; ``issued_for`` defaults to the current inputs'."""
    issued_for = target().issued_for if issued_for is None else issued_for
    expires_at = issued_at + timedelta(seconds=ttl) if issued_at is not None else None
    labels, annotations = ours_metadata(
        replace(target(), identity=identity, issued_for=issued_for),
        issued_at=issued_at or ISSUED, expires_at=expires_at or ISSUED,
    )
    return StoredToken(
        expires_at=expires_at,
        issued_at=issued_at,
        data_intact=intact,
        resource_version="41",
        identity=identity,
        issued_for=issued_for,
        labels=labels,
        annotations=annotations,
    )


def stored_like(token: Held, *, intact: bool = True) -> StoredToken:
    """The Secret as the held token was written to it."""
    labels, annotations = ours_metadata(token.target, issued_at=token.issued_at,
                                        expires_at=token.expires_at)
    return StoredToken(
        expires_at=token.expires_at, issued_at=token.issued_at, data_intact=intact,
        resource_version="41", identity=token.target.identity, issued_for=token.issued_for,
        labels=labels, annotations=annotations,
    )


def conflict() -> SecretConflict:
    return SecretConflict(
        f"Secret {NAMESPACE}/{SECRET_NAME} already exists and is not managed by "
        "external-identity-operator; refusing to overwrite it"
    )


def ready_status(**fields: Any) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "TokenIssued",
                        "message": "ok", "lastTransitionTime": rfc3339(ISSUED)}],
        "failureCount": 0,
        **fields,
    }


def failing_status(**fields: Any) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "ExchangeFailed",
                        "message": "token service unavailable; retrying",
                        "lastTransitionTime": rfc3339(ISSUED)}],
        "failureCount": 3,
        "nextRefreshTime": rfc3339(NOW + timedelta(seconds=30)),
        **fields,
    }


_DEFAULT: Any = object()


def situation(
    *,
    spec: Mapping[str, Any] | None = None,
    identity: Mapping[str, Any] | None = _DEFAULT,
    stored: StoredToken | SecretConflict | None = None,
    held: Held | None = None,
    backoff: Backoff | None = None,
    status: Mapping[str, Any] | None = None,
    generation: int | None = 1,
    now: datetime = NOW,
    settings: OperatorSettings = SETTINGS,
    refresh_request: str | None = None,
) -> Situation:
    """A binding in :data:`NAMESPACE` bound to an allowing identity; no Secret, nothing held."""
    return Situation(
        namespace=NAMESPACE, name=NAME, uid=UID, generation=generation,
        spec=spec or binding_spec(), status=status or {},
        identity=identity_body() if identity is _DEFAULT else identity,
        stored=stored, held=held, backoff=backoff or Backoff(), now=now, settings=settings,
        refresh_request=refresh_request,
    )


def inputs(generation: int | None = 1, identity: Mapping[str, Any] | None = _DEFAULT) -> str:
    """The inputs key of :func:`situation`'s defaults (what a backoff remembers)."""
    return inputs_key(generation, identity_body() if identity is _DEFAULT else identity)
