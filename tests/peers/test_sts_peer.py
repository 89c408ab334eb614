"""The moto STS peer really verifies SigV4 signatures and reports assumed-role ARNs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.credentials import Credentials
from support.peers.proofs import sign_get_caller_identity
from support.peers.sts_peer import AwsCredentials, StsPeer

pytestmark = pytest.mark.usefixtures("loopback_only")


def _call(
    peer: StsPeer, credentials: Credentials, *, at: dt.datetime | None = None
) -> httpx.Response:
    signed = sign_get_caller_identity(credentials, endpoint=peer.endpoint, at=at)
    return httpx.post(signed.url, content=signed.body, headers=signed.headers)


def test_trusted_credentials_are_temporary_and_report_an_assumed_role_arn(
    sts_peer: StsPeer,
) -> None:
    assert sts_peer.access_key_id.startswith("ASIA")
    assert sts_peer.session_token
    assert sts_peer.assumed_role_arn == (
        f"arn:aws:sts::{sts_peer.account_id}:assumed-role/phase-operator/operator-pod"
    )
    arn = sts_peer.client("sts", sts_peer.trusted).get_caller_identity()["Arn"]
    assert arn == sts_peer.assumed_role_arn


def test_untrusted_credentials_belong_to_a_different_role(sts_peer: StsPeer) -> None:
    arn = sts_peer.client("sts", sts_peer.untrusted).get_caller_identity()["Arn"]
    assert arn == sts_peer.untrusted.arn
    assert "/unrelated-workload/" in arn
    assert arn != sts_peer.assumed_role_arn


def test_a_correctly_signed_request_returns_the_caller_arn_in_xml(sts_peer: StsPeer) -> None:
    response = _call(sts_peer, sts_peer.trusted.botocore())
    assert response.status_code == 200
    assert f"<Arn>{sts_peer.assumed_role_arn}</Arn>" in response.text


def test_moto_rejects_a_signature_made_with_the_wrong_secret_key(sts_peer: StsPeer) -> None:
    forged = sts_peer.trusted.with_secret("not-the-secret")
    response = _call(sts_peer, forged.botocore())
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_moto_rejects_a_body_changed_after_signing(sts_peer: StsPeer) -> None:
    signed = sign_get_caller_identity(sts_peer.trusted.botocore(), endpoint=sts_peer.endpoint)
    response = httpx.post(signed.url, content=signed.body + "&x=1", headers=signed.headers)
    assert response.status_code == 403
    assert "SignatureDoesNotMatch" in response.text


def test_moto_rejects_a_wrong_session_token(sts_peer: StsPeer) -> None:
    creds = sts_peer.trusted
    wrong = AwsCredentials(creds.access_key_id, creds.secret_access_key, "bogus", creds.arn)
    response = _call(sts_peer, wrong.botocore())
    assert response.status_code == 403
    assert "InvalidClientTokenId" in response.text


def test_moto_rejects_an_unknown_access_key(sts_peer: StsPeer) -> None:
    response = _call(sts_peer, Credentials("AKIAUNKNOWNUNKNOWN00", "secret"))
    assert response.status_code == 403
    assert "InvalidClientTokenId" in response.text


def test_moto_does_not_check_the_signing_time_so_replay_defence_is_the_servers_job(
    sts_peer: StsPeer,
) -> None:
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    response = _call(sts_peer, sts_peer.trusted.botocore(), at=an_hour_ago)
    assert response.status_code == 200


def test_env_points_botocores_default_chain_at_the_peer(
    sts_peer: StsPeer, aws_env: dict[str, str]
) -> None:
    assert aws_env["AWS_ENDPOINT_URL_STS"] == sts_peer.endpoint
    assert aws_env["AWS_EC2_METADATA_DISABLED"] == "true"
    arn = boto3.Session().client("sts").get_caller_identity()["Arn"]
    assert arn == sts_peer.assumed_role_arn


def test_env_for_other_credentials_reports_their_arn(
    sts_peer: StsPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in sts_peer.env(sts_peer.untrusted, region="eu-west-1").items():
        monkeypatch.setenv(name, value)
    session = boto3.Session()
    assert session.region_name == "eu-west-1"
    assert session.client("sts").get_caller_identity()["Arn"] == sts_peer.untrusted.arn


def test_assume_role_with_web_identity_works_unsigned_while_auth_is_enforced(
    sts_peer: StsPeer,
) -> None:
    creds = sts_peer.assume_role_with_web_identity(
        "phase-operator", sts_peer.web_identity_token(), session_name="pod-a"
    )
    assert creds.arn.endswith(":assumed-role/phase-operator/pod-a")
    assert sts_peer.client("sts", creds).get_caller_identity()["Arn"] == creds.arn


def test_web_identity_env_lets_botocore_assume_the_role_like_irsa(
    sts_peer: StsPeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(sts_peer.web_identity_token())
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sts_peer.web_identity_env(token_file, session_name="irsa").items():
        monkeypatch.setenv(name, value)
    arn = boto3.Session().client("sts").get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{sts_peer.account_id}:assumed-role/phase-operator/irsa"


def test_new_roles_can_be_assumed_after_enforcement_is_on(sts_peer: StsPeer) -> None:
    creds = sts_peer.assume_role("batch-jobs", session_name="job-1")
    assert creds.arn == f"arn:aws:sts::{sts_peer.account_id}:assumed-role/batch-jobs/job-1"
    assert sts_peer.trust_pattern("batch-jobs") == (
        f"arn:aws:sts::{sts_peer.account_id}:assumed-role/batch-jobs/*"
    )
