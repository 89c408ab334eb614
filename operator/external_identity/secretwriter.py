"""The one place that writes token Secrets: the controller's and ``external-identity exchange``'s.

A token Secret is always written whole — type ``Opaque``, every data key, our labels and
annotations — in one create or one replace carrying the resourceVersion it was read at, so a
reader never sees it blank or half-updated, and a concurrent edit is never silently lost.

A Secret is *ours* when it carries the ``app.kubernetes.io/managed-by`` label and its
``externalidentity.dev/owner`` annotation equals the target's ``owner_key`` (the binding's
uid for the controller, a fixed key for the CLI). Anything else is someone else's Secret:
it is never written or deleted, and :class:`~external_identity.errors.SecretConflict` says so.

The annotations record what was written (expiry, mint time, TTL, identity) so a restarted
operator can resume its schedule without re-minting, and a checksum of the data so it can tell
when someone edited or emptied the Secret. Token values never reach a log line or an error
message; errors name the Secret and the API's reason only.

Every call to the (blocking) Kubernetes client runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn, TypeVar

import urllib3.exceptions
from kubernetes.client import (
    CoreV1Api,
    V1DeleteOptions,
    V1ObjectMeta,
    V1OwnerReference,
    V1Preconditions,
    V1Secret,
)
from kubernetes.client.exceptions import ApiException

from .errors import (
    ConfigurationError,
    NamespaceTerminating,
    SecretConflict,
    SecretWriteError,
    redact,
)
from .timefmt import parse_rfc3339, rfc3339
from .tokenservice import IssuedToken

__all__ = [
    "ANNOTATION_PREFIX",
    "CHECKSUM_ANNOTATION",
    "DEFAULT_CONFLICT_RETRIES",
    "EXPIRES_AT_ANNOTATION",
    "IDENTITY_ANNOTATION",
    "ISSUED_AT_ANNOTATION",
    "ISSUED_FOR_ANNOTATION",
    "MANAGED_BY_LABEL",
    "OWNER_ANNOTATION",
    "SECRET_KEY_PATTERN",
    "TTL_ANNOTATION",
    "NamespaceTerminating",
    "OwnerReference",
    "SecretKeys",
    "SecretTarget",
    "SecretWriter",
    "StoredToken",
    "data_checksum",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "external-identity-operator")
ANNOTATION_PREFIX = "externalidentity.dev/"
OWNER_ANNOTATION = ANNOTATION_PREFIX + "owner"
IDENTITY_ANNOTATION = ANNOTATION_PREFIX + "identity"
EXPIRES_AT_ANNOTATION = ANNOTATION_PREFIX + "expires-at"
ISSUED_FOR_ANNOTATION = ANNOTATION_PREFIX + "issued-for"
ISSUED_AT_ANNOTATION = ANNOTATION_PREFIX + "issued-at"
#: Where releases before 0.2 recorded the issue time; read so an upgrade does not re-mint.
_LEGACY_ISSUED_AT_ANNOTATION = ANNOTATION_PREFIX + "refreshed-at"
TTL_ANNOTATION = ANNOTATION_PREFIX + "ttl"
CHECKSUM_ANNOTATION = ANNOTATION_PREFIX + "data-checksum"

#: How many stale-resourceVersion conflicts a write or delete absorbs before giving up.
DEFAULT_CONFLICT_RETRIES = 5

#: What Kubernetes accepts as a Secret data key.
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]{1,253}$"
_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)


@dataclass(frozen=True)
class SecretKeys:
    """Which Secret data key holds which value; ``None`` leaves that value out."""

    token: str = "token"
    bearer_token: str | None = None
    expires_at: str | None = None
    host: str | None = None

    def names(self) -> list[str]:
        return [key for key in (self.token, self.bearer_token, self.expires_at, self.host) if key]


@dataclass(frozen=True)
class OwnerReference:
    """The object that owns the Secret (the binding), for garbage collection on its deletion."""

    api_version: str
    kind: str
    name: str
    uid: str


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


def data_checksum(data: Mapping[str, str]) -> str:
    """sha256 (hex) of the Secret's base64 ``data``, canonically serialized."""
    canonical = json.dumps(dict(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _secret_data(keys: SecretKeys, token: IssuedToken) -> dict[str, str]:
    names = keys.names()
    bad = [name for name in names if not _SECRET_KEY.match(name)]
    if bad:
        raise ConfigurationError(
            f"invalid Secret data key(s) {', '.join(map(repr, bad))}: keys may only contain "
            "letters, digits, '-', '_' and '.'"
        )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"Secret data keys must be distinct, got {names}")
    if not token.token:
        raise SecretWriteError("refusing to write an empty token")
    values = {
        keys.token: token.token,
        keys.bearer_token: token.bearer_token,
        keys.expires_at: rfc3339(token.expires_at),
        keys.host: token.host,
    }
    return {key: _b64(value) for key, value in values.items() if key}


def _text(value: str | bytes) -> str:
    return value.decode("ascii", errors="replace") if isinstance(value, bytes) else value


def _api_failure(error: ApiException) -> tuple[str, str]:
    """The API's ``reason`` and (redacted) ``message``, from its Status body if there is one."""
    reason, message = str(error.reason or error.status), ""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict):
        reason = str(status.get("reason") or reason)
        message = redact(str(status.get("message") or ""))
    return reason, message


class _Stale(Exception):
    """409: the Secret changed (or appeared) since we read it."""


class _Gone(Exception):
    """404: the Secret is not there (any more)."""


class SecretWriter:
    """Writes, reads back and deletes token Secrets through ``CoreV1Api``."""

    def __init__(
        self, api: CoreV1Api, *, conflict_retries: int = DEFAULT_CONFLICT_RETRIES
    ) -> None:
        self._api = api
        self._conflict_retries = conflict_retries

    async def write(self, target: SecretTarget, token: IssuedToken) -> None:
        """Create or replace the whole Secret in one write.

        Raises :class:`SecretConflict` (and writes nothing) if the Secret exists and is not
        ours, :class:`NamespaceTerminating` if its namespace is going away, and
        :class:`SecretWriteError` for anything else the API refused.
        """
        data = _secret_data(target.keys, token)
        current = await self._get(target)
        raced_on_create = False
        for _ in range(self._conflict_retries + 1):
            try:
                if current is None:
                    await self._call("create", target, self._api.create_namespaced_secret,
                                     target.namespace, self._body(target, token, data, None))
                    logger.info("Created Secret %s (expires %s)", target.ref,
                                rfc3339(token.expires_at))
                    return
                self._ensure_ours(current, target)
                await self._call("replace", target, self._api.replace_namespaced_secret,
                                 target.name, target.namespace,
                                 self._body(target, token, data, current))
                logger.info("Replaced Secret %s (expires %s)", target.ref,
                            rfc3339(token.expires_at))
                return
            except _Stale:
                if current is None:  # created by someone else since we looked: once is enough
                    if raced_on_create:
                        break
                    raced_on_create = True
                current = await self._get(target)
            except _Gone:  # deleted since we read it: create it anew
                current = None
        raise SecretWriteError(
            f"Secret {target.ref} kept changing while being written; gave up after "
            f"{self._conflict_retries + 1} attempts"
        )

    async def read(self, target: SecretTarget) -> StoredToken | None:
        """What the last write left; None if there is no Secret; SecretConflict if not ours."""
        current = await self._get(target)
        if current is None:
            return None
        self._ensure_ours(current, target)
        metadata = current.metadata or V1ObjectMeta()
        annotations = metadata.annotations or {}
        data = {key: _text(value) for key, value in (current.data or {}).items()}
        return StoredToken(
            expires_at=parse_rfc3339(annotations.get(EXPIRES_AT_ANNOTATION, "")),
            issued_at=parse_rfc3339(
                annotations.get(ISSUED_AT_ANNOTATION)
                or annotations.get(_LEGACY_ISSUED_AT_ANNOTATION, "")
            ),
            data_intact=(
                annotations.get(CHECKSUM_ANNOTATION) == data_checksum(data)
                and sorted(data) == sorted(target.keys.names())
                and _decodes_to_something(data.get(target.keys.token, ""))
            ),
            resource_version=metadata.resource_version or "",
            identity=annotations.get(IDENTITY_ANNOTATION, ""),
            issued_for=annotations.get(ISSUED_FOR_ANNOTATION, ""),
        )

    async def delete(self, target: SecretTarget) -> bool:
        """Delete the Secret if it is ours; True if this call deleted it."""
        for _ in range(self._conflict_retries + 1):
            current = await self._get(target)
            if current is None:
                return False
            if not self._is_ours(current, target):
                logger.info("Not deleting Secret %s: it is not ours", target.ref)
                return False
            metadata = current.metadata or V1ObjectMeta()
            preconditions = V1Preconditions(
                uid=metadata.uid, resource_version=metadata.resource_version
            )
            try:
                await self._call("delete", target, self._api.delete_namespaced_secret,
                                 target.name, target.namespace,
                                 body=V1DeleteOptions(preconditions=preconditions))
            except _Stale:
                continue  # changed or replaced since we read it: look again
            except _Gone:
                return False
            logger.info("Deleted Secret %s", target.ref)
            return True
        raise SecretWriteError(
            f"Secret {target.ref} kept changing while being deleted; gave up after "
            f"{self._conflict_retries + 1} attempts"
        )

    # --- helpers ----------------------------------------------------------------------------

    def _body(
        self,
        target: SecretTarget,
        token: IssuedToken,
        data: dict[str, str],
        current: V1Secret | None,
    ) -> V1Secret:
        existing = current.metadata if current is not None and current.metadata else None
        owner_references = (
            [V1OwnerReference(
                api_version=target.owner.api_version, kind=target.owner.kind,
                name=target.owner.name, uid=target.owner.uid,
                controller=True, block_owner_deletion=False,
            )]
            if target.owner is not None
            else existing.owner_references if existing is not None else None
        )
        annotations = {
            **target.annotations,
            OWNER_ANNOTATION: target.owner_key,
            IDENTITY_ANNOTATION: target.identity,
            **(
                {ISSUED_FOR_ANNOTATION: target.issued_for}
                if target.issued_for
                else {}
            ),
            EXPIRES_AT_ANNOTATION: rfc3339(token.expires_at),
            ISSUED_AT_ANNOTATION: rfc3339(token.issued_at),
            TTL_ANNOTATION: str(token.ttl),
            CHECKSUM_ANNOTATION: data_checksum(data),
        }
        metadata = V1ObjectMeta(
            name=target.name,
            namespace=target.namespace,
            labels={**target.labels, MANAGED_BY_LABEL[0]: MANAGED_BY_LABEL[1]},
            annotations=annotations,
            owner_references=owner_references,
            # Someone else's finalizers stay; the resourceVersion makes the replace conditional.
            finalizers=existing.finalizers if existing is not None else None,
            resource_version=existing.resource_version if existing is not None else None,
        )
        return V1Secret(
            api_version="v1", kind="Secret", metadata=metadata, type="Opaque", data=data
        )

    @staticmethod
    def _is_ours(secret: V1Secret, target: SecretTarget) -> bool:
        metadata = secret.metadata or V1ObjectMeta()
        labels = metadata.labels or {}
        annotations = metadata.annotations or {}
        return (
            labels.get(MANAGED_BY_LABEL[0]) == MANAGED_BY_LABEL[1]
            and annotations.get(OWNER_ANNOTATION) == target.owner_key
        )

    def _ensure_ours(self, secret: V1Secret, target: SecretTarget) -> None:
        if self._is_ours(secret, target):
            return
        metadata = secret.metadata or V1ObjectMeta()
        if (metadata.labels or {}).get(MANAGED_BY_LABEL[0]) != MANAGED_BY_LABEL[1]:
            raise SecretConflict(
                f"Secret {target.ref} already exists and is not managed by "
                f"{MANAGED_BY_LABEL[1]}; refusing to overwrite it (delete it, or choose "
                "another secret name)"
            )
        owner = (metadata.annotations or {}).get(OWNER_ANNOTATION, "")
        raise SecretConflict(
            f"Secret {target.ref} is managed for another owner ({redact(owner, limit=80)!r}); "
            "refusing to overwrite it (two writers cannot share one Secret: choose another "
            "secret name)"
        )

    async def _get(self, target: SecretTarget) -> V1Secret | None:
        try:
            return await self._call("read", target, self._api.read_namespaced_secret,
                                    target.name, target.namespace)
        except _Gone:
            return None

    async def _call(
        self, action: str, target: SecretTarget, function: Callable[..., T], *args: object,
        **kwargs: object,
    ) -> T:
        """Run one blocking API call in a thread; map its failures onto our error tree."""
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except ApiException as error:
            self._raise_for(action, target, error)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise SecretWriteError(
                f"cannot {action} Secret {target.ref}: Kubernetes API unreachable "
                f"({type(error).__name__})"
            ) from error

    @staticmethod
    def _raise_for(action: str, target: SecretTarget, error: ApiException) -> NoReturn:
        reason, message = _api_failure(error)
        if error.status in (403, 409) and "being terminated" in message:
            raise NamespaceTerminating(
                f"cannot {action} Secret {target.ref}: namespace {target.namespace} is being "
                "terminated"
            ) from error
        if error.status == 409:
            raise _Stale from error
        if error.status == 404 and action != "create":  # on create: the namespace is missing
            raise _Gone from error
        detail = f": {message}" if message else ""
        raise SecretWriteError(
            f"cannot {action} Secret {target.ref}: {error.status} {reason}{detail}"
        ) from error


def _decodes_to_something(value: str) -> bool:
    try:
        return bool(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return False
