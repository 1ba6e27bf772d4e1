"""The database schema as a list of forward migrations; ``PRAGMA user_version`` records how many ran."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    _run_script(
        db,
        """
        CREATE TABLE projects (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            workspace TEXT NOT NULL,
            max_parallel INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE nodes (
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            title TEXT NOT NULL,
            prompt TEXT NOT NULL,
            agent TEXT NOT NULL,
            model TEXT,
            timeout_s REAL,
            retries INTEGER NOT NULL DEFAULT 0,
            position TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (project_id, id)
        );
        CREATE TABLE edges (
            project_id TEXT NOT NULL,
            node_id TEXT NOT NULL,
            depends_on TEXT NOT NULL,
            PRIMARY KEY (project_id, node_id, depends_on),
            FOREIGN KEY (project_id, node_id) REFERENCES nodes(project_id, id) ON DELETE CASCADE,
            FOREIGN KEY (project_id, depends_on) REFERENCES nodes(project_id, id) ON DELETE CASCADE
        );
        CREATE INDEX edges_upstream ON edges(project_id, depends_on);
        CREATE TABLE agent_templates (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            command TEXT NOT NULL,
            output TEXT NOT NULL,
            default_model TEXT,
            env TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            node_ids TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        );
        CREATE INDEX runs_project ON runs(project_id, created_at);
        CREATE TABLE executions (
            num INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            node_id TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL,
            agent TEXT NOT NULL,
            model TEXT,
            prompt TEXT,
            argv TEXT,
            workspace TEXT,
            pid INTEGER,
            proc_start INTEGER,
            exit_code INTEGER,
            error TEXT,
            result_text TEXT,
            session_id TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,
            stderr TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL
        );
        CREATE INDEX executions_project ON executions(project_id, num);
        CREATE INDEX executions_run ON executions(run_id, num);
        CREATE INDEX executions_node ON executions(project_id, node_id, num);
        CREATE INDEX executions_status ON executions(status, num);
        CREATE TABLE events (
            project_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            execution_id TEXT,
            type TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (project_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX events_execution ON events(execution_id, seq) WHERE execution_id IS NOT NULL;
        """,
    )


def _v2(db: sqlite_utils.Database) -> None:
    """Gates and budgets on nodes, budgets on runs, follow-ups, git checkpoints, resumable templates."""
    _run_script(
        db,
        """
        ALTER TABLE nodes ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent';
        ALTER TABLE nodes ADD COLUMN budget TEXT;
        ALTER TABLE runs ADD COLUMN budget TEXT;
        ALTER TABLE executions ADD COLUMN parent_execution_id TEXT;
        ALTER TABLE executions ADD COLUMN base_commit TEXT;
        ALTER TABLE executions ADD COLUMN commit_sha TEXT;
        ALTER TABLE executions ADD COLUMN branch TEXT;
        ALTER TABLE agent_templates ADD COLUMN resume_command TEXT;
        """,
    )


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Statement by statement: ``executescript`` would commit the migration's transaction early."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v3(db: sqlite_utils.Database) -> None:
    """Templates that take a long prompt on stdin."""
    _run_script(db, "ALTER TABLE agent_templates ADD COLUMN stdin_prompt TEXT;")


def _run_inputs(db: sqlite_utils.Database) -> None:
    """The launch inputs ({{inputs.NAME}}) a run was given."""
    _run_script(db, "ALTER TABLE runs ADD COLUMN inputs TEXT;")


def _triggers(db: sqlite_utils.Database) -> None:
    """Launches from a signed webhook (one secret per project) and on cron schedules; what started a run.
    ``last_tick``: the schedule's latest tick that was handled (a run started, or the launch's error
    kept in ``last_error``); a tick is never handled twice."""
    _run_script(
        db,
        """
        CREATE TABLE webhooks (
            project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            inputs TEXT,
            node_ids TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            cron TEXT NOT NULL,
            inputs TEXT,
            node_ids TEXT,
            created_at REAL NOT NULL,
            last_tick REAL,
            last_run_id TEXT,
            last_error TEXT
        );
        CREATE INDEX schedules_project ON schedules(project_id, created_at);
        ALTER TABLE runs ADD COLUMN trigger TEXT;
        """,
    )


def _hub_events(db: sqlite_utils.Database) -> None:
    """The hub feed's stored events (``/ws/hub``): one hub-wide ``seq``, kept when their project is
    deleted (a replay from any ``since`` stays gap-free)."""
    _run_script(
        db,
        """
        CREATE TABLE hub_events (
            seq INTEGER PRIMARY KEY,
            project_id TEXT NOT NULL,
            type TEXT NOT NULL,
            body TEXT NOT NULL
        );
        """,
    )


def _node_checks_and_repairs(db: sqlite_utils.Database) -> None:
    """A node's check (its argv as JSON: ``check`` is an SQL keyword), its timeout and its repair turns."""
    _run_script(db, """
        ALTER TABLE nodes ADD COLUMN check_command TEXT;
        ALTER TABLE nodes ADD COLUMN check_timeout_s REAL;
        ALTER TABLE nodes ADD COLUMN max_repairs INTEGER NOT NULL DEFAULT 0;
        """)


def _plan_nodes(db: sqlite_utils.Database) -> None:
    """Plan nodes' limits, and which plan node grew a node (its tasks are replaced when it runs again)."""
    _run_script(db, """
        ALTER TABLE nodes ADD COLUMN max_tasks INTEGER;
        ALTER TABLE nodes ADD COLUMN max_depth INTEGER;
        ALTER TABLE nodes ADD COLUMN planned_by TEXT;
        ALTER TABLE nodes ADD COLUMN review_plan INTEGER NOT NULL DEFAULT 0;
        """)


def _candidates(db: sqlite_utils.Database) -> None:
    """Best of N: a node's candidates (a count or a list of agent ids, as JSON); each candidate execution's number."""
    _run_script(db, """
        ALTER TABLE nodes ADD COLUMN candidates TEXT;
        ALTER TABLE executions ADD COLUMN candidate INTEGER;
        """)


def _placement_and_ran_on(db: sqlite_utils.Database) -> None:
    """Where agents may run (Ray resources on nodes and templates) and where each execution ran."""
    _run_script(db, """
        ALTER TABLE nodes ADD COLUMN placement TEXT;
        ALTER TABLE agent_templates ADD COLUMN placement TEXT;
        ALTER TABLE executions ADD COLUMN ran_on TEXT;
        """)


def _webhook_deliveries(db: sqlite_utils.Database) -> None:
    """The delivery ids a project's webhook launched, so that a replayed delivery does not launch again
    (rows older than the replay window are pruned as deliveries arrive)."""
    _run_script(db, """
        CREATE TABLE webhook_deliveries (
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            delivery_id TEXT NOT NULL,
            received_at REAL NOT NULL,
            run_id TEXT,
            PRIMARY KEY (project_id, delivery_id)
        );
        CREATE INDEX webhook_deliveries_received ON webhook_deliveries(project_id, received_at);
    """)


def _usage_limits(db: sqlite_utils.Database) -> None:
    """Parked executions (a usage/rate limit): when each goes on; a template's own limit phrases (JSON list)."""
    _run_script(db, """
        ALTER TABLE executions ADD COLUMN resume_at REAL;
        ALTER TABLE agent_templates ADD COLUMN limit_patterns TEXT;
        """)


def _template_version_command(db: sqlite_utils.Database) -> None:
    """How to ask a user template its version (JSON argv): without one, availability only resolves the executable."""
    _run_script(db, "ALTER TABLE agent_templates ADD COLUMN version_command TEXT;")


def _attention(db: sqlite_utils.Database) -> None:
    """The attention list (orchestra/storage/attention.py): when a failed run was marked seen (it leaves the
    list), a project's own notification URLs, and an index for what waits (gates, picks, reviews, parked)."""
    _run_script(db, """
        ALTER TABLE runs ADD COLUMN seen_at REAL;
        ALTER TABLE projects ADD COLUMN notify TEXT;
        CREATE INDEX runs_unseen_failures ON runs(finished_at) WHERE status = 'failed' AND seen_at IS NULL;
        """)


def _sandbox(db: sqlite_utils.Database) -> None:
    """Templates' sandbox settings and env passthrough (JSON); a node's own sandbox network; how each
    execution was sandboxed."""
    _run_script(db, """
        ALTER TABLE agent_templates ADD COLUMN sandbox TEXT;
        ALTER TABLE agent_templates ADD COLUMN env_passthrough TEXT;
        ALTER TABLE executions ADD COLUMN sandbox TEXT;
        ALTER TABLE nodes ADD COLUMN network TEXT;
        """)


def _schedule_enabled(db: sqlite_utils.Database) -> None:
    """A schedule can be switched off without losing it (the UI's enable/disable)."""
    _run_script(db, "ALTER TABLE schedules ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;")


def _landing(db: sqlite_utils.Database) -> None:
    """A land node's settings (JSON: mode, remote, base, branch), and how a run's work landed (JSON: mode,
    commit, branch, url, number)."""
    _run_script(db, """
        ALTER TABLE nodes ADD COLUMN land TEXT;
        ALTER TABLE runs ADD COLUMN landed TEXT;
        """)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _v2, _v3, _run_inputs, _triggers, _hub_events, _node_checks_and_repairs, _plan_nodes, _candidates,
    _placement_and_ran_on, _webhook_deliveries, _usage_limits, _template_version_command, _attention, _sandbox,
    _schedule_enabled, _landing]


def migrate(db: sqlite_utils.Database) -> int:
    """Run the migrations this database has not seen yet, each in its own transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is at schema version {version}, newer than this Orchestra ({len(MIGRATIONS)})"
        )
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
