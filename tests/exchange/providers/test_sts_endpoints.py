"""Which STS endpoint is signed for, and with which region: the pure rules, case by case."""

from __future__ import annotations

import pytest

from external_identity.errors import ConfigurationError
from external_identity.exchange.providers.aws import StsTarget, resolve_sts_target
from external_identity.exchange.providers.sts_endpoints import region_from_sts_host

GLOBAL = "https://sts.amazonaws.com"


def _target(
    *, region: str | None = None, endpoint: str | None = None, session: str | None = None
) -> StsTarget:
    return resolve_sts_target(region=region, sts_endpoint=endpoint, session_region=session)


# -- the endpoint ------------------------------------------------------------------------------


def test_nothing_configured_signs_for_the_global_endpoint_as_us_east_1() -> None:
    assert _target() == StsTarget(region="us-east-1", endpoint=GLOBAL)


@pytest.mark.parametrize("session", ["eu-west-1", "us-east-1", "ap-southeast-2"])
def test_the_pods_ambient_region_never_moves_the_endpoint_off_the_global_default(
    session: str,
) -> None:
    assert _target(session=session) == StsTarget(region="us-east-1", endpoint=GLOBAL)


def test_an_explicit_us_east_1_signs_for_its_regional_endpoint_not_the_global_one() -> None:
    assert _target(region="us-east-1") == StsTarget(
        region="us-east-1", endpoint="https://sts.us-east-1.amazonaws.com"
    )


@pytest.mark.parametrize("session", [None, "us-west-2"])
def test_an_explicit_region_signs_for_its_regional_endpoint(session: str | None) -> None:
    assert _target(region="eu-west-1", session=session) == StsTarget(
        region="eu-west-1", endpoint="https://sts.eu-west-1.amazonaws.com"
    )


def test_a_china_region_gets_the_china_partitions_domain() -> None:
    assert _target(region="cn-north-1") == StsTarget(
        region="cn-north-1", endpoint="https://sts.cn-north-1.amazonaws.com.cn"
    )


def test_an_explicit_endpoint_wins_over_the_region_for_the_endpoint() -> None:
    target = _target(region="eu-west-1", endpoint="https://sts.internal.example.com")
    assert target.endpoint == "https://sts.internal.example.com"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://sts.eu-west-1.amazonaws.com/", "https://sts.eu-west-1.amazonaws.com"),
        ("https://sts.eu-west-1.amazonaws.com/some/path?q=1", "https://sts.eu-west-1.amazonaws.com"),
        ("  https://sts.amazonaws.com  ", "https://sts.amazonaws.com"),
        ("http://127.0.0.1:4566", "http://127.0.0.1:4566"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
    ],
)
def test_the_endpoint_keeps_only_scheme_host_and_port(given: str, expected: str) -> None:
    assert _target(endpoint=given).endpoint == expected


@pytest.mark.parametrize(
    "endpoint",
    [
        "sts.amazonaws.com",
        "ftp://sts.amazonaws.com",
        "https://",
        "https:///path-only",
        "https://user:secret@sts.amazonaws.com",
    ],
)
def test_an_endpoint_that_is_not_an_absolute_http_url_is_a_configuration_error(
    endpoint: str,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _target(endpoint=endpoint)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize("region", ["EU-West", "eu-west", "eu west 1", "https://sts.amazonaws.com"])
def test_a_region_that_is_not_a_region_name_is_a_configuration_error(region: str) -> None:
    with pytest.raises(ConfigurationError):
        _target(region=region)


# -- the signing region, read from the endpoint's host -------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://sts.amazonaws.com", "us-east-1"),
        ("https://sts.us-east-1.amazonaws.com", "us-east-1"),
        ("https://sts.eu-west-1.amazonaws.com", "eu-west-1"),
        ("https://sts-fips.us-east-2.amazonaws.com", "us-east-2"),
        ("https://sts-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("https://sts.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"),
        ("https://sts.eu-central-1.api.aws", "eu-central-1"),
        ("https://vpce-0abc123def-xyz12345.sts.eu-west-1.vpce.amazonaws.com", "eu-west-1"),
        (
            "https://vpce-0abc123def-xyz12345-eu-west-1a.sts.eu-west-1.vpce.amazonaws.com",
            "eu-west-1",
        ),
        ("https://vpce-0abc-xyz.sts.cn-north-1.vpce.amazonaws.com.cn", "cn-north-1"),
        ("https://STS.AP-SOUTHEAST-2.AMAZONAWS.COM:443", "ap-southeast-2"),
        ("https://sts.il-central-1.amazonaws.com.", "il-central-1"),
    ],
)
@pytest.mark.parametrize("session", [None, "sa-east-1"])
def test_the_signing_region_is_read_from_the_endpoint_host(
    endpoint: str, region: str, session: str | None
) -> None:
    assert _target(endpoint=endpoint, session=session).region == region


def test_the_host_wins_over_an_explicit_region_that_disagrees() -> None:
    target = _target(region="eu-west-1", endpoint="https://sts.us-east-2.amazonaws.com")
    assert target == StsTarget(region="us-east-2", endpoint="https://sts.us-east-2.amazonaws.com")


def test_the_global_host_signs_as_us_east_1_whatever_the_explicit_region() -> None:
    assert _target(region="eu-west-1", endpoint=GLOBAL).region == "us-east-1"


@pytest.mark.parametrize(
    "endpoint",
    ["https://sts.internal.example.com", "http://127.0.0.1:4566", "https://sts-proxy.corp:8443"],
)
def test_for_a_host_without_a_region_the_explicit_region_signs(endpoint: str) -> None:
    assert _target(region="eu-west-1", endpoint=endpoint, session="us-west-2").region == (
        "eu-west-1"
    )


def test_for_a_host_without_a_region_and_no_explicit_one_the_session_region_signs() -> None:
    assert _target(endpoint="http://127.0.0.1:4566", session="ap-south-1").region == "ap-south-1"


def test_for_a_host_without_a_region_and_no_region_anywhere_us_east_1_signs() -> None:
    assert _target(endpoint="http://127.0.0.1:4566").region == "us-east-1"


@pytest.mark.parametrize(
    "host",
    [
        "s3.eu-west-1.amazonaws.com",
        "sts.eu-west-1.amazonaws.com.evil.example",
        "evil-sts.eu-west-1.amazonaws.com",
        "sts.amazonaws.com.evil.example",
        "sts.example.amazonaws.com",
        "xsts.eu-west-1.amazonaws.com",
        "sts.eu-west-1.vpce.amazonaws.com.evil",
        "vpce-1.sts.eu-west-1.amazonaws.com",
        "127.0.0.1:4566",
        "[::1]:4566",
        "",
    ],
)
def test_hosts_that_only_look_like_sts_state_no_region(host: str) -> None:
    assert region_from_sts_host(host) is None


def test_the_target_host_is_what_the_signed_host_header_carries() -> None:
    assert _target(endpoint="http://127.0.0.1:4566/").host == "127.0.0.1:4566"
    assert _target(region="eu-west-1").host == "sts.eu-west-1.amazonaws.com"
