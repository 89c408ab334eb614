"""What explain looks at: the identity and binding picked out of files (nothing else is read),
or read from a cluster (the Kubernetes API emulator) through a kubeconfig."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.kube.fixtures import KubeAPI

from external_identity.cli.explain.inputs import from_cluster, from_files
from external_identity.errors import ConfigurationError, ExternalIdentityError

API_VERSION = "externalidentity.dev/v1alpha1"
SA = "0f1a2b3c-4d5e-6789-abcd-ef0123456789"


def identity(name: str = "prod-aws") -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ExternalIdentity", "metadata": {"name": name},
            "spec": {"provider": "aws-iam"}}


def binding(name: str = "payments-api", *, namespace: str | None = "payments",
            identity_name: str = "prod-aws") -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": API_VERSION, "kind": "ServiceAccountBinding", "metadata": metadata,
            "spec": {"externalIdentityRef": {"name": identity_name}, "serviceAccountId": SA,
                     "secret": {"name": "phase-service-token"}}}


def write(tmp_path: Path, *documents: dict[str, Any], name: str = "objects.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def name_of(obj: Any) -> str:
    return str(obj["metadata"]["name"])


# -- from files ------------------------------------------------------------------------------------


def test_an_identity_alone_is_the_subject_and_other_kinds_are_ignored(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    subject = from_files([write(tmp_path, config, identity())], identity=None, binding=None,
                         namespace=None)
    assert name_of(subject.identity) == "prod-aws"
    assert (subject.binding, subject.namespace, subject.origin) == (None, "", "files")


def test_a_binding_brings_the_identity_it_references_among_several(tmp_path: Path) -> None:
    files = [write(tmp_path, identity("other"), identity(), name="ids.yaml"),
             write(tmp_path, binding(), name="binding.yaml")]
    subject = from_files(files, identity=None, binding=None, namespace=None)
    assert name_of(subject.identity) == "prod-aws"
    assert subject.binding is not None and name_of(subject.binding) == "payments-api"
    assert subject.namespace == "payments"


@pytest.mark.parametrize(("given", "expected"), [(None, "default"), ("team-a", "team-a")])
def test_a_binding_without_a_namespace_is_in_the_one_given_or_default(
    tmp_path: Path, given: str | None, expected: str
) -> None:
    path = write(tmp_path, identity(), binding(namespace=None))
    assert from_files([path], identity=None, binding=None, namespace=given).namespace == expected


def test_binding_namespace_slash_name_picks_that_one(tmp_path: Path) -> None:
    path = write(tmp_path, identity(), binding(namespace="team-a"),
                 binding(namespace="team-b", identity_name="other"), identity("other"))
    subject = from_files([path], identity=None, binding="team-b/payments-api", namespace=None)
    assert subject.namespace == "team-b"
    assert name_of(subject.identity) == "other"


@pytest.mark.parametrize(
    ("documents", "choice", "message"),
    [
        ([identity("a"), identity("b")], {},
         "the files hold several ExternalIdentities (a, b); choose one with --identity"),
        ([identity(), binding("x"), binding("y")], {},
         "several ServiceAccountBindings (x, y); choose one with --binding"),
        ([identity()], {"identity": "missing"},
         "the files hold no ExternalIdentity named 'missing'"),
        ([identity(), binding()], {"binding": "missing"},
         "the files hold no ServiceAccountBinding named 'missing'"),
        ([binding()], {}, "the files hold no ExternalIdentity named 'prod-aws'"),
        ([{"kind": "ConfigMap"}], {}, "the files hold no ExternalIdentity"),
        ([identity(), identity("other"), binding()], {"identity": "other"},
         "binding 'payments-api' references ExternalIdentity 'prod-aws', not 'other'"),
    ],
    ids=["two identities", "two bindings", "named identity missing", "named binding missing",
         "referenced identity missing", "no identity", "binding references another"],
)
def test_what_cannot_be_picked_is_a_configuration_error_saying_what_to_choose(
    tmp_path: Path, documents: list[dict[str, Any]], choice: dict[str, str], message: str
) -> None:
    path = write(tmp_path, *documents)
    with pytest.raises(ConfigurationError) as caught:
        from_files([path], **{"identity": None, "binding": None, "namespace": None, **choice})
    assert str(caught.value).endswith(message)


def test_a_dash_reads_the_documents_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(yaml.safe_dump(identity())))
    subject = from_files(["-"], identity=None, binding=None, namespace=None)
    assert name_of(subject.identity) == "prod-aws"


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigurationError, match=f"cannot read {missing}"):
        from_files([str(missing)], identity=None, binding=None, namespace=None)


def test_a_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: [ExternalIdentity\n")
    with pytest.raises(ConfigurationError, match=f"{path} is not YAML"):
        from_files([str(path)], identity=None, binding=None, namespace=None)


# -- from the cluster ------------------------------------------------------------------------------


async def read(kube_api: KubeAPI, **names: str | None) -> Any:
    chosen: dict[str, str | None] = {"identity": None, "binding": None, "namespace": None}
    return await from_cluster(**{**chosen, **names}, kubeconfig=str(kube_api.kubeconfig_path),
                              context=None)


@pytest.fixture
def cluster(kube_api: KubeAPI) -> KubeAPI:
    kube_api.ensure_namespace("payments")
    kube_api.create(identity())
    kube_api.create(binding())
    return kube_api


async def test_a_binding_in_the_cluster_brings_its_identity(cluster: KubeAPI) -> None:
    subject = await read(cluster, binding="payments/payments-api")
    assert name_of(subject.identity) == "prod-aws"
    assert subject.binding is not None and name_of(subject.binding) == "payments-api"
    assert (subject.namespace, subject.origin) == ("payments", "cluster")


async def test_the_namespace_flag_places_a_bare_binding_name(cluster: KubeAPI) -> None:
    subject = await read(cluster, binding="payments-api", namespace="payments")
    assert subject.namespace == "payments"


async def test_an_identity_alone_is_read_by_name(cluster: KubeAPI) -> None:
    subject = await read(cluster, identity="prod-aws")
    assert name_of(subject.identity) == "prod-aws"
    assert (subject.binding, subject.namespace) == (None, "")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({}, "name an ExternalIdentity (--identity), a binding (--binding) or give files (-f)"),
        ({"binding": "payments-api"},
         "cannot read ServiceAccountBinding default/payments-api: not found"),
        ({"identity": "missing"}, "cannot read ExternalIdentity missing: not found"),
        ({"binding": "payments/payments-api", "identity": "other"},
         "binding payments/payments-api references ExternalIdentity 'prod-aws', not 'other'"),
    ],
    ids=["nothing named", "binding elsewhere", "identity missing", "binding references another"],
)
async def test_what_cannot_be_read_is_a_configuration_error(
    cluster: KubeAPI, names: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await read(cluster, **names)
    assert str(caught.value) == message


async def test_a_refused_read_says_what_the_api_said(cluster: KubeAPI) -> None:
    cluster.refuse("get /apis/externalidentity.dev/v1alpha1/externalidentities/prod-aws", 403,
                   "Forbidden", "cannot get externalidentities")
    with pytest.raises(ConfigurationError, match="cannot read ExternalIdentity prod-aws: "
                       "Forbidden cannot get externalidentities"):
        await read(cluster, identity="prod-aws")


async def test_an_unreachable_cluster_is_our_error(cluster: KubeAPI) -> None:
    with cluster.outage(), pytest.raises(ExternalIdentityError, match="API unreachable"):
        await read(cluster, identity="prod-aws")


async def test_a_kubeconfig_that_cannot_be_loaded_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="cannot load Kubernetes configuration"):
        await from_cluster(identity="prod-aws", binding=None, namespace=None,
                           kubeconfig=str(tmp_path / "missing"), context=None)
