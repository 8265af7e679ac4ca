"""Logging for ``c2c serve`` and the other commands: one format, one level, optional JSON lines.

The level comes from ``C2C_LOG_LEVEL`` (default ``INFO``) and ``C2C_LOG_JSON=1`` writes one JSON
object per line (``time``, ``level``, ``logger``, ``message`` and, after a crash, ``exception``)
instead of plain text. The service's loggers are named ``c2c.*``: ``c2c.index`` says when and
why the vector index is rebuilt or patched, ``c2c.api`` reports crashes and failed readiness
checks. Records go to standard error; the server's own (uvicorn) lines share the format.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import sys
from typing import Any, TextIO

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
#: Loggers that get the service's handler and level; anything else reports warnings and worse.
SERVICE_LOGGERS = ("c2c", "uvicorn", "uvicorn.error", "uvicorn.access")


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self, level: int | str = logging.NOTSET):
        super().__init__(sys.stderr)
        self.setLevel(level)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def level_name(level: str | None) -> str:
    """``level`` as a logging level name; anything unknown is ``INFO``."""
    name = (level or "INFO").strip().upper()
    return name if name in LEVELS else "INFO"


def formatter(json_lines: bool) -> logging.Formatter:
    """The one format: plain text, or JSON lines."""
    return JsonLines() if json_lines else logging.Formatter(PLAIN_FORMAT)


def logging_config(level: str | None = "INFO", json_lines: bool = False) -> dict[str, Any]:
    """The same set-up as a :func:`logging.config.dictConfig` configuration (handed to uvicorn,
    which applies it in every worker process)."""
    name = level_name(level)
    format_: dict[str, Any] = {"()": "matcher.logs.JsonLines"} if json_lines else {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"c2c": format_},
        "handlers": {"c2c": {"()": "matcher.logs.StderrHandler", "formatter": "c2c"}},
        "loggers": {logger: {"handlers": [], "level": name, "propagate": True} for logger in SERVICE_LOGGERS},
        "root": {"handlers": ["c2c"], "level": "WARNING"},
    }


def configure_logging(level: str | None = "INFO", json_lines: bool = False) -> None:
    """Send log records to standard error in one format: the service's (``c2c.*``) from
    ``level`` up, everything else from warnings up. Calling it again replaces the set-up."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter(json_lines))
    root.addHandler(handler)
    logging.getLogger("c2c").setLevel(level_name(level))
    if level is not None and level.strip().upper() not in LEVELS:
        logging.getLogger("c2c").warning("unknown log level %r; using INFO (one of %s)", level, ", ".join(LEVELS))
