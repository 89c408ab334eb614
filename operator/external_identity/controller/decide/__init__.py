"""What to do next for one binding: an ordered chain of pure checks, shared with ``explain``.
Imports nothing that performs I/O."""

__all__: list[str] = []
