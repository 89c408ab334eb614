"""Which STS endpoint to sign ``GetCallerIdentity`` for, and with which region. No I/O.

The token service forwards our signed request to the STS endpoint its external
identity is configured with, and refuses a request signed for any other host
(PROTOCOL.md, check 6). So the endpoint comes only from what the user stated —
never from the pod's ambient ``AWS_REGION``, which IRSA and Pod Identity always
set — and the signing region follows from the endpoint's host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from external_identity.errors import ConfigurationError

__all__ = [
    "GLOBAL_REGION",
    "GLOBAL_STS_ENDPOINT",
    "StsTarget",
    "region_from_sts_host",
    "regional_sts_endpoint",
    "resolve_sts_target",
]

GLOBAL_REGION = "us-east-1"
GLOBAL_STS_ENDPOINT = "https://sts.amazonaws.com"
_GLOBAL_STS_HOST = "sts.amazonaws.com"

_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
_REGION_NAME = re.compile(rf"^{_REGION}$")
_STS_HOST = re.compile(
    rf"^sts(?:-fips)?\.(?P<region>{_REGION})\.(?:amazonaws\.com(?:\.cn)?|api\.aws)$"
)
# Interface VPC endpoints: vpce-<id>[-<az>].sts.<region>.vpce.amazonaws.com[.cn]
_STS_VPCE_HOST = re.compile(
    rf"^vpce-[a-z0-9-]+\.sts(?:-fips)?\.(?P<region>{_REGION})\.vpce\.amazonaws\.com(?:\.cn)?$"
)


@dataclass(frozen=True)
class StsTarget:
    """Which STS endpoint to sign for, and the region that signs it."""

    region: str
    endpoint: str

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc


def region_from_sts_host(host: str) -> str | None:
    """The region an AWS STS host name states, or None for hosts that state none.

    ``sts.amazonaws.com`` is us-east-1; ``sts.<r>.amazonaws.com``,
    ``sts-fips.<r>.amazonaws.com``, ``sts.<r>.amazonaws.com.cn``, ``sts.<r>.api.aws``
    and ``vpce-….sts.<r>.vpce.amazonaws.com`` are ``<r>``. A port is ignored.
    """
    name = urlsplit(f"//{host}").hostname or ""
    name = name.rstrip(".")
    if name == _GLOBAL_STS_HOST:
        return GLOBAL_REGION
    match = _STS_HOST.match(name) or _STS_VPCE_HOST.match(name)
    return match.group("region") if match else None


def regional_sts_endpoint(region: str) -> str:
    """``https://sts.<region>.amazonaws.com`` (``.amazonaws.com.cn`` in the China partition)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def _endpoint_origin(sts_endpoint: str) -> str:
    parts = urlsplit(sts_endpoint.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"STS endpoint {sts_endpoint!r} is not an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("STS endpoint must not carry user information")
    return f"{parts.scheme}://{parts.netloc}"


def resolve_sts_target(
    *, region: str | None, sts_endpoint: str | None, session_region: str | None
) -> StsTarget:
    """The endpoint to sign for and its signing region.

    Endpoint: ``sts_endpoint`` when given (scheme and host only); else the regional
    endpoint of the explicit ``region`` — us-east-1 included, it is *not* mapped to
    the global host; else the global ``https://sts.amazonaws.com``. ``session_region``
    (botocore's, i.e. the pod's ``AWS_REGION``) never picks the endpoint.

    Signing region: read from the endpoint's host whenever the host states one (see
    :func:`region_from_sts_host`) — even when an explicit ``region`` disagrees: the
    host wins, because STS only accepts signatures scoped to its own region. For
    hosts that state none (a private DNS name, a loopback test server) the explicit
    ``region`` decides, then ``session_region``, then us-east-1.
    """
    if region and not _REGION_NAME.match(region):
        raise ConfigurationError(f"AWS region {region!r} is not a region name like eu-west-1")
    if sts_endpoint:
        endpoint = _endpoint_origin(sts_endpoint)
    elif region:
        endpoint = regional_sts_endpoint(region)
    else:
        endpoint = GLOBAL_STS_ENDPOINT
    signing_region = (
        region_from_sts_host(urlsplit(endpoint).netloc) or region or session_region or GLOBAL_REGION
    )
    return StsTarget(region=signing_region, endpoint=endpoint)
