"""The controller: informers feed one binding fleet that issues and refreshes; kopf writes
identity status and watches ServiceAccounts and workloads when asked."""

__all__: list[str] = []
