"""The console's Credentials tab of a client (web/console/client_credentials.py): its
secrets with their last use and expiry, adding one (expiry presets, a grace period for the
others) shown exactly once, and the safe revoke."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest

from appward.errors import InvalidInput
from appward.services import unit_of_work
from tests.factories import NATIVE_APP, SERVICE, SETUP_ACTOR, basic, metadata
from tests.functional.conftest import Api, audit_trail, open_api
from tests.functional.console_tabs import (
    csrf,
    element,
    field_error,
    long_sessions,
    request,
    signed_in,
)
from tests.oauth_helpers import hidden_fields

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(settings, clock):
    async with open_api(long_sessions(settings), clock) as opened:
        yield opened


async def new_client(api: Api, **changes: object) -> tuple[str, str | None]:
    response = await api.post("/admin/v1/clients", metadata(SERVICE, **changes))
    assert response.status_code == 201, response.text
    body = response.json()
    return body["client_id"], body.get("client_secret")


async def secrets_of(api: Api, client_id: str) -> dict[str, dict[str, object]]:
    items = (await api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    return {item["id"]: item for item in items}


def tab(client_id: str) -> str:
    return f"/console/clients/{quote(client_id)}/credentials"


async def token(api: Api, client_id: str, secret: str) -> int:
    response = await api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client_id, secret),
    )
    return response.status_code


async def add(api: Api, client_id: str, **form: str):
    fields = {"csrf": await csrf(api), "expiry": "90", "others": "keep", **form}
    return await api.http.post(tab(client_id), data={k: v for k, v in fields.items() if v})


def iso(value: object) -> datetime:
    assert isinstance(value, str)
    return datetime.fromisoformat(value)


# --- the list ---


async def test_each_secret_shows_its_label_created_last_used_and_expiry(api, clock):
    client_id, _ = await new_client(api)
    await signed_in(api)
    [secret_id] = await secrets_of(api, client_id)

    page = await api.http.get(tab(client_id))

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    row = element(page.text, f"secret-{secret_id}")
    assert "initial" in row
    assert "2026-06-01 12:00 UTC" in row  # created
    assert element(page.text, f"last-used-{secret_id}") == "never used"
    assert element(page.text, f"expires-{secret_id}") == "never"
    assert element(page.text, f"status-{secret_id}") == "Active"
    assert 'aria-current="page">Credentials' in page.text


async def test_last_used_moves_after_a_token_request_with_the_secret(api, clock):
    client_id, secret = await new_client(api)
    await signed_in(api)
    [secret_id] = await secrets_of(api, client_id)

    clock.advance(90)
    assert await token(api, client_id, secret) == 200
    page = await api.http.get(tab(client_id))
    assert element(page.text, f"last-used-{secret_id}") == "2026-06-01 12:01 UTC"

    clock.advance(3600)
    assert await token(api, client_id, secret) == 200
    page = await api.http.get(tab(client_id))
    assert element(page.text, f"last-used-{secret_id}") == "2026-06-01 13:01 UTC"


async def test_an_expiry_inside_14_days_is_highlighted(api, clock):
    client_id, _ = await new_client(api)
    await signed_in(api)
    added = await add(api, client_id, expiry="30")
    secret_id = element(added.text, "new-secret-hint").split()[2].rstrip(",")

    clock.advance(15 * 86400)  # 15 days left: not yet
    page = await api.http.get(tab(client_id))
    assert "secret--expiring" not in page.text
    assert f'id="expires-soon-{secret_id}"' not in page.text

    clock.advance(2 * 86400)  # 13 days left
    page = await api.http.get(tab(client_id))
    assert f'<tr id="secret-{secret_id}" class="secret--expiring">' in page.text
    assert element(page.text, f"expires-soon-{secret_id}") == "Expires in 13 days"

    clock.advance(12 * 86400 + 23 * 3600)  # an hour left
    page = await api.http.get(tab(client_id))
    assert element(page.text, f"expires-soon-{secret_id}") == "Expires within a day"

    clock.advance(3600)  # expired: no longer a warning, but said so
    page = await api.http.get(tab(client_id))
    assert "secret--expiring" not in page.text
    assert element(page.text, f"status-{secret_id}") == "Expired"


async def test_a_public_client_has_no_secrets_and_says_so(api):
    client_id, secret = await new_client(api, **NATIVE_APP)
    assert secret is None
    await signed_in(api)

    page = await api.http.get(tab(client_id))
    assert "public client" in element(page.text, "no-secrets")
    assert 'id="add-secret-form"' not in page.text

    refused = await add(api, client_id)
    assert refused.status_code == 400
    assert "not with a client secret" in refused.text
    assert await secrets_of(api, client_id) == {}


async def test_a_client_name_is_shown_as_text(api):
    client_id, _ = await new_client(api, client_name="<script>alert(1)</script>")
    await signed_in(api)
    page = await api.http.get(tab(client_id))
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# --- adding a secret ---


async def test_a_new_secret_is_shown_once_in_the_answer_and_works(api, clock):
    client_id, old = await new_client(api)
    await signed_in(api)

    added = await add(api, client_id, label="production")

    assert added.status_code == 201
    assert added.headers["cache-control"] == "no-store"
    assert "location" not in added.headers
    shown = re.search(r'id="new-secret" type="text" value="([^"]+)" readonly', added.text)
    assert shown, "the new secret is shown in #new-secret"
    hidden_value = shown.group(1)
    assert hidden_value.startswith("apwcs_")
    assert 'data-copy="#new-secret"' in added.text
    assert await token(api, client_id, hidden_value) == 200
    assert await token(api, client_id, old) == 200  # "keep": the other still works
    # Never again: the tab shows its row, not its value.
    again = await api.http.get(tab(client_id))
    assert hidden_value not in again.text
    assert "production" in again.text
    # Nor in the audit log.
    events = (await api.get("/admin/v1/audit-events?limit=50")).text
    assert hidden_value not in events


@pytest.mark.parametrize(
    ("form", "expires_in"),
    [
        ({"expiry": "30"}, timedelta(days=30)),
        ({"expiry": "60"}, timedelta(days=60)),
        ({"expiry": "90"}, timedelta(days=90)),
        ({"expiry": "180"}, timedelta(days=180)),
        ({"expiry": "custom", "expiry_date": "2026-07-15"}, timedelta(days=43, hours=12)),
        ({"expiry": "never"}, None),
    ],
)
async def test_the_expiry_presets_set_the_new_secrets_expiry(api, clock, form, expires_in):
    client_id, _ = await new_client(api)
    await signed_in(api)
    before = set(await secrets_of(api, client_id))

    assert (await add(api, client_id, **form)).status_code == 201

    [new] = [s for i, s in (await secrets_of(api, client_id)).items() if i not in before]
    if expires_in is None:
        assert new["expires_at"] is None
    else:
        assert iso(new["expires_at"]) == clock.now() + expires_in


async def test_a_grace_period_expires_the_other_secrets_in_one_step(api, clock):
    client_id, old = await new_client(api)
    await signed_in(api)
    [old_id] = await secrets_of(api, client_id)

    added = await add(api, client_id, others="grace", grace_days="7")

    assert added.status_code == 201
    assert iso((await secrets_of(api, client_id))[old_id]["expires_at"]) == clock.now() + timedelta(
        days=7
    )
    clock.advance(7 * 86400 - 60)
    assert await token(api, client_id, old) == 200
    clock.advance(61)
    assert await token(api, client_id, old) == 401


async def test_keeping_the_others_leaves_their_expiry(api):
    client_id, _ = await new_client(api)
    await signed_in(api)
    [old_id] = await secrets_of(api, client_id)
    assert (await add(api, client_id, others="keep")).status_code == 201
    assert (await secrets_of(api, client_id))[old_id]["expires_at"] is None


TYPES = {"label": "text", "expiry_date": "date", "grace_days": "number"}


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"expiry": ""}, "expiry", "choose when the new secret expires"),
        ({"expiry": "45"}, "expiry", "choose when the new secret expires"),
        ({"expiry": "custom"}, "expiry_date", "enter the date the secret expires"),
        ({"expiry": "custom", "expiry_date": "15/07/2026"}, "expiry_date", "YYYY-MM-DD"),
        ({"expiry": "custom", "expiry_date": "2026-02-30"}, "expiry_date", "YYYY-MM-DD"),
        ({"expiry": "custom", "expiry_date": "2026-06-01"}, "expiry_date", "must be in the future"),
        ({"expiry": "custom", "expiry_date": "2040-01-01"}, "expiry_date", "must be within"),
        ({"others": ""}, "others", "choose what happens to the other secrets"),
        ({"others": "drop"}, "others", "choose what happens to the other secrets"),
        ({"others": "grace", "grace_days": ""}, "grace_days", "enter a whole number of days"),
        ({"others": "grace", "grace_days": "-1"}, "grace_days", "enter a whole number of days"),
        ({"others": "grace", "grace_days": "1.5"}, "grace_days", "enter a whole number of days"),
        ({"others": "grace", "grace_days": "366"}, "grace_days", "at most 365 days"),
        ({"label": "x" * 101}, "label", "must be 1-100 characters"),
        ({"label": "   "}, "label", "must be 1-100 characters"),
        ({"label": "evil\u202etxt"}, "label", "must be 1-100 characters"),
    ],
)
async def test_bad_input_is_shown_by_its_field_and_stores_nothing(api, clock, form, field, message):
    client_id, _ = await new_client(api)
    await signed_in(api)
    before = await secrets_of(api, client_id)
    trail = await audit_trail(api)
    # With a grace period asked for, so a refusal that kept it would show.
    posted = {"others": "grace", "grace_days": "3", **form}

    refused = await add(api, client_id, **posted)

    assert refused.status_code == 400
    assert message in field_error(refused.text, field)
    assert f'href="#{field}"' in refused.text  # the error summary links to it
    assert 'id="new-secret"' not in refused.text
    for name, value in posted.items():  # the form is kept
        if name in ("label", "expiry_date", "grace_days") and value:
            assert f'name="{name}" type="{TYPES[name]}" value="{value}"' in refused.text
        elif value and name != field:  # a radio's choice (unless it is the bad one)
            assert f'name="{name}" value="{value}" checked' in refused.text
    assert await secrets_of(api, client_id) == before
    assert await audit_trail(api) == trail


async def test_a_form_without_its_csrf_token_changes_nothing(api):
    client_id, _ = await new_client(api)
    await signed_in(api)
    before = await secrets_of(api, client_id)
    response = await api.http.post(tab(client_id), data={"expiry": "90", "others": "keep"})
    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    assert await secrets_of(api, client_id) == before


# --- revoking ---


async def test_a_secret_not_used_for_a_day_is_revoked_at_once(api, clock):
    client_id, secret = await new_client(api)
    await signed_in(api)
    [secret_id] = await secrets_of(api, client_id)
    assert await token(api, client_id, secret) == 200
    clock.advance(24 * 3600)

    page = await api.http.get(tab(client_id))
    revoked = await api.http.post(
        f"{tab(client_id)}/{secret_id}/revoke", data={"csrf": hidden_fields(page.text)["csrf"]}
    )

    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"{tab(client_id)}?done=revoked#secrets"
    shown = await api.http.get(revoked.headers["location"])
    assert "was revoked" in element(shown.text, "notice")
    assert element(shown.text, f"status-{secret_id}").startswith("Revoked")
    assert f'id="revoke-{secret_id}"' not in shown.text
    assert await token(api, client_id, secret) == 401


async def test_revoking_a_secret_used_in_the_last_day_asks_naming_its_last_use(api, clock):
    client_id, secret = await new_client(api)
    await signed_in(api)
    [secret_id] = await secrets_of(api, client_id)
    assert await token(api, client_id, secret) == 200  # used at 12:00:00
    clock.advance(40 * 60)
    url = f"{tab(client_id)}/{secret_id}/revoke"

    asked = await api.http.post(url, data={"csrf": await csrf(api)})

    assert asked.status_code == 409
    assert element(asked.text, "confirm-last-used") == "2026-06-01 12:00:00 UTC"
    assert "0 h 40 min ago" in element(asked.text, "confirm-revoke")
    fields = hidden_fields(asked.text)
    assert fields["confirm"] == "yes"
    assert await token(api, client_id, secret) == 200  # still works: nothing revoked yet
    assert (await secrets_of(api, client_id))[secret_id]["revoked_at"] is None

    confirmed = await api.http.post(url, data=fields)

    assert confirmed.status_code == 303
    assert (await secrets_of(api, client_id))[secret_id]["revoked_at"] is not None
    assert await token(api, client_id, secret) == 401


async def test_a_confirmation_other_than_yes_revokes_nothing(api, clock):
    client_id, secret = await new_client(api)
    await signed_in(api)
    [secret_id] = await secrets_of(api, client_id)
    assert await token(api, client_id, secret) == 200
    response = await api.http.post(
        f"{tab(client_id)}/{secret_id}/revoke", data={"csrf": await csrf(api), "confirm": "true"}
    )
    assert response.status_code == 409
    assert await token(api, client_id, secret) == 200


# --- who may ---


ROUTES = [
    ("GET", "/credentials"),
    ("POST", "/credentials"),
    ("POST", "/credentials/0123456789abcdef/revoke"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_anonymous_is_sent_to_sign_in(api, method, path):
    client_id, _ = await new_client(api)
    url = f"/console/clients/{client_id}{path}"
    response = await request(api.http, method, url, "")
    assert response.status_code == 303
    expected = quote(url, safe="")
    assert response.headers["location"] == f"/login?next={expected}"


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_account_that_is_no_admin_is_refused(api, role, method, path):
    client_id, _ = await new_client(api)
    await signed_in(api, "nadia", role)
    before = await secrets_of(api, client_id)
    response = await request(api.http, method, f"/console/clients/{client_id}{path}", "")
    assert response.status_code == 403
    assert "administrator" in response.text
    assert await secrets_of(api, client_id) == before


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_unknown_client_is_a_404_page(api, method, path):
    await signed_in(api)
    token_ = await csrf(api)
    response = await request(api.http, method, f"/console/clients/nosuchclient{path}", token_)
    assert response.status_code == 404
    assert "No such client" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_a_deleted_client_is_a_404_page(api):
    client_id, _ = await new_client(api)
    assert (await api.delete(f"/admin/v1/clients/{client_id}")).status_code == 204
    await signed_in(api)
    assert (await api.http.get(tab(client_id))).status_code == 404


async def test_an_unknown_secret_is_a_404_page(api):
    client_id, _ = await new_client(api)
    other_id, _ = await new_client(api)
    [other_secret] = await secrets_of(api, other_id)
    await signed_in(api)
    for secret_id in ("0123456789abcdef", other_secret):  # none, or another client's
        response = await api.http.post(
            f"{tab(client_id)}/{secret_id}/revoke", data={"csrf": await csrf(api)}
        )
        assert response.status_code == 404
    assert (await secrets_of(api, other_id))[other_secret]["revoked_at"] is None


# --- the domain under the form ---


async def test_add_secret_refuses_an_expiry_that_is_past_or_too_far(api, clock):
    client_id, _ = await new_client(api)
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        for expires_at in (clock.now(), clock.now() + timedelta(days=5 * 366 + 1)):
            with pytest.raises(InvalidInput) as raised:
                await services.clients.add_secret(client_id, expires_at=expires_at)
            assert raised.value.fields[0].field == "expires_at"
        never = await services.clients.add_secret(client_id, expires_at=None)
        default = await services.clients.add_secret(client_id)
    assert never.record.expires_at is None
    assert default.record.expires_at is None  # the test server's secrets do not expire


async def test_add_secret_by_default_follows_the_servers_secret_lifetime(settings, clock):
    lasting = long_sessions(settings).model_copy(update={"client_secret_lifetime": 3600})
    async with open_api(lasting, clock) as api:
        client_id, _ = await new_client(api)
        async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
            issued = await services.clients.add_secret(client_id)
    assert issued.record.expires_at == clock.now() + timedelta(hours=1)
