"""presenters.py: each resource's shape is the admin API's wire model, field for field,
and none of them shows a secret, a token or a hash of one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from pydantic import BaseModel

from appward.audit import AuditEvent
from appward.clients.models import Client, ClientScope, ClientSecret
from appward.clients.scopes import Scope
from appward.clients.service import ClientChange, IssuedSecret
from appward.pagination import Page
from appward.presenters import (
    client_secret_expires_at,
    present_audit_event,
    present_client,
    present_client_change,
    present_initial_access_token,
    present_items,
    present_new_secret,
    present_page,
    present_scope,
    present_secret,
    present_user,
)
from appward.registration.models import InitialAccessToken
from appward.users.models import User
from appward.web.admin.audit_events import AuditEventOut
from appward.web.admin.clients import ClientCreatedOut, ClientOut
from appward.web.admin.initial_access_tokens import InitialAccessTokenOut
from appward.web.admin.scopes import ScopeOut
from appward.web.admin.secrets import IssuedSecretOut, SecretOut
from appward.web.admin.users import UserOut

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$HASH-THAT-MUST-NOT-SHOW"
PLAINTEXT = "PLAINTEXT-THAT-MUST-NOT-SHOW"


def client() -> Client:
    return Client(
        client_id="c-123",
        client_name="Reports",
        client_name_localized=None,
        application_type="web",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=["client_credentials"],
        response_types=[],
        redirect_uris=[],
        contacts=[],
        access_token_ttl=600,
        refresh_token_ttl=3600,
        refresh_token_absolute_ttl=86400,
        issue_refresh_tokens=False,
        rotate_refresh_tokens=True,
        require_pkce=True,
        skip_consent=False,
        registration_source="admin",
        owner="ops",
        status="active",
        approval="rejected",
        rejection_reason="no privacy policy",
        verified=False,
        may_introspect_others=True,
        tokens_not_before=NOW,
        created_at=NOW,
        updated_at=NOW + timedelta(minutes=5),
        revision=3,
        scope_links=[ClientScope(scope_name="read"), ClientScope(scope_name="write")],
    )


def secret(expires_at: datetime | None = None, revoked_at: datetime | None = None) -> ClientSecret:
    return ClientSecret(
        id="s-1",
        label="ci",
        secret_hash=HASH,
        created_at=NOW,
        expires_at=expires_at,
        revoked_at=revoked_at,
        last_used_at=None,
    )


def issued(record: ClientSecret) -> IssuedSecret:
    return IssuedSecret(record=record, plaintext=PLAINTEXT)


def scope() -> Scope:
    return Scope(
        name="read",
        description="Read things",
        admin_only=False,
        sensitive=True,
        created_at=NOW,
        updated_at=NOW,
    )


def user() -> User:
    return User(
        id=7,
        public_id="Q2hhbmdlIG1lIHRvIG9u",
        username="alice",
        password_hash=HASH,
        role="developer",
        email="alice@example.com",
        email_verified_at=NOW,
        created_at=NOW,
        disabled_at=None,
    )


def event() -> AuditEvent:
    return AuditEvent(
        id=11,
        occurred_at=NOW,
        actor="client:c-admin",
        action="client:created",
        client_id="c-123",
        target=None,
        changes={"client_name": [None, "Reports"]},
        source_ip="127.0.0.9",
    )


def initial_access_token() -> InitialAccessToken:
    return InitialAccessToken(
        id="iat-1",
        token_hash=HASH,
        label="partners",
        template={"scopes": ["read"]},
        max_uses=3,
        uses=1,
        created_by="client:c-admin",
        created_at=NOW,
        expires_at=None,
        revoked_at=None,
    )


def strings_in(value: Any) -> list[str]:
    """Every string anywhere in a presented value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_in(k), *strings_in(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


PRESENTED: dict[str, tuple[dict[str, Any], type[BaseModel]]] = {
    "client": (present_client(client()), ClientOut),
    "client change": (
        {**present_client_change(ClientChange(client())), "client_secret": None},
        ClientCreatedOut,
    ),
    "secret": (present_secret(secret(), NOW), SecretOut),
    "scope": (present_scope(scope()), ScopeOut),
    "user": (present_user(user()), UserOut),
    "audit event": (present_audit_event(event()), AuditEventOut),
    "initial access token": (
        present_initial_access_token(initial_access_token()),
        InitialAccessTokenOut,
    ),
}


@pytest.mark.parametrize(("presented", "model"), PRESENTED.values(), ids=PRESENTED.keys())
def test_each_presenter_gives_the_admin_apis_shape(
    presented: dict[str, Any], model: type[BaseModel]
) -> None:
    """Field for field (a change's client_secret is the caller's, None when none issued),
    so the CLI's --json can print exactly what the admin API answers."""
    assert set(presented) == set(model.model_fields)
    assert model.model_validate(presented).model_dump() == presented


@pytest.mark.parametrize(("presented", "model"), PRESENTED.values(), ids=PRESENTED.keys())
def test_no_presenter_shows_a_secret_or_its_hash(
    presented: dict[str, Any], model: type[BaseModel]
) -> None:
    for text in strings_in(presented):
        assert HASH not in text
        assert PLAINTEXT not in text
    assert not {"secret_hash", "password_hash", "token_hash", "token"} & set(presented)


def test_a_client_is_its_record_and_its_metadata() -> None:
    presented = present_client(client())
    assert presented["client_id_issued_at"] == int(NOW.timestamp())
    assert presented["revision"] == 3
    assert presented["metadata"]["client_name"] == "Reports"
    assert presented["metadata"]["scope"] == "read write"
    assert "client_id" not in presented["metadata"]


def test_a_change_that_issued_a_secret_names_it_but_leaves_showing_it_to_the_caller() -> None:
    nothing_issued = present_client_change(ClientChange(client()))
    assert nothing_issued["client_secret_id"] is None
    assert nothing_issued["client_secret_expires_at"] is None
    assert "client_secret" not in nothing_issued
    expires = NOW + timedelta(days=90)
    presented = present_client_change(ClientChange(client(), issued(secret(expires_at=expires))))
    assert presented["client_secret_id"] == "s-1"
    assert presented["client_secret_expires_at"] == int(expires.timestamp())
    assert PLAINTEXT not in strings_in(presented)
    assert HASH not in strings_in(presented)
    # What the admin API adds itself, once, makes the whole answer.
    ClientCreatedOut.model_validate({**presented, "client_secret": PLAINTEXT})


def test_a_new_secret_has_its_rfc7591_expiry_and_no_value() -> None:
    """RFC 7591 §3.2.1: client_secret_expires_at is 0 when the secret never expires."""
    never = present_new_secret(secret(), NOW)
    assert never["client_secret_expires_at"] == 0
    assert PLAINTEXT not in strings_in(never)
    assert HASH not in strings_in(never)
    IssuedSecretOut.model_validate({**never, "client_secret": PLAINTEXT})
    expires = NOW + timedelta(hours=1)
    assert client_secret_expires_at(secret(expires_at=expires)) == int(expires.timestamp())


@pytest.mark.parametrize(
    ("record", "usable"),
    [
        (secret(), True),
        (secret(expires_at=NOW + timedelta(seconds=1)), True),
        (secret(expires_at=NOW), False),
        (secret(revoked_at=NOW - timedelta(seconds=1)), False),
    ],
)
def test_a_secret_says_whether_it_is_usable_now(record: ClientSecret, usable: bool) -> None:
    assert present_secret(record, NOW)["usable"] is usable


def test_collections_are_items_and_pages_carry_the_next_cursor() -> None:
    scopes = [scope(), scope()]
    assert present_items(scopes, present_scope) == {"items": [present_scope(s) for s in scopes]}
    page = present_page(Page([secret()], next_cursor="k"), partial(present_secret, now=NOW))
    assert page == {"items": [present_secret(secret(), NOW)], "next_cursor": "k"}
    assert present_page(Page([], next_cursor=None), present_scope) == {
        "items": [],
        "next_cursor": None,
    }
