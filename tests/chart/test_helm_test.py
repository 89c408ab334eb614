"""`helm test`: a hook Pod that runs `external-identity explain` against the cluster.

It runs as the operator does (image, ServiceAccount, cloud settings, environment, volumes), so
the credentials and principal checks are the operator's own; the chart grants that
ServiceAccount `get` on the named identity (and binding), the one read explain makes that the
operator never does. The RBAC test runs the real `explain` against the Kubernetes API
emulator and checks each request it made against the rendered roles.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import kubernetes_validate
import pytest
from support.kube.server import KubeAPI
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer

from tests.cli.explain.explaining import binding, identity
from tests.cli.running import run_cli

from .conftest import CHART, _missing
from .rbac import allows, permissions
from .rendering import RELEASE_NAMESPACE, Manifests, Renderer, RenderError, notes, release

SA = "eio-external-identity-operator"
GROUP = "externalidentity.dev"
ON = {"tests": {"enabled": True, "identity": "prod-aws"}}
WITH_BINDING = {
    "tests": {"enabled": True, "identity": "prod-aws", "binding": "default/payments-api"}
}
HOOK = {"helm.sh/hook": "test", "helm.sh/hook-delete-policy": "before-hook-creation"}


def _pod(manifests: Manifests) -> dict[str, Any]:
    pod = manifests.one("Pod", "eio-external-identity-operator-test")
    kubernetes_validate.validate(pod, "1.30", strict=True)
    return pod


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    [container] = pod["spec"]["containers"]
    return container


def _explain_args(args: list[str]) -> argparse.Namespace:
    try:
        from external_identity.cli.main import build_parser
    except ImportError as error:
        _missing("external_identity.cli", f"the operator package does not import: {error}")
        raise
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"`external-identity` refuses {args}: {errors.getvalue().strip()}")


def test_no_test_pod_by_default(render: Renderer, helm: str) -> None:
    assert render().of_kind("Pod") == []
    assert release(helm, CHART).hooks.objects == []


def test_the_test_pod_is_a_helm_test_hook_not_part_of_the_release(helm: str) -> None:
    installed = release(helm, CHART, ON)
    [pod] = installed.hooks.objects
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["annotations"] == HOOK
    assert installed.manifest.of_kind("Pod") == []
    assert pod["spec"]["restartPolicy"] == "Never"


def test_it_runs_explain_for_the_named_identity_against_the_cluster(render: Renderer) -> None:
    container = _container(_pod(render(ON)))
    assert container["command"] == ["/opt/venv/bin/external-identity"]
    parsed = _explain_args(container["args"])
    assert parsed.handler.__name__ == "explain"
    assert parsed.identity == "prod-aws"
    assert parsed.binding is None
    # No files, no kubeconfig: explain reads the cluster with the pod's in-cluster config.
    assert parsed.files == [] and parsed.kubeconfig is None and parsed.context is None
    assert parsed.exchange is False


def test_a_binding_is_explained_with_its_identity(render: Renderer) -> None:
    parsed = _explain_args(_container(_pod(render(WITH_BINDING)))["args"])
    assert (parsed.identity, parsed.binding) == ("prod-aws", "default/payments-api")


def test_it_runs_as_the_operator_with_its_cloud_settings(render: Renderer) -> None:
    values = {
        **ON,
        "image": {"repository": "registry.example.com/eio", "tag": "1.2.3", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "cloud": {"aws": {"region": "eu-west-1"},
                  "azure": {"clientId": "0b7c4e2a-1f3d-4c5e-8a9b-0c1d2e3f4a5b"}},
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "extraVolumes": [{"name": "corporate-ca", "configMap": {"name": "corporate-ca"}}],
        "extraVolumeMounts": [{"name": "corporate-ca", "mountPath": "/etc/ssl/corporate"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    }
    manifests = render(values)
    pod, operator = _pod(manifests), manifests.deployment["spec"]["template"]
    container = _container(pod)
    assert container["image"] == manifests.container["image"] == "registry.example.com/eio:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    for key in ("serviceAccountName", "imagePullSecrets", "securityContext", "nodeSelector",
                "tolerations"):
        assert pod["spec"][key] == operator["spec"][key], key
    assert pod["spec"]["serviceAccountName"] == SA
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert container["securityContext"] == manifests.container["securityContext"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env == {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
                   "HTTPS_PROXY": "http://proxy:3128"}
    assert container["volumeMounts"] == manifests.container["volumeMounts"]
    assert pod["spec"]["volumes"] == operator["spec"]["volumes"]


def test_without_cloud_settings_the_pod_has_no_env_or_azure_label(render: Renderer) -> None:
    pod = _pod(render(ON))
    assert "env" not in _container(pod)
    assert "azure.workload.identity/use" not in pod["metadata"]["labels"]


def test_the_test_pod_is_not_one_of_the_operators_pods(render: Renderer) -> None:
    """Its labels must not match the Deployment's selector (its ReplicaSet would adopt it),
    the metrics Service or a PodMonitor."""
    manifests = render({**ON, "metrics": {"podMonitor": {"enabled": True}}})
    labels = _pod(manifests)["metadata"]["labels"]
    selectors = [
        manifests.deployment["spec"]["selector"]["matchLabels"],
        manifests.one("Service")["spec"]["selector"],
        manifests.one("PodMonitor")["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert not selector.items() <= labels.items(), selector
    assert labels["app.kubernetes.io/instance"] == "eio"
    assert labels["app.kubernetes.io/component"] == "test"


def test_the_operator_may_get_the_named_identity_only(render: Renderer) -> None:
    manifests = render(ON)
    role = manifests.one("ClusterRole", "eio-external-identity-operator-test")
    assert role["rules"] == [{
        "apiGroups": [GROUP], "resources": ["externalidentities"],
        "resourceNames": ["prod-aws"], "verbs": ["get"],
    }]
    binding_ = manifests.one("ClusterRoleBinding", "eio-external-identity-operator-test")
    assert binding_["subjects"] == [
        {"kind": "ServiceAccount", "name": SA, "namespace": RELEASE_NAMESPACE}
    ]
    assert binding_["roleRef"]["name"] == role["metadata"]["name"]
    added = permissions(manifests, SA) - permissions(render(), SA)
    assert {(p.group, p.resource, p.verb) for p in added} == {(GROUP, "externalidentities", "get")}
    for obj in (role, binding_):
        kubernetes_validate.validate(obj, "1.30", strict=True)


def test_and_the_named_binding_in_its_namespace(render: Renderer) -> None:
    manifests = render(WITH_BINDING)
    role = manifests.one("Role", "eio-external-identity-operator-test", "default")
    assert role["rules"] == [{
        "apiGroups": [GROUP], "resources": ["serviceaccountbindings"],
        "resourceNames": ["payments-api"], "verbs": ["get"],
    }]
    role_binding = manifests.one("RoleBinding", "eio-external-identity-operator-test", "default")
    assert role_binding["subjects"][0]["name"] == SA
    for obj in (role, role_binding):
        kubernetes_validate.validate(obj, "1.30", strict=True)
    assert manifests.of_kind("Role") == [role]


def test_the_test_rbac_is_part_of_the_release_and_follows_rbac_create(
    render: Renderer, helm: str
) -> None:
    installed = release(helm, CHART, WITH_BINDING)
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in installed.manifest.objects}
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert (kind, "eio-external-identity-operator-test") in names
    left_to_you = render({**WITH_BINDING, "rbac": {"create": False}})
    assert not {
        obj["kind"] for obj in left_to_you.objects if obj["metadata"]["name"].endswith("-test")
    } - {"Pod"}
    assert _pod(left_to_you)


@pytest.mark.usefixtures("loopback_only", "aws_env")
def test_the_rendered_rbac_allows_every_request_explain_makes(
    render: Renderer,
    capsys: pytest.CaptureFixture[str],
    kube_api: KubeAPI,
    phase_server: PhaseServer,
    sts_peer: StsPeer,
    account: ServiceAccount,
) -> None:
    kube_api.create(identity(
        "prod-aws", tokenService={"host": phase_server.base_url},
        aws={"stsEndpoint": sts_peer.endpoint},
    ))
    kube_api.create(binding(account.id, namespace="default"))
    manifests = render(WITH_BINDING)
    args = _container(_pod(manifests))["args"]

    kube_api.clear_calls()
    result = run_cli(capsys, *args, "--kubeconfig", str(kube_api.kubeconfig_path))
    assert result.code == 0, result.out + result.err
    calls = [call for call in kube_api.calls() if call.resource is not None]
    assert {(call.resource, call.verb) for call in calls} >= {
        ("externalidentities", "get"), ("serviceaccountbindings", "get")
    }
    without_test_rbac = render()
    for call in calls:
        request = {
            "verb": call.verb, "group": call.group or "", "resource": str(call.rbac_resource),
            "namespace": call.namespace, "name": call.name,
        }
        assert allows(manifests, SA, **request), f"the helm test pod may not {request}"
        if call.resource == "externalidentities":
            assert not allows(without_test_rbac, SA, **request), request
    other = {"verb": "get", "group": GROUP, "resource": "externalidentities",
             "namespace": None, "name": "other-identity"}
    assert not allows(manifests, SA, **other)


def test_the_notes_say_how_to_run_it(helm: str) -> None:
    text = notes(helm, CHART, "tests.enabled=true", "tests.identity=prod-aws")
    assert "helm test eio -n identity-system --logs" in text
    assert 'ExternalIdentity "prod-aws"' in text
    assert "helm test" not in notes(helm, CHART)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"tests": {"enabled": True}}, "/tests/identity"),
        ({"tests": {"enabled": True, "identity": "Prod_AWS"}}, "/tests/identity"),
        ({"tests": {"enabled": True, "identity": "a", "binding": "payments-api"}},
         "/tests/binding"),
        ({"tests": {"enabled": True, "identity": "a", "binding": "a/b/c"}}, "/tests/binding"),
        ({"tests": {"enabled": "true", "identity": "a"}}, "/tests/enabled"),
        ({"tests": {"identities": ["a"]}}, "identities"),
    ],
)
def test_helm_refuses_bad_test_values(
    render: Renderer, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)


def test_an_identity_is_not_needed_while_tests_are_off(render: Renderer) -> None:
    assert render({"tests": {"enabled": False, "identity": ""}}).of_kind("Pod") == []


def test_the_documented_example_renders(render: Renderer) -> None:
    manifests = render(variant="helm-test")
    parsed = _explain_args(_container(_pod(manifests))["args"])
    assert (parsed.identity, parsed.binding) == ("prod-aws", "payments/payments-api")
    assert manifests.one("Role", "eio-external-identity-operator-test", "payments")
