"""The console's audit log (/console/audit): newest first, filters, cursor pages, each
event's changes field by field, a bad filter a message beside it, never a secret."""

from __future__ import annotations

import re

import pytest

from tests.factories import WEB_APP
from tests.functional.console_helpers import ESCAPED_SCRIPT, SCRIPT, field_error, sign_in

pytestmark = pytest.mark.anyio


def _actions(html: str) -> list[str]:
    return re.findall(r"<td><code>([a-z_:]+)</code></td>", html)


async def test_events_are_listed_newest_first_with_their_changes_field_by_field(api):
    await api.post("/admin/v1/scopes", {"name": "notes", "description": "Your notes"})
    await api.patch("/admin/v1/scopes/notes", {"description": "All your notes"})
    await sign_in(api, "ada")
    page = await api.http.get("/console/audit")
    assert page.status_code == 200
    actions = _actions(page.text)
    assert actions[:4] == ["account:signed_in", "user:created", "scope:updated", "scope:created"]
    assert (
        "<dt>description</dt>\n        <dd><del>Your notes</del> → <ins>All your notes</ins></dd>"
        in page.text
    )
    # A creation records what each field became.
    assert "<dt>sensitive</dt>\n        <dd>false</dd>" in page.text


async def test_a_role_change_shows_the_old_and_the_new_role(api):
    await sign_in(api, "ada")
    other = await api.post("/admin/v1/users", {"username": "bo", "password": "long enough pw"})
    await api.patch(f"/admin/v1/users/{other.json()['id']}", {"role": "developer"})
    page = await api.http.get("/console/audit?action=account:role:changed")
    assert _actions(page.text) == ["account:role:changed"]
    assert "<dt>role</dt>\n        <dd><del>null</del> → <ins>developer</ins></dd>" in page.text


async def test_filters_by_actor_action_client_and_time(api, clock):
    client = (await api.post("/admin/v1/clients", WEB_APP)).json()
    client_id = client["client_id"]
    clock.advance(120)
    await api.post(f"/admin/v1/clients/{client_id}/disable")
    account = await sign_in(api, "ada")
    by_client = await api.http.get(f"/console/audit?client_id={client_id}")
    assert _actions(by_client.text) == ["client:disabled", "client:secret:added", "client:created"]
    assert f'href="/console/clients/{client_id}"' in by_client.text
    by_actor = await api.http.get(f"/console/audit?actor=user:{account['id']}")
    assert _actions(by_actor.text) == ["account:signed_in"]
    by_action = await api.http.get("/console/audit?action=client:created")
    # Ours and the fixture's admin client.
    assert _actions(by_action.text) == ["client:created", "client:created"]
    # The form keeps the filters.
    assert '<option value="client:created" selected>' in by_action.text
    now = clock.now()
    before = (now.replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%S")
    since = await api.http.get(f"/console/audit?client_id={client_id}&since={before}")
    assert _actions(since.text) == ["client:disabled"]
    until = await api.http.get(f"/console/audit?client_id={client_id}&until={before}")
    assert "client:disabled" not in _actions(until.text)
    assert "client:created" in _actions(until.text)
    # A date alone as "to" is the end of that day; with an offset, the instant it names.
    day = now.strftime("%Y-%m-%d")
    whole_day = await api.http.get(f"/console/audit?client_id={client_id}&until={day}")
    assert "client:disabled" in _actions(whole_day.text)
    offset = await api.http.get(f"/console/audit?client_id={client_id}&since={before}%2B01:00")
    assert "client:disabled" in _actions(offset.text)
    none = await api.http.get("/console/audit?actor=nobody")
    assert "No event matches these filters." in none.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=yesterday", "since", "a date (2026-01-31) or a date and time"),
        ("until=2026-13-01", "until", "a date (2026-01-31) or a date and time"),
        ("since=2026-01-01T25:00", "since", "a date (2026-01-31) or a date and time"),
        ("since=1969-12-31", "since", "must be between 1970 and 9998"),
        ("until=9999-12-31", "until", "must be between 1970 and 9998"),
        ("since=" + "1" * 50, "since", "a date (2026-01-31) or a date and time"),
        ("action=client:exploded", "action", "not an action the audit log records"),
        ("actor=" + "a" * 201, "actor", "at most 200 characters"),
        ("client_id=" + "c" * 65, "client_id", "at most 64 characters"),
    ],
)
async def test_a_bad_filter_is_a_message_beside_it_not_a_500(api, query, field, message):
    await sign_in(api, "ada")
    page = await api.http.get(f"/console/audit?{query}")
    assert page.status_code == 400
    assert message in (field_error(page.text, field) or ""), page.text
    assert "There is a problem" in page.text
    assert _actions(page.text) == []


async def test_events_come_in_cursor_pages_that_keep_the_filters(api):
    from appward.web.console import audit

    for n in range(3):
        await api.post("/admin/v1/scopes", {"name": f"s{n}", "description": "d"})
    await sign_in(api, "ada")
    original = audit.PAGE_SIZE
    audit.PAGE_SIZE = 2
    try:
        first = await api.http.get("/console/audit?action=scope:created")
        assert first.text.count("<code>scope:created</code>") == 2
        link = re.search(r'<a href="([^"]+)" id="next-page">', first.text)
        assert link
        url = link.group(1).replace("&amp;", "&")
        assert "action=scope%3Acreated" in url
        second = await api.http.get(url)
        assert _actions(second.text) == ["scope:created"]
        assert "s0" in second.text
        assert 'id="next-page"' not in second.text
    finally:
        audit.PAGE_SIZE = original


async def test_a_forged_cursor_shows_the_first_page_and_says_so(api):
    await sign_in(api, "ada")
    page = await api.http.get("/console/audit?cursor=forged")
    assert page.status_code == 400
    assert "That page link is not valid" in page.text
    assert "account:signed_in" in _actions(page.text)


async def test_no_secret_reaches_the_page(api):
    created = (await api.post("/admin/v1/clients", WEB_APP)).json()
    secret = created["client_secret"]
    token = (await api.post("/admin/v1/initial-access-tokens", {"label": "p"})).json()["token"]
    await sign_in(api, "ada")
    page = await api.http.get("/console/audit")
    assert "client:secret:added" in _actions(page.text)
    assert "dcr:initial_access_token:created" in _actions(page.text)
    assert secret not in page.text
    assert token not in page.text
    assert api.admin_secret not in page.text


async def test_recorded_values_are_shown_as_text(api):
    await api.post("/admin/v1/scopes", {"name": "x", "description": SCRIPT})
    await sign_in(api, "ada")
    page = await api.http.get("/console/audit")
    assert SCRIPT not in page.text
    assert ESCAPED_SCRIPT in page.text


# --- who may see it ---


async def test_anonymous_is_sent_to_sign_in(api):
    response = await api.http.get("/console/audit?action=client:created")
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/login?next=%2Fconsole%2Faudit%3Faction%3Dclient%3Acreated"
    )


@pytest.mark.parametrize("role", [None, "developer"])
async def test_an_end_user_or_developer_is_refused(api, role):
    await sign_in(api, "nadia", role)
    response = await api.http.get("/console/audit")
    assert response.status_code == 403
    assert "account:signed_in" not in response.text
