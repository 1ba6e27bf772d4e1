"""One line per log event, as ``key=value`` pairs that read well in journald and grep well anywhere.

    level=info logger=orchestra.actor msg="execution finished" project=p1 run=r7 execution=e42 status=failed

Call :func:`configure_logging` once at start-up. The ids a line carries come from two places:

- ``extra=`` on the call: ``log.info("started", extra={"execution_id": e, "pid": pid})``; any extra
  key is printed, and ``project_id``/``run_id``/``node_id``/``execution_id`` print as ``project=``,
  ``run=``, ``node=``, ``execution=``;
- :func:`log_context`, for everything logged inside a block, including by tasks started inside it
  (Trio tasks and ``trio.to_thread`` calls inherit the context of the code that started them):
  ``with log_context(project_id=self.project_id): ...``.

Under systemd (stderr is the journal: ``$JOURNAL_STREAM`` names it) each line starts with its
syslog priority, ``<4>`` for a warning, so ``journalctl -p warning`` filters by level, and carries no
timestamp (the journal stamps it). Elsewhere it starts with an ISO timestamp. A traceback stays on
the same line, escaped, in ``exc=``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# extra= key -> printed key, in this order, right after the message.
ID_FIELDS = {"project_id": "project", "run_id": "run", "node_id": "node", "execution_id": "execution"}
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("orchestra_log_context", default=None)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Add these fields (e.g. ``project_id=...``) to every line logged inside the block."""
    token = _context.set((_context.get() or {}) | {k: v for k, v in ids.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def quote(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if text and not any(c.isspace() or c in '"=\\' or not c.isprintable() for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {}
        if not self.journal:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            fields["ts"] = f"{stamp}.{int(record.msecs):03d}"
        fields["level"] = record.levelname.lower()
        fields["logger"] = record.name
        fields["msg"] = record.getMessage()
        extra = (_context.get() or {}) | {k: v for k, v in vars(record).items() if k not in _STANDARD}
        for key, shown in ID_FIELDS.items():
            if extra.get(key) is not None:
                fields[shown] = extra.pop(key)
        fields.update((k, v) for k, v in extra.items() if not k.startswith("_"))
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack"] = record.stack_info
        line = " ".join(f"{key}={quote(value)}" for key, value in fields.items())
        if self.journal:
            line = f"<{SYSLOG_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


def writes_to_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd gave us (``$JOURNAL_STREAM=dev:inode``)."""
    try:
        device, inode = (int(part) for part in os.environ["JOURNAL_STREAM"].split(":"))
        stat = os.fstat(stream.fileno())
    except (KeyError, ValueError, OSError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


class _HubHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure_logging` installs (and replaces when it is called again)."""


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger to one key=value line on ``stream`` (stderr); safe to call again."""
    stream = stream or sys.stderr
    handler = _HubHandler(stream)
    handler.setFormatter(KeyValueFormatter(journal=writes_to_journal(stream)))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _HubHandler)] + [handler]
    root.setLevel(level)
    return handler
