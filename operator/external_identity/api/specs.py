"""Typed views of the two resources' specs, validated with pydantic. No I/O.

The CRD schemas reject most bad input at apply time; these models are the
second line (and the only one where schemas are not enforced), turning what
slips through into one readable message for the Ready condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from external_identity.api import defaults
from external_identity.errors import ConfigurationError
from external_identity.exchange.tokens import (
    TokenServiceEndpoint,
)
from external_identity.secrets.data import SECRET_KEY_PATTERN, SecretKeys

__all__ = [
    "ANY_ACCOUNT",
    "AccountEntry",
    "BindingSpec",
    "IdentitySpec",
    "parse_binding",
    "parse_identity",
    "referenced_identity",
]

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
#: ``serviceAccounts[].id``: any Phase service account, by explicit choice.
ANY_ACCOUNT = "*"
ACCOUNT_ID_PATTERN = r"^(\*|" + UUID_PATTERN[1:-1] + ")$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: ``Opaque``, or a type of the user's own with a domain prefix (``example.com/phase-token``).
SECRET_TYPE_PATTERN = r"^(Opaque|[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+)$"


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class TokenServiceSpec(_Spec):
    host: str = Field(defaults.TOKEN_SERVICE_HOST, pattern=r"^https?://[^\s/]+")
    path_prefix: str = defaults.CONSOLE_PATH_PREFIX
    ca_bundle: str | None = Field(None, repr=False)
    timeout_seconds: float = Field(defaults.TOKEN_SERVICE_TIMEOUT, gt=0, le=300)

    def endpoint(self) -> TokenServiceEndpoint:
        return TokenServiceEndpoint(host=self.host, path_prefix=self.path_prefix)


class AwsSpec(_Spec):
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    sts_endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+")


class AzureSpec(_Spec):
    tenant_id: str = Field(pattern=UUID_PATTERN)
    resource: str = Field(defaults.AZURE_RESOURCE, min_length=1)
    authority_host: str | None = Field(None, pattern=r"^https://[^\s/]+")
    client_id: str | None = Field(None, pattern=UUID_PATTERN)


class CredentialsSpec(_Spec):
    source: Literal["Operator", "ServiceAccount"] = defaults.CREDENTIALS_SOURCE
    #: The TokenRequest audience for source ServiceAccount (default: the provider's own).
    audience: str | None = Field(None, min_length=1, max_length=253)


def _matches_any(namespace: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(namespace, pattern) for pattern in patterns)


class AccountEntry(_Spec):
    """One ``serviceAccounts`` entry: a Phase service account and where it may be minted for."""

    id: str = Field(pattern=ACCOUNT_ID_PATTERN, max_length=36)
    #: Names or patterns, matched as ``allowedNamespaces`` is; None: every namespace the
    #: identity allows.
    namespaces: tuple[str, ...] | None = None

    def names(self, account_id: str) -> bool:
        return self.id == ANY_ACCOUNT or self.id.lower() == account_id.lower()

    def allows_namespace(self, namespace: str) -> bool:
        return self.namespaces is None or _matches_any(namespace, self.namespaces)


class IdentitySpec(_Spec):
    provider: Literal["aws-iam", "azure"]
    description: str = ""
    token_service: TokenServiceSpec = TokenServiceSpec()
    token_name: str | None = None
    default_ttl: int = Field(
        defaults.DEFAULT_TTL, alias="defaultTTL", ge=1, le=defaults.TTL_CEILING
    )
    max_ttl: int = Field(defaults.MAX_TTL, alias="maxTTL", ge=1, le=defaults.TTL_CEILING)
    aws: AwsSpec | None = None
    azure: AzureSpec | None = None
    credentials: CredentialsSpec = CredentialsSpec()
    allowed_namespaces: tuple[str, ...] | None = None
    service_accounts: tuple[AccountEntry, ...] | None = None

    @model_validator(mode="after")
    def _cross_field_rules(self) -> IdentitySpec:
        if self.default_ttl > self.max_ttl:
            raise ValueError("defaultTTL must not exceed maxTTL")
        if self.aws is not None and self.provider != "aws-iam":
            raise ValueError("the aws block is only valid with provider aws-iam")
        if self.azure is not None and self.provider != "azure":
            raise ValueError("the azure block is only valid with provider azure")
        if self.provider == "azure" and self.azure is None:
            raise ValueError("provider azure requires azure.tenantId")
        ids = [entry.id for entry in self.service_accounts or ()]
        if len(ids) != len(set(ids)):
            raise ValueError("serviceAccounts must not list an id twice")
        return self

    @property
    def minted_token_name(self) -> str:
        """What Phase names the tokens: ``tokenName``, by default the provider's shortcode."""
        return self.token_name or self.provider

    def allows_namespace(self, namespace: str) -> bool:
        if self.allowed_namespaces is None:
            return True
        return _matches_any(namespace, self.allowed_namespaces)

    def allows_account(self, account_id: str, namespace: str) -> bool:
        """Whether a binding in ``namespace`` may get tokens for Phase account ``account_id``.

        With ``serviceAccounts`` absent, only a per-workload identity allows any account: each
        binding proves its own cloud principal there, while with the operator's own
        credentials every binding would prove the same one.
        """
        if not self.allows_namespace(namespace):
            return False
        if self.service_accounts is None:
            return self.credentials.source == "ServiceAccount"
        return any(entry.names(account_id) and entry.allows_namespace(namespace)
                   for entry in self.service_accounts)


class IdentityRef(_Spec):
    name: str = Field(min_length=1, max_length=253)


class RefreshPolicy(_Spec):
    refresh_at_percent: int | None = Field(None, ge=10, le=95)
    min_remaining_seconds: int | None = Field(None, ge=0, le=3600)


class SecretKeysSpec(_Spec):
    token: str = Field(defaults.SECRET_TOKEN_KEY, pattern=SECRET_KEY_PATTERN, max_length=253)
    bearer_token: str | None = Field(None, pattern=SECRET_KEY_PATTERN, max_length=253)
    expires_at: str | None = Field(None, pattern=SECRET_KEY_PATTERN, max_length=253)
    host: str | None = Field(None, pattern=SECRET_KEY_PATTERN, max_length=253)



class SecretSpec(_Spec):
    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    keys: SecretKeysSpec = SecretKeysSpec()
    #: ``PhaseEnv`` adds PHASE_SERVICE_TOKEN and PHASE_HOST beside the configured keys.
    format: Literal["Token", "PhaseEnv"] = defaults.SECRET_FORMAT
    type: str = Field(defaults.SECRET_TYPE, pattern=SECRET_TYPE_PATTERN, max_length=253)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct(self) -> SecretSpec:
        chosen = self.data_keys().names()
        if len(chosen) != len(set(chosen)):
            raise ValueError(
                "secret.keys must name distinct data keys (format PhaseEnv also writes "
                "PHASE_SERVICE_TOKEN and PHASE_HOST)"
            )
        if self.type.startswith("kubernetes.io/"):
            raise ValueError("secret.type must be Opaque or a type of your own, not kubernetes.io/")
        return self

    def data_keys(self) -> SecretKeys:
        return SecretKeys(
            token=self.keys.token,
            bearer_token=self.keys.bearer_token,
            expires_at=self.keys.expires_at,
            host=self.keys.host,
            phase_env=self.format == "PhaseEnv",
        )


class BindingSpec(_Spec):
    external_identity_ref: IdentityRef
    service_account_id: str = Field(pattern=UUID_PATTERN)
    ttl: int | None = Field(None, ge=1, le=defaults.TTL_CEILING)
    refresh_policy: RefreshPolicy = RefreshPolicy()
    service_account_name: str | None = Field(None, pattern=DNS_SUBDOMAIN, max_length=253)
    suspend: bool = False
    secret: SecretSpec
    #: The binding's own namespace (metadata, not spec): where ``service_account_name`` lives.
    namespace: str = Field("", exclude=True)


def _describe(error: ValidationError) -> str:
    """``spec.a.b: problem; …`` without echoing input values."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(piece) for piece in ("spec", *item["loc"]))
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def parse_identity(spec: Mapping[str, Any]) -> IdentitySpec:
    try:
        return IdentitySpec.model_validate(dict(spec))
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


def parse_binding(spec: Mapping[str, Any], *, namespace: str = "") -> BindingSpec:
    """The binding's spec; ``namespace`` is the binding's own (never taken from the spec)."""
    fields = {key: value for key, value in spec.items() if key != "namespace"}
    try:
        return BindingSpec.model_validate({**fields, "namespace": namespace})
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


def referenced_identity(binding_spec: Mapping[str, Any]) -> str | None:
    """The ExternalIdentity a binding's spec names, read without validating the rest."""
    ref = binding_spec.get("externalIdentityRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) else None
