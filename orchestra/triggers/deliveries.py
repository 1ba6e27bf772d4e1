"""What a webhook delivery may launch: not a replay, and not past the webhook's queue.

A webhook's signature covers the body only, so one captured delivery can be sent again and again, and a
sender can send a thousand in a few seconds. Two bounds, both decided in the launch's own transaction
(the single writer serialises them: no two deliveries can both pass):

- **Replays.** A delivery that carries an id (``X-GitHub-Delivery``, or ``X-Orchestra-Delivery`` for any
  other sender) is launched once: the same id again within the replay window
  (``ORCHESTRA_WEBHOOK_REPLAY_WINDOW_S``, a day by default) is answered 200 with the first delivery's run
  and launches nothing. The id is not signed: a replayer who changes it is held by the next bound.
- **The queue.** At most ``ORCHESTRA_WEBHOOK_MAX_QUEUED`` runs started by a project's webhook are
  unfinished at once; a delivery beyond that is 429 with ``Retry-After``, and launches nothing.
"""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from orchestra.core.errors import BadRequest, Conflict, TooManyRequests
from orchestra.core.statuses import UNFINISHED_RUN_STATUSES, sql_list
from orchestra.storage import definitions
from orchestra.storage.db import WriteJobContext

DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Orchestra-Delivery")
MAX_DELIVERY_ID = 200
RETRY_AFTER_S = 30

_QUEUED = (f"SELECT COUNT(*) FROM runs WHERE project_id = ? AND status IN {sql_list(UNFINISHED_RUN_STATUSES)} "
           "AND json_extract(trigger, '$.kind') = 'webhook'")


class DuplicateDelivery(Conflict):
    """This delivery id was already launched within the replay window: nothing new is launched."""


def delivery_id(headers: Any) -> str | None:
    """The delivery's id from the first of :data:`DELIVERY_HEADERS` it carries; 400 when it is too long."""
    for name in DELIVERY_HEADERS:
        value = headers.get(name)
        if value:
            value = value.strip()
            if len(value) > MAX_DELIVERY_ID:
                raise BadRequest(f"{name} is longer than {MAX_DELIVERY_ID} characters")
            return str(value)
    return None


def _seen(db: sqlite_utils.Database, project_id: str, delivery: str, since: float) -> dict[str, Any] | None:
    row = db.execute("SELECT run_id, received_at FROM webhook_deliveries WHERE project_id = ? AND delivery_id = ? "
                     "AND received_at >= ?", [project_id, delivery, since]).fetchone()
    return {"delivery_id": delivery, "run_id": row[0], "received_at": row[1]} if row else None


def _check_queue(db: sqlite_utils.Database, project_id: str, max_queued: int) -> None:
    queued = db.execute(_QUEUED, [project_id]).fetchone()[0]
    if queued >= max_queued:
        raise TooManyRequests(
            f"the webhook of project '{project_id}' already has {queued} unfinished run(s), its limit "
            f"(ORCHESTRA_WEBHOOK_MAX_QUEUED={max_queued}); nothing was launched: retry later",
            RETRY_AFTER_S, {"unfinished_runs": queued, "limit": max_queued})


def precheck(db: sqlite_utils.Database, project_id: str, delivery: str | None, window_s: float,
             max_queued: int) -> None:
    """The same checks as :func:`claim`, read-only, before the launch is even sent to the project (a
    storm of deliveries costs a read each); :func:`claim` decides."""
    if delivery is not None and (seen := _seen(db, project_id, delivery, time.time() - window_s)) is not None:
        raise DuplicateDelivery(f"delivery '{delivery}' was already received; nothing new was launched", seen)
    _check_queue(db, project_id, max_queued)


def claim(tx: WriteJobContext, run_id: str, project_id: str, delivery: str | None, window_s: float,
          max_queued: int) -> None:
    """In the run's transaction: refuse a replay or a full queue (raising undoes the run), else record the
    delivery id with its run."""
    now = time.time()
    definitions.forget_deliveries(tx, project_id, before=now - window_s)
    if delivery is not None:
        seen = _seen(tx.db, project_id, delivery, now - window_s)
        if seen is not None:
            raise DuplicateDelivery(f"delivery '{delivery}' was already received; nothing new was launched", seen)
    _check_queue(tx.db, project_id, max_queued)
    if delivery is not None:
        definitions.record_delivery(tx, project_id, delivery, now, run_id)


def duplicate_answer(error: DuplicateDelivery) -> dict[str, Any]:
    """What a replayed delivery is answered (200: a sender that retries on failure stops retrying)."""
    details = error.details if isinstance(error.details, dict) else {}
    return {"duplicate": True, "delivery_id": details.get("delivery_id"), "run_id": details.get("run_id"),
            "message": error.message}


