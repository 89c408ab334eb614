"""From workload credentials to a token: proofs, cloud providers, per-workload identity, the token-
service client and its replies."""

__all__: list[str] = []
