"""JSON log lines on standard error (structlog), one object per line.

Standard output is kept for the run's summary so that scripts can read it. The
format is the operator's own (mcpops_common.logs), so one log pipeline reads both.
"""

from __future__ import annotations

import logging
from typing import Any, TextIO

import structlog

from mcpops_common import logs as _shared

__all__ = ["bind", "configure", "get_logger"]


def configure(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    # Not cached: tests and sweeps reconfigure within one process.
    _shared.configure(level, stream=stream, cache=False)
    # The Kubernetes client logs every request at DEBUG; keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def bind(**values: Any) -> None:
    """Add key/values (job name, namespace, scenario) to every later log line."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def get_logger(name: str = "mcpops_solver") -> structlog.stdlib.BoundLogger:
    return _shared.get_logger(name)
