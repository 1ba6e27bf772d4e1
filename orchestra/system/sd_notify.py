"""Tell systemd how the service is doing (``sd_notify``), without libsystemd.

Under ``Type=notify`` systemd passes a datagram socket in ``$NOTIFY_SOCKET`` and considers the unit
started only when it receives ``READY=1``: call ``notify("READY=1")`` once the server listens, and
``notify("STOPPING=1")`` when a graceful stop begins. Outside systemd (no ``$NOTIFY_SOCKET``) every
call is a no-op. One datagram on a local socket never blocks for long, so it may be sent from the
event loop.
"""

from __future__ import annotations

import os
import socket


def notify(*states: str) -> bool:
    """Send ``NAME=value`` states (``READY=1``, ``STATUS=...``, ``STOPPING=1``); True if sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False  # unset, or a transport we do not speak (vsock:)
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError:
        return False
    return True
