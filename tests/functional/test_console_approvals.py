"""The console's review queue (/console/approvals): pending portal clients with what an
administrator needs to judge them, approve, and reject with a reason the developer sees."""

from __future__ import annotations

import pytest

from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR, WEB_APP, metadata
from tests.functional.console_helpers import (
    ESCAPED_SCRIPT,
    SCRIPT,
    csrf,
    field_error,
    notice,
    post,
    sign_in,
)

pytestmark = pytest.mark.anyio


async def _portal_client(api, name: str = "Payments Helper") -> str:
    """Returns the client_id of a portal client asking for payments (sensitive)."""
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        change = await services.clients.create(
            {
                **metadata(WEB_APP, client_name=name, scope="payments profile"),
                "owner": "dev@example.com",
            },
            registration_source="portal",
        )
    return change.client.client_id


@pytest.fixture
async def profile(api):
    """The registry's scopes: payments (sensitive) and profile."""
    for body in (
        {"name": "payments", "description": "Move your money", "sensitive": True},
        {"name": "profile", "description": "Profile"},
    ):
        response = await api.post("/admin/v1/scopes", body)
        assert response.status_code == 201, response.text


async def _client(api, client_id: str) -> dict:
    response = await api.get(f"/admin/v1/clients/{client_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_queue_shows_what_a_reviewer_needs(api, profile):
    client_id = await _portal_client(api)
    await api.post("/admin/v1/clients", WEB_APP)  # approved at once: not in the queue
    await sign_in(api, "ada")
    page = await api.http.get("/console/approvals")
    assert page.status_code == 200
    assert page.text.count('<li id="client-') == 1
    assert "Payments Helper" in page.text
    assert "dev@example.com" in page.text
    assert "<code>payments</code> <strong>(sensitive)</strong>" in page.text
    assert "<code>profile</code>," not in page.text  # profile is not sensitive
    assert "<code>https://app.example.com/callback</code>" in page.text
    assert f'id="approve-{client_id}"' in page.text
    assert 'data-confirm="Approve Payments Helper? It may get tokens at once."' in page.text
    assert "Deceptive name" not in page.text


async def test_a_deceptive_name_is_flagged(api, profile):
    await _portal_client(api, name="W\u0435ather Widget")
    await sign_in(api, "ada")
    page = await api.http.get("/console/approvals")
    assert "Deceptive name" in page.text
    assert "Cyrillic, Latin" in page.text


async def test_an_empty_queue_says_so(api):
    await sign_in(api, "ada")
    page = await api.http.get("/console/approvals")
    assert "No client is waiting for review." in page.text


async def test_approve_lets_the_client_get_tokens_and_leaves_the_queue(api, profile):
    client_id = await _portal_client(api)
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/approvals/{client_id}/approve")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/approvals?done=approved"
    page = await api.http.get(response.headers["location"])
    assert notice(page.text) == "The client was approved: it may get tokens now."
    assert "No client is waiting for review." in page.text
    assert (await _client(api, client_id))["approval"] == "approved"


async def test_reject_records_the_reason_the_developer_sees(api, profile):
    client_id = await _portal_client(api)
    await sign_in(api, "ada")
    response = await post(
        api.http, f"/console/approvals/{client_id}/reject", reason="  Tell us what you pay for. "
    )
    assert response.headers["location"] == "/console/approvals?done=rejected"
    page = await api.http.get(response.headers["location"])
    assert notice(page.text) == "The client was rejected: its developer sees the reason."
    client = await _client(api, client_id)
    assert client["approval"] == "rejected"
    assert client["rejection_reason"] == "Tell us what you pay for."


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "bell\x07"])
async def test_a_bad_reason_is_refused_beside_the_field_and_nothing_changes(api, profile, reason):
    client_id = await _portal_client(api)
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/approvals/{client_id}/reject", reason=reason)
    assert response.status_code == 400
    message = field_error(response.text, f"reason-{client_id}")
    assert message == "1-500 printable characters, not blank"
    assert "There is a problem" in response.text
    assert (await _client(api, client_id))["approval"] == "pending"


async def test_the_queue_pages_by_cursor(api, profile):
    from appward.web.console import approvals

    ids = [await _portal_client(api, name=f"App {n}") for n in range(3)]
    await sign_in(api, "ada")
    original = approvals.PAGE_SIZE
    approvals.PAGE_SIZE = 2
    try:
        first = await api.http.get("/console/approvals")
        assert [i for i in ids if f'id="client-{i}"' in first.text] == ids[:2]
        assert 'id="next-page"' in first.text
        start = first.text.index("/console/approvals?cursor=")
        url = first.text[start : first.text.index('"', start)]
        second = await api.http.get(url)
        assert [i for i in ids if f'id="client-{i}"' in second.text] == ids[2:]
        assert 'id="next-page"' not in second.text
    finally:
        approvals.PAGE_SIZE = original


async def test_a_forged_cursor_is_a_message_not_a_500(api, profile):
    await _portal_client(api)
    await sign_in(api, "ada")
    page = await api.http.get("/console/approvals?cursor=forged!")
    assert page.status_code == 400
    assert "malformed cursor" in page.text
    assert "Payments Helper" in page.text


async def test_names_and_owners_are_shown_as_text(api, profile):
    await _portal_client(api, name=SCRIPT)
    await sign_in(api, "ada")
    page = await api.http.get("/console/approvals")
    assert SCRIPT not in page.text
    assert ESCAPED_SCRIPT in page.text


# --- who may do it ---


def _routes(client_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", "/console/approvals"),
        ("POST", f"/console/approvals/{client_id}/approve"),
        ("POST", f"/console/approvals/{client_id}/reject"),
    ]


@pytest.mark.parametrize("index", range(3))
async def test_anonymous_is_sent_to_sign_in(api, profile, index):
    method, path = _routes(await _portal_client(api))[index]
    response = await api.http.request(
        method, path, data={"reason": "no"} if method == "POST" else None
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Fapprovals")


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize("index", range(3))
async def test_an_end_user_or_developer_is_refused(api, profile, role, index):
    client_id = await _portal_client(api)
    method, path = _routes(client_id)[index]
    await sign_in(api, "nadia", role)
    data = {"csrf": await csrf(api.http), "reason": "no"} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 403
    assert (await _client(api, client_id))["approval"] == "pending"


@pytest.mark.parametrize("token", [None, "wrong"])
@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_a_post_without_the_right_csrf_token_changes_nothing(api, profile, token, action):
    client_id = await _portal_client(api)
    await sign_in(api, "ada")
    data = {"reason": "Not now"}
    if token:
        data["csrf"] = token
    response = await api.http.post(f"/console/approvals/{client_id}/{action}", data=data)
    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    assert (await _client(api, client_id))["approval"] == "pending"


@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_an_unknown_client_is_a_404_page(api, action):
    await sign_in(api, "ada")
    response = await post(api.http, f"/console/approvals/nosuchclient/{action}", reason="x")
    assert response.status_code == 404
    assert "Page not found" in response.text
