"""The one place that writes token Secrets: the controller's and ``external-identity exchange``'s.

A token Secret is always written whole — type ``Opaque``, every data key, our labels and
annotations — in one create or one replace carrying the resourceVersion it was read at, so a
reader never sees it blank or half-updated, and a concurrent edit is never silently lost.

A binding's Secret is *ours* when it carries the binding's controller owner reference; a
Secret the CLI writes (no owner) when it carries the ``app.kubernetes.io/managed-by`` label
and an ``externalidentity.dev/owner`` annotation equal to the target's ``owner_key``. Anything
else is someone else's Secret: it is never written or deleted, and
:class:`~external_identity.errors.SecretConflict` says so.

The annotations record what was written (expiry, mint time, TTL, identity) so a restarted
operator can resume its schedule without re-minting, and a checksum of the data so it can tell
when someone edited or emptied the Secret. Token values never reach a log line or an error
message; errors name the Secret and the API's reason only.

What goes into a Secret (data, annotations) and what is read back from one is pure data in
:mod:`external_identity.secrets.data`; its public names are re-exported here.

Every call to the (blocking) Kubernetes client runs in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from kubernetes.client import (
    CoreV1Api,
    V1DeleteOptions,
    V1ObjectMeta,
    V1OwnerReference,
    V1Preconditions,
    V1Secret,
)
from kubernetes.client.exceptions import ApiException

from external_identity.api.times import rfc3339
from external_identity.errors import (
    ExternalIdentityError,
    NamespaceTerminating,
    SecretConflict,
    SecretWriteError,
)
from external_identity.exchange.tokens import IssuedToken
from external_identity.kube.calls import api_failure, call_api
from external_identity.logrefs import about
from external_identity.secrets.cache import cached_secret, stored
from external_identity.secrets.data import (
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    SecretTarget,
    StoredToken,
    controller_of,
    not_ours,
    secret_data,
    token_annotations,
)

__all__ = ["DEFAULT_CONFLICT_RETRIES", "UNREAD", "SecretWriter", "Unread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How many stale-resourceVersion conflicts a write or delete absorbs before giving up.
DEFAULT_CONFLICT_RETRIES = 5


def _about(target: SecretTarget) -> dict[str, Any]:
    return about("Secret", target.name, target.namespace)


class Unread:
    """Not read yet: :meth:`SecretWriter.write` reads the Secret first."""


UNREAD = Unread()


def _as_secret(known: StoredToken | None, target: SecretTarget) -> V1Secret | None:
    """A Secret :meth:`SecretWriter.read` found (and found ours): enough to replace it."""
    if known is None:
        return None
    return V1Secret(metadata=V1ObjectMeta(
        resource_version=known.resource_version,
        finalizers=list(known.finalizers) or None,
        labels=dict([MANAGED_BY_LABEL]),
        annotations={OWNER_ANNOTATION: target.owner_key},
        owner_references=_owner_references(target),
    ))


def _owner_references(target: SecretTarget) -> list[V1OwnerReference] | None:
    if target.owner is None:
        return None
    return [V1OwnerReference(
        api_version=target.owner.api_version, kind=target.owner.kind, name=target.owner.name,
        uid=target.owner.uid, controller=True, block_owner_deletion=False,
    )]


class _Stale(ExternalIdentityError):
    """409: the Secret changed (or appeared) since we read it; caught inside this module."""


class _Gone(ExternalIdentityError):
    """404: the Secret is not there (any more); caught inside this module."""


class SecretWriter:
    """Writes, reads back and deletes token Secrets through ``CoreV1Api``."""

    def __init__(
        self, api: CoreV1Api, *, conflict_retries: int = DEFAULT_CONFLICT_RETRIES
    ) -> None:
        self._api = api
        self._conflict_retries = conflict_retries

    async def write(
        self,
        target: SecretTarget,
        token: IssuedToken,
        *,
        known: StoredToken | Unread | None = UNREAD,
    ) -> dict[str, Any]:
        """Create or replace the whole Secret in one write; the Secret as the API stored it.

        ``known`` is what :meth:`read` just returned for this target, so the write needs no
        read of its own (a stale one costs a 409 and one read, never a lost edit).

        Raises :class:`SecretConflict` (and writes nothing) if the Secret exists and is not
        ours, :class:`NamespaceTerminating` if its namespace is going away, and
        :class:`SecretWriteError` for anything else the API refused.
        """
        data = secret_data(target.keys, token)
        current = (
            await self._get(target) if isinstance(known, Unread) else _as_secret(known, target)
        )
        raced_on_create = False
        for _ in range(self._conflict_retries + 1):
            try:
                if current is None:
                    stored = await self._call(
                        "create", target, self._api.create_namespaced_secret,
                        target.namespace, self._body(target, token, data, None))
                    logger.info("Created Secret %s (expires %s)", target.ref,
                                rfc3339(token.expires_at), extra=_about(target))
                    return self._json(stored)
                self._ensure_ours(current, target)
                stored = await self._call(
                    "replace", target, self._api.replace_namespaced_secret,
                    target.name, target.namespace, self._body(target, token, data, current))
                logger.info("Replaced Secret %s (expires %s)", target.ref,
                            rfc3339(token.expires_at), extra=_about(target))
                return self._json(stored)
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
        return None if current is None else stored(cached_secret(self._json(current)), target)

    async def relabel(
        self, target: SecretTarget, known: StoredToken, metadata: dict[str, dict[str, str]]
    ) -> dict[str, Any]:
        """Put back labels and annotations (a merge patch of ``metadata``), data untouched, on
        the Secret as ``known`` read it; the Secret as the API stored it.

        The patch carries the resourceVersion it was read at: a Secret edited since gets a
        409, and the next step looks again.
        """
        patch = {"metadata": {**metadata, "resourceVersion": known.resource_version}}
        try:
            patched = await self._call(
                "patch", target, self._api.patch_namespaced_secret, target.name,
                target.namespace, patch, _content_type="application/merge-patch+json")
        except (_Stale, _Gone):
            raise SecretWriteError(
                f"Secret {target.ref} changed while its labels were put back; will look again"
            ) from None
        logger.info("Put back the labels and annotations of Secret %s", target.ref,
                    extra=_about(target))
        return self._json(patched)

    async def delete(self, target: SecretTarget) -> bool:
        """Delete the Secret if it is ours; True if this call deleted it, False if it is gone.

        Raises :class:`SecretConflict` (and deletes nothing) if the Secret is not ours.
        """
        for _ in range(self._conflict_retries + 1):
            current = await self._get(target)
            if current is None:
                return False
            self._ensure_ours(current, target)
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
            logger.info("Deleted Secret %s", target.ref, extra=_about(target))
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
            _owner_references(target) if target.owner is not None
            else existing.owner_references if existing is not None else None
        )
        metadata = V1ObjectMeta(
            name=target.name,
            namespace=target.namespace,
            labels={**target.labels, MANAGED_BY_LABEL[0]: MANAGED_BY_LABEL[1]},
            annotations=token_annotations(target, token, data),
            owner_references=owner_references,
            # Someone else's finalizers stay; the resourceVersion makes the replace conditional.
            finalizers=existing.finalizers if existing is not None else None,
            resource_version=existing.resource_version if existing is not None else None,
        )
        return V1Secret(
            api_version="v1", kind="Secret", metadata=metadata, type=target.type, data=data
        )

    def _json(self, secret: V1Secret) -> dict[str, Any]:
        serialized: dict[str, Any] = self._api.api_client.sanitize_for_serialization(secret)
        return serialized

    @staticmethod
    def _not_ours(secret: V1Secret, target: SecretTarget) -> str | None:
        metadata = secret.metadata or V1ObjectMeta()
        controller = controller_of(
            {"controller": ref.controller, "kind": ref.kind, "name": ref.name, "uid": ref.uid}
            for ref in metadata.owner_references or ()
        )
        return not_ours(metadata.labels or {}, metadata.annotations or {}, controller, target)

    def _ensure_ours(self, secret: V1Secret, target: SecretTarget) -> None:
        if (why := self._not_ours(secret, target)) is not None:
            raise SecretConflict(why)

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
        """One API call (in a thread); its failures mapped onto our error tree."""
        try:
            return await call_api(f"{action} Secret {target.ref}", SecretWriteError, function,
                                  *args, **kwargs)
        except ApiException as error:
            self._raise_for(action, target, error)

    @staticmethod
    def _raise_for(action: str, target: SecretTarget, error: ApiException) -> NoReturn:
        reason, message = api_failure(error)
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

