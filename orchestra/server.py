"""Run the hub: database, hub, app and hypercorn in one root nursery, stopped cleanly on SIGTERM.

Shutdown order matters: subscribers are closed first (they see 1001 at once instead of hypercorn's
hard close); then, at the same time, the hub ends every agent (recording its execution as
interrupted) and the server stops taking requests; only then does the database writer drain and
close. Under systemd the hub reports READY=1 once it listens and STOPPING=1 when it stops.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import signal
import socket
from dataclasses import dataclass
from functools import partial

import hypercorn.trio
import trio
from hypercorn.config import Config, Sockets

from orchestra.api import create_app
from orchestra.core import local_hub
from orchestra.core.auth import load_or_create_token
from orchestra.core.settings import Settings
from orchestra.runtime.hub import Hub
from orchestra.storage.db import Database
from orchestra.storage.events import CLOSE_GOING_AWAY
from orchestra.system.loop_lag import LoopLag
from orchestra.system.sd_notify import notify
from orchestra.triggers.schedules import Scheduler

log = logging.getLogger(__name__)

# A peer that stops acknowledging (gone without a FIN) is dropped after this long: the subscription
# sends a heartbeat when idle (orchestra.api.ws), and unacknowledged data fails the socket after
# TCP_USER_TIMEOUT. (Hypercorn's own websocket_ping_interval is not used: its ping task outlives a
# closed connection by up to one interval and holds up every graceful shutdown.)
TCP_USER_TIMEOUT_MS = 20_000
SUBSCRIBERS_CLOSE_S = 2.0
# An idle keep-alive connection (no request in progress) is closed after this long: long enough for
# a browser or a client's pool to reuse it between requests, short enough that idle or abandoned
# connections (a port scan, a client that opens many) do not pile up. Tests set a shorter one.
KEEP_ALIVE_TIMEOUT_S = 10.0


class _HubConfig(Config):
    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        for sock in sockets.insecure_sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if hasattr(socket, "TCP_USER_TIMEOUT"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)
        return sockets


@dataclass
class Running:
    hub: Hub
    port: int
    stop: trio.Event
    scheduler: Scheduler
    loop_lag: LoopLag


def _config(settings: Settings) -> Config:
    config = _HubConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 3  # an idle keep-alive connection (a browser tab) holds the stop this long
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.include_server_header = False
    return config


def warn_if_exposed(settings: Settings) -> None:
    try:
        loopback = ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = settings.host == "localhost"
    if not loopback:
        log.warning(
            "LISTENING ON %s, NOT LOOPBACK: whoever reaches this port with the token can run anything on "
            "this machine through the agents. Prefer 127.0.0.1 and an SSH tunnel.", settings.host)


async def serve(
    settings: Settings,
    *,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    warn_if_exposed(settings)
    token = await trio.to_thread.run_sync(load_or_create_token, settings)
    stop = trio.Event()
    async with Database.open(settings.database_path) as db, Hub.open(settings, db, token) as hub:
        scheduler = await Scheduler.for_settings(settings, db, hub.send)
        loop_lag = LoopLag()
        app = create_app(hub, scheduler, loop_lag)
        server_stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(loop_lag.run)
            if handle_signals:
                nursery.start_soon(_stop_on_signal, stop)
            await nursery.start(scheduler.run)  # ticks missed while the hub was down fire first
            binds = await nursery.start(
                partial(hypercorn.trio.serve, app, _config(settings), shutdown_trigger=server_stop.wait))
            port = int(binds[0].rsplit(":", 1)[1])
            url = local_hub.url_for(settings.host, port)
            written = await trio.to_thread.run_sync(local_hub.write_url, settings, url)
            log.info("orchestra listening on %s (database %s)", ", ".join(binds), settings.database_path)
            # The link without its token (logs are read by more people than the token file): `orchestra url`
            # prints it with the token.
            log.info("the UI: %s (the login link, token included: orchestra url; this URL is in %s)",
                     local_hub.login_link(url, "").removesuffix("#token="), written)
            _freeze_startup_objects()
            notify("READY=1", f"STATUS=listening on {', '.join(binds)}")
            task_status.started(Running(hub, port, stop, scheduler, loop_lag))
            await stop.wait()
            notify("STOPPING=1")
            log.info("stopping: closing subscribers, ending agents")
            scheduler.stop()
            loop_lag.stop()
            hub.stop()  # agents end while the connections drain, not after
            hub.bus.close_all(CLOSE_GOING_AWAY, "the hub is shutting down")
            with trio.move_on_after(SUBSCRIBERS_CLOSE_S):  # closed before hypercorn cuts them off (1006)
                await hub.bus.wait_until_empty()
            server_stop.set()


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the app, pydantic models: most of the heap) out of the
    garbage collector's full passes: each of those otherwise scanned it all, stalling the event loop
    ~30 ms several times a minute under load (benchmarks: p99 latency of the event path)."""
    gc.collect()
    gc.freeze()


async def _stop_on_signal(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            stop.set()
            return
