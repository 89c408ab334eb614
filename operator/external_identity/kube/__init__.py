"""The Kubernetes client: how it is built, and blocking calls made off the event loop with failures
named."""

__all__: list[str] = []
