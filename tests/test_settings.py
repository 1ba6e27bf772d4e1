"""Configuration from ``ORCHESTRA_*``: embedded defaults, and a bad value stops the start with one
line naming the variable (in the library and through the real entry point)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio
from hubproc import ENTRY

from orchestra.core.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ORCHESTRA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a stray .env or orchestra.db stays out of the repository


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./orchestra.db"
    assert settings.database_path == Path("orchestra.db")
    assert settings.token_path == Path("orchestra.db.token")
    assert (settings.host, settings.port, settings.debug, settings.token) == ("127.0.0.1", 8000, False, None)
    assert settings.workspaces_root == Path.cwd() / "workspaces"
    assert settings.max_parallel == (os.cpu_count() or 2)
    origins = settings.cors_origin_list
    assert {f"http://{h}:{p}" for h in ("localhost", "127.0.0.1") for p in range(8000, 8010)} <= set(origins)
    assert {"tauri://localhost", "http://tauri.localhost"} <= set(origins)
    assert "http://localhost:8010" not in origins


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCHESTRA_PORT", "8123")
    monkeypatch.setenv("ORCHESTRA_HOST", "::1")
    monkeypatch.setenv("ORCHESTRA_DEBUG", "1")
    monkeypatch.setenv("ORCHESTRA_DATABASE_URL", f"sqlite:///{tmp_path}/data/hub.db")
    monkeypatch.setenv("ORCHESTRA_CORS_ORIGINS", " https://a.example , ,https://b.example")
    monkeypatch.setenv("ORCHESTRA_WORKSPACES", str(tmp_path / "ws"))
    monkeypatch.setenv("ORCHESTRA_MAX_PARALLEL", "3")
    settings = load_settings()
    assert (settings.port, settings.host, settings.debug, settings.max_parallel) == (8123, "::1", True, 3)
    assert settings.database_path == tmp_path / "data" / "hub.db"
    assert settings.token_path == tmp_path / "data" / "hub.db.token"
    assert settings.cors_origin_list == ["https://a.example", "https://b.example"]
    assert settings.workspaces_root == tmp_path / "ws"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORCHESTRA_PORT", "abc"),
        ("ORCHESTRA_PORT", "70000"),
        ("ORCHESTRA_PORT", "-1"),
        ("ORCHESTRA_DATABASE_URL", "postgresql://user@db/orchestra"),
        ("ORCHESTRA_DATABASE_URL", "sqlite:///"),
        ("ORCHESTRA_DATABASE_URL", "./orchestra.db"),
        ("ORCHESTRA_DEBUG", "maybe"),
        ("ORCHESTRA_MAX_PARALLEL", "0"),
        ("ORCHESTRA_MAX_PARALLEL", "many"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                   value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(variable + ":"), message
    assert "\n" not in message
    assert repr(value) in message


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_PORT", "abc")
    monkeypatch.setenv("ORCHESTRA_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ORCHESTRA_PORT" in message and "ORCHESTRA_DATABASE_URL" in message and "\n" not in message


def test_short_token_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_TOKEN", "short-secret")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("ORCHESTRA_TOKEN:")
    assert "short-secret" not in message


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def run_entry_point(tmp_path: Path, *args: str, **env: str) -> trio.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")} | env
    with trio.fail_after(30):  # a hub that starts instead of refusing is killed here, and fails the test
        return await trio.run_process([sys.executable, str(ENTRY), *args], env=environment,
                                      cwd=tmp_path, check=False, capture_stdout=True, capture_stderr=True)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ORCHESTRA_PORT", "abc"), ("ORCHESTRA_DATABASE_URL", "postgresql://db/orchestra")],
)
async def test_entry_point_refuses_a_bad_value_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    result = await run_entry_point(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert variable in stderr and repr(value) in stderr
    assert "Traceback" not in stderr
    assert entries(tmp_path) == []  # no database, token or workspace was made


async def test_entry_point_help_lists_the_subcommands(tmp_path: Path) -> None:
    result = await run_entry_point(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    for command in ("serve", "token", "url", "backup"):
        assert command in out
    assert entries(tmp_path) == []
