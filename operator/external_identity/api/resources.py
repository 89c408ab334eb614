"""Names of the operator's own API resources. Pure data."""

from __future__ import annotations

__all__ = ["BINDINGS", "BINDING_KIND", "GROUP", "IDENTITIES", "IDENTITY_KIND", "VERSION"]

GROUP = "externalidentity.dev"
VERSION = "v1alpha1"
BINDINGS = "serviceaccountbindings"
IDENTITIES = "externalidentities"
BINDING_KIND = "ServiceAccountBinding"
IDENTITY_KIND = "ExternalIdentity"
