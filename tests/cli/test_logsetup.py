"""`--log-format json` and `--log-level` as a log pipeline reads them, from the real operator.

Every line is one JSON object with an RFC 3339 UTC time, and a line about one object — the
operator's own and kopf's — names it in ``kind``/``namespace``/``name`` fields. The process
runs in a time zone far from UTC, so a local time would show.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from kopf._core.actions.loggers import LocalObjectLogger
from support.operator import OperatorProcess
from support.peers.phase_model import ServiceAccount

from external_identity.cli.logsetup import (
    ECHOING_LOGGERS,
    OUR_LOGGERS,
    PER_OBJECT_LOGGER,
    configure_logging,
)
from tests.cli.running import run_cli_process
from tests.operator.harness import NAMESPACE, Cluster, wait_for

pytestmark = pytest.mark.usefixtures("loopback_only")

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
#: UTC+05:30 (POSIX TZ syntax: needs no time zone database).
FAR_FROM_UTC = {"TZ": "EIO-5:30"}


def _records(output: str) -> list[dict[str, Any]]:
    """Every line of the output as JSON (a line that is not fails the test)."""
    records = []
    for line in output.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
    return records


def _one(records: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    found = [r for r in records if all(r.get(k) == v for k, v in fields.items())]
    assert found, f"no line with {fields}"
    return found[0]


def _secrets(cluster: Cluster, operator_env: dict[str, str]) -> list[str]:
    issued = [value for token in cluster.phase.records.tokens
              for value in (token.token, token.bearer_token, token.token_value) if value]
    assert issued, "the test needs a minted token to look for"
    return [*issued, operator_env["AWS_SECRET_ACCESS_KEY"]]


def test_json_lines_carry_utc_times_object_fields_and_no_secret(
    cluster: Cluster, account: ServiceAccount, operator_env: dict[str, str],
    start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator("--log-level", "Debug", "--log-format", "json",
                              env={**operator_env, **FAR_FROM_UTC})
    cluster.wait_ready("TokenIssued")
    wait_for(lambda: "Handler 'validate_identity' succeeded" in operator.output,
             message="kopf's line about the identity")
    operator.stop()
    now = datetime.now(UTC)
    records = _records(operator.output)

    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert RFC3339_UTC.match(record["time"]), record["time"]
        moment = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        assert now - timedelta(minutes=5) < moment <= now + timedelta(seconds=1), record
    issued = _one(records, logger="external_identity.controller.bindings.reconciler",
                  level="INFO")
    assert "issued a token" in issued["message"]
    assert (issued["kind"], issued["namespace"], issued["name"]) == (
        "ServiceAccountBinding", NAMESPACE, "payments-api")
    written = _one(records, logger="external_identity.secrets.writer")
    assert (written["kind"], written["namespace"], written["name"]) == (
        "Secret", NAMESPACE, "phase-service-token")
    handled = _one(records, message="Handler 'validate_identity' succeeded.")
    assert handled["logger"] == "kopf.objects"
    assert (handled["kind"], handled["name"]) == ("ExternalIdentity", "local-aws")
    assert "namespace" not in handled, "an ExternalIdentity is cluster-scoped"
    assert "k8s_ref" not in handled and "settings" not in handled
    assert any(record["level"] == "DEBUG" for record in records), "--log-level Debug"
    for secret in _secrets(cluster, operator_env):
        assert secret not in operator.output, "secret material in the log"


def test_log_level_info_in_lower_case_shows_info_and_hides_debug(
    cluster: Cluster, account: ServiceAccount, start_operator: Callable[..., OperatorProcess],
) -> None:
    cluster.apply_identity()
    cluster.apply_binding(account.id, ttl=600)
    operator = start_operator("--log-level", "info", "--log-format", "json")
    cluster.wait_ready("TokenIssued")
    wait_for(lambda: "issued a token" in operator.output, message="the operator's INFO line")
    operator.stop()
    levels = {record["level"] for record in _records(operator.output)}
    assert "INFO" in levels
    assert "DEBUG" not in levels


@pytest.mark.parametrize("spelled", ["info", "INFO", "Info", "warning", "Debug", "ERROR"])
def test_log_levels_are_accepted_in_any_case(spelled: str) -> None:
    result = run_cli_process("--log-level", spelled, "--version", env={})
    assert result.code == 0, result.err
    assert result.out.startswith("external-identity ")


def test_an_unknown_log_level_is_refused() -> None:
    result = run_cli_process("--log-level", "verbose", "--version", env={})
    assert result.code == 2
    assert "invalid choice" in result.err


@pytest.fixture
def json_logging() -> Iterator[Callable[..., logging.Logger]]:
    """Installs the CLI's JSON logging (as ``main`` does) on the calling test's stderr; a
    logger under ours. Undone after the test."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    touched = [logging.getLogger(name) for name in (
        "", *OUR_LOGGERS, PER_OBJECT_LOGGER, *ECHOING_LOGGERS)]
    levels = [logger.level for logger in touched]

    def install(fmt: str = "json") -> logging.Logger:
        configure_logging("info", fmt=fmt)  # binds the current (captured) stderr
        return logging.getLogger("external_identity.tests")

    try:
        yield install
    finally:
        root.handlers[:] = handlers
        for logger, level in zip(touched, levels, strict=True):
            logger.setLevel(level)


def test_extra_fields_are_kept_and_redacted_like_the_message(
    json_logging: Callable[..., logging.Logger], capsys: pytest.CaptureFixture[str],
) -> None:
    token = "pss_service:v2:" + "a1" * 32
    json_logging().info("attempt %d with %s", 3, token,
                      extra={"attempt": 3, "detail": f"sent {token}", "identity": "prod-aws"})
    (record,) = _records(capsys.readouterr().err)
    assert record["attempt"] == 3
    assert record["identity"] == "prod-aws"
    assert record["detail"] == "sent [redacted]"
    assert record["message"] == "attempt 3 with [redacted]"
    assert record["level"] == "INFO"


def test_a_traceback_is_one_json_field_without_secrets(
    json_logging: Callable[..., logging.Logger], capsys: pytest.CaptureFixture[str],
) -> None:
    token = "pss_service:v2:" + "b2" * 32
    log = json_logging()
    try:
        raise RuntimeError(f"refused {token}")
    except RuntimeError:
        log.exception("step failed")
    (record,) = _records(capsys.readouterr().err)
    assert record["message"] == "step failed"
    assert "RuntimeError: refused [redacted]" in record["exception"]
    assert token not in json.dumps(record)


def test_plain_text_prefixes_kopfs_lines_about_an_object_as_kopf_does(
    json_logging: Callable[..., logging.Logger], capsys: pytest.CaptureFixture[str],
) -> None:
    json_logging("plain")
    body = {"apiVersion": "externalidentity.dev/v1alpha1", "kind": "ServiceAccountBinding",
            "metadata": {"name": "payments-api", "namespace": NAMESPACE, "uid": "u-1"}}
    kopf_logger = LocalObjectLogger(body=kopf.Body(body), settings=kopf.OperatorSettings())
    kopf_logger.warning("Handler 'x' failed temporarily.")
    line = capsys.readouterr().err.strip()
    assert line.endswith(f"WARNING kopf.objects: [{NAMESPACE}/payments-api] Handler 'x' failed "
                         "temporarily.")
