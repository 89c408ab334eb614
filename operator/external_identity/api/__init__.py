"""The operator's API: resource names and specs, the condition vocabulary, the one source of
defaults, and the CRDs' own checks. No I/O."""

__all__: list[str] = []
