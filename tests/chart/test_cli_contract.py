"""The arguments the chart gives the container are ones `external-identity run` accepts.

The image's ENTRYPOINT is ``external-identity run``, so the Deployment's ``args`` are parsed
by the ``run`` subcommand's parser; these tests feed them to the real parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from .conftest import CHART, _missing
from .rendering import Renderer, variant_files

LOG_FLAGS = ("--log-level=", "--log-format=")


def _parser() -> argparse.ArgumentParser:
    try:
        from external_identity.cli.main import build_parser
    except ImportError as error:
        _missing("external_identity.cli.main", f"the operator package does not import: {error}")
        raise
    return build_parser()


def _parse(args: list[str]) -> argparse.Namespace:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return _parser().parse_args(["run", *args])
    except SystemExit:
        pytest.fail(f"`external-identity run` refuses {args}: {errors.getvalue().strip()}")


@pytest.mark.parametrize("variant", [None, *variant_files(CHART)], ids=lambda v: v or "defaults")
def test_run_accepts_the_charts_arguments(render: Renderer, variant: str | None) -> None:
    args = [arg for arg in render(variant=variant).args if not arg.startswith(LOG_FLAGS)]
    parsed = _parse(args)
    assert parsed.liveness == "http://0.0.0.0:8080/healthz"
    assert parsed.metrics_port == 9090


def test_run_sees_the_namespaces_and_peering(render: Renderer) -> None:
    args = render(variant="namespaces-ha").args
    restricted = _parse([arg for arg in args if not arg.startswith(LOG_FLAGS)])
    assert restricted.namespaces == ["a", "b"]
    assert restricted.peering == "eio-external-identity-operator"
    default = _parse([a for a in render().args if not a.startswith(LOG_FLAGS)])
    assert default.all_namespaces is True
    assert default.peering is None


def test_run_gets_the_refresh_settings_from_the_values(render: Renderer) -> None:
    values = {"operator": {"refreshPercent": 43, "minRemainingSeconds": 123}}
    args = [arg for arg in render(values).args if not arg.startswith(LOG_FLAGS)]
    parsed = _parse(args)
    assert parsed.refresh_percent == 43
    assert parsed.min_remaining_seconds == 123
    defaults = _parse([a for a in render().args if not a.startswith(LOG_FLAGS)])
    assert defaults.refresh_percent == 67
    assert defaults.min_remaining_seconds == 10


def test_run_accepts_the_log_flags(render: Renderer) -> None:
    _parse([arg for arg in render().args if arg.startswith(LOG_FLAGS)])


def test_per_workload_identity_turns_on_the_service_account_watch(render: Renderer) -> None:
    default = _parse([a for a in render().args if not a.startswith(LOG_FLAGS)])
    assert default.watch_service_accounts is False
    args = render({"perWorkloadIdentity": {"enabled": True}}).args
    assert _parse([a for a in args if not a.startswith(LOG_FLAGS)]).watch_service_accounts


def test_a_binding_selector_shards_the_release(render: Renderer) -> None:
    default = _parse([a for a in render().args if not a.startswith(LOG_FLAGS)])
    assert default.binding_selector is None
    args = render({"bindingSelector": "shard in (a, b)"}).args
    parsed = _parse([a for a in args if not a.startswith(LOG_FLAGS)])
    assert parsed.binding_selector == "shard in (a, b)"
