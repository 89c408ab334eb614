"""ExternalIdentities: the cache bindings decide with, their status, and the operator's credential
probe."""

__all__: list[str] = []
