"""The entry point of ``python orchestra.py [command]`` and of the installed ``orchestra`` command
(``orchestra.cli:main``): it dispatches to the operator commands defined here (``serve``, the
default; ``token``, ``url``, ``backup``, ``hubs``, ``connect-info``), which act on this machine's hub
and its settings; to the terminal client's commands (``launch``, ``watch``, ``status``, ``cancel``:
:mod:`orchestra.clients.terminal_client`), which talk to a hub over HTTP; and to ``connect`` and ``desktop``
(:mod:`orchestra.clients.connect`, :mod:`orchestra.clients.desktop`), which reach a hub from a laptop; and to
``mcp`` (:mod:`orchestra.clients.mcp_server`), the hub as an MCP server over stdio.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

import trio

from orchestra.core import local_hub
from orchestra.core.logging_setup import configure_logging
from orchestra.core.settings import ConfigError, Settings, load_settings
from orchestra.core.version import __version__


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from orchestra.server import serve

    refused: list[ConfigError] = []
    try:
        trio.run(serve, settings)
    except* ConfigError as group:  # found only once the hub starts (an unreachable Ray cluster)
        refused.extend(exc for exc in group.exceptions if isinstance(exc, ConfigError))
    if refused:
        print(f"orchestra: configuration error: {refused[0]}", file=sys.stderr)
        return 2
    return 0


def _local_hub(settings: Settings) -> local_hub.LocalHub | None:
    """This machine's hub files; None (and why, on stderr) when it has no token yet: only ``serve``
    creates one, so that a command run in another directory never mints a token of its own."""
    hub = local_hub.read(settings)
    if hub.token is None:
        print(f"orchestra: no token yet at {settings.token_path.absolute()} (the hub creates it when it first starts: "
              "orchestra serve; or set ORCHESTRA_TOKEN, or ORCHESTRA_DATABASE_URL to the hub's database)",
              file=sys.stderr)
        return None
    return hub


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from orchestra.clients import known_hubs

    hub = _local_hub(settings)
    if hub is None or hub.token is None:
        return 1
    print(hub.token)
    if args.save is not None:
        if not known_hubs.valid_name(args.save):
            print(f"orchestra: '{args.save}' cannot name a hub (no '/' or '://')", file=sys.stderr)
            return 1
        try:
            path = known_hubs.save(known_hubs.SavedHub(args.save, hub.url, hub.token))
        except (OSError, known_hubs.HubNotFound) as exc:
            print(f"orchestra: cannot save the hub: {exc}", file=sys.stderr)
            return 1
        print(f"saved {hub.url} as '{args.save}' in {path} ({hub.describe()})", file=sys.stderr)
    return 0


def _hubs(args: argparse.Namespace, settings: Settings) -> int:
    from orchestra.clients import known_hubs

    try:
        hubs = known_hubs.load()
    except known_hubs.HubNotFound as exc:
        print(f"orchestra: {exc}", file=sys.stderr)
        return 1
    if not hubs:
        print(f"no saved hubs ({known_hubs.hubs_path()}): orchestra connect [user@]vm, or orchestra token --save NAME")
    for hub in hubs.values():
        print(f"{hub.name:<20} {hub.url:<28} {('via ssh ' + hub.ssh) if hub.ssh else ''}".rstrip())
    return 0


def _connect_info(args: argparse.Namespace, settings: Settings) -> int:
    """What ``orchestra connect`` reads over SSH (systemd/install.sh's orchestra-connect-info runs it):
    one JSON line with the hub's port and token — the port the running hub wrote in its URL file, not
    this shell's ORCHESTRA_PORT. Never creates a token: none yet is an error."""
    import json
    from urllib.parse import urlsplit

    hub = local_hub.read(settings)
    if not hub.token:
        print(f"orchestra: no token yet at {settings.token_path} (the hub creates it on its first start: "
              "sudo systemctl start orchestra)", file=sys.stderr)
        return 1
    where = urlsplit(hub.url)
    print(json.dumps({"host": where.hostname or settings.host, "port": where.port or settings.port,
                      "token": hub.token}))
    return 0


def _url(args: argparse.Namespace, settings: Settings) -> int:
    hub = _local_hub(settings)
    if hub is None:
        return 1
    print(local_hub.login_link(hub.url, hub.token or ""))
    return 0


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from orchestra.storage.backup import backup

    return backup(settings, args.file, force=args.force)


def program_name() -> str:
    """``orchestra`` when run as the installed script (the client wheel's), else ``orchestra.py``: the
    usage line should name the command the user actually typed."""
    return "orchestra" if sys.argv and sys.argv[0].rsplit("/", 1)[-1] == "orchestra" else "orchestra.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="Orchestra: a hub that runs coding-agent CLIs as a DAG. Configured by ORCHESTRA_* "
        "environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"orchestra {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("serve", help="start the hub (the default when no command is given)")
    token = commands.add_parser("token", help="print the API token (the hub creates it when it first starts)")
    token.add_argument("--save", metavar="NAME",
                       help="also save this machine's hub under NAME in ~/.config/orchestra/hubs.toml")
    commands.add_parser("hubs", help="list the saved hubs (~/.config/orchestra/hubs.toml)")
    commands.add_parser("connect-info", help="print this hub's port and token as JSON (for orchestra connect)")
    commands.add_parser("url", help="print the UI's login link, token included")
    backup = commands.add_parser("backup", help="copy the database consistently, even while the hub runs")
    backup.add_argument("file", help="where to write the copy (a directory: a dated file inside it)")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    from orchestra.clients import connect, desktop, inbox, mcp_server
    from orchestra.clients.terminal_client import add_client_commands

    add_client_commands(commands)
    inbox.add_commands(commands)
    connect.add_command(commands)
    desktop.add_command(commands)
    mcp_server.add_command(commands)
    return parser


_LOCAL = {"serve": _serve, "token": _token, "url": _url, "backup": _backup, "hubs": _hubs,
          "connect-info": _connect_info, None: _serve}


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
    if args.command == "connect":
        from orchestra.clients.connect import run as run_connect

        return run_connect(args)
    if args.command == "mcp":  # asyncio (the MCP SDK), not trio: a process of its own
        from orchestra.clients.mcp_server import run as run_mcp

        return run_mcp(args, settings)
    if args.command == "desktop":
        from orchestra.clients.desktop import run as run_desktop

        return run_desktop(args, settings)
    handler = _LOCAL.get(args.command)
    if handler is not None:
        try:
            return handler(args, settings)
        except KeyboardInterrupt:
            return 130
    run: Callable[[argparse.Namespace, Settings], int] = args.run  # a client command (terminal_client)
    try:
        return run(args, settings)
    except BrokenPipeError:  # `orchestra status demo | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0
