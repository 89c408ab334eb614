"""The decision chain's vocabulary: what it looks at, and the plans it returns. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from external_identity.api.problems import Problem
from external_identity.api.specs import BindingSpec, IdentitySpec
from external_identity.controller.decide.backoffs import Backoff
from external_identity.controller.settings import OperatorSettings
from external_identity.errors import SecretConflict
from external_identity.exchange.tokens import IssuedToken
from external_identity.secrets.data import SecretTarget, StoredToken

__all__ = [
    "HANDLED_REFRESH_FIELD",
    "REFRESH_ANNOTATION",
    "Adopt",
    "Exchange",
    "Held",
    "Plan",
    "Refuse",
    "Relabel",
    "Repair",
    "Situation",
    "Suspend",
    "Wait",
]

#: Set it (to any new value, e.g. the time) to ask for one immediate refresh.
REFRESH_ANNOTATION = "externalidentity.dev/refresh"
#: The status field that records the last refresh request a token answered.
HANDLED_REFRESH_FIELD = "handledRefreshRequest"


@dataclass(frozen=True)
class Held:
    """A token this process wrote or adopted, and what it was issued for."""

    target: SecretTarget
    issued_at: datetime
    expires_at: datetime
    refresh_at: datetime
    #: The token itself, to repair the Secret without a new exchange; None once adopted
    #: after a restart (tokens are never read back).
    token: IssuedToken | None = field(default=None, repr=False)

    @property
    def issued_for(self) -> str:
        return self.target.issued_for


@dataclass(frozen=True)
class Situation:
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    #: The referenced ExternalIdentity's body, None if it does not exist.
    identity: Mapping[str, Any] | None
    #: What the Secret holds: None (absent), a StoredToken of ours, or someone else's.
    stored: StoredToken | SecretConflict | None
    held: Held | None
    backoff: Backoff
    now: datetime
    settings: OperatorSettings
    #: The value of the binding's :data:`REFRESH_ANNOTATION`, if set.
    refresh_request: str | None = None

    @property
    def refresh_requested(self) -> bool:
        """A refresh was asked for that no issued token has answered yet."""
        return bool(self.refresh_request) and self.refresh_request != self.status.get(
            HANDLED_REFRESH_FIELD
        )


@dataclass(frozen=True)
class Wait:
    until: datetime


#: A merge patch for a Secret's ``metadata``: the labels and annotations to put back.
MetadataPatch = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Adopt:
    held: Held
    #: Whether the status already says Ready (a failing refresh may have been under way).
    ready: bool
    #: Labels and annotations to put back as well (someone edited them meanwhile).
    relabel: MetadataPatch | None = None


@dataclass(frozen=True)
class Repair:
    held: Held


@dataclass(frozen=True)
class Relabel:
    """The Secret holds the held token intact, but lost labels or annotations: put them back."""

    held: Held
    metadata: MetadataPatch


@dataclass(frozen=True)
class Exchange:
    binding: BindingSpec
    identity: IdentitySpec
    target: SecretTarget
    #: The Secret holds a token minted through another identity: delete it if the token
    #: service refuses this exchange (an outage or any other failure keeps it).
    revoke_on_failure: bool


@dataclass(frozen=True)
class Refuse:
    problem: Problem
    #: Delete this Secret (ours, holding a token the binding may no longer have).
    revoke: SecretTarget | None = None


@dataclass(frozen=True)
class Suspend:
    message: str


Plan = Wait | Adopt | Repair | Relabel | Exchange | Refuse | Suspend
