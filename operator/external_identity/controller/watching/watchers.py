"""The three informers bindings are decided with, started in the order a step needs them.

Identities first: a binding decided before its identity is known would be refused (and its
Secret revoked). Then the operator's own Secrets and the bindings, listed at once; the Secrets
must be in before a step reads one back, while bindings are worked on as they arrive.
"""

from __future__ import annotations

import logging
from typing import Any

from external_identity.controller.identities.cache import IdentityCache
from external_identity.controller.watching.feeds import (
    BindingFeed,
    IdentityFeed,
    SecretFeed,
    SeenSecret,
)
from external_identity.controller.watching.informers import Informer
from external_identity.controller.watching.listing import Lister
from external_identity.secrets.cache import SecretCache

__all__ = ["Watchers"]

log = logging.getLogger(__name__)


class Watchers:
    def __init__(
        self,
        *,
        lister: Lister,
        identities: tuple[IdentityCache, IdentityFeed],
        secrets: tuple[SecretCache, SecretFeed],
        bindings: BindingFeed,
    ) -> None:
        self._lister = lister
        self._identity_cache, self._identity_feed = identities
        self._secret_cache, self._secret_feed = secrets
        self._binding_feed = bindings
        self._informers: list[Informer[Any]] = []
        self._bindings: Informer[dict[str, Any]] | None = None

    async def start(self) -> None:
        """Return once identities and Secrets are listed; bindings may still be listing."""
        self._identity_cache.clear()
        identities = Informer("ExternalIdentity", [self._lister.identities()],
                              self._identity_feed)
        self._informers = [identities]
        identities.start()
        await identities.synced.wait()
        self._secret_cache.clear()
        secrets: Informer[SeenSecret] = Informer(
            "Secret", self._lister.token_secrets(), self._secret_feed
        )
        self._bindings = Informer("ServiceAccountBinding", self._lister.bindings(),
                                  self._binding_feed)
        self._informers += [secrets, self._bindings]
        secrets.start()
        self._bindings.start()
        await secrets.synced.wait()
        log.info("Listed %d identities and %d token Secrets", len(self._identity_cache.names()),
                 len(self._secret_cache))

    async def bindings_listed(self) -> None:
        if self._bindings is not None:
            await self._bindings.synced.wait()

    async def stop(self) -> None:
        informers, self._informers, self._bindings = self._informers, [], None
        for informer in reversed(informers):
            await informer.stop()
