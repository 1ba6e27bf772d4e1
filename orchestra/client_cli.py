"""Terminal-client subcommands (launch, status, cancel, watch) that talk to a running hub."""

from __future__ import annotations

import argparse
from typing import Any


def add_client_commands(commands: Any) -> None:
    """Registered by :mod:`orchestra.cli`; filled in by the live-updates work."""
    del commands


def _unused(args: argparse.Namespace) -> None:
    del args
