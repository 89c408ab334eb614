"""Logging for the CLI and the operator: our verbosity, libraries kept quiet, redaction.

Libraries such as botocore log canonical requests (with session tokens) at
DEBUG; they stay at WARNING whatever ``--log-level`` says, and every record
passes a filter that blanks token-shaped text as a last line of defence.
"""

from __future__ import annotations

import json
import logging

from external_identity.errors import redact

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "RedactingFilter", "configure_logging"]

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = redact(self.formatException(record.exc_info), limit=4000)
        return json.dumps(document)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, limit=len(message) + 1)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str, *, fmt: str = "plain") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(FULL if fmt == "full" else PLAIN))
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
