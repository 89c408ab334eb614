"""``external-identity explain``: every check between a spec and a token, in order."""

__all__: list[str] = []
