"""Render the chart with the real ``helm template`` and pick objects out of the result.

Variants are the chart's documented example values in ``ci/*-values.yaml`` (the same
files ``helm lint`` is run with), plus the defaults.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "RELEASE",
    "RELEASE_NAMESPACE",
    "Manifests",
    "Release",
    "RenderError",
    "Renderer",
    "notes",
    "release",
    "variant_files",
]

RELEASE = "eio"
RELEASE_NAMESPACE = "identity-system"

Obj = dict[str, Any]


class RenderError(Exception):
    """``helm template`` exited non-zero; the message is its stderr."""


def variant_files(chart: Path) -> dict[str, Path]:
    """Documented variants by name: ``ci/irsa-values.yaml`` -> ``irsa``."""
    return {
        path.name.removesuffix("-values.yaml"): path
        for path in sorted((chart / "ci").glob("*-values.yaml"))
    }


@dataclass(frozen=True)
class Manifests:
    """The objects of one rendering, in output order."""

    objects: list[Obj]

    def of_kind(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None, namespace: str | None = None) -> Obj:
        found = [
            obj
            for obj in self.of_kind(kind)
            if (name is None or obj["metadata"]["name"] == name)
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"expected one {kind} {name or ''} {namespace or ''}, got {found}"
        return found[0]

    @property
    def deployment(self) -> Obj:
        return self.one("Deployment")

    @property
    def container(self) -> Obj:
        containers = self.deployment["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    @property
    def args(self) -> list[str]:
        return list(self.container["args"])


@dataclass
class Renderer:
    """Calls ``helm template``; results are cached by their inputs."""

    helm: str
    chart: Path
    _cache: dict[str, Manifests] = field(default_factory=dict)

    def __call__(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        variant: str | None = None,
        include_crds: bool = False,
    ) -> Manifests:
        key = json.dumps([values, variant, include_crds], sort_keys=True)
        if key not in self._cache:
            stdout = self.template(values, variant=variant, include_crds=include_crds)
            objects = [obj for obj in yaml.safe_load_all(stdout) if obj]
            self._cache[key] = Manifests(objects=objects)
        return self._cache[key]

    def template(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        variant: str | None = None,
        include_crds: bool = False,
        extra_args: Iterable[str] = (),
    ) -> str:
        """Return ``helm template`` output; raise RenderError when helm refuses."""
        args = [self.helm, "template", RELEASE, str(self.chart), "--namespace", RELEASE_NAMESPACE]
        if include_crds:
            args.append("--include-crds")
        if variant is not None:
            args += ["--values", str(variant_files(self.chart)[variant])]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values_file:
            if values is not None:
                yaml.safe_dump(dict(values), values_file)
                values_file.flush()
                args += ["--values", values_file.name]
            args += list(extra_args)
            result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RenderError(result.stderr.strip())
        return result.stdout

    def lint(self, *, variant: str | None = None) -> subprocess.CompletedProcess[str]:
        args = [self.helm, "lint", str(self.chart), "--strict", "--namespace", RELEASE_NAMESPACE]
        if variant is not None:
            args += ["--values", str(variant_files(self.chart)[variant])]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@dataclass(frozen=True)
class Release:
    """What ``helm install`` would record: its hooks and its manifest.

    The manifest is what ``helm upgrade`` compares and applies; hooks (``helm test`` Pods)
    run only when asked for. Objects from the chart's crds/ directory are in neither: Helm
    installs those once, before the manifest, and never upgrades them.
    """

    hooks: Manifests
    manifest: Manifests


def release(
    helm: str, chart: Path, values: Mapping[str, Any] | None = None
) -> Release:
    """``helm install --dry-run=client`` (no cluster is contacted), split into its sections."""
    args = [
        helm, "install", RELEASE, str(chart), "--namespace", RELEASE_NAMESPACE, "--dry-run=client"
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values_file:
        if values is not None:
            yaml.safe_dump(dict(values), values_file)
            values_file.flush()
            args += ["--values", values_file.name]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    text = result.stdout.split("\nNOTES:\n", 1)[0]
    _, hooks, manifest = re.split(r"^(?:HOOKS|MANIFEST):\n", text, flags=re.MULTILINE)

    def parse(section: str) -> Manifests:
        return Manifests(objects=[obj for obj in yaml.safe_load_all(section) if obj])

    return Release(hooks=parse(hooks), manifest=parse(manifest))


def notes(helm: str, chart: Path, *set_values: str) -> str:
    """NOTES.txt as ``helm install --dry-run=client`` prints it (no cluster is contacted)."""
    args = [
        helm,
        "install",
        RELEASE,
        str(chart),
        "--namespace",
        RELEASE_NAMESPACE,
        "--dry-run=client",
    ]
    for value in set_values:
        args += ["--set", value]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.split("\nNOTES:\n", 1)[1]
