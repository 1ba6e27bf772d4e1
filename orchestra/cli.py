"""The entry point of ``python orchestra.py [command]`` and of the installed ``orchestra`` command
(``orchestra.cli:main``): it dispatches to the operator commands defined here (``serve``, the
default; ``token``, ``url``, ``backup``), which act on this machine's hub and its settings, and to
the terminal client's commands (``launch``, ``watch``, ``status``, ``cancel``: :mod:`orchestra.terminal_client`),
which talk to a hub over HTTP.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import trio

from . import __version__
from .logging_setup import configure_logging
from .settings import ConfigError, Settings, load_settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import serve

    trio.run(serve, settings)
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import load_or_create_token

    print(load_or_create_token(settings))
    return 0


def _url(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import load_or_create_token

    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else settings.host
    print(f"http://{host}:{settings.port}/ui/#token={load_or_create_token(settings)}")
    return 0


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from .backup import backup

    return backup(settings, args.file, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestra.py",
        description="Orchestra: a hub that runs coding-agent CLIs as a DAG. Configured by ORCHESTRA_* "
        "environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"orchestra {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("serve", help="start the hub (the default when no command is given)")
    commands.add_parser("token", help="print the API token (generated on first use)")
    commands.add_parser("url", help="print the UI's login link, token included")
    backup = commands.add_parser("backup", help="copy the database consistently, even while the hub runs")
    backup.add_argument("file", help="where to write the copy (a directory: a dated file inside it)")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    from .terminal_client import add_client_commands

    add_client_commands(commands)
    return parser


_LOCAL = {"serve": _serve, "token": _token, "url": _url, "backup": _backup, None: _serve}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.INFO if args.command in _LOCAL else logging.WARNING)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"orchestra: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.debug:
        logging.getLogger().setLevel(logging.DEBUG)
    handler = _LOCAL.get(args.command)
    if handler is not None:
        try:
            return handler(args, settings)
        except KeyboardInterrupt:
            return 130
    run: Callable[[argparse.Namespace, Settings], int] = args.run  # a client command (terminal_client)
    return run(args, settings)
