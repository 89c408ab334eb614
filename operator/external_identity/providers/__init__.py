"""Cloud identity providers: each turns workload credentials into a :class:`Proof`."""

from .aws import AwsIamProvider
from .azure import AzureProvider

__all__ = ["AwsIamProvider", "AzureProvider"]
