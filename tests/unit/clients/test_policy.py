"""The scope rules of clients/policy.py: what a client's own token, a user's delegation
and a refresh may carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from appward.clients import policy
from appward.errors import InsufficientScope, InvalidScope

ADMIN = "appward:admin"


@dataclass(frozen=True)
class FakeClient:
    """Only the fields the scope rules read; every other one keeps a harmless default."""

    scopes: list[str]
    client_id: str = "c1"
    is_public: bool = False
    pk: int = 1
    status: str = "active"
    deleted_at: datetime | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    grant_types: list[str] = field(default_factory=lambda: ["client_credentials"])
    access_token_ttl: int = 600
    refresh_token_ttl: int = 600
    refresh_token_absolute_ttl: int = 600
    issue_refresh_tokens: bool = False
    rotate_refresh_tokens: bool = True


HOLDER = FakeClient(scopes=["read", ADMIN])


def test_a_client_own_token_may_carry_the_admin_scope() -> None:
    assert policy.resolve_scopes(HOLDER, ADMIN) == [ADMIN]
    assert policy.resolve_scopes(HOLDER, None) == ["read", ADMIN]


@pytest.mark.parametrize("requested", [ADMIN, f"read {ADMIN}"])
def test_a_user_cannot_delegate_the_admin_scope(requested: str) -> None:
    with pytest.raises(InvalidScope):
        policy.resolve_delegated_scopes(HOLDER, requested)


@pytest.mark.parametrize("requested", [None, "", "  "])
def test_the_default_delegated_scope_leaves_the_admin_scope_out(requested: str | None) -> None:
    assert policy.resolve_delegated_scopes(HOLDER, requested) == ["read"]


def test_a_refresh_never_carries_the_admin_scope_even_if_the_grant_did() -> None:
    assert policy.narrow_refresh_scopes(HOLDER, ["read", ADMIN], None) == ["read"]
    with pytest.raises(InvalidScope):
        policy.narrow_refresh_scopes(HOLDER, ["read", ADMIN], ADMIN)


def test_a_refresh_narrows_but_never_widens() -> None:
    assert policy.narrow_refresh_scopes(HOLDER, ["read"], "read") == ["read"]
    with pytest.raises(InvalidScope):
        policy.narrow_refresh_scopes(HOLDER, ["read"], "write")
    with pytest.raises(InvalidScope):
        policy.narrow_refresh_scopes(HOLDER, ["read"], "read  read")


def own_claims(**extra: object) -> dict[str, object]:
    return {"sub": "c1", "client_id": "c1", "scope": ADMIN, **extra}


@pytest.mark.parametrize(
    ("claims", "client"),
    [
        (own_claims(gid="g1"), HOLDER),  # issued on a user's behalf
        (own_claims(sub="42"), HOLDER),  # a user is the subject
        (own_claims(), FakeClient(scopes=[ADMIN], is_public=True)),
        (own_claims(scope="read"), HOLDER),
        (own_claims(), FakeClient(scopes=["read"])),  # the scope was taken away since
    ],
    ids=["user-grant", "user-subject", "public-client", "no-admin-scope", "scope-withdrawn"],
)
def test_the_admin_check_refuses(claims: dict[str, object], client: FakeClient) -> None:
    with pytest.raises(InsufficientScope):
        policy.check_admin(claims, client)


def test_the_admin_check_passes_a_confidential_client_own_token() -> None:
    policy.check_admin(own_claims(), HOLDER)
