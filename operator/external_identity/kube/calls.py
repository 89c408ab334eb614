"""One blocking Kubernetes client call at a time, off the event loop, with failures named.

The kubernetes client is synchronous, so every call runs in a worker thread. An API server
that cannot be reached (connection refused or reset, timeouts) becomes the caller's own error
type, so it stays inside the package's error tree and is retried like any transient failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from external_identity.errors import ExternalIdentityError, redact

__all__ = ["api_failure", "call_api"]

T = TypeVar("T")


async def call_api(
    what: str,
    unreachable: type[ExternalIdentityError],
    function: Callable[..., T],
    *args: object,
    **kwargs: object,
) -> T:
    """``function(*args, **kwargs)`` in a thread; ApiException passes through to the caller."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise unreachable(
            f"cannot {what}: Kubernetes API unreachable ({type(error).__name__})"
        ) from error


def api_failure(error: ApiException) -> tuple[str, str]:
    """The API's ``reason`` and (redacted) ``message``, from its Status body if there is one."""
    reason, message = str(error.reason or error.status), ""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict):
        reason = str(status.get("reason") or reason)
        message = redact(str(status.get("message") or ""))
    return reason, message
