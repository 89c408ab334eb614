"""What one operator serves: namespace patterns (as ``--namespace`` takes them) and a binding
label selector (``--binding-selector``). Pure."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from external_identity.controller.shards.selectors import parse_selector

__all__ = ["OperatorScope", "namespace_matches"]


def namespace_matches(namespace: str, patterns: Sequence[str]) -> bool:
    """kopf's rule: some pattern matches (or only exclusions are given) and no ``!`` one does."""
    included = [p for p in patterns if not p.startswith("!")]
    excluded = [p[1:] for p in patterns if p.startswith("!")]
    return (not included or any(fnmatch.fnmatchcase(namespace, p) for p in included)) and not (
        any(fnmatch.fnmatchcase(namespace, p) for p in excluded)
    )


@dataclass(frozen=True)
class OperatorScope:
    #: ``--namespace`` values; empty for every namespace.
    namespaces: tuple[str, ...] = ()
    #: ``--binding-selector``; None for every binding.
    binding_selector: str | None = None

    def covers(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether an operator with this scope keeps a binding in ``namespace`` with ``labels``.

        A selector that does not parse (another operator's, from status) covers everything:
        deferring to it is safe, serving beside it might mint twice.
        """
        if self.namespaces and not namespace_matches(namespace, self.namespaces):
            return False
        if not self.binding_selector:
            return True
        try:
            selector = parse_selector(self.binding_selector)
        except ValueError:
            return True
        return selector.matches(labels)

    def describe(self) -> str:
        """For a log line: ``namespaces a, b-*; bindings labelled shard=a``."""
        parts = [f"namespaces {', '.join(self.namespaces)}" if self.namespaces
                 else "all namespaces"]
        if self.binding_selector:
            parts.append(f"bindings labelled {self.binding_selector}")
        return "; ".join(parts)
