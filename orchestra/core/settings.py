"""The hub's configuration, read from ``ORCHESTRA_*`` environment variables.

Every setting has an embedded default so that ``python orchestra.py`` works on a fresh machine.
A bad value stops the start with one line naming the variable (:class:`ConfigError`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "ORCHESTRA_"

DEFAULT_CORS_ORIGINS = ",".join(
    [f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in range(8000, 8010)]
    + ["tauri://localhost", "http://tauri.localhost"]
)


# Settings whose value a configuration error never echoes: tokens, and notification URLs (they hold webhook tokens).
SECRET_SETTINGS = frozenset(ENV_PREFIX + name for name in ("TOKEN", "NOTIFY", "GITHUB_TOKEN", "GITLAB_TOKEN",
                                                          "GITEA_TOKEN"))


class ConfigError(Exception):
    """A setting has a value the hub cannot start with; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = "sqlite:///./orchestra.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    cors_origins: str = DEFAULT_CORS_ORIGINS
    debug: bool = False
    token: str | None = Field(default=None, min_length=16)
    workspaces: Path = Path("./workspaces")
    max_parallel: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=1024)
    claude_bin: str = "claude"
    codex_bin: str = "codex"
    gemini_bin: str = "gemini"
    # Seconds between SIGTERM and SIGKILL when an agent's process group is ended.
    kill_grace_s: float = Field(default=5.0, gt=0, le=300)
    # How long an agent parked at a usage/rate limit waits when its CLI gave no reset time; doubled at
    # each further park of the same execution, up to an hour (orchestra/runtime/parking.py).
    park_backoff_s: float = Field(default=300.0, gt=0, le=86400)
    # Largest accepted request body, in bytes.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Webhooks: a delivery id (X-GitHub-Delivery, X-Orchestra-Delivery) seen within this many seconds is
    # not launched again; at most this many runs started by a project's webhook are unfinished at once.
    webhook_replay_window_s: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
    webhook_max_queued: int = Field(default=5, ge=1, le=1000)
    # Where agents run: on this machine, or on a Ray cluster (docs/SCALE_OUT.md; orchestra-hub[ray]).
    executor: Literal["local", "ray"] = "local"
    ray_address: str = "auto"  # the cluster's GCS address (host:port); "auto": the one `ray start` left here
    ray_namespace: str = Field(default="orchestra", min_length=1, max_length=100)
    ray_connect_timeout_s: float = Field(default=30.0, gt=0, le=3600)  # then the hub refuses to start
    # Comma-separated directories every Ray worker sees at the same path (e.g. an NFS mount): executions
    # whose workspace lies under one run on the cluster; the others run on the hub's machine.
    ray_shared_paths: str = ""
    # Agents in a bubblewrap sandbox (docs/SECURITY.md): "auto" when bwrap works here, "bwrap" always
    # (the hub refuses to start when it cannot), "off" never.
    sandbox: Literal["auto", "bwrap", "off"] = "auto"
    # The time zone of cron schedules (an IANA name, e.g. Europe/Paris); None: the system's.
    timezone: str | None = None
    # For tests: schedules read the time (epoch seconds) from this file instead of the system clock.
    clock_file: Path | None = None
    # Landing as a pull request (orchestra/runtime/landing.py): the token it opens them with (never shown,
    # never given to agents), and the API's base URL (GitHub Enterprise: https://HOST/api/v3).
    github_token: str | None = Field(default=None, repr=False)
    github_api: str = Field(default="https://api.github.com", pattern=r"^https?://\S+$")
    # The same for GitLab merge requests (gitlab.com, or a self-managed GitLab: https://HOST/api/v4) and Gitea
    # pull requests (self-hosted only, so no default: https://HOST/api/v1); a land node's ``forge`` picks one.
    gitlab_token: str | None = Field(default=None, repr=False)
    gitlab_api: str = Field(default="https://gitlab.com/api/v4", pattern=r"^https?://\S+$")
    gitea_token: str | None = Field(default=None, repr=False)
    gitea_api: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Apprise URLs (ntfy://topic, slack://..., json://host/path) separated by spaces or commas: where the hub
    # says that something waits for a person, a run finished, an execution parked (orchestra/runtime/notifications.py).
    notify: str = ""
    # Each delivery attempt gives up after this long (a receiver that hangs); three attempts, then it is dropped.
    notify_timeout_s: float = Field(default=15.0, gt=0, le=600)
    # The UI as the person notified reaches it (through their tunnel): the links in notifications. Default:
    # http://localhost:<port>/ui/ (the SSH tunnel of docs/VM_SETUP.md).
    ui_url: str | None = None

    @field_validator("notify")
    @classmethod
    def _notify_urls(cls, value: str) -> str:
        from orchestra.core.notify_urls import check_targets

        return check_targets(value) or ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("is not a known time zone (an IANA name such as Europe/Paris or UTC)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if not value.startswith("sqlite:///") or len(value) == len("sqlite:///"):
            raise ValueError("must look like sqlite:///path/to/orchestra.db (SQLite is the only backend)")
        return value

    @field_validator("executor")
    @classmethod
    def _ray_installed(cls, value: str) -> str:
        if value == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError("ray is not installed here: pip install 'orchestra-hub[ray]'")
        return value

    @property
    def ui_link_base(self) -> str:
        """Where links in notifications point: ``ui_url``, else this hub's UI through a tunnel to localhost."""
        return (self.ui_url or f"http://localhost:{self.port}/ui/").rstrip("#")

    @property
    def database_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///")).expanduser()

    @property
    def token_path(self) -> Path:
        """The generated token lives beside the database, readable by its owner only."""
        path = self.database_path
        return path.with_name(path.name + ".token")

    @property
    def state_dir(self) -> Path:
        """The directory of the database, its WAL and SHM files and the token file."""
        return self.database_path.resolve().parent

    @property
    def workspaces_root(self) -> Path:
        return self.workspaces.expanduser().resolve()

    @property
    def ray_shared_path_list(self) -> list[Path]:
        return [Path(path.strip()).expanduser().resolve() for path in self.ray_shared_paths.split(",") if path.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def forge_tokens(self) -> tuple[str, ...]:
        """Every forge token the hub holds: redacted from any message a landing shows (git's, an API's)."""
        return tuple(token for token in (self.github_token, self.gitlab_token, self.gitea_token) if token)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and explicit overrides); raise ConfigError with a one-line message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "configuration"
            value = error.get("input")
            # Secrets are not echoed (SECRET_SETTINGS).
            shown = "" if name in SECRET_SETTINGS else f" (got {value!r})"
            problems.append(f"{name}: {error['msg']}{shown}")
        raise ConfigError("; ".join(problems)) from None
