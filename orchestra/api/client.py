"""``/client/``: the hub serves its own wheel, so a laptop installs the matching client through the tunnel
with one ``pip install http://localhost:8000/client/<wheel>``, with no package index.

No token is needed: the wheel is this hub's public code and holds no secret (no token, no settings),
and pip cannot send an ``Authorization`` header; the hub itself is reachable only through its tunnel.
The wheel is built on the first request after each start (off the event loop; ~0.1 s) into
``<database directory>/client/`` and served from there until the hub stops.
"""

from __future__ import annotations

import trio
from quart import Blueprint, Response, request, send_file

from orchestra.api.common import json_response
from orchestra.core.errors import NotFound
from orchestra.runtime.hub import Hub
from orchestra.system.packaging import NoWheel, Wheel, build_wheel


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("client", __name__)
    directory = hub.settings.database_path.resolve().parent / "client"
    lock = trio.Lock()
    built: list[Wheel] = []

    async def wheel() -> Wheel:
        async with lock:
            if not built:
                try:
                    built.append(await trio.to_thread.run_sync(build_wheel, directory))
                except NoWheel as exc:
                    raise NotFound(f"this hub cannot serve its client: {exc}") from exc
            return built[0]

    @routes.get("/client/")
    async def listing() -> Response:
        served = await wheel()
        url = f"{request.host_url.rstrip('/')}/client/{served.name}"
        return json_response({"version": served.version, "wheel": served.name, "url": url,
                              "pip_install": f"pip install {url}"})

    @routes.get("/client/<name>")
    async def download(name: str) -> Response:
        served = await wheel()
        if name != served.name:
            raise NotFound(f"this hub serves '{served.name}', not '{name}' (GET /client/ lists it)")
        response = await send_file(served.path, mimetype="application/zip", as_attachment=True,
                                   attachment_filename=served.name)
        return response

    return routes
