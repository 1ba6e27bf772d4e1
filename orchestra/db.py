"""SQLite access that never blocks the event loop.

Reads run on worker threads, one at a time, each thread with its own connection (WAL lets them run
beside the writer). Writes go to one writer task that owns one connection: at most every
WRITE_INTERVAL_S it takes every job waiting in its queue, runs them in a single ``BEGIN IMMEDIATE``
transaction (each job inside its own savepoint, so a failing job leaves no half-written rows and
does not fail its neighbours), commits once, then publishes the events the jobs emitted. Group
commit is what makes 20,000 events/s affordable. A caller may queue a write and go on
(:meth:`Database.submit`): jobs commit in the order they were queued.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlite_utils
import trio

from .events import EventBus, Sequencer, StoredEvent, build_event, encode
from .schema import migrate

T = TypeVar("T")

MAX_JOBS_PER_TRANSACTION = 1_000
# A transaction starts at most this long after the previous one ended, with whatever was queued
# meanwhile: a lone write goes at once, a steady stream goes in fewer, larger transactions. Each one
# costs a thread hop and a GIL tug-of-war with the event loop, so fewer is faster even for a chain of
# one-node-at-a-time agents, which await no write: 1,000-node chain 0.91 -> 0.67 ms overhead per
# node, layered 1.13 -> 0.83 (0 vs 2 ms, benchmarks.dag); p99 at 20,000 events/s stays 28-44 ms.
WRITE_INTERVAL_S = 0.002
# Reads run one at a time. The sqlite3 module releases the GIL around every row it steps through, so
# concurrent readers hand the GIL back and forth per row: a 100-row page of executions costs 0.33 ms
# of CPU alone, 0.66 ms two at a time, 1.1-1.9 ms four at a time (python -m benchmarks.micro); at
# concurrency 4, GET /executions went from p99 16-18 ms to 7.7-9 ms. Queued reads wait less than that.
READ_CONCURRENCY = 1


def connect(path: Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    return sqlite_utils.Database(conn)


def fetch_rows(db: sqlite_utils.Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Tx:
    """What a write job sees: the writer's connection, and ``emit`` to append a project event."""

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


@dataclass
class WriteJob(Generic[T]):
    """A write queued with :meth:`Database.submit`; ``await job.outcome()`` for its result."""

    fn: Callable[[Tx], T]
    done: trio.Event = field(default_factory=trio.Event)
    result: Any = None
    error: BaseException | None = None
    events: list[StoredEvent] = field(default_factory=list)

    async def outcome(self) -> T:
        """Wait until committed (or rolled back) and return what ``fn`` returned, or raise what it raised."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


class DatabaseClosed(Exception):
    pass


class Database:
    def __init__(self, path: Path, bus: EventBus) -> None:
        self.path = path
        self.bus = bus
        self._sequencer = Sequencer()
        self._local = threading.local()
        self._readers: list[sqlite_utils.Database] = []
        self._readers_lock = threading.Lock()
        self._writer_conn: sqlite_utils.Database | None = None
        self._send: trio.MemorySendChannel[WriteJob[Any]]
        self._receive: trio.MemoryReceiveChannel[WriteJob[Any]]
        self._send, self._receive = trio.open_memory_channel(float("inf"))
        self._closed = False
        self._read_limiter = trio.CapacityLimiter(READ_CONCURRENCY)
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
            await trio.to_thread.run_sync(database._close_connections)

    def _prepare(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = connect(self.path)
        db.execute("PRAGMA journal_mode = WAL")
        migrate(db)
        self._writer_conn = db

    def _close_connections(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.conn.close()
        if self._writer_conn is not None:
            self._writer_conn.conn.close()

    # -- reads --------------------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn`` with this thread's read connection, in one consistent snapshot."""
        return await trio.to_thread.run_sync(self._read_in_thread, fn, abandon_on_cancel=True,
                                             limiter=self._read_limiter)

    def _read_in_thread(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        db.execute("BEGIN")
        try:
            return fn(db)
        finally:
            db.execute("COMMIT")

    # -- writes -------------------------------------------------------------------------------

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in the writer's next transaction; its events are published once committed.

        An exception raised by ``fn`` rolls back that job only and is re-raised here.
        """
        return await self.submit(fn).outcome()

    def submit(self, fn: Callable[[Tx], T]) -> WriteJob[T]:
        """Queue ``fn`` for the writer without waiting for it: jobs commit in the order they were
        submitted, and a queued job lands even if nobody awaits it (the writer drains its queue before
        it stops). Lets a caller go on while its write is in flight, and await it later."""
        if self._closed:
            raise DatabaseClosed("the database is closing")
        job: WriteJob[T] = WriteJob(fn)
        self._send.send_nowait(job)
        return job

    async def _serve_writes(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        # The writer is never cancelled from outside: it ends when the channel is closed and empty,
        # so that the final status writes of a shutting-down hub still land.
        with trio.CancelScope(shield=True):
            last_batch = -math.inf
            async for job in self._receive:
                if trio.current_time() < last_batch + WRITE_INTERVAL_S:
                    await trio.sleep_until(last_batch + WRITE_INTERVAL_S)
                batch = [job]
                while len(batch) < MAX_JOBS_PER_TRANSACTION:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await trio.to_thread.run_sync(self._run_batch, batch)
                last_batch = trio.current_time()
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

    def _run_batch(self, batch: list[WriteJob[Any]]) -> None:
        assert self._writer_conn is not None
        db, conn = self._writer_conn, self._writer_conn.conn
        # A job alone in its transaction needs no savepoint (~10 us each): rolling back undoes just it.
        solo = len(batch) == 1
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                self._run_job(db, job, savepoint=not solo)
            conn.execute("ROLLBACK" if solo and batch[0].error is not None else "COMMIT")
            self._sequencer.committed()
        except Exception as exc:  # the commit itself failed (disk full, I/O error): nothing landed
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._sequencer.rollback(0)
            for job in batch:
                job.events = []
                if job.error is None:
                    job.error = exc

    def _run_job(self, db: sqlite_utils.Database, job: WriteJob[Any], savepoint: bool) -> None:
        mark = self._sequencer.mark()
        tx = Tx(db, self._sequencer)
        if savepoint:
            db.conn.execute("SAVEPOINT job")
        try:
            job.result = job.fn(tx)
        except Exception as exc:
            if savepoint:
                db.conn.execute("ROLLBACK TO job")
                db.conn.execute("RELEASE job")
            self._sequencer.rollback(mark)
            job.error = exc
        else:
            if savepoint:
                db.conn.execute("RELEASE job")
            job.events = tx.events
