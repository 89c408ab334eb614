"""What ties a log line to the Kubernetes object it is about. Pure data, no I/O.

A per-object line passes ``extra=about(kind, name, namespace)``. It carries the object's
reference in the record attribute kopf uses for its own per-object lines (``k8s_ref``), so the
JSON log format shows ``kind``, ``namespace`` and ``name`` as fields for both alike (see
:mod:`external_identity.cli.logsetup`). The plain format shows the message only, which names
the object itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REF_ATTRIBUTE", "about"]

#: The log record attribute holding the object reference (kopf's name for it).
REF_ATTRIBUTE = "k8s_ref"


def about(kind: str, name: str | None, namespace: str | None = None) -> dict[str, Any]:
    """``extra`` for a log line about one object (no namespace: cluster-scoped)."""
    ref = {"kind": kind, "name": name}
    if namespace:
        ref["namespace"] = namespace
    return {REF_ATTRIBUTE: ref}
