"""Logging for the CLI and the operator: our verbosity, libraries kept quiet, redaction, formats.

Libraries such as botocore log canonical requests (with session tokens) at
DEBUG; they stay at WARNING whatever ``--log-level`` says, and every record
passes a filter that blanks token-shaped text (in the message and in ``extra`` fields) as a
last line of defence; tracebacks are redacted by the formatters.

``--log-format json`` writes one JSON object per line (python-json-logger's formatter):
``time`` (RFC 3339, UTC, milliseconds: ``2026-12-07T18:41:55.123Z``), ``level``, ``logger``,
``message``; for a line about one Kubernetes object — the operator's own and kopf's alike (see
:mod:`external_identity.logrefs`) — its ``kind``, ``namespace`` (none for cluster-scoped ones)
and ``name``; every other ``extra`` field; ``exception`` with the traceback. ``plain`` and
``full`` are text, local time; kopf's per-object lines get kopf's ``[namespace/name]`` prefix.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from external_identity.errors import redact
from external_identity.logrefs import REF_ATTRIBUTE

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "PlainFormatter",
    "RedactingFilter",
    "configure_logging",
    "log_level",
]

OUR_LOGGERS = ("external_identity", "kopf")
#: kopf logs every handler call on every watched object ("Handler … succeeded") at INFO: at
#: thousands of bindings, that is most of the log and of the logging CPU, and says nothing a
#: binding's status does not. Shown with --log-level DEBUG only.
PER_OBJECT_LOGGER = "kopf.objects"
#: Libraries that log, as warnings, failures we report ourselves with more context.
ECHOING_LOGGERS = ("azure.identity", "azure.core")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("plain", "json", "full")
PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FULL = "%(asctime)s %(levelname)s %(name)s %(pathname)s:%(lineno)d: %(message)s"
#: A traceback in a JSON line is cut here (log collectors limit line sizes).
JSON_TRACEBACK_LIMIT = 4000
#: Fields of the object reference a JSON line shows, in this order.
REF_FIELDS = ("kind", "namespace", "name")
#: What kopf puts on its records besides the reference: internals, not fields.
KOPF_ATTRIBUTES = ("k8s_skip", "settings")
#: Attributes every LogRecord has (anything else on one came as ``extra``).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def log_level(text: str) -> str:
    """``--log-level`` in any case: ``info``, ``INFO`` and ``Info`` all mean INFO."""
    return text.upper()


def _redacted(text: str, limit: int | None = None) -> str:
    return redact(text, limit=len(text) + 1 if limit is None else limit)


class JsonFormatter(_JsonFormatter):
    """One JSON object per record: see the module docstring for its fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time", "levelname": "level", "name": "logger",
                "exc_info": "exception",
            },
            reserved_attrs=[*RESERVED_ATTRS, "taskName", REF_ATTRIBUTE, *KOPF_ATTRIBUTES],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def formatException(self, ei: Any) -> str:
        return _redacted(logging.Formatter.formatException(self, ei), JSON_TRACEBACK_LIMIT)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        ref = getattr(record, REF_ATTRIBUTE, None)
        if isinstance(ref, Mapping):
            for key in REF_FIELDS:
                if ref.get(key):
                    log_data[key] = ref[key]


class PlainFormatter(logging.Formatter):
    """Text; kopf's per-object lines get kopf's own ``[namespace/name]`` prefix (ours name
    their object in the message)."""

    def format(self, record: logging.LogRecord) -> str:
        ref = getattr(record, REF_ATTRIBUTE, None)
        if record.name.startswith("kopf") and isinstance(ref, Mapping) and ref.get("name"):
            namespace = ref.get("namespace")
            prefix = f"[{namespace}/{ref['name']}]" if namespace else f"[{ref['name']}]"
            record = copy.copy(record)
            record.msg = f"{prefix} {record.msg}"
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return _redacted(super().formatException(ei))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _redacted(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str):
                cleaned = _redacted(value)
                if cleaned != value:
                    setattr(record, key, cleaned)
        return True


def configure_logging(level: str, *, fmt: str = "plain") -> None:
    level = log_level(level)
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PlainFormatter(FULL if fmt == "full" else PLAIN))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for name in ECHOING_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if level != "DEBUG":
        logging.getLogger(PER_OBJECT_LOGGER).setLevel(max(logging.WARNING, _level(level)))


def _level(name: str) -> int:
    return logging.getLevelNamesMapping()[name]
