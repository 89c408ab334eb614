"""Every AWS IAM check of the Phase peer fires, with Phase's status and message, in order."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
from support.peers.helpers import aws_account, post, signed_payload
from support.peers.phase_server import PhaseServer
from support.peers.proofs import aws_iam_payload, sign_get_caller_identity
from support.peers.sts_peer import StsPeer

pytestmark = pytest.mark.usefixtures("loopback_only")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _headers_payload(
    sts: StsPeer, account_id: str, **header_changes: str | None
) -> dict[str, object]:
    signed = sign_get_caller_identity(sts.trusted.botocore(), endpoint=sts.endpoint)
    headers = {k: v for k, v in signed.headers.items()}
    for name, value in header_changes.items():
        headers.pop(name.replace("_", "-"), None)
        if value is not None:
            headers[name.replace("_", "-")] = value
    payload = aws_iam_payload(signed, account_id=account_id)
    payload["awsIam"]["httpRequestHeaders"] = _b64(json.dumps(headers))
    return payload


def test_a_trusted_assumed_role_gets_a_service_token(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account, ttl=600))
    assert response.status_code == 200
    auth = response.json()["authentication"]
    assert auth["tokenType"] == "ServiceAccount"
    assert re.fullmatch(r"pss_service:v2:(?:[0-9a-f]{64}:){3}[0-9a-f]{64}", auth["token"])
    assert auth["bearerToken"] == f"ServiceAccount {auth['token'].split(':')[2]}"
    assert (auth["TTL"], auth["maxTTL"]) == (600, 86400)
    [issued] = phase_server.records.tokens
    assert issued.principal == sts_peer.assumed_role_arn
    assert issued.expires_at - issued.issued_at == 600


def test_the_api_path_form_serves_the_same_exchange(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account), form="api")
    assert response.status_code == 200
    assert phase_server.records.requests[0].path == "/identities/external/v1/aws/iam/auth/"


def test_without_token_request_the_identitys_default_ttl_is_granted(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, default_ttl=1234)
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.json()["authentication"]["TTL"] == 1234


def test_the_server_may_grant_less_than_requested(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, grant_at_most=60)
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account, ttl=3600))
    assert response.json()["authentication"]["TTL"] == 60


def test_a_body_that_is_not_json_is_400_invalid_json(phase_server: PhaseServer) -> None:
    response = post(phase_server, "aws-iam", b"{not json")
    assert (response.status_code, response.json()) == (400, {"error": "Invalid JSON"})


@pytest.mark.parametrize(
    "account",
    [{"type": "user", "id": "x"}, {"type": "service"}, {"id": "x"}, None],
    ids=["user-type", "no-id", "no-type", "no-account"],
)
def test_anything_but_a_service_account_is_400(phase_server: PhaseServer, account: object) -> None:
    response = post(phase_server, "aws-iam", {"account": account, "awsIam": {}})
    assert response.status_code == 400
    assert response.json()["error"] == "Only service account authentication supported"


def test_an_undecodable_signed_request_is_400(phase_server: PhaseServer) -> None:
    payload = {"account": {"type": "service", "id": "x"}, "awsIam": {"httpRequestUrl": "%%"}}
    response = post(phase_server, "aws-iam", payload)
    assert response.json() == {"error": "Invalid awsIam request encoding"}


def test_a_missing_x_amz_date_is_400(phase_server: PhaseServer, sts_peer: StsPeer) -> None:
    response = post(phase_server, "aws-iam", _headers_payload(sts_peer, "x", X_Amz_Date=None))
    assert (response.status_code, response.json()) == (400, {"error": "Missing X-Amz-Date header"})


def test_an_unparseable_x_amz_date_is_400(phase_server: PhaseServer, sts_peer: StsPeer) -> None:
    payload = _headers_payload(sts_peer, "x", X_Amz_Date="yesterday")
    response = post(phase_server, "aws-iam", payload)
    assert (response.status_code, response.json()) == (400, {"error": "Invalid X-Amz-Date"})


def test_an_unknown_service_account_is_404(phase_server: PhaseServer, sts_peer: StsPeer) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    payload = signed_payload(sts_peer, account)
    payload["account"]["id"] = "7e1f0000-0000-0000-0000-000000000000"
    response = post(phase_server, "aws-iam", payload)
    assert (response.status_code, response.json()) == (404, {"error": "Service account not found"})


def test_an_account_without_server_side_key_management_is_403(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    account.key_management = False
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.status_code == 403
    assert response.json() == {"error": "Server-side key management must be enabled"}


def test_an_account_without_an_aws_identity_is_404(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_azure_identity(account, tenant_id="t", allowed_service_principals=["o"])
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.status_code == 404
    assert response.json() == {"error": "No AWS IAM identity attached to this account"}


def test_a_request_signed_too_long_ago_is_401_signature_expired(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, signature_expiry=60)
    ninety_seconds_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    response = post(
        phase_server, "aws-iam", signed_payload(sts_peer, account, at=ninety_seconds_ago)
    )
    assert (response.status_code, response.json()) == (401, {"error": "Signature expired"})


def test_a_server_clock_ahead_of_the_client_expires_fresh_signatures(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    phase_server.config.clock_offset = 120
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.status_code == 401


def test_a_signature_inside_the_window_is_accepted(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, signature_expiry=60)
    forty_seconds_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=40)
    response = post(
        phase_server, "aws-iam", signed_payload(sts_peer, account, at=forty_seconds_ago)
    )
    assert response.status_code == 200


def test_a_request_signed_for_another_sts_host_is_400_endpoint_mismatch(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    payload = signed_payload(sts_peer, account, endpoint="https://sts.amazonaws.com")
    response = post(phase_server, "aws-iam", payload)
    assert response.status_code == 400
    assert response.json() == {
        "error": "STS endpoint mismatch. Please sign the request for the configured STS endpoint.",
        "expectedEndpoint": sts_peer.endpoint,
        "receivedEndpoint": "https://sts.amazonaws.com/",
    }


def test_a_host_header_other_than_the_sts_endpoint_is_400_endpoint_mismatch(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    payload = _headers_payload(sts_peer, account.id, Host="sts.amazonaws.com")
    response = post(phase_server, "aws-iam", payload)
    assert response.status_code == 400
    assert response.json()["error"].startswith("STS endpoint mismatch")


def test_a_signature_sts_rejects_is_401_aws_sts_validation_failed(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    forged = sts_peer.trusted.with_secret("guessed")
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account, credentials=forged))
    assert response.status_code == 401
    assert response.json() == {"error": "AWS STS validation failed", "status": 403}
    assert "SignatureDoesNotMatch" in (phase_server.records.requests[-1].reason or "")


def test_an_unreachable_sts_endpoint_is_502(phase_server: PhaseServer, sts_peer: StsPeer) -> None:
    account = phase_server.add_service_account()
    dead = "http://127.0.0.1:9"
    phase_server.add_aws_identity(account, sts_endpoint=dead, trusted_principals=["arn:*"])
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account, endpoint=dead))
    assert (response.status_code, response.json()) == (
        502,
        {"error": "Unable to connect to AWS STS"},
    )


def test_an_arn_matching_no_trusted_pattern_is_403_untrusted_principal(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    payload = signed_payload(sts_peer, account, credentials=sts_peer.untrusted)
    response = post(phase_server, "aws-iam", payload)
    assert (response.status_code, response.json()) == (403, {"error": "Untrusted principal"})


def test_a_bare_star_trust_pattern_is_rejected(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, trusted_principals=["*"])
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid trusted principal pattern '*' is not allowed"}


def test_a_ttl_above_the_maximum_is_400_with_both_numbers(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account, _ = aws_account(phase_server, sts_peer, max_ttl=7200)
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account, ttl=7201))
    assert response.status_code == 400
    assert response.json() == {"error": "Requested TTL (7201s) exceeds maximum allowed TTL (7200s)"}


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        (-5, "TTL must be a positive integer"),
        ("3600", "Invalid TTL value"),
        (1.5, "Invalid TTL value"),
    ],
)
def test_a_ttl_that_is_not_a_positive_integer_is_400(
    phase_server: PhaseServer, sts_peer: StsPeer, ttl: object, message: str
) -> None:
    account, _ = aws_account(phase_server, sts_peer)
    payload = signed_payload(sts_peer, account)
    payload["tokenRequest"] = {"ttl": ttl}
    response = post(phase_server, "aws-iam", payload)
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_with_several_identities_the_one_for_the_signed_host_is_used(
    phase_server: PhaseServer, sts_peer: StsPeer
) -> None:
    account = phase_server.add_service_account()
    phase_server.add_aws_identity(
        account, sts_endpoint="https://sts.eu-west-1.amazonaws.com", trusted_principals=["x"]
    )
    phase_server.add_aws_identity(
        account,
        sts_endpoint=sts_peer.endpoint,
        trusted_principals=[sts_peer.trust_pattern()],
        default_ttl=777,
    )
    response = post(phase_server, "aws-iam", signed_payload(sts_peer, account))
    assert response.json()["authentication"]["TTL"] == 777


def test_checks_run_in_protocol_order(phase_server: PhaseServer, sts_peer: StsPeer) -> None:
    """Each request breaks two rules; the earlier rule is the one reported."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    account, _ = aws_account(phase_server, sts_peer, max_ttl=10)
    no_date_unknown_account = _headers_payload(sts_peer, "unknown", X_Amz_Date=None)
    expired_and_mismatched = signed_payload(
        sts_peer, account, at=old, endpoint="https://sts.amazonaws.com"
    )
    mismatched_and_untrusted = signed_payload(
        sts_peer, account, credentials=sts_peer.untrusted, endpoint="https://sts.amazonaws.com"
    )
    untrusted_and_ttl = signed_payload(sts_peer, account, credentials=sts_peer.untrusted, ttl=99)
    statuses = [
        post(phase_server, "aws-iam", p).status_code
        for p in (
            no_date_unknown_account,
            expired_and_mismatched,
            mismatched_and_untrusted,
            untrusted_and_ttl,
        )
    ]
    assert statuses == [400, 401, 400, 403]
    assert [r.error for r in phase_server.records.requests] == [
        "Missing X-Amz-Date header",
        "Signature expired",
        "STS endpoint mismatch. Please sign the request for the configured STS endpoint.",
        "Untrusted principal",
    ]
