"""A client's lifecycle through the admin API: approval, the verified flag, revoking all
its tokens (and a disable that keeps old tokens dead), and safe revoke of its secrets."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from appward.services import unit_of_work
from tests import oauth_helpers
from tests.factories import SERVICE, SETUP_ACTOR, WEB_APP, basic, metadata
from tests.functional.conftest import audit_trail, open_api
from tests.oauth_helpers import PASSWORD, Browser, pkce_pair

pytestmark = pytest.mark.anyio

REDIRECT = "https://app.example.com/callback"
INACTIVE = {"active": False}


@pytest.fixture
async def setup(api):
    for body in (
        {"name": "profile", "description": "See your profile"},
        {"name": "payments", "description": "Move your money", "sensitive": True},
    ):
        created = await api.post("/admin/v1/scopes", body)
        assert created.status_code == 201, created.text
    user = await api.post("/admin/v1/users", {"username": "alice", "password": PASSWORD})
    assert user.status_code == 201, user.text
    return api


async def create(api, base: dict, **changes) -> dict:
    response = await api.post("/admin/v1/clients", metadata(base, **changes))
    assert response.status_code == 201, response.text
    return response.json()


async def portal_client(api, base: dict, **changes) -> dict:
    """A client as the developer portal registers it (the portal's pages come later)."""
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        change = await services.clients.create(
            metadata(base, **changes), registration_source="portal"
        )
    assert change.secret is not None
    return {"client_id": change.client.client_id, "client_secret": change.secret.plaintext}


async def token(api, client: dict, **form: str):
    return await api.client_credentials(client["client_id"], client["client_secret"], **form)


async def introspect(api, access_token: str) -> dict:
    response = await api.http.post(
        "/oauth2/introspect",
        data={"token": access_token},
        headers=basic(api.admin_id, api.admin_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def code_flow_tokens(api, client: dict) -> dict:
    """Runs authorize, login, consent and the code exchange; returns the token response."""
    return await oauth_helpers.code_flow_tokens(
        api.http, client["client_id"], client["client_secret"], REDIRECT, scope="profile"
    )


async def refresh(api, client: dict, refresh_token: str):
    return await api.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(client["client_id"], client["client_secret"]),
    )


async def advance(api, clock, seconds: float) -> None:
    """Moves time on, with a fresh admin token (the old one may expire meanwhile)."""
    clock.advance(seconds)
    response = await api.client_credentials(api.admin_id, api.admin_secret)
    assert response.status_code == 200, response.text
    api.admin_token = response.json()["access_token"]


# --- revoke all tokens, and a disable that keeps them dead ---


async def test_tokens_issued_before_a_disable_stay_dead_after_enable(api, clock):
    """The bug: re-enabling a disabled client revived the tokens it held before."""
    client = await create(api, SERVICE)
    old = (await token(api, client)).json()["access_token"]
    assert (await introspect(api, old))["active"] is True
    client_id = client["client_id"]
    assert (await api.post(f"/admin/v1/clients/{client_id}/disable")).status_code == 200
    clock.advance(1)
    assert (await api.post(f"/admin/v1/clients/{client_id}/enable")).status_code == 200

    assert await introspect(api, old) == INACTIVE
    fresh = (await token(api, client)).json()["access_token"]
    assert (await introspect(api, fresh))["active"] is True


async def test_refresh_tokens_issued_before_a_disable_stay_dead_after_enable(setup, clock):
    api = setup
    client = await create(api, WEB_APP, scope="profile")
    tokens = await code_flow_tokens(api, client)
    client_id = client["client_id"]
    await api.post(f"/admin/v1/clients/{client_id}/disable")
    clock.advance(1)
    await api.post(f"/admin/v1/clients/{client_id}/enable")

    refused = await refresh(api, client, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_revoke_tokens_kills_access_tokens_but_the_client_stays_enabled(api, clock):
    client = await create(api, SERVICE)
    old = (await token(api, client)).json()["access_token"]
    before = await audit_trail(api)

    revoked = await api.post(f"/admin/v1/clients/{client['client_id']}/revoke-tokens")

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "active"
    assert revoked.json()["tokens_not_before"] is not None
    assert await introspect(api, old) == INACTIVE
    events = (await api.get("/admin/v1/audit-events?limit=200")).json()["items"]
    new_events = [e for e in events if e["id"] not in before]
    assert [e["action"] for e in new_events] == ["client:tokens:revoked"]
    # The client keeps working: a token issued from the next second on is live.
    clock.advance(1)
    fresh = (await token(api, client)).json()["access_token"]
    assert (await introspect(api, fresh))["active"] is True


async def test_revoke_tokens_kills_the_access_and_refresh_tokens_of_users(setup, clock):
    api = setup
    client = await create(api, WEB_APP, scope="profile")
    tokens = await code_flow_tokens(api, client)
    # The client's credentials are now in the credential cache, snapshot included: the
    # revocation must reach it for the refresh below to be refused.
    clock.advance(1)
    assert (await refresh(api, client, tokens["refresh_token"])).status_code == 200

    await api.post(f"/admin/v1/clients/{client['client_id']}/revoke-tokens")

    assert await introspect(api, tokens["access_token"]) == INACTIVE
    later = await refresh(api, client, tokens["refresh_token"])
    assert later.status_code == 400
    assert later.json()["error"] == "invalid_grant"


async def test_revoke_tokens_reaches_another_process_on_the_host(setup, settings, clock):
    """A second app on the same data dir stands for another worker: it hears of the
    revocation through the epoch file, as it does of a secret revocation."""
    api = setup
    client = await create(api, WEB_APP, scope="profile")
    tokens = await code_flow_tokens(api, client)
    async with open_api(settings, clock) as other:
        clock.advance(1)
        rotated = await refresh(other, client, tokens["refresh_token"])
        assert rotated.status_code == 200  # the other worker now caches the client
        await api.post(f"/admin/v1/clients/{client['client_id']}/revoke-tokens")
        refused = await refresh(other, client, rotated.json()["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_the_admin_api_refuses_an_admin_token_whose_tokens_were_revoked(api):
    other = await create(api, SERVICE, client_name="second admin", scope="appward:admin")
    other_token = (await token(api, other)).json()["access_token"]
    auth = {"Authorization": f"Bearer {other_token}"}
    assert (await api.http.get("/admin/v1/clients", headers=auth)).status_code == 200

    await api.post(f"/admin/v1/clients/{other['client_id']}/revoke-tokens")

    refused = await api.http.get("/admin/v1/clients", headers=auth)
    assert refused.status_code == 401


async def test_revoke_tokens_of_an_unknown_client_is_404(api):
    before = await audit_trail(api)
    assert (await api.post("/admin/v1/clients/nope/revoke-tokens")).status_code == 404
    assert await audit_trail(api) == before


# --- approval ---


async def test_a_portal_client_asking_for_a_sensitive_scope_waits_for_approval(setup):
    api = setup
    client = await portal_client(api, SERVICE, scope="payments")
    shown = (await api.get(f"/admin/v1/clients/{client['client_id']}")).json()
    assert shown["approval"] == "pending"
    assert shown["rejection_reason"] is None

    refused = await token(api, client)

    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"


async def test_clients_start_approved_unless_the_portal_asks_for_a_sensitive_scope(setup):
    api = setup
    by_admin = await create(api, SERVICE, scope="payments")
    by_portal = await portal_client(api, SERVICE, scope="profile")
    for client in (by_admin, by_portal):
        shown = (await api.get(f"/admin/v1/clients/{client['client_id']}")).json()
        assert shown["approval"] == "approved"
        assert (await token(api, client)).status_code == 200


async def test_approving_a_pending_client_lets_it_get_tokens(setup):
    api = setup
    client = await portal_client(api, SERVICE, scope="payments")
    queue = (await api.get("/admin/v1/clients?approval=pending")).json()["items"]
    assert [c["client_id"] for c in queue] == [client["client_id"]]

    approved = await api.post(f"/admin/v1/clients/{client['client_id']}/approve")

    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"] == "approved"
    assert (await token(api, client)).status_code == 200
    assert (await api.get("/admin/v1/clients?approval=pending")).json()["items"] == []
    events = (await api.get(f"/admin/v1/audit-events?client_id={client['client_id']}")).json()
    assert "client:approved" in [e["action"] for e in events["items"]]


async def test_rejecting_a_client_records_the_reason_and_kills_its_tokens(setup):
    api = setup
    client = await create(api, SERVICE, scope="payments")
    live = (await token(api, client)).json()["access_token"]

    rejected = await api.post(
        f"/admin/v1/clients/{client['client_id']}/reject", {"reason": "No privacy policy"}
    )

    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["approval"] == "rejected"
    assert rejected.json()["rejection_reason"] == "No privacy policy"
    assert await introspect(api, live) == INACTIVE
    refused = await token(api, client)
    assert refused.json()["error"] == "unauthorized_client"
    events = (await api.get(f"/admin/v1/audit-events?client_id={client['client_id']}")).json()
    rejection = [e for e in events["items"] if e["action"] == "client:rejected"]
    assert rejection[0]["changes"]["rejection_reason"] == "No privacy policy"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": 5},
        {"reason": "a\x00b"},
        {"reason": "ok", "x": 1},
    ],
)
async def test_a_rejection_needs_a_reason_and_bad_input_changes_nothing(setup, body):
    api = setup
    client = await portal_client(api, SERVICE, scope="payments")
    before = await audit_trail(api)

    response = await api.post(f"/admin/v1/clients/{client['client_id']}/reject", body)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await audit_trail(api) == before
    shown = (await api.get(f"/admin/v1/clients/{client['client_id']}")).json()
    assert shown["approval"] == "pending"


async def test_an_unapproved_client_gets_an_error_page_at_authorize_never_a_redirect(setup):
    api = setup
    client = await portal_client(api, WEB_APP, scope="profile payments")
    _, challenge = pkce_pair()

    response = await Browser(api.http).authorize(
        response_type="code",
        client_id=client["client_id"],
        redirect_uri=REDIRECT,
        scope="profile",
        code_challenge=challenge,
        code_challenge_method="S256",
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "unauthorized_client" in response.text


async def test_a_portal_client_gaining_a_sensitive_scope_is_reviewed_again(setup):
    api = setup
    client = await portal_client(api, SERVICE, scope="profile")
    url = f"/admin/v1/clients/{client['client_id']}"

    changed = await api.patch(url, {"scope": "profile payments"}, if_match="*")

    assert changed.status_code == 200, changed.text
    assert changed.json()["approval"] == "pending"
    assert (await token(api, client)).json()["error"] == "unauthorized_client"


async def test_scopes_carry_the_sensitive_flag(api):
    created = await api.post("/admin/v1/scopes", {"name": "s1", "description": "S"})
    assert created.json()["sensitive"] is False
    changed = await api.patch("/admin/v1/scopes/s1", {"sensitive": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["sensitive"] is True
    refused = await api.patch("/admin/v1/scopes/s1", {"sensitive": "yes"})
    assert refused.status_code == 400


# --- the verified flag ---


async def test_verify_and_unverify_are_audited(api):
    client = await create(api, SERVICE)
    url = f"/admin/v1/clients/{client['client_id']}"
    assert (await api.get(url)).json()["verified"] is False
    assert (await api.post(f"{url}/verify")).json()["verified"] is True
    assert (await api.post(f"{url}/unverify")).json()["verified"] is False
    events = (await api.get(f"/admin/v1/audit-events?client_id={client['client_id']}")).json()
    actions = [e["action"] for e in events["items"]]
    assert "client:verified" in actions
    assert "client:unverified" in actions


# --- safe revoke ---


async def test_revoking_a_secret_used_in_the_last_day_needs_confirmation(api, clock):
    client = await create(api, SERVICE)
    assert (await token(api, client)).status_code == 200  # notes the secret's use
    await advance(api, clock, 3600)
    url = f"/admin/v1/clients/{client['client_id']}/secrets/{client['client_secret_id']}"
    before = await audit_trail(api)

    refused = await api.delete(url)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["error"] == "confirmation_required"
    assert problem["last_used_at"].startswith("2026-06-01T12:00:00")
    assert "2026-06-01T12:00:00" in problem["detail"]
    assert "confirm=true" in problem["detail"]
    assert await audit_trail(api) == before
    assert (await token(api, client)).status_code == 200  # still usable

    confirmed = await api.delete(f"{url}?confirm=true")

    assert confirmed.status_code == 204
    assert (await token(api, client)).status_code == 401


@pytest.mark.parametrize("idle", [None, timedelta(hours=24), timedelta(days=30)])
async def test_a_secret_never_or_long_unused_is_revoked_without_asking(api, clock, idle):
    client = await create(api, SERVICE)
    if idle is not None:
        assert (await token(api, client)).status_code == 200
        await advance(api, clock, idle.total_seconds())
    url = f"/admin/v1/clients/{client['client_id']}/secrets/{client['client_secret_id']}"

    assert (await api.delete(url)).status_code == 204


# --- the unverified notice on consent, and deceptive names ---

DECEPTIVE = "W\u0435ather Widget"  # a Cyrillic small ie among Latin letters


async def consent_for(api, client_id: str, username: str):
    await api.post("/admin/v1/users", {"username": username, "password": PASSWORD})
    api.http.cookies.clear()  # a new visitor, signed out
    return await Browser(api.http).consent_page(client_id, username)


async def self_registered(api, name: str, source: str = "portal") -> str:
    async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
        change = await services.clients.create(
            {"client_name": name, "redirect_uris": [REDIRECT]}, registration_source=source
        )
    return change.client.client_id


@pytest.mark.parametrize("source", ["portal", "dcr"])
async def test_verifying_a_self_registered_client_removes_the_unverified_notice(api, source):
    client_id = await self_registered(api, "Weather Widget", source)
    assert 'id="unverified"' in (await consent_for(api, client_id, "erin")).text

    await api.post(f"/admin/v1/clients/{client_id}/verify")

    assert 'id="unverified"' not in (await consent_for(api, client_id, "fay")).text


async def test_a_deceptive_name_is_flagged_and_keeps_the_notice_even_when_verified(api):
    client_id = await self_registered(api, DECEPTIVE)
    await api.post(f"/admin/v1/clients/{client_id}/verify")

    shown = (await api.get(f"/admin/v1/clients/{client_id}")).json()

    assert shown["verified"] is True
    assert "Cyrillic" in shown["name_warning"]
    assert 'id="unverified"' in (await consent_for(api, client_id, "gil")).text


async def test_an_admin_client_with_an_honest_name_shows_no_notice(api):
    client = await create(
        api, WEB_APP, client_name="\u5929\u6c17\u30a6\u30a3\u30b8\u30a7\u30c3\u30c8"
    )
    assert (await api.get(f"/admin/v1/clients/{client['client_id']}")).json()[
        "name_warning"
    ] is None
    assert 'id="unverified"' not in (await consent_for(api, client["client_id"], "hal")).text


# --- the list's filters through the API ---


async def test_the_list_filters_by_grant_type_and_owner_and_sorts(api):
    await create(api, SERVICE, client_name="b-service", owner="ops")
    await create(api, WEB_APP, client_name="a-web", owner="ops")
    await create(api, SERVICE, client_name="c-service", owner="dev")

    listed = await api.get("/admin/v1/clients?grant_type=client_credentials&owner=ops")
    assert [c["metadata"]["client_name"] for c in listed.json()["items"]] == ["b-service"]
    by_name = await api.get("/admin/v1/clients?sort=-name&limit=2")
    assert [c["metadata"]["client_name"] for c in by_name.json()["items"]] == [
        "c-service",
        "b-service",
    ]
    rest = await api.get(f"/admin/v1/clients?sort=-name&cursor={by_name.json()['next_cursor']}")
    assert [c["metadata"]["client_name"] for c in rest.json()["items"]] == ["admin", "a-web"]


@pytest.mark.parametrize(
    "query", ["sort=size", "grant_type=implicit", "approval=maybe", "sort=name&cursor=xyz"]
)
async def test_the_list_refuses_bad_filters(api, query):
    response = await api.get(f"/admin/v1/clients?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


# --- token preview ---


def claims_of(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


async def test_the_preview_equals_a_real_client_credentials_token_but_its_jti(setup):
    api = setup
    client = await create(api, SERVICE, scope="profile payments", access_token_ttl=900)
    before = await audit_trail(api)

    preview = await api.post(
        f"/admin/v1/clients/{client['client_id']}/token-preview", {"scope": "payments"}
    )

    assert preview.status_code == 200, preview.text
    assert await audit_trail(api) == before  # nothing issued, nothing recorded
    real = claims_of((await token(api, client, scope="payments")).json()["access_token"])
    shown = preview.json()
    assert shown["lifetime"] == 900
    assert shown["grant_type"] == "client_credentials"
    assert {k: v for k, v in shown["claims"].items() if k != "jti"} == {
        k: v for k, v in real.items() if k != "jti"
    }


async def test_the_preview_for_a_user_equals_a_real_code_flow_token(setup):
    api = setup
    client = await create(api, WEB_APP, scope="profile")

    preview = await api.post(
        f"/admin/v1/clients/{client['client_id']}/token-preview",
        {"scope": "profile", "user": "ALICE"},
    )

    assert preview.status_code == 200, preview.text
    real = claims_of((await code_flow_tokens(api, client))["access_token"])
    per_token = {"jti", "gid"}
    assert set(preview.json()["claims"]) == set(real)
    assert {k: v for k, v in preview.json()["claims"].items() if k not in per_token} == {
        k: v for k, v in real.items() if k not in per_token
    }


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"scope": "orders"}, 400, "invalid_scope"),  # not the client's
        ({"scope": "profile  payments"}, 400, "invalid_scope"),
        ({"user": "alice"}, 400, "unauthorized_client"),  # no code flow for this client
        ({"scope": "profile", "extra": 1}, 400, "invalid_request"),
    ],
)
async def test_the_preview_refuses_what_the_token_endpoint_would(setup, body, status, error):
    api = setup
    client = await create(api, SERVICE, scope="profile payments")
    response = await api.post(f"/admin/v1/clients/{client['client_id']}/token-preview", body)
    assert response.status_code == status, response.text
    if error != "invalid_request":
        assert response.json()["error"] == error
        real = await token(api, client, **({"scope": body["scope"]} if "scope" in body else {}))
        if "user" not in body:
            assert real.json()["error"] == error


async def test_the_preview_of_an_unknown_user_or_client_is_404(setup):
    api = setup
    client = await create(api, WEB_APP, scope="profile")
    url = f"/admin/v1/clients/{client['client_id']}/token-preview"
    assert (await api.post(url, {"user": "nobody"})).status_code == 404
    assert (await api.post("/admin/v1/clients/nope/token-preview", {})).status_code == 404
