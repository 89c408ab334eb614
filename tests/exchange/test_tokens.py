"""What the token service issues and where it lives: token times, what is safe to show, and the
exchange URL for each host form."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from external_identity.exchange.tokens import IssuedToken, TokenServiceEndpoint

TOKEN = "pss_service:v2:3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b:feedfacecafebeef0123456789abcdef"
BEARER = "ServiceAccount 3f9c2b7e0d0a4c1e9b5a6d7c8e9f0a1b:feedfacecafebeef0123456789abcdef"
ISSUED_AT = datetime(2030, 1, 2, 3, 0, 5, 750000, tzinfo=UTC)


def issued(**fields: object) -> IssuedToken:
    values: dict[str, object] = {
        "token": TOKEN, "bearer_token": BEARER, "token_type": "Service", "ttl": 3600,
        "max_ttl": 86400, "issued_at": ISSUED_AT, "host": "https://console.phase.dev",
        "principal": "arn:aws:sts::123456789012:assumed-role/phase-operator/pod",
    }
    return IssuedToken(**{**values, **fields})  # type: ignore[arg-type]


def test_a_token_expires_its_ttl_after_it_was_issued() -> None:
    assert issued(ttl=900).expires_at == ISSUED_AT + timedelta(seconds=900)


def test_the_repr_shows_neither_the_token_nor_its_bearer_form() -> None:
    shown = repr(issued())
    assert TOKEN not in shown and BEARER not in shown
    assert "ttl=3600" in shown


def test_the_metadata_is_everything_but_the_secret_values() -> None:
    assert issued().metadata() == {
        "tokenType": "Service",
        "ttl": 3600,
        "maxTTL": 86400,
        "issuedAt": "2030-01-02T03:00:05Z",
        "expiresAt": "2030-01-02T04:00:05Z",
        "host": "https://console.phase.dev",
        "principal": "arn:aws:sts::123456789012:assumed-role/phase-operator/pod",
    }
    assert TOKEN not in str(issued().metadata()) and BEARER not in str(issued().metadata())


def test_an_unknown_maximum_and_principal_show_as_null() -> None:
    metadata = issued(max_ttl=None, principal=None).metadata()
    assert (metadata["maxTTL"], metadata["principal"]) == (None, None)


@pytest.mark.parametrize(("host", "prefix", "url"), [
    ("https://console.phase.dev", "/service/public",
     "https://console.phase.dev/service/public/identities/external/v1/aws/iam/auth/"),
    ("https://console.phase.dev/", "/service/public",
     "https://console.phase.dev/service/public/identities/external/v1/aws/iam/auth/"),
    ("https://api.phase.dev", "",
     "https://api.phase.dev/identities/external/v1/aws/iam/auth/"),
    ("https://api.phase.dev", "/",
     "https://api.phase.dev/identities/external/v1/aws/iam/auth/"),
    ("https://phase.example.com/service/public", "/service/public",
     "https://phase.example.com/service/public/identities/external/v1/aws/iam/auth/"),
    ("https://phase.example.com/service/public/", "service/public/",
     "https://phase.example.com/service/public/identities/external/v1/aws/iam/auth/"),
    ("http://127.0.0.1:8080", "custom",
     "http://127.0.0.1:8080/custom/identities/external/v1/aws/iam/auth/"),
])
def test_the_exchange_url_joins_host_prefix_and_path_once_each(
    host: str, prefix: str, url: str
) -> None:
    assert TokenServiceEndpoint(host=host, path_prefix=prefix).url_for("aws/iam/auth/") == url


def test_by_default_the_exchange_goes_to_phase_clouds_console() -> None:
    assert TokenServiceEndpoint().url_for("/azure/entra/auth/") == (
        "https://console.phase.dev/service/public/identities/external/v1/azure/entra/auth/"
    )


def test_this_module_loads_no_io_library() -> None:
    probe = (
        "import sys, external_identity.exchange.tokens\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    loaded = set(eval(result.stdout))
    assert "external_identity" in loaded
    assert loaded.isdisjoint({"kubernetes", "urllib3", "httpx", "botocore", "azure", "kopf"})
