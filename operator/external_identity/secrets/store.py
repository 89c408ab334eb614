"""Binding Secrets read from the watch-fed cache and written through the API, cache kept in step."""

from __future__ import annotations

from prometheus_client import Counter

from external_identity.errors import ExternalIdentityError, SecretConflict
from external_identity.exchange.tokens import IssuedToken
from external_identity.secrets.cache import SecretCache, cached_secret
from external_identity.secrets.data import SecretTarget, StoredToken
from external_identity.secrets.writer import SecretWriter

__all__ = ["TokenSecrets"]


class TokenSecrets:
    def __init__(self, writer: SecretWriter, cache: SecretCache, writes: Counter) -> None:
        self._writer = writer
        self._cache = cache
        self._writes = writes

    async def look(self, target: SecretTarget) -> StoredToken | None:
        """As :meth:`SecretWriter.read`, from the API: for a Secret the cache does not know,
        which may be someone else's or ours without its label (so outside the watch)."""
        return await self._writer.read(target)

    async def relabel(
        self, target: SecretTarget, known: StoredToken, metadata: dict[str, dict[str, str]]
    ) -> None:
        try:
            stored = await self._writer.relabel(target, known, metadata)
        except ExternalIdentityError:
            self._writes.labels("relabel", "error").inc()
            raise
        self._writes.labels("relabel", "ok").inc()
        self._cache.saw(target.namespace, target.name, cached_secret(stored))

    def cached(self, target: SecretTarget) -> StoredToken | None:
        """What the watch-fed cache says the Secret holds (raises SecretConflict if not ours)."""
        return self._cache.lookup(target)

    async def write(
        self, target: SecretTarget, token: IssuedToken, *, known: StoredToken | None
    ) -> None:
        operation = "create" if known is None else "replace"
        try:
            stored = await self._writer.write(target, token, known=known)
        except ExternalIdentityError:
            self._writes.labels(operation, "error").inc()
            raise
        self._writes.labels(operation, "ok").inc()
        self._cache.saw(target.namespace, target.name, cached_secret(stored))

    async def delete(self, target: SecretTarget) -> bool:
        """Delete the Secret if ours (True) or find it gone (False); the cache forgets it either
        way. Someone else's Secret stays, and stays cached: SecretConflict."""
        try:
            deleted = await self._writer.delete(target)
        except SecretConflict:
            raise
        except ExternalIdentityError:
            self._writes.labels("delete", "error").inc()
            raise
        if deleted:
            self._writes.labels("delete", "ok").inc()
        self._cache.gone(target.namespace, target.name)
        return deleted
