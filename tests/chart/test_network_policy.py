"""networkPolicy: the operator's (and the helm test pod's) ingress and egress."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from .rendering import Manifests, Renderer, RenderError

ON = {"networkPolicy": {"enabled": True}}
TESTS = {"tests": {"enabled": True, "identity": "prod-aws"}}
ANY_PORT_53 = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def _policy(manifests: Manifests) -> dict[str, Any]:
    policy = manifests.one("NetworkPolicy")
    kubernetes_validate.validate(policy, "1.30", strict=True)
    return policy


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _ports(rule: dict[str, Any]) -> list[tuple[int, str]]:
    return [(port["port"], port["protocol"]) for port in rule["ports"]]


def test_none_by_default(render: Renderer) -> None:
    assert render().of_kind("NetworkPolicy") == []
    assert render(TESTS).of_kind("NetworkPolicy") == []


def test_it_selects_the_operator_pods_and_the_test_pod_only(render: Renderer) -> None:
    manifests = render({**ON, **TESTS})
    policy = _policy(manifests)
    selector = policy["spec"]["podSelector"]
    operator = manifests.deployment["spec"]["template"]["metadata"]["labels"]
    test_pod = manifests.one("Pod")["metadata"]["labels"]
    assert _selects(selector, operator)
    assert _selects(selector, test_pod)
    other_release = {**operator, "app.kubernetes.io/instance": "other"}
    other_app = {**operator, "app.kubernetes.io/name": "payments-api"}
    assert not _selects(selector, other_release)
    assert not _selects(selector, other_app)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["metadata"]["namespace"] == manifests.deployment["metadata"]["namespace"]


def test_ingress_reaches_only_the_health_and_metrics_ports(render: Renderer) -> None:
    policy = _policy(render(ON))
    health, metrics = policy["spec"]["ingress"]
    assert health == {"ports": [{"port": 8080, "protocol": "TCP"}]}
    assert metrics == {"ports": [{"port": 9090, "protocol": "TCP"}]}


def test_ingress_follows_the_ports_and_the_metrics_peers(render: Renderer) -> None:
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    extra = {"from": [{"podSelector": {}}], "ports": [{"port": 9999, "protocol": "TCP"}]}
    policy = _policy(render({
        "networkPolicy": {"enabled": True, "metricsFrom": [monitoring], "extraIngress": [extra]},
        "probes": {"port": 8081},
        "metrics": {"port": 9091},
    }))
    health, metrics, more = policy["spec"]["ingress"]
    assert health == {"ports": [{"port": 8081, "protocol": "TCP"}]}
    assert metrics == {"ports": [{"port": 9091, "protocol": "TCP"}], "from": [monitoring]}
    assert more == extra


def test_egress_defaults_dns_api_server_and_token_services_anywhere(render: Renderer) -> None:
    dns, api_server, token_services = _policy(render(ON))["spec"]["egress"]
    assert dns == {"ports": ANY_PORT_53}
    assert api_server == {
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]
    }
    assert token_services == {"ports": [{"port": 443, "protocol": "TCP"}]}


def test_egress_narrows_to_the_configured_peers_and_cidrs(render: Renderer) -> None:
    kube_dns = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    proxy = {"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 3128}]}
    policy = _policy(render({"networkPolicy": {
        "enabled": True,
        "dnsTo": [kube_dns],
        "apiServer": {"ports": [6443], "cidrs": ["172.18.0.2/32"]},
        "tokenServices": {"ports": [443, 8443], "cidrs": ["0.0.0.0/0", "::/0"]},
        "extraEgress": [proxy],
    }}))
    dns, api_server, token_services, more = policy["spec"]["egress"]
    assert dns == {"ports": ANY_PORT_53, "to": [kube_dns]}
    assert _ports(api_server) == [(6443, "TCP")]
    assert api_server["to"] == [{"ipBlock": {"cidr": "172.18.0.2/32"}}]
    assert _ports(token_services) == [(443, "TCP"), (8443, "TCP")]
    assert token_services["to"] == [
        {"ipBlock": {"cidr": "0.0.0.0/0"}},
        {"ipBlock": {"cidr": "::/0"}},
    ]
    assert more == proxy


def test_the_documented_example_lets_pod_identity_through(render: Renderer) -> None:
    policy = _policy(render(variant="network-policy"))
    egress = policy["spec"]["egress"]
    pod_identity_agent = {"ipBlock": {"cidr": "169.254.170.23/32"}}
    agent = [rule for rule in egress if pod_identity_agent in rule.get("to", [])]
    assert agent and _ports(agent[0]) == [(80, "TCP")]
    assert policy["spec"]["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


@pytest.mark.parametrize(
    "values, where",
    [
        ({"networkPolicy": {"enabled": "true"}}, "/networkPolicy/enabled"),
        ({"networkPolicy": {"apiServer": {"cidrs": ["10.0.0.1"]}}},
         "/networkPolicy/apiServer/cidrs/0"),
        ({"networkPolicy": {"tokenServices": {"cidrs": ["example.com/32"]}}},
         "/networkPolicy/tokenServices/cidrs/0"),
        ({"networkPolicy": {"tokenServices": {"ports": []}}}, "/networkPolicy/tokenServices/ports"),
        ({"networkPolicy": {"apiServer": {"ports": [0]}}}, "/networkPolicy/apiServer/ports/0"),
        ({"networkPolicy": {"metricsFrom": [{}]}}, "/networkPolicy/metricsFrom/0"),
        ({"networkPolicy": {"egress": []}}, "egress"),
    ],
)
def test_helm_refuses_bad_network_policy_values(
    render: Renderer, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(RenderError) as refused:
        render.template(values)
    assert "schema" in str(refused.value)
    assert where in str(refused.value)
