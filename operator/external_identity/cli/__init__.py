"""The ``external-identity`` command line."""

__all__: list[str] = []
