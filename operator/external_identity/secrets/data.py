"""What a token Secret holds: pure data, no I/O and no Kubernetes client.

The labels and annotations that mark a Secret as ours and record what was written, the
value types saying where a token goes (:class:`SecretTarget`) and what an earlier write
left (:class:`StoredToken`), and the functions that build a Secret's base64 ``data`` and
annotations or read them back. :mod:`external_identity.secrets.writer` does the API calls.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from external_identity.api import defaults
from external_identity.api.times import parse_rfc3339, rfc3339
from external_identity.errors import ConfigurationError, SecretWriteError, redact

if TYPE_CHECKING:
    from external_identity.exchange.tokens import IssuedToken

__all__ = [
    "ANNOTATION_PREFIX",
    "CHECKSUM_ANNOTATION",
    "EXPIRES_AT_ANNOTATION",
    "IDENTITY_ANNOTATION",
    "ISSUED_AT_ANNOTATION",
    "ISSUED_FOR_ANNOTATION",
    "MANAGED_BY_LABEL",
    "OWNER_ANNOTATION",
    "PHASE_HOST_ENV",
    "PHASE_TOKEN_ENV",
    "SECRET_KEY_PATTERN",
    "TTL_ANNOTATION",
    "ControllerRef",
    "DataFacts",
    "OwnerReference",
    "SecretKeys",
    "SecretTarget",
    "StoredToken",
    "controller_of",
    "data_checksum",
    "data_facts",
    "metadata_drifted",
    "not_ours",
    "ours_metadata",
    "secret_data",
    "stored_token",
    "token_annotations",
]

MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "external-identity-operator")
ANNOTATION_PREFIX = "externalidentity.dev/"
OWNER_ANNOTATION = ANNOTATION_PREFIX + "owner"
IDENTITY_ANNOTATION = ANNOTATION_PREFIX + "identity"
EXPIRES_AT_ANNOTATION = ANNOTATION_PREFIX + "expires-at"
ISSUED_FOR_ANNOTATION = ANNOTATION_PREFIX + "issued-for"
ISSUED_AT_ANNOTATION = ANNOTATION_PREFIX + "issued-at"
#: Where pre-release builds recorded the issue time; read so an upgrade does not re-mint.
_LEGACY_ISSUED_AT_ANNOTATION = ANNOTATION_PREFIX + "refreshed-at"
TTL_ANNOTATION = ANNOTATION_PREFIX + "ttl"
CHECKSUM_ANNOTATION = ANNOTATION_PREFIX + "data-checksum"
#: The name Phase gives the tokens of the identity (its ``tokenName``), for people matching
#: Secrets to the tokens the Phase console lists.
TOKEN_NAME_ANNOTATION = ANNOTATION_PREFIX + "token-name"

#: What Kubernetes accepts as a Secret data key.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]{1,253}$"
_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)


#: What the Phase CLI and SDKs read from the environment.
PHASE_TOKEN_ENV = "PHASE_SERVICE_TOKEN"
PHASE_HOST_ENV = "PHASE_HOST"


@dataclass(frozen=True)
class SecretKeys:
    """Which Secret data key holds which value; ``None`` leaves that value out."""

    token: str = defaults.SECRET_TOKEN_KEY
    bearer_token: str | None = None
    expires_at: str | None = None
    host: str | None = None
    #: Also write the token and host under the names the Phase CLI and SDKs read from the
    #: environment, so ``envFrom: secretRef`` just works.
    phase_env: bool = False

    def values(self, token: IssuedToken) -> dict[str, str]:
        """Each data key with the value it holds."""
        chosen = {
            self.token: token.token,
            self.bearer_token: token.bearer_token,
            self.expires_at: rfc3339(token.expires_at),
            self.host: token.host,
        }
        written = {key: value for key, value in chosen.items() if key}
        if self.phase_env:
            written |= {PHASE_TOKEN_ENV: token.token, PHASE_HOST_ENV: token.host}
        return written

    def names(self) -> list[str]:
        chosen = [key for key in (self.token, self.bearer_token, self.expires_at, self.host) if key]
        return [*chosen, PHASE_TOKEN_ENV, PHASE_HOST_ENV] if self.phase_env else chosen


@dataclass(frozen=True)
class OwnerReference:
    """The object that owns the Secret (the binding), for garbage collection on its deletion."""

    api_version: str
    kind: str
    name: str
    uid: str


@dataclass(frozen=True)
class ControllerRef:
    """The owner reference marked ``controller: true`` on a Secret: who the Secret belongs to."""

    kind: str
    name: str
    uid: str


def controller_of(owner_references: Iterable[Mapping[str, object]] | None) -> ControllerRef | None:
    """The controller among a Secret's ``ownerReferences`` (as JSON), if it has one."""
    for ref in owner_references or ():
        if ref.get("controller") is True:
            return ControllerRef(
                kind=str(ref.get("kind") or ""), name=str(ref.get("name") or ""),
                uid=str(ref.get("uid") or ""),
            )
    return None


@dataclass(frozen=True)
class SecretTarget:
    """Where a token goes and who may write it there."""

    namespace: str
    name: str
    #: Who may write this Secret: the binding's uid for the controller, a fixed key for the CLI.
    owner_key: str
    #: What minted the token (e.g. the ExternalIdentity's name).
    identity: str
    #: A fingerprint of every setting the token was minted with ("" when not tracked), so a
    #: restarted operator notices changes made while it was down.
    issued_for: str = ""
    keys: SecretKeys = field(default_factory=SecretKeys)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner: OwnerReference | None = None
    #: The Secret's ``type``; fixed once the Secret exists (the API refuses to change it).
    type: str = defaults.SECRET_TYPE
    #: Written with each new token; a change waits for the next one (never a reason to write).
    token_name: str = field(default="", compare=False)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class StoredToken:
    """What an earlier write left in the Secret, read back (restart-resume, drift detection)."""

    expires_at: datetime | None
    issued_at: datetime | None
    #: The data is exactly what was written: checksum matches, keys as configured, token set.
    data_intact: bool
    resource_version: str
    #: The identity (name) that minted the token, and the fingerprint of its settings.
    identity: str = ""
    issued_for: str = ""
    #: Other controllers' finalizers on the Secret, kept on every write.
    finalizers: tuple[str, ...] = ()
    #: The Secret's labels and annotations as found, to tell when someone edited ours.
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False)


def data_checksum(data: Mapping[str, str]) -> str:
    """sha256 (hex) of the Secret's base64 ``data``, canonically serialized."""
    canonical = json.dumps(dict(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def not_ours(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    controller: ControllerRef | None,
    target: SecretTarget,
) -> str | None:
    """None if a Secret with these labels, annotations and controller is ours to write; else why.

    A binding's Secret is the binding's when it carries the binding's controller owner
    reference: labels and annotations get rewritten by other tools and prove nothing. A target
    without an owner (``external-identity exchange``) has only the label and the owner
    annotation to go by.
    """
    if target.owner is not None:
        if controller is not None and controller.uid == target.owner.uid:
            return None
        if controller is not None:
            return (
                f"Secret {target.ref} belongs to {controller.kind} "
                f"{redact(controller.name, limit=80)!r}; refusing to overwrite it (two writers "
                "cannot share one Secret: choose another secret name)"
            )
        return (
            f"Secret {target.ref} already exists and is not owned by {target.owner.kind} "
            f"{target.owner.name!r}; refusing to overwrite it (delete it, or choose another "
            "secret name)"
        )
    if labels.get(MANAGED_BY_LABEL[0]) != MANAGED_BY_LABEL[1]:
        return (
            f"Secret {target.ref} already exists and is not managed by {MANAGED_BY_LABEL[1]}; "
            "refusing to overwrite it (delete it, or choose another secret name)"
        )
    if annotations.get(OWNER_ANNOTATION) == target.owner_key:
        return None
    owner = annotations.get(OWNER_ANNOTATION, "")
    return (
        f"Secret {target.ref} is managed for another owner ({redact(owner, limit=80)!r}); "
        "refusing to overwrite it (two writers cannot share one Secret: choose another "
        "secret name)"
    )


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def secret_data(keys: SecretKeys, token: IssuedToken) -> dict[str, str]:
    """The Secret's base64 ``data``: each configured key with its value."""
    names = keys.names()
    bad = [name for name in dict.fromkeys((keys.token, *names)) if not _SECRET_KEY.match(name)]
    if bad:
        raise ConfigurationError(
            f"invalid Secret data key(s) {', '.join(map(repr, bad))}: keys may only contain "
            "letters, digits, '-', '_' and '.'"
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"Secret data keys must be distinct, got {names}")
    if not token.token:
        raise SecretWriteError("refusing to write an empty token")
    return {key: _b64(value) for key, value in keys.values(token).items()}


def ours_metadata(
    target: SecretTarget, *, issued_at: datetime, expires_at: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations (but the data checksum) a Secret holding a token issued at
    ``issued_at`` and expiring at ``expires_at`` carries: the target's own, then ours."""
    labels = {**target.labels, MANAGED_BY_LABEL[0]: MANAGED_BY_LABEL[1]}
    annotations = {
        **target.annotations,
        OWNER_ANNOTATION: target.owner_key,
        IDENTITY_ANNOTATION: target.identity,
        **({ISSUED_FOR_ANNOTATION: target.issued_for} if target.issued_for else {}),
        **({TOKEN_NAME_ANNOTATION: target.token_name} if target.token_name else {}),
        EXPIRES_AT_ANNOTATION: rfc3339(expires_at),
        ISSUED_AT_ANNOTATION: rfc3339(issued_at),
        TTL_ANNOTATION: str(round((expires_at - issued_at).total_seconds())),
    }
    return labels, annotations


def token_annotations(
    target: SecretTarget, token: IssuedToken, data: Mapping[str, str]
) -> dict[str, str]:
    """The target's own annotations plus ours: owner, what minted the token, when, checksum."""
    _labels, annotations = ours_metadata(
        target, issued_at=token.issued_at, expires_at=token.expires_at
    )
    return {**annotations, TTL_ANNOTATION: str(token.ttl), CHECKSUM_ANNOTATION: data_checksum(data)}


def metadata_drifted(
    stored: StoredToken, target: SecretTarget, *, issued_at: datetime, expires_at: datetime
) -> dict[str, dict[str, str]] | None:
    """What to put back when someone removed or edited the Secret's labels or our annotations
    (a merge patch for its ``metadata``), or None when they are as written.

    The token-name annotation is not checked: it is written with each new token (a new
    ``tokenName`` waits for the next one, and Secrets written before it existed have none).
    The TTL annotation is checked for a number only (the granted TTL may differ from the times
    by the second they are rounded to).
    """
    labels, annotations = ours_metadata(target, issued_at=issued_at, expires_at=expires_at)
    annotations.pop(TOKEN_NAME_ANNOTATION, None)
    if stored.annotations.get(TTL_ANNOTATION, "").isdigit():
        del annotations[TTL_ANNOTATION]
    lost_labels = {k: v for k, v in labels.items() if stored.labels.get(k) != v}
    lost_annotations = {k: v for k, v in annotations.items() if stored.annotations.get(k) != v}
    if not lost_labels and not lost_annotations:
        return None
    return {
        **({"labels": lost_labels} if lost_labels else {}),
        **({"annotations": lost_annotations} if lost_annotations else {}),
    }


@dataclass(frozen=True)
class DataFacts:
    """What drift detection needs to know about a Secret's ``data``, without the values."""

    #: The data matches the checksum annotation written with it.
    checksum_matches: bool
    names: frozenset[str]
    #: The keys whose value is non-empty, valid base64.
    filled: frozenset[str]


def data_facts(annotations: Mapping[str, str], data: Mapping[str, str]) -> DataFacts:
    return DataFacts(
        checksum_matches=annotations.get(CHECKSUM_ANNOTATION) == data_checksum(data),
        names=frozenset(data),
        filled=frozenset(key for key, value in data.items() if _decodes_to_something(value)),
    )


def stored_token(
    annotations: Mapping[str, str],
    data: Mapping[str, str] | DataFacts,
    *,
    keys: SecretKeys,
    resource_version: str,
    finalizers: tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
) -> StoredToken:
    """What an earlier write left, from a Secret's annotations and base64 ``data``."""
    facts = data if isinstance(data, DataFacts) else data_facts(annotations, data)
    return StoredToken(
        expires_at=parse_rfc3339(annotations.get(EXPIRES_AT_ANNOTATION, "")),
        issued_at=parse_rfc3339(
            annotations.get(ISSUED_AT_ANNOTATION)
            or annotations.get(_LEGACY_ISSUED_AT_ANNOTATION, "")
        ),
        data_intact=(
            facts.checksum_matches
            and facts.names == frozenset(keys.names())
            and keys.token in facts.filled
        ),
        resource_version=resource_version,
        identity=annotations.get(IDENTITY_ANNOTATION, ""),
        issued_for=annotations.get(ISSUED_FOR_ANNOTATION, ""),
        finalizers=finalizers,
        labels=dict(labels or {}),
        annotations=dict(annotations),
    )


def _decodes_to_something(value: str) -> bool:
    try:
        return bool(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return False
