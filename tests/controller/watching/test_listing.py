"""Where the operator lists and watches: one scope per named namespace, or one cluster-wide scope
matched against globs and exclusions; LISTs and WATCHes against the Kubernetes API emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from support.kube.fixtures import KubeAPI

from external_identity.controller.watching.listing import Lister, Scope, namespace_matches

API_VERSION = "externalidentity.dev/v1alpha1"
OURS = {"app.kubernetes.io/managed-by": "external-identity-operator"}


def lister(kube_api: KubeAPI | None, *namespaces: str, selector: str | None = None) -> Lister:
    """A Lister for the emulator (None: one that is never asked anything)."""
    api = kube_api.api_client() if kube_api is not None else client.ApiClient()
    return Lister(client.CustomObjectsApi(api), client.CoreV1Api(api), namespaces, selector)


def secret(namespace: str, name: str, labels: dict[str, str] = OURS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "stringData": {"k": "v"},
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}


def binding(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ServiceAccountBinding",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"externalIdentityRef": {"name": "prod-aws"},
                     "serviceAccountId": "0f1a2b3c-4d5e-6789-abcd-ef0123456789",
                     "secret": {"name": "phase-service-token"}}}


def listed(scope: Scope) -> set[tuple[str, str]]:
    return {(item["metadata"]["namespace"], item["metadata"]["name"])
            for page in scope.pages() for item in page.items}


@pytest.mark.parametrize(
    ("namespace", "patterns", "expected"),
    [
        ("team-a", ["team-a"], True),
        ("team-b", ["team-a"], False),
        ("team-b", ["team-*"], True),
        ("payments", ["team-*", "payments"], True),
        ("sandbox", ["!sandbox"], False),
        ("payments", ["!sandbox"], True),
        ("team-sandbox", ["team-*", "!team-sandbox"], False),
        ("team-a", ["team-*", "!team-sandbox"], True),
        ("Team-a", ["team-*"], False),
    ],
)
def test_a_namespace_matches_as_kopf_matches_it(
    namespace: str, patterns: list[str], expected: bool
) -> None:
    assert namespace_matches(namespace, patterns) is expected


def test_plain_namespaces_are_one_scope_each() -> None:
    scopes = lister(None, "team-a", "team-b").token_secrets()
    assert [(scope.what, scope.namespace, scope.patterns) for scope in scopes] == [
        ("token Secrets in team-a", "team-a", ()), ("token Secrets in team-b", "team-b", ()),
    ]
    assert scopes[0].covers("team-a") and not scopes[0].covers("team-b")


@pytest.mark.parametrize("namespaces", [("team-*",), ("!sandbox",), ("payments", "team-?")])
def test_a_glob_or_an_exclusion_makes_one_cluster_wide_scope_with_the_patterns(
    namespaces: tuple[str, ...],
) -> None:
    [scope] = lister(None, *namespaces).bindings()
    assert (scope.what, scope.namespace, scope.patterns) == (
        "ServiceAccountBindings", None, namespaces)
    assert scope.covers("anything")


def test_without_namespaces_everything_is_kept() -> None:
    [scope] = lister(None).bindings()
    assert scope.patterns == ()
    assert scope.keeps({"metadata": {"namespace": "any"}})


def test_a_cluster_wide_list_keeps_only_the_namespaces_the_patterns_match(
    kube_api: KubeAPI,
) -> None:
    for namespace in ("team-a", "team-sandbox", "payments"):
        kube_api.ensure_namespace(namespace)
        kube_api.create(secret(namespace, "token"))
    [scope] = lister(kube_api, "team-*", "!team-sandbox").token_secrets()
    assert listed(scope) == {("team-a", "token")}


def test_token_secrets_are_only_those_labelled_as_the_operators(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("team-a")
    kube_api.create(secret("team-a", "ours"))
    kube_api.create(secret("team-a", "theirs", labels={"app": "x"}))
    [scope] = lister(kube_api, "team-a").token_secrets()
    assert listed(scope) == {("team-a", "ours")}


def test_a_binding_selector_lists_only_that_shards_bindings(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("team-a")
    kube_api.create(binding("team-a", "a", {"shard": "a"}))
    kube_api.create(binding("team-a", "b", {"shard": "b"}))
    kube_api.create(binding("team-a", "none", {}))
    for scopes in (lister(kube_api, selector="shard=a").bindings(),
                   lister(kube_api, "team-a", selector="shard=a").bindings()):
        [scope] = scopes
        assert listed(scope) == {("team-a", "a")}
    [everything] = lister(kube_api).bindings()
    assert listed(everything) == {("team-a", "a"), ("team-a", "b"), ("team-a", "none")}


def test_identities_are_listed_cluster_wide_whatever_the_namespaces(kube_api: KubeAPI) -> None:
    kube_api.create({"apiVersion": API_VERSION, "kind": "ExternalIdentity",
                     "metadata": {"name": "prod-aws"}, "spec": {"provider": "aws-iam"}})
    scope = lister(kube_api, "team-a").identities()
    assert (scope.what, scope.namespace, scope.patterns) == ("ExternalIdentities", None, ())
    [page] = list(scope.pages())
    assert [item["metadata"]["name"] for item in page.items] == ["prod-aws"]
    assert page.resource_version.isdigit()


def test_a_watch_streams_what_changed_after_the_listed_version(kube_api: KubeAPI) -> None:
    kube_api.ensure_namespace("team-a")
    kube_api.create(secret("team-a", "listed"))
    [scope] = lister(kube_api, "team-a").token_secrets()
    [page] = list(scope.pages())
    kube_api.create(secret("team-a", "theirs", labels={}))
    kube_api.create(secret("team-a", "new"))

    response = scope.watch(page.resource_version, 5)
    received = b""
    try:
        for chunk in response.stream(amt=None):
            received += chunk
            if b"\n" in received:
                break
    finally:
        response.close()
    first = json.loads(received.split(b"\n")[0])

    assert first["type"] == "ADDED"
    assert first["object"]["metadata"]["name"] == "new"
