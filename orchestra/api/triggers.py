"""Triggers: a project's webhook (``/projects/{id}/webhook``; deliveries to ``/hooks/{id}``) and its
cron schedules (``/projects/{id}/schedules``, ``/schedules/{id}``).

``POST /hooks/{id}`` takes no token: the delivery's HMAC signature is its credential. Every way of
not being allowed (no signature, a wrong one, a project without a webhook or that does not exist)
is the same 401, so the route says nothing about which projects exist. A signed delivery is then held
to :mod:`orchestra.triggers.deliveries`: a replayed delivery id launches nothing (200, ``duplicate``),
and past the webhook's queue limit a delivery is 429 with ``Retry-After``.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from orchestra.api.common import json_response, no_content, parse_body
from orchestra.core.errors import Unauthorized, Unprocessable
from orchestra.core.models import ScheduleCreate, ScheduleUpdate, WebhookSet
from orchestra.runtime import commands
from orchestra.runtime.hub import Hub
from orchestra.storage import definitions
from orchestra.triggers import deliveries, schedules, webhooks


def blueprint(hub: Hub, scheduler: schedules.Scheduler) -> Blueprint:
    routes = Blueprint("triggers", __name__)

    @routes.get("/projects/<project_id>/webhook")
    async def get_webhook(project_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: webhooks.get_webhook(db, project_id)))

    @routes.put("/projects/<project_id>/webhook")
    async def set_webhook(project_id: str) -> Response:
        body = await parse_body(WebhookSet)
        return json_response(await hub.db.write(lambda tx: webhooks.set_webhook(
            tx, project_id, body.secret, body.inputs, body.node_ids)))

    @routes.delete("/projects/<project_id>/webhook")
    async def delete_webhook(project_id: str) -> Response:
        await hub.db.write(lambda tx: definitions.delete_webhook(tx, project_id))
        return no_content()

    @routes.post("/hooks/<project_id>")
    async def delivery(project_id: str) -> Response:
        body = await request.get_data(cache=True, as_text=False)
        assert isinstance(body, bytes)
        hook = await hub.db.read(lambda db: webhooks.secret_of(db, project_id))
        header = request.headers.get(webhooks.SIGNATURE_HEADER)
        if hook is None or not webhooks.signature_matches(hook[0], body, header):
            raise Unauthorized(f"missing or wrong signature: send {webhooks.SIGNATURE_HEADER}: sha256=<hex "
                               "HMAC-SHA256 of the body, keyed with the project's webhook secret>")
        event = next((request.headers[name] for name in webhooks.EVENT_HEADERS if request.headers.get(name)), None)
        if event == "ping":  # a git host checking the hook when it is added: nothing to launch
            return json_response({"ping": "ok"})
        _, inputs, node_ids = hook
        delivery = deliveries.delivery_id(request.headers)
        window, limit = hub.settings.webhook_replay_window_s, hub.settings.webhook_max_queued
        # Always an "event" (the README's promise): the git host's event header, or null without one.
        trigger = {"kind": "webhook", "event": event} | ({"delivery_id": delivery} if delivery else {})
        try:
            await hub.db.read(lambda db: deliveries.precheck(db, project_id, delivery, window, limit))
            launched = await hub.send(project_id, commands.Launch(
                node_ids, None, inputs, trigger,
                claim=lambda tx, run_id: deliveries.claim(tx, run_id, project_id, delivery, window, limit)))
        except deliveries.DuplicateDelivery as duplicate:
            return json_response(deliveries.duplicate_answer(duplicate))
        return json_response(launched, 202)

    @routes.get("/projects/<project_id>/schedules")
    async def list_schedules(project_id: str) -> Response:
        now = await scheduler.clock.now()
        found = await hub.db.read(lambda db: schedules.list_schedules(db, project_id, now, scheduler.zone))
        return json_response({"schedules": found, "timezone": str(scheduler.zone)})

    @routes.post("/projects/<project_id>/schedules")
    async def create_schedule(project_id: str) -> Response:
        fields = (await parse_body(ScheduleCreate)).model_dump()
        now = await scheduler.clock.now()
        created = await hub.db.write(lambda tx: schedules.insert_schedule(tx, project_id, fields, now, scheduler.zone))
        scheduler.changed()
        return json_response(created, 201)

    @routes.patch("/schedules/<schedule_id>")
    async def update_schedule(schedule_id: str) -> Response:
        body = await parse_body(ScheduleUpdate)
        fields = body.model_dump(exclude_unset=True)
        if fields.get("cron", "") is None or fields.get("enabled", False) is None:
            raise Unprocessable("cron and enabled cannot be null", {"fields": sorted(fields)})
        now = await scheduler.clock.now()
        updated = await hub.db.write(lambda tx: schedules.update_schedule(tx, schedule_id, fields, now, scheduler.zone))
        scheduler.changed()
        return json_response(updated)

    @routes.delete("/schedules/<schedule_id>")
    async def delete_schedule(schedule_id: str) -> Response:
        await hub.db.write(lambda tx: definitions.delete_schedule(tx, schedule_id))
        scheduler.changed()
        return no_content()

    return routes
