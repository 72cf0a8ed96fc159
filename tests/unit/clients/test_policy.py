"""The rules of clients/policy.py: what a client's own token, a user's delegation and a
refresh may carry; who may introspect, redeem and revoke; PKCE; refresh lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appward.clients import policy
from appward.clients.snapshot import ClientSnapshot
from appward.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnauthorizedClient,
)
from tests.factories import client_snapshot

ADMIN = "appward:admin"


HOLDER = client_snapshot(scopes=["read", ADMIN])


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
        (own_claims(), client_snapshot(scopes=[ADMIN], token_endpoint_auth_method="none")),
        (own_claims(scope="read"), HOLDER),
        (own_claims(), client_snapshot(scopes=["read"])),  # the scope was taken away since
    ],
    ids=["user-grant", "user-subject", "public-client", "no-admin-scope", "scope-withdrawn"],
)
def test_the_admin_check_refuses(claims: dict[str, object], client: ClientSnapshot) -> None:
    with pytest.raises(InsufficientScope):
        policy.check_admin(claims, client)


def test_the_admin_check_passes_a_confidential_client_own_token() -> None:
    policy.check_admin(own_claims(), HOLDER)


# --- active, introspection, redemption, revocation ---

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "active"),
    [({}, True), ({"status": "disabled"}, False), ({"deleted_at": NOW}, False)],
    ids=["active", "disabled", "deleted"],
)
def test_only_an_active_undeleted_client_is_active(changes: dict[str, object], active: bool):
    client = client_snapshot(**changes)
    assert policy.client_is_active(client) is active
    if active:
        policy.check_client_active(client)
    else:
        with pytest.raises(InvalidClient, match="disabled"):
            policy.check_client_active(client)


def test_a_public_client_may_not_introspect() -> None:
    """RFC 7662 §2.1: the introspection endpoint requires authorization."""
    policy.check_may_introspect(HOLDER)
    with pytest.raises(InvalidClient):
        policy.check_may_introspect(client_snapshot(token_endpoint_auth_method="none"))


def test_a_client_redeems_only_its_own_tokens() -> None:
    mine, other = client_snapshot(pk=1, client_id="c1"), 2
    assert policy.may_redeem(mine, 1)
    assert not policy.may_redeem(mine, other)


def test_a_client_revokes_only_its_own_tokens() -> None:
    """RFC 7009 §2.1: another client's token is refused with an error, by pk (refresh
    tokens) and by client_id (access tokens); no permission changes that."""
    mine = client_snapshot(pk=1, client_id="c1")
    policy.check_may_revoke(mine, 1)
    policy.check_may_revoke(mine, "c1")
    resource_server = client_snapshot(
        pk=1, client_id="c1", may_introspect_others=True, scopes=("appward:admin",)
    )
    for other in (2, "c2"):
        for requester in (mine, resource_server):
            with pytest.raises(UnauthorizedClient):
                policy.check_may_revoke(requester, other)


def test_a_client_introspects_its_own_tokens_and_others_only_with_the_permission() -> None:
    """RFC 7662 §2.1 leaves it to the server: own tokens always; another client's with
    the introspection permission, or the admin scope."""
    owner = client_snapshot(pk=2, client_id="c2")
    plain = client_snapshot(pk=1, client_id="c1", scopes=("orders",))
    assert policy.may_introspect(owner, owner)
    assert not policy.may_introspect(plain, owner)
    assert policy.may_introspect(client_snapshot(pk=1, may_introspect_others=True), owner)
    assert policy.may_introspect(client_snapshot(pk=1, scopes=("appward:admin",)), owner)


# --- PKCE at /token: RFC 7636 §4.6 ---

# RFC 7636 Appendix B's example.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_the_rfc_example() -> None:
    assert policy.s256(VERIFIER) == CHALLENGE


def test_the_right_verifier_passes_and_no_pkce_needs_none() -> None:
    policy.check_pkce_verifier(CHALLENGE, VERIFIER)
    policy.check_pkce_verifier(None, None)


@pytest.mark.parametrize(
    ("challenge", "verifier", "error"),
    [
        (CHALLENGE, None, InvalidGrant),
        (CHALLENGE, "x" * 43, InvalidGrant),
        (CHALLENGE, "short", InvalidRequest),
        (CHALLENGE, "ä" * 43, InvalidRequest),
        (None, VERIFIER, InvalidGrant),
    ],
    ids=["missing", "wrong", "too-short", "not-unreserved", "unexpected"],
)
def test_a_missing_wrong_or_malformed_verifier_is_refused(
    challenge: str | None, verifier: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        policy.check_pkce_verifier(challenge, verifier)


# --- refresh tokens ---


def test_a_public_client_always_rotates_its_refresh_tokens() -> None:
    """RFC 9700 §4.14.2: a public client's refresh tokens are not sender-constrained."""
    assert policy.rotates_refresh_tokens(client_snapshot(rotate_refresh_tokens=True))
    assert not policy.rotates_refresh_tokens(client_snapshot(rotate_refresh_tokens=False))
    assert policy.rotates_refresh_tokens(
        client_snapshot(rotate_refresh_tokens=False, token_endpoint_auth_method="none")
    )


def test_a_refresh_token_slides_but_never_outlives_its_family() -> None:
    client = client_snapshot(refresh_token_ttl=600, refresh_token_absolute_ttl=3600)
    family = policy.refresh_family_expiry(client, NOW)
    assert family == NOW + timedelta(hours=1)
    assert policy.refresh_token_expiry(client, NOW, family) == NOW + timedelta(minutes=10)
    late = NOW + timedelta(minutes=55)
    assert policy.refresh_token_expiry(client, late, family) == family


# --- approval and revoke-all ---


@pytest.mark.parametrize("approval", ["pending", "rejected"])
def test_an_unapproved_client_is_unauthorized(approval: str) -> None:
    client = client_snapshot(approval=approval)
    assert not policy.client_is_approved(client)
    with pytest.raises(UnauthorizedClient):
        policy.check_client_approved(client)


def test_an_approved_client_passes() -> None:
    policy.check_client_approved(client_snapshot())


REVOKED_AT = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("issued_at", "revoked"),
    [
        (REVOKED_AT - timedelta(hours=1), True),
        (int(REVOKED_AT.timestamp()) - 1, True),
        # The iat of a token issued within the same second, before or after: refused,
        # since whole seconds cannot tell which came first.
        (int(REVOKED_AT.timestamp()), True),
        (REVOKED_AT + timedelta(microseconds=100), True),
        (int(REVOKED_AT.timestamp()) + 1, False),
        (REVOKED_AT + timedelta(seconds=1), False),
    ],
)
def test_tokens_issued_up_to_the_revocation_second_are_revoked(
    issued_at: int | datetime, revoked: bool
) -> None:
    client = client_snapshot(tokens_not_before=REVOKED_AT)
    assert policy.token_is_revoked_by_client(client, issued_at) is revoked


def test_no_revocation_revokes_nothing() -> None:
    assert not policy.token_is_revoked_by_client(client_snapshot(), 0)
