"""Every example applies cleanly: custom resources validate, workloads read the right Secret."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .schema import Crd, apply_defaults, cel_errors, load_documents, validate

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES_DIR.rglob("*.yaml"))
GROUP = "externalidentity.dev"
WORKLOAD_KINDS = {"Pod", "Deployment"}
OTHER_KINDS = {"Namespace", "PhaseSecret"}


def _documents(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{path.relative_to(EXAMPLES_DIR)}#{index}", doc)
        for path in paths
        for index, doc in enumerate(load_documents(path))
    ]


ALL_DOCUMENTS = _documents(EXAMPLE_FILES)
CUSTOM_RESOURCES = [
    (name, doc) for name, doc in ALL_DOCUMENTS if doc["apiVersion"].startswith(f"{GROUP}/")
]
WORKLOADS = [(name, doc) for name, doc in ALL_DOCUMENTS if doc["kind"] in WORKLOAD_KINDS]
EXAMPLE_SETS = sorted({path.parent for path in EXAMPLE_FILES})


def _ids(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in cases]


def _of_kind(directory: Path, kind: str) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(directory.glob("*.yaml"))
        for doc in load_documents(path)
        if doc["kind"] == kind
    ]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]
    return spec if workload["kind"] == "Pod" else spec["template"]["spec"]


def _secret_refs(pod_spec: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(secret name, key or None) for every Secret a pod spec reads."""
    for volume in pod_spec.get("volumes", []):
        if "secret" in volume:
            yield volume["secret"]["secretName"], None
    for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                yield ref["name"], ref["key"]
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"], None


def test_examples_exist_for_both_kinds_and_a_workload() -> None:
    kinds = [doc["kind"] for _, doc in ALL_DOCUMENTS]
    assert kinds.count("ExternalIdentity") >= 3  # aws, azure, demo
    assert kinds.count("ServiceAccountBinding") >= 2  # main, demo
    assert len(WORKLOADS) >= 2


@pytest.mark.parametrize(("name", "doc"), ALL_DOCUMENTS, ids=_ids(ALL_DOCUMENTS))
def test_example_document_is_a_known_kind(
    crds: dict[str, Crd], name: str, doc: dict[str, Any]
) -> None:
    if doc["apiVersion"].startswith(f"{GROUP}/"):
        assert doc["kind"] in crds
    else:
        assert doc["kind"] in WORKLOAD_KINDS | OTHER_KINDS
    assert doc["metadata"]["name"]


@pytest.mark.parametrize(("name", "doc"), CUSTOM_RESOURCES, ids=_ids(CUSTOM_RESOURCES))
def test_example_custom_resource_validates_after_defaults(
    crds: dict[str, Crd], name: str, doc: dict[str, Any]
) -> None:
    assert validate(crds[doc["kind"]], doc) == []


@pytest.mark.parametrize(("name", "doc"), CUSTOM_RESOURCES, ids=_ids(CUSTOM_RESOURCES))
def test_example_custom_resource_satisfies_every_cel_rule(
    crds: dict[str, Crd], name: str, doc: dict[str, Any]
) -> None:
    crd = crds[doc["kind"]]
    defaulted = apply_defaults(crd, doc)
    assert cel_errors(crd, defaulted) == []
    # An update that changes nothing passes the transition rules too.
    assert cel_errors(crd, defaulted, old=defaulted) == []


@pytest.mark.parametrize("directory", EXAMPLE_SETS, ids=lambda d: str(d.relative_to(EXAMPLES_DIR)))
def test_each_binding_names_an_identity_that_allows_its_namespace_and_account(
    directory: Path,
) -> None:
    identities = {doc["metadata"]["name"]: doc for doc in _of_kind(directory, "ExternalIdentity")}
    bindings = _of_kind(directory, "ServiceAccountBinding")
    assert bindings
    for sab in bindings:
        identity = identities[sab["spec"]["externalIdentityRef"]["name"]]["spec"]
        allowed = identity.get("allowedNamespaces", ["*"])
        namespace = sab["metadata"]["namespace"]
        assert any(fnmatch.fnmatchcase(namespace, pattern) for pattern in allowed)
        account = sab["spec"]["serviceAccountId"]
        assert any(
            entry["id"] == account
            and any(fnmatch.fnmatchcase(namespace, p) for p in entry.get("namespaces", ["*"]))
            for entry in identity["serviceAccounts"]
        ), "examples list their account explicitly (not \"*\") for the binding's namespace"


@pytest.mark.parametrize(("name", "workload"), WORKLOADS, ids=_ids(WORKLOADS))
def test_workload_example_is_minimally_well_formed(name: str, workload: dict[str, Any]) -> None:
    assert workload["apiVersion"] == ("v1" if workload["kind"] == "Pod" else "apps/v1")
    containers = _pod_spec(workload)["containers"]
    assert containers
    assert all(c["name"] and c["image"] for c in containers)
    if workload["kind"] == "Deployment":
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize(("name", "workload"), WORKLOADS, ids=_ids(WORKLOADS))
def test_workload_reads_only_the_secret_and_keys_its_binding_writes(
    binding_crd: Crd, name: str, workload: dict[str, Any]
) -> None:
    directory = (EXAMPLES_DIR / name.split("#")[0]).parent
    namespace = workload["metadata"]["namespace"]
    written = {
        sab["spec"]["secret"]["name"]: set(sab["spec"]["secret"]["keys"].values())
        for sab in (
            apply_defaults(binding_crd, doc) for doc in _of_kind(directory, "ServiceAccountBinding")
        )
        if sab["metadata"]["namespace"] == namespace
    }
    refs = list(_secret_refs(_pod_spec(workload)))
    assert refs
    for secret, key in refs:
        assert secret in written, f"{secret} is written by no binding in {namespace}"
        assert key is None or key in written[secret]


def test_pod_example_takes_phase_service_token_from_the_token_key_with_phase_host() -> None:
    (workload,) = load_documents(EXAMPLES_DIR / "pod-mounting-secret.yaml")
    env = {e["name"]: e for e in _pod_spec(workload)["containers"][0]["env"]}
    assert env["PHASE_SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "phase-service-token",
        "key": "token",
    }
    assert env["PHASE_HOST"]["value"].startswith("https://")
    volumes = _pod_spec(workload)["volumes"]
    assert {"name": "phase-token", "secret": {"secretName": "phase-service-token"}} in volumes


def test_main_binding_example_writes_token_bearer_and_expiry_for_the_aws_identity() -> None:
    (sab,) = load_documents(EXAMPLES_DIR / "serviceaccountbinding.yaml")
    assert sab["spec"]["externalIdentityRef"]["name"] == "prod-aws"
    assert sab["spec"]["secret"]["name"] == "phase-service-token"
    assert set(sab["spec"]["secret"]["keys"]) == {"token", "bearerToken", "expiresAt"}


def test_demo_uses_loopback_peers_and_short_ttls(identity_crd: Crd, binding_crd: Crd) -> None:
    demo = EXAMPLES_DIR / "demo"
    (identity,) = _of_kind(demo, "ExternalIdentity")
    (sab,) = _of_kind(demo, "ServiceAccountBinding")
    spec = apply_defaults(identity_crd, identity)["spec"]
    assert spec["provider"] == "aws-iam"
    assert spec["tokenService"]["host"].startswith("http://127.0.0.1:")
    assert spec["tokenService"]["pathPrefix"] == "/service/public"
    assert spec["aws"]["stsEndpoint"].startswith("http://127.0.0.1:")
    assert spec["defaultTTL"] <= 60
    assert spec["maxTTL"] <= 600
    sab_spec = apply_defaults(binding_crd, sab)["spec"]
    assert sab_spec["externalIdentityRef"]["name"] == identity["metadata"]["name"]
    assert sab_spec["ttl"] <= 60
    assert sab_spec["ttl"] <= spec["maxTTL"]


def test_phase_operator_example_reads_the_token_key_of_a_bindings_secret(
    binding_crd: Crd,
) -> None:
    (phase_secret,) = load_documents(EXAMPLES_DIR / "phase-operator-phasesecret.yaml")
    assert phase_secret["apiVersion"] == "secrets.phase.dev/v1alpha1"
    reference = phase_secret["spec"]["authentication"]["serviceToken"][
        "serviceTokenSecretReference"
    ]
    namespace = phase_secret["metadata"]["namespace"]
    assert reference["secretNamespace"] == namespace
    written = {
        sab["spec"]["secret"]["name"]: sab["spec"]["secret"]["keys"]
        for sab in (
            apply_defaults(binding_crd, doc)
            for doc in _of_kind(EXAMPLES_DIR, "ServiceAccountBinding")
        )
        if sab["metadata"]["namespace"] == namespace
    }
    assert written[reference["secretName"]]["token"] == "token"  # what Phase's operator reads


def test_envfrom_example_takes_a_phase_env_secret() -> None:
    (workload,) = load_documents(EXAMPLES_DIR / "deployment-envfrom.yaml")
    (source,) = _pod_spec(workload)["containers"][0]["envFrom"]
    bindings = _of_kind(EXAMPLES_DIR, "ServiceAccountBinding")
    [sab] = [b for b in bindings if b["spec"]["secret"]["name"] == source["secretRef"]["name"]]
    assert sab["spec"]["secret"]["format"] == "PhaseEnv"
