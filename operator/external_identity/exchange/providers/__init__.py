"""Cloud identity providers: each turns workload credentials into a :class:`Proof`.

Import the provider modules themselves (``providers.aws``, ``providers.azure``): importing
this package loads neither SDK.
"""

__all__: list[str] = []
