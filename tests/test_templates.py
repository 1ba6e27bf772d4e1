"""templates.build_argv and agent_environment: a template becomes an argv without a shell, and the
agent's environment never carries the hub's token."""

from __future__ import annotations

import sys

import pytest

from orchestra.agents.templates import agent_environment, build_argv, builtin_templates, unknown_placeholders
from orchestra.core.settings import load_settings

CLAUDE = ["claude", "-p", "{prompt}", "--output-format", "stream-json", "--model", "{model}"]
HOSTILE = ["; rm -rf ~", "$(x)", "`id`", "line one\nline two\r\n", "--flag", "-p", "--model=evil",
           "{model}", "{workspace}", "a b  c", "'quoted' \"double\"", "\\", "*", "", " "]


def test_values_fill_their_placeholders() -> None:
    argv = build_argv(CLAUDE, {"prompt": "hello", "model": "opus", "workspace": "/w", "session_id": None})
    assert argv == ["claude", "-p", "hello", "--output-format", "stream-json", "--model", "opus"]


def test_empty_placeholder_is_dropped_with_its_flag() -> None:
    for model in (None, ""):
        argv = build_argv(CLAUDE, {"prompt": "hello", "model": model})
        assert argv == ["claude", "-p", "hello", "--output-format", "stream-json"]
    codex = ["codex", "exec", "-m", "{model}", "-C", "{workspace}", "--resume", "{session_id}", "{prompt}"]
    assert build_argv(codex, {"prompt": "go", "workspace": "/w"}) == ["codex", "exec", "-C", "/w", "go"]


def test_empty_placeholder_without_a_flag_before_it_drops_only_itself() -> None:
    assert build_argv(["agent", "run", "{model}", "{prompt}"], {"prompt": "go"}) == ["agent", "run", "go"]
    assert build_argv(["agent", "{model}", "{prompt}"], {"prompt": "go"}) == ["agent", "go"]
    command = ["agent", "--verbose", "--model", "{model}", "{session_id}", "{prompt}"]
    assert build_argv(command, {"prompt": "go"}) == ["agent", "--verbose", "go"]


def test_empty_prompt_is_kept_as_an_empty_argument() -> None:
    """Dropping ``-p {prompt}`` would start the CLI interactively instead of failing visibly."""
    for prompt in ("", None):
        assert build_argv(CLAUDE, {"prompt": prompt, "model": "m"}) == [
            "claude", "-p", "", "--output-format", "stream-json", "--model", "m"]


def test_placeholder_inside_an_argument_is_filled_in_place() -> None:
    argv = build_argv(["agent", "--cwd={workspace}", "--model={model}", "{prompt}"], {"prompt": "p", "workspace": "/w"})
    assert argv == ["agent", "--cwd=/w", "--model=", "p"]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_prompt_is_always_exactly_one_argument(prompt: str) -> None:
    argv = build_argv(CLAUDE, {"prompt": prompt, "model": "m", "workspace": "/w"})
    assert argv == ["claude", "-p", prompt, "--output-format", "stream-json", "--model", "m"]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_prompt_survives_an_empty_placeholder_after_it(prompt: str) -> None:
    """The flag dropped with an empty placeholder is the template's literal flag, never a value that
    merely looks like one (a prompt starting with ``--``)."""
    command = ["agent", "{prompt}", "{model}"]
    assert build_argv(command, {"prompt": prompt, "model": None}) == ["agent", prompt]
    command = ["agent", "-p", "{prompt}", "--resume", "{session_id}"]
    assert build_argv(command, {"prompt": prompt, "session_id": None}) == ["agent", "-p", prompt]


def test_values_are_not_expanded_again() -> None:
    argv = build_argv(["agent", "{prompt}", "--m", "{model}", "{workspace}"],
                      {"prompt": "{model} {workspace}", "model": "{prompt}", "workspace": "/w"})
    assert argv == ["agent", "{model} {workspace}", "--m", "{prompt}", "/w"]


def test_builtin_templates_point_at_the_configured_binaries() -> None:
    settings = load_settings(claude_bin="/opt/c", codex_bin="cx", gemini_bin="/g/gem")
    templates = builtin_templates(settings)
    assert {k: t["command"][0] for k, t in templates.items()} == {"claude-code": "/opt/c", "codex": "cx",
                                                                  "gemini": "/g/gem", "demo": sys.executable}
    for cli in ("claude-code", "codex", "gemini"):  # the availability check asks the CLIs' --version
        assert templates[cli].get("version_command") == [templates[cli]["command"][0], "--version"]
    for template in templates.values():
        assert unknown_placeholders(template["command"]) == set()
        assert template["command"].count("{prompt}") == 1


def test_unknown_placeholders() -> None:
    assert unknown_placeholders(["a", "{prompt}", "--x={model}", "{workspace}{session_id}"]) == set()
    assert unknown_placeholders(["a", "{prompt}", "{temp}", "--k={KEY}", '{"json": 1}']) == {"temp", "KEY"}


def test_agent_environment_drops_the_token_and_the_hubs_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRA_TOKEN", "hub-secret-token-value")
    monkeypatch.setenv("ORCHESTRA_DATABASE_URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("HOME", "/home/agent")
    env = agent_environment({"MINE": "1"})
    assert not any(name.startswith("ORCHESTRA_") for name in env)
    assert "hub-secret-token-value" not in env.values()
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert (env["ANTHROPIC_API_KEY"], env["LC_ALL"], env["HOME"], env["MINE"]) == ("sk-ant", "C.UTF-8",
                                                                                     "/home/agent", "1")
    assert env["PATH"]


def test_template_env_overrides_and_path_has_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH", raising=False)
    monkeypatch.setenv("HOME", "/home/agent")
    env = agent_environment({"HOME": "/elsewhere"})
    assert env["HOME"] == "/elsewhere"
    assert env["PATH"]
