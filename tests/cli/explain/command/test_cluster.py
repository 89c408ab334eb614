"""`external-identity explain` reading the objects from a cluster (the Kubernetes emulator)."""

from __future__ import annotations

import pytest
from support.kube.server import KubeAPI
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.explain.explaining import assert_failed_at, binding, explain, identity, lines_of

pytestmark = pytest.mark.usefixtures("loopback_only")


def _seed(kube: KubeAPI, phase: PhaseServer, sts: StsPeer, account: ServiceAccount,
          **spec: object) -> None:
    spec.setdefault("aws", {"stsEndpoint": sts.endpoint})
    kube.create(identity("prod-aws", tokenService={"host": phase.base_url}, **spec))
    per_workload = spec.get("credentials") == {"source": "ServiceAccount"}
    kube.create(binding(account.id, namespace="default",
                        **({"serviceAccountName": "payments"} if per_workload else {})))


def test_a_binding_in_the_cluster_brings_its_identity_and_every_check_passes(
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    _seed(kube_api, phase_server, sts_peer, account)
    result = explain(capsys, "--binding", "default/payments-api",
                     "--kubeconfig", str(kube_api.kubeconfig_path))
    assert result.code == 0, result.out + result.err
    report = lines_of(result.out)
    assert "ExternalIdentity prod-aws and ServiceAccountBinding default/payments-api" in (
        report["schema"])
    assert "default is allowed by allowedNamespaces absent: every namespace" in report["namespace"]
    assert sts_peer.assumed_role_arn in report["principal"]
    assert "as us-east-1, from this environment's AWS region" in report["sts-endpoint"]


def test_an_identity_alone_skips_the_namespace_check(
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    _seed(kube_api, phase_server, sts_peer, account)
    result = explain(capsys, "--identity", "prod-aws", "--kubeconfig",
                     str(kube_api.kubeconfig_path))
    assert result.code == 0, result.out + result.err
    assert " ".join(lines_of(result.out)["namespace"].split()).startswith("not checked namespace")
    assert result.out.rstrip().endswith("7 checks passed, 5 not checked")


def test_a_binding_whose_identity_is_missing_exits_like_a_bad_spec(
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    account: ServiceAccount,
) -> None:
    kube_api.create(binding(account.id, namespace="default"))
    result = explain(capsys, "--binding", "payments-api", "--kubeconfig",
                     str(kube_api.kubeconfig_path))
    assert result.code == 2
    assert result.err == "error: cannot read ExternalIdentity prod-aws: not found\n"


def test_per_workload_credentials_are_reported_as_not_checked(
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    _seed(kube_api, phase_server, sts_peer, account, credentials={"source": "ServiceAccount"})
    result = explain(capsys, "--binding", "default/payments-api", "--exchange",
                     "--kubeconfig", str(kube_api.kubeconfig_path))
    assert result.code == 0, result.err
    report = lines_of(result.err)
    for check in ("credentials", "principal", "exchange"):
        assert " ".join(report[check].split()).startswith(f"not checked {check}"), report[check]
    assert "credentials.source ServiceAccount" in report["credentials"]
    assert report["token-service"].startswith("ok")
    assert result.err.rstrip().endswith("10 checks passed, 3 not checked")
    assert result.out == ""
    assert phase_server.records.tokens == []


def test_files_never_reach_for_a_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    result = explain(capsys, "-f", "/dev/null", "--kubeconfig", "/nonexistent")
    assert result.code == 2
    assert result.err.startswith("error: -f reads only the files")


def test_a_cluster_object_breaking_a_cel_rule_points_at_the_crds_too(
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    _seed(kube_api, phase_server, sts_peer, account, defaultTTL=7200, maxTTL=3600)
    result = explain(capsys, "--identity", "prod-aws", "--kubeconfig",
                     str(kube_api.kubeconfig_path))
    assert_failed_at(result, "schema", 2, "spec: defaultTTL must be less than or equal to maxTTL",
                     "apply this version's CRDs")
