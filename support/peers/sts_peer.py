"""AWS STS peer: moto in server mode, with real SigV4 verification switched on.

moto skips authentication until ``settings.INITIAL_NO_AUTH_ACTION_COUNT``
requests have been served (default: infinity). In server mode the switch is
``POST /moto-api/reset-auth`` with the new count as the body; ``0`` makes
every following request go through moto's ``IAMRequest.check_signature``
(a real SigV4 recomputation with the stored secret key and session token) and
its IAM policy evaluation. ``ThreadedMotoServer`` runs in this process, so the
switch and moto's backends are process-global: do not use ``mock_aws`` in the
same test session, it resets the backends this peer set up.

Tests inject STS errors and a regional endpoint's signing-region check through
``peer.faults`` (:mod:`support.peers.sts_faults`); ``aws_env`` clears them.

``AssumeRoleWithWebIdentity`` goes through STS's own checks first
(:mod:`support.peers.sts_web_identity`): the token's signature against its issuer's keys, an IAM
OIDC provider for that issuer listing the token's audience, and the role's trust policy (issuer,
``sub``, ``aud``). The peer has a cluster issuer of its own (:meth:`StsPeer.web_identity_token`)
that the default roles trust for any ServiceAccount, like an IRSA role with a loose condition;
:meth:`StsPeer.create_workload_role` makes a role that trusts exactly one ServiceAccount of an
issuer (a cluster emulator's, whose keys are discovered from its URL).

Setup happens before enforcement: an admin IAM user with an access key, then
two roles it may assume. AssumeRole itself runs with enforcement on, so the
admin key is verified too. moto does not check the X-Amz-Date age; replay
protection is the token service's job (see ``phase_server``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import Credentials
from moto.core.authorization import ActionAuthenticatorMixin
from moto.server import ThreadedMotoServer

from support.kube.tokens import TokenSigner

from ._http import url_host
from .sts_faults import StsFaults
from .sts_web_identity import WebIdentityCheck, provider_path

__all__ = ["AwsCredentials", "StsPeer"]

ACCOUNT_ID = "123456789012"
TRUSTED_ROLE = "phase-operator"
UNTRUSTED_ROLE = "unrelated-workload"
_ADMIN_USER = "peer-admin"
_UNSIGNED_STS_ACTIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
#: The issuer of the peer's own cluster (static keys: never fetched).
CLUSTER_ISSUER = "https://oidc.sts-peer.test/id/cluster"
STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class AwsCredentials:
    """One set of AWS credentials and the ARN STS reports for them."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    arn: str

    def botocore(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)

    def with_secret(self, secret_access_key: str) -> AwsCredentials:
        """The same key id with another secret: moto must reject its signatures."""
        return AwsCredentials(self.access_key_id, secret_access_key, self.session_token, self.arn)


class StsPeer:
    """A running moto server acting as AWS STS at ``endpoint``.

    It listens on a free loopback port unless ``host``/``port`` say otherwise (the
    standalone peers, ``support.peers.serve``); ``endpoint`` is always the URL this
    process reaches it at (loopback for a wildcard bind).
    """

    def __init__(
        self, *, region: str = "us-east-1", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.region = region
        self.account_id = ACCOUNT_ID
        self.trusted_role_name = TRUSTED_ROLE
        self.untrusted_role_name = UNTRUSTED_ROLE
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._patches = pytest.MonkeyPatch()
        self._previous_auth_count = "inf"
        self.endpoint = ""
        self.cluster = TokenSigner(issuer=CLUSTER_ISSUER)
        self.web_identity: WebIdentityCheck
        self.faults: StsFaults
        self.admin: AwsCredentials
        self.trusted: AwsCredentials
        self.untrusted: AwsCredentials

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._patch_unsigned_sts_actions()
        self._server.start()
        wsgi = self._server._server  # where ThreadedMotoServer keeps its werkzeug server
        assert wsgi is not None
        self.web_identity = wsgi.app = WebIdentityCheck(wsgi.app)
        self.web_identity.keys.register(CLUSTER_ISSUER, self.cluster.jwks())
        self.faults = StsFaults.install(self._server)
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{url_host(host)}:{port}"
        self.admin = self._bootstrap_admin()
        self.register_oidc_provider(CLUSTER_ISSUER)
        for role in (TRUSTED_ROLE, UNTRUSTED_ROLE):
            self.create_role(role)
        self._enforce_auth()
        self.trusted = self.assume_role(TRUSTED_ROLE, session_name="operator-pod")
        self.untrusted = self.assume_role(UNTRUSTED_ROLE, session_name="other-pod")

    def stop(self) -> None:
        try:
            httpx.post(f"{self.endpoint}/moto-api/reset-auth", content=self._previous_auth_count)
        finally:
            self._server.stop()
            self._patches.undo()

    # -- the brief's flat view of the trusted (IRSA-like) credentials -------

    @property
    def access_key_id(self) -> str:
        return self.trusted.access_key_id

    @property
    def secret_access_key(self) -> str:
        return self.trusted.secret_access_key

    @property
    def session_token(self) -> str | None:
        return self.trusted.session_token

    @property
    def assumed_role_arn(self) -> str:
        return self.trusted.arn

    # -- helpers for tests ---------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the host a token service compares with the signed URL."""
        return self.endpoint.split("://", 1)[1]

    def role_arn(self, role_name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role_name}"

    def trust_pattern(self, role_name: str = TRUSTED_ROLE) -> str:
        """The usual trusted-principal pattern for sessions of ``role_name``."""
        return f"arn:aws:sts::{self.account_id}:assumed-role/{role_name}/*"

    def client(self, service: str, credentials: AwsCredentials | None = None) -> Any:
        creds = credentials or self.admin
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
        )

    def oidc_provider_arn(self, issuer: str) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{provider_path(issuer)}"

    def register_oidc_provider(
        self, issuer: str, *, audiences: tuple[str, ...] = (STS_AUDIENCE,)
    ) -> str:
        """An IAM OIDC identity provider for ``issuer`` (as ``eksctl utils associate-iam-oidc-
        provider`` creates for a cluster), unless it exists."""
        iam = self.client("iam")
        with suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_open_id_connect_provider(
                Url=issuer, ClientIDList=list(audiences), ThumbprintList=["0" * 40]
            )
        return self.oidc_provider_arn(issuer)

    def web_identity_statement(
        self, issuer: str, subject: str, *, audience: str = STS_AUDIENCE, like: bool = False
    ) -> dict[str, Any]:
        """The IRSA trust statement: this issuer's tokens for ``subject`` and ``audience``."""
        path = provider_path(issuer)
        condition: dict[str, dict[str, str]] = {"StringEquals": {f"{path}:aud": audience}}
        condition.setdefault("StringLike" if like else "StringEquals", {})[f"{path}:sub"] = subject
        return {
            "Effect": "Allow",
            "Principal": {"Federated": self.oidc_provider_arn(issuer)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }

    def create_role(
        self, role_name: str, *, web_identities: list[dict[str, Any]] | None = None
    ) -> str:
        """Create ``role_name`` unless it exists: assumable by the admin user, and with web
        identities of the given trust statements (default: any ServiceAccount of the peer's own
        cluster issuer). Given statements replace an existing role's trust policy."""
        iam = self.client("iam")
        replace = web_identities is not None
        if web_identities is None:
            web_identities = [self.web_identity_statement(
                CLUSTER_ISSUER, "system:serviceaccount:*", like=True)]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": self.admin.arn},
                    "Action": "sts:AssumeRole",
                },
                *web_identities,
            ],
        }
        try:
            iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
        except iam.exceptions.EntityAlreadyExistsException:
            if replace:
                iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))
        return self.role_arn(role_name)

    def create_workload_role(
        self, role_name: str, *, issuer: str, namespace: str, service_account: str,
        audience: str = STS_AUDIENCE,
    ) -> str:
        """An IRSA role for one team's ServiceAccount: trusts ``system:serviceaccount:N:S``
        tokens of ``issuer`` (whose keys the peer discovers) with ``audience``, nothing else."""
        self.register_oidc_provider(issuer, audiences=(audience,))
        subject = f"system:serviceaccount:{namespace}:{service_account}"
        return self.create_role(role_name, web_identities=[
            self.web_identity_statement(issuer, subject, audience=audience)])

    def web_identity_token(
        self,
        subject: str = "system:serviceaccount:kube-system:phase-operator",
        *,
        audience: str = STS_AUDIENCE,
        lifetime: int = 3600,
    ) -> str:
        """A projected ServiceAccount token of the peer's own cluster issuer."""
        namespace, _, name = subject.removeprefix("system:serviceaccount:").partition(":")
        token, _ = self.cluster.sign(
            namespace=namespace, service_account=name, service_account_uid="peer-uid",
            audiences=[audience], expiration_seconds=lifetime,
        )
        return token

    def assume_role(self, role_name: str, *, session_name: str = "test-session") -> AwsCredentials:
        """Fresh temporary credentials (ASIA…, session token) for ``role_name``."""
        self.create_role(role_name)
        sts = self.client("sts")
        response = sts.assume_role(RoleArn=self.role_arn(role_name), RoleSessionName=session_name)
        return _credentials_from(response)

    def assume_role_with_web_identity(
        self, role_name: str, web_identity_token: str, *, session_name: str = "web-identity"
    ) -> AwsCredentials:
        """What IRSA's credential provider does (the token must pass STS's checks)."""
        self.create_role(role_name)
        sts = boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name=self.region,
            config=Config(signature_version=UNSIGNED),
        )
        response = sts.assume_role_with_web_identity(
            RoleArn=self.role_arn(role_name),
            RoleSessionName=session_name,
            WebIdentityToken=web_identity_token,
        )
        return _credentials_from(response)

    def env(
        self, credentials: AwsCredentials | None = None, *, region: str | None = None
    ) -> dict[str, str]:
        """Environment for botocore's default chain: static credentials, this endpoint.

        Shared config files are pointed at /dev/null and IMDS is disabled so the
        chain can never reach the developer's profile or 169.254.169.254.
        """
        creds = credentials or self.trusted
        env = self._base_env(region)
        env["AWS_ACCESS_KEY_ID"] = creds.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = creds.secret_access_key
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
        return env

    def web_identity_env(
        self,
        token_file: str | os.PathLike[str],
        *,
        role_name: str = TRUSTED_ROLE,
        session_name: str = "irsa-pod",
        region: str | None = None,
    ) -> dict[str, str]:
        """Environment like the EKS pod identity webhook injects for IRSA."""
        env = self._base_env(region)
        env["AWS_ROLE_ARN"] = self.create_role(role_name)
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.fspath(token_file)
        env["AWS_ROLE_SESSION_NAME"] = session_name
        return env

    # -- internals -------------------------------------------------------------

    def _base_env(self, region: str | None) -> dict[str, str]:
        region = region or self.region
        return {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL_STS": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def _bootstrap_admin(self) -> AwsCredentials:
        # moto serves the first requests without checking the key, so this one is made up.
        bootstrap = AwsCredentials("AKIA_MOTO_BOOTSTRAP", "bootstrap", None, "")
        iam = self.client("iam", bootstrap)
        user = iam.create_user(UserName=_ADMIN_USER)["User"]
        iam.put_user_policy(
            UserName=_ADMIN_USER,
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=_ADMIN_USER)["AccessKey"]
        return AwsCredentials(key["AccessKeyId"], key["SecretAccessKey"], None, user["Arn"])

    def _enforce_auth(self) -> None:
        response = httpx.post(f"{self.endpoint}/moto-api/reset-auth", content=b"0")
        response.raise_for_status()
        self._previous_auth_count = response.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]

    def _patch_unsigned_sts_actions(self) -> None:
        """Let AssumeRoleWithWebIdentity through unsigned, as real STS does.

        With auth enforced, moto 5.x reads the missing Authorization header of
        these public actions and answers 500 (KeyError).
        """
        original: Callable[..., None] = (
            ActionAuthenticatorMixin._authenticate_and_authorize_normal_action
        )

        def authenticate(self: Any, resource: str = "*") -> None:
            if "Authorization" not in self.headers and self._get_action() in _UNSIGNED_STS_ACTIONS:
                return
            original(self, resource)

        self._patches.setattr(
            ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", authenticate
        )


def _credentials_from(response: dict[str, Any]) -> AwsCredentials:
    creds = response["Credentials"]
    return AwsCredentials(
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        creds["SessionToken"],
        response["AssumedRoleUser"]["Arn"],
    )
