"""The token Secret: what it holds, where it goes, the operator's cache of its own, and the one
writer."""

__all__: list[str] = []
