"""Azure settings other modules name without loading azure-identity (imported only when used)."""

from __future__ import annotations

__all__ = ["DEFAULT_RESOURCE"]

#: The Entra resource (audience) tokens are requested for unless the identity names another.
DEFAULT_RESOURCE = "https://management.azure.com/"
