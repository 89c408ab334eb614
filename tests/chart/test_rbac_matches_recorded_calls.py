"""The chart grants exactly what the operator uses: rules == API calls recorded in a real run.

The operator (`external-identity run`, as the chart starts it) runs against the
test API server through a lifecycle that exercises every path: identity status,
binding create / refresh / drift repair / labels put back / refusal event / revocation /
deletion, and a binding an earlier release left its finalizer on. The test's own changes go
straight into the emulator's store, so the request log holds only the operator's calls.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.operator import OperatorProcess
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount

from external_identity.controller.rollouts import FINGERPRINT_ANNOTATION, FOLLOW_KEY
from external_identity.controller.watching.legacy import LEGACY_FINALIZER
from external_identity.secrets.data import IDENTITY_ANNOTATION
from tests.operator.harness import NAMESPACE, Cluster, wait_for

from .rbac import permissions
from .rendering import Renderer
from .test_rbac import SA

pytestmark = pytest.mark.usefixtures("loopback_only")

BINDINGS = "externalidentity.dev/v1alpha1/serviceaccountbindings"


def _exercise_every_path(cluster: Cluster, account: ServiceAccount) -> None:
    kube = cluster.kube
    kube.create(cluster.identity_body())
    untrusted, _ = aws_account(
        cluster.phase, cluster.sts, trusted_principals=[cluster.sts.trust_pattern("nobody")]
    )
    for name, account_id, secret in (
        ("app", account.id, "phase-service-token"),
        ("refused", untrusted.id, "refused-token"),
        ("revoked", account.id, "revoked-token"),
        ("legacy", account.id, "legacy-token"),
        ("relabelled", account.id, "relabelled-token"),
    ):
        finalizers = [LEGACY_FINALIZER] if name == "legacy" else []
        kube.create(
            {
                "apiVersion": "externalidentity.dev/v1alpha1",
                "kind": "ServiceAccountBinding",
                "metadata": {"name": name, "namespace": NAMESPACE, "finalizers": finalizers},
                "spec": {
                    "externalIdentityRef": {"name": "local-aws"},
                    "serviceAccountId": account_id,
                    "ttl": 600 if name == "relabelled" else 3,
                    "secret": {"name": secret},
                },
            }
        )

    def secret() -> dict | None:
        return kube.get("v1/secrets", NAMESPACE, "phase-service-token")

    wait_for(
        lambda: any(
            call.resource == "secrets" and call.verb == "update" and call.status == 200
            for call in kube.calls()
        ),
        message="a refresh written over the first token",
    )
    wait_for(
        lambda: any(e.get("reason") == "Rejected" for e in kube.select("v1/events", NAMESPACE)),
        message="event",
    )
    wait_for(lambda: not kube.get(BINDINGS, NAMESPACE, "legacy")["metadata"].get("finalizers"),
             message="the earlier release's finalizer released")
    wait_for(lambda: kube.get("v1/secrets", NAMESPACE, "revoked-token"), message="a token")
    kube.call(kube.emulator.patch_object, BINDINGS, NAMESPACE, "revoked",
              {"spec": {"externalIdentityRef": {"name": "deleted-identity"}}})
    wait_for(lambda: kube.get("v1/secrets", NAMESPACE, "revoked-token") is None,
             message="the Secret of a binding that lost its identity revoked")
    kube.delete("v1/secrets", NAMESPACE, "phase-service-token")
    wait_for(secret, message="drift repaired")
    wait_for(lambda: kube.get("v1/secrets", NAMESPACE, "relabelled-token"), message="a token")
    kube.call(kube.emulator.patch_object, "v1/secrets", NAMESPACE, "relabelled-token",
              {"metadata": {"annotations": {IDENTITY_ANNOTATION: None}}})
    wait_for(lambda: IDENTITY_ANNOTATION in kube.get("v1/secrets", NAMESPACE,
                                                     "relabelled-token")["metadata"]["annotations"],
             message="an edited annotation put back")
    kube.delete(BINDINGS, NAMESPACE, "app")
    wait_for(lambda: secret() is None, message="Secret removed with its binding")
    wait_for(lambda: kube.get(BINDINGS, NAMESPACE, "app") is None, message="binding gone")


def _recorded_run(
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
    *args: str,
) -> set[tuple]:
    cluster.kube.clear_calls()
    operator = start_operator(*args)
    _exercise_every_path(cluster, account)
    operator.stop()
    return {(group, resource, verb) for group, resource, verb, _ in cluster.kube.rbac_rules()}


def _compare(used: set[tuple], granted: set[tuple]) -> None:
    missing, unused = sorted(used - granted), sorted(granted - used)
    assert missing == [], f"the operator needs permissions the chart does not grant: {missing}"
    assert unused == [], f"the chart grants permissions the operator never uses: {unused}"


def test_cluster_role_equals_the_calls_the_operator_makes(
    render: Renderer,
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    used = _recorded_run(cluster, account, start_operator)
    _compare(used, {(p.group, p.resource, p.verb) for p in permissions(render(), SA)})


def test_ha_rules_equal_the_calls_of_a_peering_replica(
    render: Renderer,
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    manifests = render(variant="ha")
    peering = manifests.one("ClusterKopfPeering")
    cluster.kube.create(peering)
    args = next(
        c["args"] for c in manifests.one("Deployment")["spec"]["template"]["spec"]["containers"]
    )
    peering_args = [arg for arg in args if arg.startswith("--peering=")]
    assert peering_args, "the HA variant must run with kopf peering"
    used = _recorded_run(cluster, account, start_operator, *peering_args)
    _compare(used, {(p.group, p.resource, p.verb) for p in permissions(manifests, SA)})


def _exercise_per_workload(cluster: Cluster) -> None:
    """A binding whose identity takes credentials from its own ServiceAccount gets a token."""
    kube, sts = cluster.kube, cluster.sts
    role_arn = sts.create_workload_role("rbac-workload", issuer=kube.url, namespace=NAMESPACE,
                                        service_account="api")
    kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "api", "namespace": NAMESPACE,
        "annotations": {"eks.amazonaws.com/role-arn": role_arn}}})
    account = cluster.phase.add_service_account()
    cluster.phase.add_aws_identity(account, sts_endpoint=sts.endpoint,
                                   trusted_principals=[sts.trust_pattern("rbac-workload")])
    kube.create(cluster.identity_body("team-aws", credentials={"source": "ServiceAccount"}))
    kube.create({
        "apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
        "metadata": {"name": "workload", "namespace": NAMESPACE},
        "spec": {"externalIdentityRef": {"name": "team-aws"}, "serviceAccountId": account.id,
                 "serviceAccountName": "api", "ttl": 600, "secret": {"name": "workload"}},
    })
    wait_for(lambda: kube.get("v1/secrets", NAMESPACE, "workload"), message="workload token")


def test_per_workload_rules_equal_the_calls_of_per_workload_bindings(
    render: Renderer,
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    manifests = render(variant="per-workload")
    args = next(
        c["args"] for c in manifests.one("Deployment")["spec"]["template"]["spec"]["containers"]
    )
    assert "--watch-service-accounts" in args
    cluster.kube.clear_calls()
    operator = start_operator("--watch-service-accounts")
    _exercise_per_workload(cluster)
    _exercise_every_path(cluster, account)
    operator.stop()
    used = {(group, resource, verb) for group, resource, verb, _ in cluster.kube.rbac_rules()}
    granted = {(p.group, p.resource, p.verb) for p in permissions(manifests, SA)}
    assert ("", "serviceaccounts/token", "create") in used
    assert ("", "serviceaccounts", "watch") in used
    _compare(used, granted)


def _exercise_restart_on_rotation(cluster: Cluster) -> None:
    """A Deployment, StatefulSet and DaemonSet follow the binding "app" and are rolled."""
    kube = cluster.kube
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        kube.create({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": "api", "namespace": NAMESPACE,
                         "labels": {FOLLOW_KEY: "true"}, "annotations": {FOLLOW_KEY: "app"}},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                     "template": {"metadata": {"labels": {"app": "api"}},
                                  "spec": {"containers": [{"name": "api", "image": "api"}]}}},
        })


def _rolled(cluster: Cluster, plural: str) -> bool:
    workload = cluster.kube.get(f"apps/v1/{plural}", NAMESPACE, "api") or {}
    template = workload.get("spec", {}).get("template", {})
    return FINGERPRINT_ANNOTATION in (template.get("metadata", {}).get("annotations") or {})


def test_restart_on_rotation_rules_equal_the_calls_of_a_restarting_operator(
    render: Renderer,
    cluster: Cluster,
    account: ServiceAccount,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    manifests = render(variant="restart-on-rotation")
    args = next(
        c["args"] for c in manifests.one("Deployment")["spec"]["template"]["spec"]["containers"]
    )
    assert "--restart-on-rotation" in args
    cluster.kube.clear_calls()
    operator = start_operator("--restart-on-rotation", "--restart-min-interval=0")
    _exercise_restart_on_rotation(cluster)
    _exercise_every_path(cluster, account)
    for plural in ("deployments", "statefulsets", "daemonsets"):
        wait_for(lambda plural=plural: _rolled(cluster, plural),
                 message=f"the {plural} rolled after a rotation")
    operator.stop()
    used = {(group, resource, verb) for group, resource, verb, _ in cluster.kube.rbac_rules()}
    granted = {(p.group, p.resource, p.verb) for p in permissions(manifests, SA)}
    for resource in ("deployments", "statefulsets", "daemonsets"):
        assert ("apps", resource, "patch") in used
    _compare(used, granted)
