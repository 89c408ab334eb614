"""Where objects come from: informers (list then watch), what their events mean, listing scopes and
peering."""

__all__: list[str] = []
