"""Logging: one format for the gateway's lines and uvicorn's, as text or as JSON lines.

    [server]
    log_level = "info"      # debug | info | warning | error
    log_format = "text"     # "text": 2026-12-04 07:41:02,114 INFO gateway: ... | "json": one object per line

`logging_config()` is a `logging.config.dictConfig` dict, handed to uvicorn as its `log_config` so that the
worker processes of `--workers N` set it up the same way. In JSON, a record's `fields` (the access log's:
request id, trace and span ids, route, target, key name, status, latency, TTFT, tokens, cost, cache) become
keys of its object next to `ts`, `level`, `logger` and `message`. Nothing here knows of secrets: what is
logged never holds a key (the access log names keys; provider errors are scrubbed before they are logged).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601 with milliseconds), level, logger, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, Any] = {
            "ts": f"{moment}.{int(record.msecs):03d}Z", "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """The dictConfig for the gateway and uvicorn: one handler on stderr, in `fmt`, at `level`."""
    formatter: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "gateway", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own loggers go to the root handler, in the same format
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},  # ours: gateway.access
            "httpx": {"level": "WARNING"},  # one INFO line per upstream call otherwise
        },
    }


def configure(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """Set up logging in this process; returns the dictConfig (for uvicorn's worker processes)."""
    import logging.config

    config = logging_config(level, fmt)
    logging.config.dictConfig(config)
    return config
