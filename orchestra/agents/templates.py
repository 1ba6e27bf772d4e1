"""Agent templates: data that says how to run one agent CLI, and turning one into an argv.

Placeholders (``{prompt}``, ``{model}``, ``{workspace}``, ``{session_id}``) are replaced inside single
argv elements, never by splitting or a shell, so a prompt can never become a flag or a command.
An argument that is exactly a placeholder with no value is dropped, together with the template's
flag just before it (``--model {model}`` disappears when no model is set, leaving the CLI's own
default). ``{prompt}`` is never dropped: an empty prompt is still passed, as an empty argument.

One argument can hold at most 128 KiB on Linux, and upstream results make prompts grow: a template
with ``stdin_prompt`` takes a longer prompt on stdin instead, its ``{prompt}`` argument replaced by
``stdin_prompt["argument"]`` (left out when that is None). The built-in CLIs all can (verified with
200,000-character prompts).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from orchestra.core.rows import StdinPrompt, Template
from orchestra.core.settings import Settings

PLACEHOLDERS = frozenset({"prompt", "model", "workspace", "session_id"})
# Linear: one character class between literal braces; an attempt ends at the first non-name character.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

BUILTIN_IDS = ("claude-code", "codex", "gemini", "demo")
# The script itself, not ``-m``: in the pyz the package is importable only inside the hub's process.
# It needs nothing but the standard library (-I: neither PYTHON* variables nor the user's site).
DEMO_AGENT = [sys.executable, "-I", str(Path(__file__).resolve().with_name("demo_agent.py"))]
# What the demo agent needs to read inside the sandbox, wherever the hub was installed (a clone in
# /tmp or a home directory is hidden from agents): this package's own directory (not the checkout
# around it, which may hold the database and token), the venv (its site-packages, with the editable
# install's path file) and the interpreter's standard library.
DEMO_READABLE = sorted({str(Path(__file__).resolve().parents[1]), sys.prefix, sys.base_prefix,
                        os.path.dirname(os.path.realpath(sys.executable))})
# Prompts longer than this (UTF-8 bytes) go on stdin where the template allows it: below Linux's
# 131,072-byte limit on one argument, with room for what a template wraps around ``{prompt}``.
ARGUMENT_PROMPT_MAX_BYTES = 100_000
ARGUMENT_MAX_BYTES = 131_071


def builtin_templates(settings: Settings) -> dict[str, Template]:
    """The three CLIs with the headless flags verified on real runs (fixtures README), and the demo agent
    (:mod:`orchestra.agents.demo_agent`: this interpreter and this package, no CLI, no key)."""
    return {
        "claude-code": {
            "id": "claude-code",
            "name": "Claude Code",
            "command": [settings.claude_bin, "-p", "{prompt}", "--output-format", "stream-json",
                        "--verbose", "--dangerously-skip-permissions", "--model", "{model}"],
            "resume_command": [settings.claude_bin, "-p", "{prompt}", "--resume", "{session_id}",
                               "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions",
                               "--model", "{model}"],
            "version_command": [settings.claude_bin, "--version"],
            "output": "claude-stream-json",
            "stdin_prompt": {"argument": None},  # `claude -p` without a prompt argument reads stdin
            "default_model": None,
            "env": {},
            # Its config, sessions (~/.claude/projects: resume), settings; the native installer's files.
            "sandbox": {"writable": ["~/.claude/", "~/.claude.json", "$CLAUDE_CONFIG_DIR/", "~/.cache/claude",
                                     "~/.local/share/claude", "~/.local/state/claude"],
                        "readable": ["~/.local/bin", "~/.npm-global"], "network": "full"},
            "env_passthrough": ["ANTHROPIC_*", "CLAUDE_*", "DISABLE_*"],
            "builtin": True,
        },
        "codex": {
            "id": "codex",
            "name": "Codex CLI",
            "command": [settings.codex_bin, "exec", "--json", "--skip-git-repo-check",
                        "--dangerously-bypass-approvals-and-sandbox", "-m", "{model}",
                        "-C", "{workspace}", "{prompt}"],
            "resume_command": [settings.codex_bin, "exec", "resume", "--json", "--skip-git-repo-check",
                               "--dangerously-bypass-approvals-and-sandbox", "-m", "{model}",
                               "{session_id}", "{prompt}"],
            "version_command": [settings.codex_bin, "--version"],
            "output": "codex-json",
            "stdin_prompt": {"argument": "-"},
            "default_model": None,
            "env": {},
            "sandbox": {"writable": ["~/.codex/", "$CODEX_HOME/"], "readable": ["~/.npm-global"], "network": "full"},
            "env_passthrough": ["OPENAI_*", "CODEX_*"],
            "builtin": True,
        },
        "gemini": {
            "id": "gemini",
            "name": "Gemini CLI",
            "command": [settings.gemini_bin, "-p", "{prompt}", "--output-format", "stream-json",
                        "--yolo", "--skip-trust", "-m", "{model}"],
            "resume_command": [settings.gemini_bin, "-p", "{prompt}", "--resume", "{session_id}",
                               "--output-format", "stream-json", "--yolo", "--skip-trust", "-m", "{model}"],
            "version_command": [settings.gemini_bin, "--version"],
            "output": "gemini-stream-json",
            "stdin_prompt": {"argument": ""},  # `gemini -p ""` appends stdin to the (empty) prompt
            "default_model": None,
            "env": {},
            "sandbox": {"writable": ["~/.gemini/", "~/.cache/gemini"], "readable": ["~/.npm-global"],
                        "network": "full"},
            "env_passthrough": ["GEMINI_*", "GOOGLE_*", "VERTEX_*"],
            "builtin": True,
        },
        "demo": {
            "id": "demo",
            "name": "Demo agent (no CLI, no key)",
            "command": [*DEMO_AGENT, "{prompt}", "--model", "{model}"],
            "resume_command": [*DEMO_AGENT, "{prompt}", "--resume", "{session_id}", "--model", "{model}"],
            "version_command": [*DEMO_AGENT, "--version"],
            "sandbox": {"readable": DEMO_READABLE},
            "output": "claude-stream-json",
            "stdin_prompt": {"argument": None},  # no prompt argument: it reads stdin
            "default_model": None,
            "env": {},
            "builtin": True,
        },
    }


def unknown_placeholders(command: list[str]) -> set[str]:
    return {name for arg in command for name in _PLACEHOLDER.findall(arg)} - PLACEHOLDERS


def build_argv(command: list[str], values: dict[str, str | None]) -> list[str]:
    argv: list[str] = []
    after_flag = False  # argv[-1] is a flag written literally in the template (not a filled-in value)
    for arg in command:
        whole = _PLACEHOLDER.fullmatch(arg)
        if whole and whole.group(1) != "prompt" and not values.get(whole.group(1)):
            if after_flag:
                argv.pop()
            after_flag = False
            continue
        argv.append(_PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or "", arg))
        after_flag = len(argv) > 1 and arg.startswith("-") and not _PLACEHOLDER.search(arg)
    return argv


def prompt_on_stdin(command: list[str], stdin_prompt: StdinPrompt) -> list[str]:
    """The command for a prompt sent on stdin: its ``{prompt}`` argument replaced, or left out."""
    stand_in = stdin_prompt.get("argument")
    if stand_in is None:
        return [arg for arg in command if arg != "{prompt}"]
    return [stand_in if arg == "{prompt}" else arg for arg in command]


def too_long_argument(argv: list[str]) -> int | None:
    """The size of the first argument the kernel would refuse (E2BIG), if any."""
    for arg in argv:
        size = len(arg.encode(errors="surrogateescape"))
        if size > ARGUMENT_MAX_BYTES:
            return size
    return None


# What an agent inherits from the hub's environment: what a CLI needs to run and find its own
# credentials. Everything else (the hub's token above all) stays behind; a template's ``env``
# adds or overrides variables explicitly.
_INHERITED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
                        "TERM", "IS_SANDBOX", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
                        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"})
_INHERITED_PREFIXES = ("LC_", "XDG_", "ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "GEMINI_",
                       "GOOGLE_", "VERTEX_", "AWS_BEDROCK_")


def inherited_environment() -> dict[str, str]:
    """The part of the hub's environment agents get (reading os.environ costs ~0.1 ms: reuse it)."""
    env = {name: value for name, value in os.environ.items()
           if (name in _INHERITED or name.startswith(_INHERITED_PREFIXES)) and not name.startswith("ORCHESTRA_")}
    env.setdefault("PATH", os.defpath)
    return env


def agent_environment(template_env: dict[str, str], inherited: dict[str, str] | None = None) -> dict[str, str]:
    return (inherited_environment() if inherited is None else inherited) | template_env
