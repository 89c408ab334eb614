"""Several operators over one cluster: each one's scope (namespaces, binding selector), its
entry in each identity's ``status.operators``, and which of them serves a binding their scopes
share. Pure, except :mod:`.gate`, which reads the identity cache."""

__all__: list[str] = []
