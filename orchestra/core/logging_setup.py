"""One line per log event, as ``key=value`` pairs that read well in journald and grep well anywhere.

    level=info logger=orchestra.runtime.driver msg="execution finished" project=p1 run=r7 execution=e42 status=failed

The hub logs through the standard library's loggers (``log = logging.getLogger(__name__)``); the line
is built by structlog's processors (:func:`configure_logging` installs them once at start-up, as the
formatter of the root logger's one handler). The ids a line carries come from two places:

- ``extra=`` on the call: ``log.info("started", extra={"execution_id": e, "where": where})``; any
  extra key is printed, and ``project_id``/``run_id``/``node_id``/``execution_id`` print as ``project=``,
  ``run=``, ``node=``, ``execution=``;
- :func:`log_context` (structlog's context variables), for everything logged inside a block, including
  by tasks started inside it (Trio tasks and ``trio.to_thread`` calls inherit the context of the code
  that started them): the project actor binds its project, the run driver each run and execution.

Under systemd (stderr is the journal: ``$JOURNAL_STREAM`` names it) each line starts with its
syslog priority, ``<4>`` for a warning, so ``journalctl -p warning`` filters by level, and carries no
timestamp (the journal stamps it). Elsewhere it starts with a local ISO timestamp. A traceback stays
on the same line, escaped, in ``exc=``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

# extra= key -> printed key, in this order, right after the message.
ID_FIELDS = {"project_id": "project", "run_id": "run", "node_id": "node", "execution_id": "execution"}
_PLAIN = re.compile(r'[^\s"=\\]+')  # a value printed without quotes: no space, quote, = or backslash
SYSLOG_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Add these fields (e.g. ``project_id=...``) to every line logged inside the block."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield


def _in_line_order(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The message as ``msg``, the ids under their short names right after it, the traceback last."""
    line: EventDict = {key: event.pop(key) for key in ("ts", "level", "logger") if key in event}
    line["msg"] = event.pop("event")
    event.pop("message", None)  # set on the record by any formatter that saw it first (pytest's capture)
    for key, shown in ID_FIELDS.items():
        value = event.pop(key, None)
        if value is not None:
            line[shown] = value
    exc, stack = event.pop("exception", None), event.pop("stack", None)
    line.update(event)
    if exc:
        line["exc"] = exc
    if stack:
        line["stack"] = stack
    return line


def _timestamp(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The record's local time to the millisecond (``time.strftime``: a third of a datetime's cost)."""
    created = event["_record"].created
    event["ts"] = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(created))}.{int(created % 1 * 1000):03d}"
    return event


def quote(value: Any) -> str:
    """A value as it is when it needs no quotes, else as a JSON string (escapes, newlines and all)."""
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text) and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def _renderer(journal: bool) -> Processor:
    def render(_: WrappedLogger, __: str, event: EventDict) -> str:
        line = " ".join(f"{key}={quote(value)}" for key, value in event.items() if not key.startswith("_"))
        return f"<{SYSLOG_PRIORITY.get(event['level'], 6)}>{line}" if journal else line

    return render


def formatter(*, journal: bool) -> structlog.stdlib.ProcessorFormatter:
    """The key=value formatter (journal: a syslog priority first and no timestamp)."""
    chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.format_exc_info,
        structlog.processors.StackInfoRenderer(),
        _in_line_order,
    ]
    if not journal:
        chain.insert(0, _timestamp)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(journal)])


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
    handler.setFormatter(formatter(journal=writes_to_journal(stream)))
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _HubHandler)] + [handler]
    root.setLevel(level)
    return handler
