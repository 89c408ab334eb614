"""What to do next for one binding: an ordered chain of small pure checks. No I/O.

:func:`decide` looks at a :class:`Situation` — the binding, its identity, what the Secret
holds, what this process holds in memory, and the time — and returns one plan:

- :class:`Wait` until a moment (the token is fresh, or a failed attempt is backing off);
- :class:`Adopt` a token found in the Secret after a restart (no new exchange);
- :class:`Repair` the Secret with the token held in memory (someone edited or deleted it);
- :class:`Relabel` the Secret, putting back labels and annotations someone removed or edited
  (the data is intact, so no token is needed);
- :class:`Exchange` for a new token and write it;
- :class:`Refuse` with a problem, deleting the Secret first when access was revoked;
- :class:`Suspend`: the binding asked not to be refreshed (``spec.suspend``).

A refresh request (the :data:`REFRESH_ANNOTATION` set to a value not yet handled) makes the
next step exchange even though the token is fresh.

The executor (:mod:`.reconciler`) carries the plan out; :mod:`.outcomes` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from external_identity.api import conditions
from external_identity.api.problems import Problem, problem_for
from external_identity.api.specs import (
    BindingSpec,
    IdentitySpec,
    parse_binding,
    referenced_identity,
)
from external_identity.api.times import parse_rfc3339, rfc3339
from external_identity.controller.decide.checks import Candidate, first_problem
from external_identity.controller.decide.fingerprints import inputs_key, issued_for
from external_identity.controller.decide.plans import (
    Adopt,
    Exchange,
    Held,
    Plan,
    Refuse,
    Relabel,
    Repair,
    Situation,
    Suspend,
    Wait,
)
from external_identity.controller.decide.timing import refresh_moment
from external_identity.errors import ConfigurationError, SecretConflict
from external_identity.secrets.data import SecretTarget, StoredToken, metadata_drifted
from external_identity.secrets.targets import secret_target

__all__ = ["decide"]


@dataclass(frozen=True)
class _Checked:
    binding: BindingSpec
    identity: IdentitySpec
    target: SecretTarget


def decide(situation: Situation) -> Plan:
    """The one next step for the binding."""
    inputs = inputs_key(situation.generation, situation.identity, situation.refresh_request)
    checked = _check_inputs(situation)
    if isinstance(checked, Problem):
        return _refuse(situation, checked, inputs)
    if isinstance(situation.stored, SecretConflict):
        problem = problem_for(situation.stored)
        return _refuse(situation, problem, inputs)
    if checked.binding.suspend:
        return Suspend(_suspended(situation))
    forced = situation.refresh_requested
    held = situation.held
    if (
        held is not None
        and not forced
        and _answers(held, checked)
        and situation.now < held.expires_at
    ):
        stored = situation.stored
        if _same_data(held.target, checked.target) and _secret_holds(stored, held):
            assert isinstance(stored, StoredToken)
            drift = metadata_drifted(stored, checked.target, issued_at=held.issued_at,
                                     expires_at=held.expires_at)
            if drift is not None:
                return Relabel(replace(held, target=checked.target), drift)
            if situation.now < held.refresh_at:
                return Wait(held.refresh_at)
        elif held.token is not None:  # edited, deleted, or its keys or type changed
            return Repair(replace(held, target=checked.target))
    if situation.backoff.holds(situation.now, inputs):
        assert situation.backoff.retry_at is not None
        return Wait(situation.backoff.retry_at)
    if held is None and not forced:
        adopted = _adoptable(situation, checked)
        if adopted is not None:
            return adopted
    return Exchange(
        binding=checked.binding,
        identity=checked.identity,
        target=checked.target,
        revoke_on_failure=_minted_elsewhere(situation.stored, checked.target),
    )


# -- the checks, in order ---------------------------------------------------------------------


def _check_inputs(situation: Situation) -> _Checked | Problem:
    identity = situation.identity
    candidate = Candidate(
        namespace=situation.namespace,
        spec=situation.spec,
        identity_name=referenced_identity(situation.spec) or "",
        identity_spec=None if identity is None else identity.get("spec") or {},
    )
    problem = first_problem(candidate)
    if problem is not None:
        return problem
    binding = candidate.binding
    target = secret_target(
        namespace=situation.namespace,
        name=situation.name,
        uid=situation.uid,
        binding=binding,
        issued_for=issued_for(binding, candidate.identity_name, candidate.identity),
        token_name=candidate.identity.minted_token_name,
    )
    return _Checked(binding, candidate.identity, target)


def _refuse(situation: Situation, problem: Problem, inputs: str) -> Plan:
    revoke = _revocable(situation) if problem.revokes else None
    if revoke is None and situation.backoff.holds(situation.now, inputs):
        assert situation.backoff.retry_at is not None
        return Wait(situation.backoff.retry_at)
    return Refuse(problem, revoke=revoke)


def _revocable(situation: Situation) -> SecretTarget | None:
    """The Secret to delete on revocation: only ours, and only while it still exists."""
    if isinstance(situation.stored, StoredToken):
        try:
            binding = parse_binding(situation.spec)
        except ConfigurationError:  # an invalid spec names no Secret we could delete
            return None
        return secret_target(
            namespace=situation.namespace, name=situation.name, uid=situation.uid,
            binding=binding, issued_for="",
        )
    return None


def _answers(held: Held, checked: _Checked) -> bool:
    """The held token was issued for exactly these inputs, into a Secret of this name."""
    return (held.issued_for, held.target.name) == (
        checked.target.issued_for, checked.target.name
    )


def _same_data(held: SecretTarget, wanted: SecretTarget) -> bool:
    """The held token's Secret has the data layout wanted: same keys, same type."""
    return (held.keys, held.type) == (wanted.keys, wanted.type)


def _secret_holds(stored: StoredToken | SecretConflict | None, held: Held) -> bool:
    """The Secret holds the held token, intact (times are written to the second)."""
    return (
        isinstance(stored, StoredToken)
        and stored.data_intact
        and stored.issued_at is not None
        and stored.expires_at is not None
        and rfc3339(stored.issued_at) == rfc3339(held.issued_at)
        and rfc3339(stored.expires_at) == rfc3339(held.expires_at)
    )


def _adoptable(situation: Situation, checked: _Checked) -> Adopt | None:
    """After a restart: trust the token we wrote earlier if it was issued for these inputs."""
    stored = situation.stored
    if not isinstance(stored, StoredToken) or not stored.data_intact:
        return None
    if stored.issued_for != checked.target.issued_for:
        return None
    if stored.issued_at is None or stored.expires_at is None:
        return None
    if situation.now >= stored.expires_at:
        return None
    status = situation.status
    refresh_at = parse_rfc3339(str(status.get("nextRefreshTime") or ""))
    if refresh_at is None or refresh_at >= stored.expires_at:
        refresh_at = refresh_moment(
            issued_at=stored.issued_at, expires_at=stored.expires_at,
            binding=checked.binding, settings=situation.settings, rng=None,
        )
    held = Held(
        target=checked.target,
        issued_at=stored.issued_at,
        expires_at=stored.expires_at,
        refresh_at=refresh_at,
    )
    drift = metadata_drifted(stored, checked.target, issued_at=stored.issued_at,
                             expires_at=stored.expires_at)
    return Adopt(held, ready=conditions.is_ready(status), relabel=drift)


def _suspended(situation: Situation) -> str:
    message = "refreshing is suspended (spec.suspend); set it to false to resume"
    if isinstance(situation.stored, StoredToken) and situation.stored.expires_at is not None:
        state = "expired" if situation.stored.expires_at <= situation.now else "expires"
        message += f"; the token in the Secret {state} at {rfc3339(situation.stored.expires_at)}"
    return message


def _minted_elsewhere(stored: StoredToken | SecretConflict | None, target: SecretTarget) -> bool:
    return isinstance(stored, StoredToken) and stored.identity not in ("", target.identity)
