"""PATCH /schedules/{id}: change the cron, switch a schedule off and on; each schedule lists its next five
fire times (none while off); bad input is refused and changes nothing."""

from __future__ import annotations

from conftest import FakeAgents, LiveHub


async def test_a_schedule_is_edited_disabled_and_lists_its_next_five_times(hub: LiveHub, agents: FakeAgents) -> None:
    pid = (await hub.create_project(name="cron"))["id"]
    await hub.create_node(pid, id="build")
    created = (await hub.post(f"/projects/{pid}/schedules", {"cron": "0 3 * * *"})).json()
    assert created["enabled"] is True and len(created["next_times"]) == 5
    assert created["next_at"] == created["next_times"][0]
    assert all("T03:00:00" in t for t in created["next_times"])

    edited = await hub.patch(f"/schedules/{created['id']}", {"cron": "30 4 * * 1"})
    assert edited.status_code == 200, edited.text
    assert all("T04:30:00" in t for t in edited.json()["next_times"])

    off = (await hub.patch(f"/schedules/{created['id']}", {"enabled": False})).json()
    assert off["enabled"] is False and off["next_times"] == [] and off["next_at"] is None
    on = (await hub.patch(f"/schedules/{created['id']}", {"enabled": True})).json()
    assert on["enabled"] is True and on["next_times"] == edited.json()["next_times"]

    for body, field in (({"cron": "every day"}, "cron"), ({"enabled": "yes"}, "enabled"), ({"color": 1}, "color"),
                        ({"cron": None}, None)):
        refused = await hub.patch(f"/schedules/{created['id']}", body)
        assert refused.status_code == 422, (body, refused.text)
        if field:
            assert field in refused.text
    missing = await hub.patch("/schedules/sch_nope", {"enabled": False})
    assert missing.status_code == 404 and "sch_nope" in missing.json()["error"]["message"]
    listed = (await hub.get(f"/projects/{pid}/schedules")).json()["schedules"]
    assert [(s["cron"], s["enabled"]) for s in listed] == [("30 4 * * 1", True)]
