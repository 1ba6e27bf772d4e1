"""How the terminal client words an execution's status: as stored, but a parked one says until when."""

from __future__ import annotations

import time
from typing import Any

from orchestra.core.statuses import ExecutionStatus


def status_text(execution: dict[str, Any]) -> str:
    """``parked until 19:16`` (local time; with the date when not today) for a parked execution, else its status."""
    status = str(execution["status"])
    resume_at = execution.get("resume_at")
    if status != ExecutionStatus.PARKED or not resume_at:
        return status
    when = time.localtime(resume_at)
    today = time.localtime()
    shown = time.strftime("%H:%M" if when[:3] == today[:3] else "%Y-%m-%d %H:%M", when)
    return f"parked until {shown}"
