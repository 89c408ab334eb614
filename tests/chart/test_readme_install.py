"""The install quick start, upgrade and uninstall docs: one text in both READMEs, and it works.

The quick start's commands are parsed and checked against the repository: the image
`make image` builds is the one `kind load` / `docker push` ship and the one the chart's
Deployment runs (the `helm install` line rendered with the real helm), the namespace and names
agree, and the example files it applies give the Secret it reads.
"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from .conftest import CHART, REPO

README = (REPO / "README.md").read_text()
CHART_README = (CHART / "README.md").read_text()
START, END = "<!-- quick start:", "<!-- /quick start -->"
OUR_CRDS = sorted(
    yaml.safe_load(path.read_text())["metadata"]["name"] for path in (REPO / "crds").glob("*.yaml")
)


def _quick_start(text: str) -> str:
    assert text.count(START) == 1 and text.count(END) == 1
    return text[text.index(START):text.index(END)]


def _blocks(text: str, language: str = "sh") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def _commands(block: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def _section(text: str, title: str) -> str:
    assert f"\n## {title}\n" in text, f"no section {title!r}"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


QUICK_START = _quick_start(README)
KIND, REGISTRY, INSTALL = _blocks(QUICK_START)


def _exports(block: str) -> dict[str, str]:
    [export] = [command for command in _commands(block) if command[0] == "export"]
    return dict(item.split("=", 1) for item in export[1:])


def _expand(word: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda match: env[match.group(1)], word)


def _helm_install() -> list[str]:
    [command] = [c for c in _commands(INSTALL) if c[:2] == ["helm", "install"]]
    return command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_both_readmes_give_the_same_quick_start() -> None:
    assert _quick_start(CHART_README) == QUICK_START
    assert "## Install in a cluster\n\n" + START in README
    assert "## Install\n\n" + START in CHART_README


def test_make_image_builds_the_image_the_makefile_names() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^image:\n\tdocker build -t \$\(IMAGE\) \.$", makefile, re.MULTILINE)


@pytest.mark.parametrize("block, ship", [(KIND, ["kind", "load", "docker-image"]),
                                          (REGISTRY, ["docker", "push"])], ids=["kind", "registry"])
def test_the_image_built_is_the_one_shipped_and_installed(block: str, ship: list[str]) -> None:
    commands = _commands(block)
    [make] = [c for c in commands if c[:2] == ["make", "image"]]
    built = make[2].removeprefix("IMAGE=")
    [shipped] = [c for c in commands if c[: len(ship)] == ship]
    assert shipped[len(ship):] == [built]
    env = _exports(block)
    assert f"{env['IMAGE_REPOSITORY']}:{env['IMAGE_TAG']}" == built


@pytest.mark.parametrize("block", [KIND, REGISTRY], ids=["kind", "registry"])
def test_the_helm_install_line_runs_that_image(helm: str, block: str) -> None:
    """Rendered with the real helm: the Deployment's image is the one built and shipped."""
    env = _exports(block)
    command = [_expand(word, env) for word in _helm_install()]
    assert command[2:4] == ["external-identity-operator", "helm/external-identity-operator"]
    sets = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
    assert f"image.repository={env['IMAGE_REPOSITORY']}" in sets
    assert f"image.tag={env['IMAGE_TAG']}" in sets
    namespace = _option(command, "--namespace")
    args = [helm, "template", command[2], str(CHART), "--namespace", namespace]
    for value in sets:
        args += ["--set", value]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    [deployment] = [
        obj for obj in yaml.safe_load_all(result.stdout) if obj and obj["kind"] == "Deployment"
    ]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{env['IMAGE_REPOSITORY']}:{env['IMAGE_TAG']}"
    assert container["imagePullPolicy"] == "IfNotPresent"  # a loaded image is used as it is
    [rollout] = [c for c in _commands(INSTALL) if c[-3:-1] == ["rollout", "status"]]
    assert rollout[-1] == f"deployment/{deployment['metadata']['name']}"
    assert rollout[rollout.index("-n") + 1] == deployment["metadata"]["namespace"]


def test_the_examples_applied_give_the_secret_read() -> None:
    commands = _commands(INSTALL)
    applied = {
        yaml.safe_load((REPO / c[c.index("-f") + 1]).read_text())["kind"]: (position, c)
        for position, c in enumerate(commands)
        if c[:2] == ["kubectl", "apply"]
    }
    assert set(applied) == {"ExternalIdentity", "ServiceAccountBinding"}
    identity, binding = (
        yaml.safe_load((REPO / applied[kind][1][-1]).read_text())
        for kind in ("ExternalIdentity", "ServiceAccountBinding")
    )
    namespace = binding["metadata"]["namespace"]
    assert binding["spec"]["externalIdentityRef"]["name"] == identity["metadata"]["name"]
    assert namespace in identity["spec"]["allowedNamespaces"]
    created = commands.index(["kubectl", "create", "namespace", namespace])
    assert created < applied["ServiceAccountBinding"][0]
    secret = binding["spec"]["secret"]["name"]
    assert ["kubectl", "-n", namespace, "get", "secret", secret] in commands
    assert ["kubectl", "-n", namespace, "get", "serviceaccountbinding",
            binding["metadata"]["name"]] in commands


@pytest.mark.parametrize("text", [README, CHART_README], ids=["README", "chart README"])
def test_upgrade_moves_the_crds_over_by_adoption(text: str) -> None:
    upgrade = _section(text, "Upgrade")
    install = _helm_install()
    release, namespace = install[2], _option(install, "--namespace")
    [loop] = [block for block in _blocks(upgrade) if "kubectl label crd" in block]
    assert re.search(rf"for crd in {' '.join(OUR_CRDS)}; do", loop), loop
    assert "app.kubernetes.io/managed-by=Helm" in loop
    assert f"meta.helm.sh/release-name={release}" in loop
    assert f"meta.helm.sh/release-namespace={namespace}" in loop
    assert "crds.enabled" in upgrade
    [helm_upgrade] = [
        c for b in _blocks(upgrade) for c in _commands(b) if c[:2] == ["helm", "upgrade"]
    ]
    assert helm_upgrade[2] == release and _option(helm_upgrade, "--namespace") == namespace


@pytest.mark.parametrize("text", [README, CHART_README], ids=["README", "chart README"])
def test_uninstall_says_what_stays(text: str) -> None:
    uninstall = _section(text, "Uninstall")
    install = _helm_install()
    assert ["helm", "uninstall", install[2], "--namespace", _option(install, "--namespace")] in [
        c for b in _blocks(uninstall) for c in _commands(b)
    ]
    for topic in ("crds.keep", "owner reference", "kopf", "helm test"):
        assert topic in uninstall, topic
