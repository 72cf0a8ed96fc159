"""The scope registry and the audit log, through HTTP."""

from __future__ import annotations

import json

import pytest

from tests.factories import SERVICE, metadata

pytestmark = pytest.mark.anyio


async def test_scope_lifecycle(api):
    created = await api.post(
        "/admin/v1/scopes", {"name": "invoices:read", "description": "Read your invoices"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["admin_only"] is False
    names = [s["name"] for s in (await api.get("/admin/v1/scopes")).json()["items"]]
    assert names == ["appward:admin", "invoices:read"]

    updated = await api.http.patch(
        "/admin/v1/scopes/invoices:read",
        json={"description": "See your invoices"},
        headers=api.auth,
    )
    assert updated.json()["description"] == "See your invoices"
    assert (await api.delete("/admin/v1/scopes/invoices:read")).status_code == 204
    assert (await api.get("/admin/v1/scopes/invoices:read")).status_code == 404


async def test_scope_in_use_cannot_be_deleted(api):
    await api.post("/admin/v1/scopes", {"name": "reports", "description": "Reports"})
    client = (await api.post("/admin/v1/clients", metadata(SERVICE, scope="reports"))).json()
    refused = await api.delete("/admin/v1/scopes/reports")
    assert refused.status_code == 409
    assert refused.json()["error"] == "conflict"
    assert (await api.get("/admin/v1/scopes/reports")).status_code == 200

    # Once no client holds it (here: the client is deleted) it can go.
    await api.delete(f"/admin/v1/clients/{client['client_id']}")
    assert (await api.delete("/admin/v1/scopes/reports")).status_code == 204


async def test_admin_scope_is_built_in(api):
    assert (await api.delete("/admin/v1/scopes/appward:admin")).status_code == 409
    scope = (await api.get("/admin/v1/scopes/appward:admin")).json()
    assert scope["admin_only"] is True


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "has space", "description": "x"}, 400, "name"),
        ({"name": 'quote"d', "description": "x"}, 400, "name"),
        ({"name": "", "description": "x"}, 400, "name"),
        ({"name": "x" * 129, "description": "x"}, 400, "name"),
        ({"name": "ok", "description": ""}, 400, "description"),
        ({"name": "ok"}, 400, "description"),
    ],
)
async def test_bad_scopes_are_refused(api, body, status, field):
    response = await api.post("/admin/v1/scopes", body)
    assert response.status_code == status, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert len((await api.get("/admin/v1/scopes")).json()["items"]) == 1


async def test_duplicate_scope_is_a_conflict(api):
    await api.post("/admin/v1/scopes", {"name": "a", "description": "A"})
    again = await api.post("/admin/v1/scopes", {"name": "a", "description": "A again"})
    assert again.status_code == 409
    assert (await api.get("/admin/v1/scopes/a")).json()["description"] == "A"


async def test_client_scopes_control_token_scopes(api):
    await api.post("/admin/v1/scopes", {"name": "read", "description": "Read"})
    await api.post("/admin/v1/scopes", {"name": "write", "description": "Write"})
    body = (await api.post("/admin/v1/clients", metadata(SERVICE, scope="read write"))).json()
    cid, secret = body["client_id"], body["client_secret"]
    everything = await api.client_credentials(cid, secret)
    assert everything.json()["scope"] == "read write"
    narrowed = await api.client_credentials(cid, secret, scope="read")
    assert narrowed.json()["scope"] == "read"
    refused = await api.client_credentials(cid, secret, scope="read appward:admin")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


async def test_every_change_is_audited_with_actor_and_source_ip(api):
    await api.post("/admin/v1/scopes", {"name": "s1", "description": "S"})
    created = (await api.post("/admin/v1/clients", metadata(SERVICE, scope="s1"))).json()
    cid = created["client_id"]
    await api.patch(f"/admin/v1/clients/{cid}", {"client_name": "New"}, if_match="*")
    await api.post(f"/admin/v1/clients/{cid}/secrets", {"label": "two"})
    await api.post(f"/admin/v1/clients/{cid}/disable")
    await api.post(f"/admin/v1/clients/{cid}/enable")
    await api.delete(f"/admin/v1/clients/{cid}")

    events = (await api.get(f"/admin/v1/audit-events?client_id={cid}")).json()["items"]
    actions = [e["action"] for e in reversed(events)]
    assert actions == [
        "client:created",
        "client:secret:added",
        "client:updated",
        "client:secret:added",
        "client:disabled",
        "client:enabled",
        "client:secret:revoked",
        "client:secret:revoked",
        "client:deleted",
    ]
    assert {e["actor"] for e in events} == {f"client:{api.admin_id}"}
    assert {e["source_ip"] for e in events} == {"127.0.0.9"}
    update = next(e for e in events if e["action"] == "client:updated")
    assert update["changes"] == {"client_name": {"old": SERVICE["client_name"], "new": "New"}}

    # No secret value ever reaches the audit log.
    full = (await api.get("/admin/v1/audit-events?limit=200")).text
    assert created["client_secret"] not in full
    assert "apwcs_" not in full
    assert "argon2" not in full

    scope_events = (await api.get("/admin/v1/audit-events?action=scope:created")).json()
    assert [e["target"] for e in scope_events["items"]] == ["s1"]


async def test_audit_filters_by_actor_time_and_pages(api, clock):
    for i in range(3):
        await api.post("/admin/v1/clients", metadata(SERVICE, client_name=f"c{i}"))
        clock.advance(600)  # less than the admin token's lifetime
    mark = clock.now()
    await api.post("/admin/v1/clients", metadata(SERVICE, client_name="late"))

    since = await api.get("/admin/v1/audit-events", params={"since": mark.isoformat()})
    assert {e["action"] for e in since.json()["items"]} == {
        "client:created",
        "client:secret:added",
    }
    until = await api.get(
        "/admin/v1/audit-events",
        params={"until": mark.isoformat(), "action": "client:created"},
    )
    assert len(until.json()["items"]) == 4  # three here, and the admin's own
    nobody = await api.get("/admin/v1/audit-events?actor=cli:nobody")
    assert nobody.json()["items"] == []

    page1 = (await api.get("/admin/v1/audit-events?limit=3")).json()
    page2 = (await api.get(f"/admin/v1/audit-events?limit=3&cursor={page1['next_cursor']}")).json()
    ids = [e["id"] for e in page1["items"] + page2["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 6


async def test_bad_audit_time_is_a_field_error(api):
    response = await api.get("/admin/v1/audit-events?since=yesterday")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "since"


@pytest.mark.parametrize("number", ["5", "-1", "1.5e9", "1780000000"])
async def test_a_number_is_no_audit_time(api, number):
    """Found by the fuzzer (tests/fuzz.py): ?until=5 was read as 5 seconds after the
    epoch, where the document says an ISO 8601 date and time (format date-time)."""
    for field in ("since", "until"):
        response = await api.get(f"/admin/v1/audit-events?{field}={number}")
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == field
        assert "ISO 8601" in response.json()["errors"][0]["message"]
    iso = await api.get("/admin/v1/audit-events?since=2026-06-01T11:00:00Z&until=2026-06-01T13:00")
    assert iso.status_code == 200, iso.text


async def test_users_created_through_the_admin_api_are_audited(api):
    password = "correct horse battery"
    created = await api.post("/admin/v1/users", {"username": "alice", "password": password})
    assert created.status_code == 201, created.text
    refused = await api.post("/admin/v1/users", {"username": "alice", "password": password})
    assert refused.status_code == 409
    events = (await api.get("/admin/v1/audit-events?action=user:created")).json()["items"]
    assert [(e["target"], e["actor"]) for e in events] == [("alice", f"client:{api.admin_id}")]
    assert events[0]["source_ip"] == "127.0.0.9"
    assert password not in json.dumps(events)


async def test_usernames_differing_only_in_case_are_one_name(api):
    password = "correct horse battery"
    created = await api.post("/admin/v1/users", {"username": "Alice", "password": password})
    assert created.status_code == 201, created.text
    for spelling in ("alice", "ALICE", "aLiCe"):
        refused = await api.post("/admin/v1/users", {"username": spelling, "password": password})
        assert refused.status_code == 409, refused.text
        assert "'Alice' exists already" in refused.json()["detail"]
    users = (await api.get("/admin/v1/users")).json()["items"]
    assert [u["username"] for u in users] == ["Alice"]  # stored as given
