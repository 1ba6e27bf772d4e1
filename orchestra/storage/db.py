"""SQLite access that never blocks the event loop.

sqlite-utils is the connection wrapper type (:func:`orchestra.storage.connections.connect`) and does the
writes that insert or update whole rows from dicts (``db.table(...).insert/insert_all/update``, in
definitions.py and transitions.py). Everything else is raw SQL: reads and the hot paths (event inserts
by ``executemany``, ``UPDATE ... RETURNING``, the writer's ``BEGIN IMMEDIATE`` and ``SAVEPOINT``), because
it is explicit and measurably cheaper (one row: ~27 us through ``table().insert``, ~2 us raw).
sqlite-utils is also why the pyz build strips pip: it depends on pip only for its ``install`` command,
which the hub never runs.

Reads run on a worker thread, one at a time, on one read connection (WAL lets it run beside the writer;
a cancelled read is interrupted, so it never holds the read slot for long:
:mod:`orchestra.storage.reads`, which also closes that connection only once no read runs on it). Writes
go to one writer task that owns one connection: at most every WRITE_INTERVAL_S it takes every job
waiting in its queue, runs them in a single ``BEGIN IMMEDIATE`` transaction (each job inside its own
savepoint, so a failing job leaves no half-written rows and does not fail its neighbours), commits once,
then publishes the events the jobs emitted. Group commit is what makes 20,000 events/s affordable. A
caller may queue a write and go on (:meth:`Database.submit`): jobs commit in the order they were queued.

When storage fails (disk full, a lock another process holds, an I/O error), nothing of the batch
lands and the writer stays up: a job from an API request fails with :class:`StorageUnavailable`
(503), while a job that must not be lost (``wait_for_storage``: an execution's output and status
changes) is retried, in order, until storage comes back. The agents behind such jobs are held up by
their own pipes meanwhile, so a full disk pauses the work instead of failing or losing it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlite_utils
import trio

from orchestra.core.errors import StorageUnavailable
from orchestra.storage.connections import connect, create_private, is_storage_error, storage_unavailable
from orchestra.storage.events import HUB_STREAM, EventBus, Sequencer, StoredEvent, build_event, encode
from orchestra.storage.reads import DatabaseClosed, Reads
from orchestra.storage.schema import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
Row = dict[str, Any]  # a row as fetch_rows returns it: column name -> value

MAX_JOBS_PER_TRANSACTION = 1_000
# A transaction starts at most this long after the previous one ended, with whatever was queued
# meanwhile: a lone write goes at once, a steady stream goes in fewer, larger transactions. Each one
# costs a thread hop and a GIL tug-of-war with the event loop, so fewer is faster even for a chain of
# one-node-at-a-time agents, which await no write: 1,000-node chain 0.91 -> 0.67 ms overhead per
# node, layered 1.13 -> 0.83 (0 vs 2 ms, benchmarks.dag); p99 at 20,000 events/s stays 28-44 ms.
WRITE_INTERVAL_S = 0.002

# The writer waits this long for a lock another process holds before it gives up on a batch (and
# retries it, or answers 503): short, so that API requests learn of a stuck lock within seconds.
WRITER_BUSY_TIMEOUT_S = 2.0
# Held writes are retried after this long, doubling up to the maximum, while storage fails.
STORAGE_RETRY_FIRST_S = 0.05
STORAGE_RETRY_MAX_S = 1.0
# Once the hub is stopping, held writes get this long to land before they are given up (the next
# start records their executions as interrupted).
STORAGE_PATIENCE_AT_CLOSE_S = 5.0


def fetch_rows(db: sqlite_utils.Database, sql: str, params: Any = ()) -> list[Row]:
    cursor = db.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class WriteJobContext:
    """What one write job sees: the writer's connection, inside the batch's transaction and the job's own
    savepoint (a job alone in its batch needs none: rolling back undoes just it), and ``emit`` /
    ``emit_many`` to append project events (``emit_hub``: hub feed events), published once the
    transaction commits."""

    def __init__(self, db: sqlite_utils.Database, sequencer: Sequencer) -> None:
        self.db = db
        self._sequencer = sequencer
        self.events: list[StoredEvent] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.db.conn.execute(sql, params)  # inside the writer's transaction: no sqlite-utils wrapper needed

    def emit_many(self, project_id: str, type_: str, key: str, values: list[Any], **fields: Any) -> None:
        """Append one event per value (``{..., key: value}``), alike but for that value: their common
        part is encoded once and they are inserted in one statement (the agent output path)."""
        if not values:
            return
        first = self._sequencer.take(self.db, project_id, len(values))
        head = encode(build_event(0, project_id, type_, **fields))[len('{"seq":0,'):-1]
        execution_id = fields.get("execution_id")
        rows = []
        for offset, value in enumerate(values):
            seq = first + offset
            body = f'{{"seq":{seq},{head},"{key}":{encode(value)}}}'
            rows.append((project_id, seq, execution_id, type_, body))
            self.events.append(StoredEvent(project_id, seq, body))
        self.db.conn.executemany(
            "INSERT INTO events (project_id, seq, execution_id, type, body) VALUES (?, ?, ?, ?, ?)", rows)

    def emit(self, project_id: str, type_: str, **fields: Any) -> dict[str, Any]:
        seq = self._sequencer.next(self.db, project_id)
        event = build_event(seq, project_id, type_, **fields)
        body = encode(event)
        self.db.conn.execute(
            "INSERT INTO events (project_id, seq, execution_id, type, body) VALUES (?, ?, ?, ?, ?)",
            [project_id, seq, fields.get("execution_id"), type_, body],
        )
        self.events.append(StoredEvent(project_id, seq, body, type_.startswith("node.")))
        return event

    def emit_hub(self, project_id: str, type_: str, **fields: Any) -> None:
        """Append an event about ``project_id`` to the hub feed (its own ``seq``), published with the rest."""
        seq = self._sequencer.next(self.db, HUB_STREAM)
        body = encode(build_event(seq, project_id, type_, **fields))
        self.db.conn.execute("INSERT INTO hub_events (seq, project_id, type, body) VALUES (?, ?, ?, ?)",
                             [seq, project_id, type_, body])
        self.events.append(StoredEvent(HUB_STREAM, seq, body))


@dataclass
class WriteJob(Generic[T]):
    """A write queued with :meth:`Database.submit`; ``await job.wait()`` for its result."""

    fn: Callable[[WriteJobContext], T]
    wait_for_storage: bool = False  # held and retried while storage fails, instead of failing
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: BaseException | None = None
    events: list[StoredEvent] = field(default_factory=list)

    async def wait(self) -> T:
        """Wait until committed (or rolled back) and return what ``fn`` returned, or raise what it raised."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        result: T = self.result
        return result


class _BatchFailed(Exception):
    """The batch's transaction is gone: nothing of it landed."""


class Database:
    def __init__(self, path: Path, bus: EventBus) -> None:
        self.path = path
        self.bus = bus
        self._sequencer = Sequencer()
        self._reads: Reads | None = None
        self._writer_conn: sqlite_utils.Database | None = None
        self._send: trio.MemorySendChannel[WriteJob[Any]]
        self._receive: trio.MemoryReceiveChannel[WriteJob[Any]]
        self._send, self._receive = trio.open_memory_channel(float("inf"))
        self._closed = False
        # project id -> seq of its latest committed node.* event: lets readers cache a node list
        self.node_versions: dict[str, int] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, bus: EventBus | None = None) -> AsyncIterator[Database]:
        """Create or migrate the database, then serve writes until the block exits."""
        database = cls(path, bus or EventBus())
        await trio.to_thread.run_sync(database._prepare)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(database._serve_writes)
                try:
                    yield database
                finally:
                    database._closed = True
                    database._send.close()  # the writer drains what is queued, then ends
        finally:
            if database._reads is not None:
                await database._reads.close()  # first: a read may still run on its thread
            await trio.to_thread.run_sync(database._close_writer)

    def _prepare(self) -> None:
        create_private(self.path)
        db = connect(self.path, WRITER_BUSY_TIMEOUT_S)
        db.execute("PRAGMA journal_mode = WAL")
        migrate(db)
        self._writer_conn = db
        self._reads = Reads(connect(self.path))

    def _close_writer(self) -> None:
        if self._writer_conn is not None:
            self._writer_conn.conn.close()

    # -- reads --------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` on the read connection, in one consistent snapshot.

        Cancelling the caller interrupts its query, and only its own: the read slot (held until the
        thread is done with the connection) is free again as soon as SQLite notices, not when a long
        query would have ended. A storage failure is a 503."""
        assert self._reads is not None
        return await self._reads.run(fn)

    # -- writes -------------------------------------------------------------------------------

    async def write(self, fn: Callable[[WriteJobContext], T], *, wait_for_storage: bool = False) -> T:
        """Run ``fn`` in the writer's next transaction; its events are published once committed.

        An exception raised by ``fn`` rolls back that job only and is re-raised here. When storage
        fails, :class:`StorageUnavailable` is raised, or with ``wait_for_storage`` the job waits for
        storage to come back.
        """
        return await self.submit(fn, wait_for_storage=wait_for_storage).wait()

    def submit(self, fn: Callable[[WriteJobContext], T], *, wait_for_storage: bool = False) -> WriteJob[T]:
        """Queue ``fn`` for the writer without waiting for it: jobs commit in the order they were
        submitted, and a queued job lands even if nobody awaits it (the writer drains its queue before
        it stops). Lets a caller go on while its write is in flight, and await it later."""
        if self._closed:
            raise DatabaseClosed("the database is closing")
        job: WriteJob[T] = WriteJob(fn, wait_for_storage)
        self._send.send_nowait(job)
        return job

    async def _serve_writes(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        # The writer is never cancelled from outside: it ends when the channel is closed and empty,
        # so that the final status writes of a shutting-down hub still land.
        with trio.CancelScope(shield=True):
            last_batch = -math.inf
            held: list[WriteJob[Any]] = []  # jobs waiting for storage to come back, in their order
            outage = _Outage()
            while True:
                if held:
                    await trio.sleep(outage.next_delay())
                    batch, held = held, []
                else:
                    try:
                        batch = [await self._receive.receive()]
                    except trio.EndOfChannel:
                        return
                    if trio.current_time() < last_batch + WRITE_INTERVAL_S:
                        await trio.sleep_until(last_batch + WRITE_INTERVAL_S)
                while len(batch) < MAX_JOBS_PER_TRANSACTION:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                failure = await trio.to_thread.run_sync(self._run_batch, batch)
                last_batch = trio.current_time()
                if failure is not None:
                    held = self._hold(batch, failure, outage)
                    continue
                outage.ended()
                committed: list[StoredEvent] = []
                for done in batch:
                    committed.extend(done.events)
                if committed:
                    for event in committed:
                        if event.node_change:
                            self.node_versions[event.project_id] = event.seq
                    self.bus.publish(committed)
                for done in batch:
                    done.done.set()

    def _hold(self, batch: list[WriteJob[Any]], failure: StorageUnavailable, outage: _Outage) -> list[WriteJob[Any]]:
        """After a failed batch: fail the jobs that may fail, keep the others for the next try."""
        outage.failed(failure, giving_up=self._closed and outage.longer_than(STORAGE_PATIENCE_AT_CLOSE_S))
        held = []
        for job in batch:
            if job.wait_for_storage and not outage.given_up:
                held.append(job)
            else:
                job.error = failure
                job.done.set()
        return held

    def _run_batch(self, batch: list[WriteJob[Any]]) -> StorageUnavailable | None:
        """Run the jobs in one transaction. None when it committed (a job may still have failed on its
        own); the storage error when nothing landed."""
        assert self._writer_conn is not None
        db, conn = self._writer_conn, self._writer_conn.conn
        # A job alone in its transaction needs no savepoint (~10 us each): rolling back undoes just it.
        solo = len(batch) == 1
        for job in batch:  # a held job may run again: nothing of its last try counts
            job.result, job.error, job.events = None, None, []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                self._run_job(db, job, savepoint=not solo)
            conn.execute("ROLLBACK" if solo and batch[0].error is not None else "COMMIT")
        except (sqlite3.Error, _BatchFailed) as exc:  # disk full, a lock, an I/O error: nothing landed
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._sequencer.rollback(0)
            cause = exc.__cause__ if isinstance(exc, _BatchFailed) else exc
            if isinstance(cause, sqlite3.Error):
                return storage_unavailable(cause, WRITER_BUSY_TIMEOUT_S)
            return StorageUnavailable(f"the database cannot be written: {cause}")
        self._sequencer.committed()
        return None

    def _run_job(self, db: sqlite_utils.Database, job: WriteJob[Any], savepoint: bool) -> None:
        mark = self._sequencer.mark()
        tx = WriteJobContext(db, self._sequencer)
        if savepoint:
            db.conn.execute("SAVEPOINT job")
        try:
            job.result = job.fn(tx)
        except Exception as exc:
            if is_storage_error(exc) or not db.conn.in_transaction:
                raise _BatchFailed() from exc  # the storage failed, not the job: the batch is lost
            if savepoint:
                db.conn.execute("ROLLBACK TO job")
                db.conn.execute("RELEASE job")
            self._sequencer.rollback(mark)
            job.error = exc
        else:
            if savepoint:
                db.conn.execute("RELEASE job")
            job.events = tx.events


@dataclass
class _Outage:
    """How long storage has been failing, for the retry delay and one log line each way."""

    since: float | None = None
    delay: float = STORAGE_RETRY_FIRST_S
    given_up: bool = False

    def failed(self, error: StorageUnavailable, giving_up: bool) -> None:
        if self.since is None:
            self.since = trio.current_time()
            log.warning("database writes failing: %s; writes of running executions are held and retried",
                        error.message)
        if giving_up and not self.given_up:
            log.error("the hub is stopping and the database still cannot be written (%s): held writes are "
                      "dropped; their executions are recorded as interrupted at the next start", error.message)
        self.given_up = giving_up

    def longer_than(self, seconds: float) -> bool:
        return self.since is not None and trio.current_time() - self.since > seconds

    def next_delay(self) -> float:
        delay, self.delay = self.delay, min(STORAGE_RETRY_MAX_S, self.delay * 2)
        return delay

    def ended(self) -> None:
        if self.since is not None:
            log.warning("database writes work again after %.1f s", trio.current_time() - self.since)
        self.since, self.delay, self.given_up = None, STORAGE_RETRY_FIRST_S, False
