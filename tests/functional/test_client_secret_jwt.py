"""client_secret_jwt (RFC 7523 §2.2 with an HMAC) through HTTP: the client signs an
assertion with its secret, which the server keeps AES-GCM encrypted, never hashed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from appward.clients.auth_methods import JWT_BEARER_ASSERTION
from appward.clients.models import ClientSecret
from appward.clock import FrozenClock
from tests.factories import SERVICE

pytestmark = pytest.mark.anyio

JWT_SERVICE = {**SERVICE, "token_endpoint_auth_method": "client_secret_jwt"}


@pytest.fixture
def jwt_api(api):
    """The app as it is wired: its own jti replay store (the database here; Redis when
    configured) and secret cipher."""
    tools = api.app.state.appward.auth_tools
    assert tools.replay is not None
    assert tools.secret_cipher is not None
    return api


def assertion(
    client_id: str,
    secret: str | bytes,
    clock: FrozenClock,
    *,
    alg: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(clock.now().timestamp())
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://localhost:8000",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, secret, algorithm=alg, headers=headers)


async def token_with(api, signed: str, **extra: str) -> httpx.Response:
    return await api.http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER_ASSERTION,
            "client_assertion": signed,
            **extra,
        },
    )


async def new_jwt_client(api) -> tuple[str, str]:
    created = await api.post("/admin/v1/clients", JWT_SERVICE)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["client_id"], body["client_secret"]


def refused(response: httpx.Response) -> bool:
    assert response.status_code in (200, 401), response.text
    if response.status_code == 401:
        assert response.json()["error"] == "invalid_client"
    return response.status_code == 401


@pytest.fixture
def issuer(settings) -> str:
    return settings.issuer


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_a_token_for_an_assertion_signed_with_the_secret(jwt_api, clock, issuer, alg):
    client_id, secret = await new_jwt_client(jwt_api)
    signed = assertion(client_id, secret, clock, alg=alg, aud=issuer)
    response = await token_with(jwt_api, signed)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


async def test_the_database_holds_no_plaintext_secret(jwt_api, clock):
    client_id, secret = await new_jwt_client(jwt_api)
    async with jwt_api.app.state.appward.sessions()() as session:
        rows = [
            r for r in await session.scalars(select(ClientSecret)) if r.secret_encrypted is not None
        ]
    assert len(rows) == 1
    (row,) = rows
    assert row.secret_hash is None
    assert secret.encode() not in row.secret_encrypted
    random_part = secret[-43:]  # apwcs_<16 hex id>_<43 characters>
    assert random_part.encode() not in row.secret_encrypted
    assert secret not in repr(row)
    # And the hashed clients' rows stay as they were: a hash, no ciphertext.
    listed = (await jwt_api.get(f"/admin/v1/clients/{client_id}")).json()
    assert listed["secret_storage"] == "aes-256-gcm"
    admin = (await jwt_api.get(f"/admin/v1/clients/{jwt_api.admin_id}")).json()
    assert admin["secret_storage"] == "argon2id"


async def test_a_wrong_secret_is_refused(jwt_api, clock, issuer):
    client_id, secret = await new_jwt_client(jwt_api)
    _other_id, other_secret = await new_jwt_client(jwt_api)
    assert refused(await token_with(jwt_api, assertion(client_id, other_secret, clock, aud=issuer)))
    assert refused(
        await token_with(
            jwt_api,
            assertion(
                client_id, secret[:-1] + ("B" if secret.endswith("A") else "A"), clock, aud=issuer
            ),
        )
    )
    assert refused(await token_with(jwt_api, assertion(client_id, "x" * 64, clock, aud=issuer)))


async def test_a_revoked_secret_is_refused(jwt_api, clock, issuer):
    client_id, secret = await new_jwt_client(jwt_api)
    listed = (await jwt_api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    revoked = await jwt_api.delete(
        f"/admin/v1/clients/{client_id}/secrets/{listed[0]['id']}?confirm=true"
    )
    assert revoked.status_code == 204, revoked.text
    assert refused(await token_with(jwt_api, assertion(client_id, secret, clock, aud=issuer)))


async def test_an_expired_secret_is_refused(jwt_api, clock, issuer):
    client_id, _ = await new_jwt_client(jwt_api)
    expires = clock.now().timestamp() + 3600
    added = await jwt_api.post(
        f"/admin/v1/clients/{client_id}/secrets",
        {"expires_at": datetime.fromtimestamp(expires).astimezone().isoformat()},
    )
    assert added.status_code == 201, added.text
    short = added.json()["client_secret"]
    assert not refused(await token_with(jwt_api, assertion(client_id, short, clock, aud=issuer)))
    clock.advance(3601)
    assert refused(await token_with(jwt_api, assertion(client_id, short, clock, aud=issuer)))


async def test_both_secrets_work_during_a_grace_period_then_only_the_new(jwt_api, clock, issuer):
    client_id, old = await new_jwt_client(jwt_api)
    added = await jwt_api.post(
        f"/admin/v1/clients/{client_id}/secrets", {"expire_others_in": 600, "label": "next"}
    )
    assert added.status_code == 201, added.text
    new = added.json()["client_secret"]
    for secret in (old, new):
        assert not refused(
            await token_with(jwt_api, assertion(client_id, secret, clock, aud=issuer))
        )
    clock.advance(601)
    assert refused(await token_with(jwt_api, assertion(client_id, old, clock, aud=issuer)))
    assert not refused(await token_with(jwt_api, assertion(client_id, new, clock, aud=issuer)))


async def test_the_secret_that_signed_is_marked_used_once_a_minute(jwt_api, clock, issuer):
    client_id, old = await new_jwt_client(jwt_api)
    new = (await jwt_api.post(f"/admin/v1/clients/{client_id}/secrets", {"label": "next"})).json()[
        "client_secret"
    ]
    assert not refused(await token_with(jwt_api, assertion(client_id, new, clock, aud=issuer)))
    items = (await jwt_api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    by_label = {item["label"]: item for item in items}
    assert by_label["next"]["last_used_at"] is not None
    assert by_label["initial"]["last_used_at"] is None
    del old


async def test_alg_none_is_refused(jwt_api, clock, issuer):
    client_id, _ = await new_jwt_client(jwt_api)
    unsigned = assertion(client_id, "", clock, alg="none", aud=issuer)
    assert refused(await token_with(jwt_api, unsigned, client_id=client_id))


async def test_an_rs256_assertion_is_refused_for_an_hmac_client(jwt_api, clock, issuer):
    client_id, _ = await new_jwt_client(jwt_api)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = assertion(client_id, key, clock, alg="RS256", aud=issuer)  # type: ignore[arg-type]
    assert refused(await token_with(jwt_api, signed))


async def test_a_replayed_jti_is_refused(jwt_api, clock, issuer):
    client_id, secret = await new_jwt_client(jwt_api)
    signed = assertion(client_id, secret, clock, aud=issuer)
    assert not refused(await token_with(jwt_api, signed))
    assert refused(await token_with(jwt_api, signed))


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        ({"aud": "{issuer}"}, True),
        ({"aud": "{issuer}/oauth2/token"}, True),  # compat, the default
        ({"aud": "https://elsewhere.example"}, False),
        ({"aud": None}, False),
        ({"iss": "someone-else"}, False),
        ({"sub": "{client_id}", "iss": None}, False),
        ({"exp": -60}, False),  # seconds from now: past the clock skew
        ({"exp": 3600}, False),  # over the maximum lifetime
        ({"exp": None}, False),
        ({"jti": None}, False),
    ],
)
async def test_claims(jwt_api, clock, issuer, claims, ok):
    client_id, secret = await new_jwt_client(jwt_api)
    now = int(clock.now().timestamp())
    values: dict[str, Any] = {}
    for name, value in claims.items():
        if isinstance(value, str):
            value = value.format(issuer=issuer, client_id=client_id)
        if name == "exp" and value is not None:
            value = now + value
        values[name] = value
    values.setdefault("aud", issuer)
    if values.get("iss", "") is None:
        values.pop("iss")
        signed = jwt.encode(
            {
                "sub": client_id,
                "aud": values["aud"],
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            },
            secret,
            algorithm="HS256",
        )
    else:
        signed = assertion(client_id, secret, clock, **values)
    assert refused(await token_with(jwt_api, signed)) is not ok


async def test_a_basic_client_cannot_authenticate_with_an_assertion(jwt_api, clock, issuer):
    created = (await jwt_api.post("/admin/v1/clients", SERVICE)).json()
    client_id, secret = created["client_id"], created["client_secret"]
    signed = assertion(client_id, secret, clock, aud=issuer)
    assert refused(await token_with(jwt_api, signed))


async def test_a_jwt_client_cannot_send_its_secret_as_itself(jwt_api):
    client_id, secret = await new_jwt_client(jwt_api)
    assert refused(await jwt_api.client_credentials(client_id, secret))  # client_secret_basic
    posted = await jwt_api.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert refused(posted)


@pytest.mark.parametrize(
    ("before", "after", "storage"),
    [
        ("client_secret_basic", "client_secret_jwt", "aes-256-gcm"),
        ("client_secret_jwt", "client_secret_post", "argon2id"),
    ],
)
async def test_a_change_of_storage_revokes_the_old_secrets_and_issues_a_new_one(
    jwt_api, clock, issuer, before, after, storage
):
    """A hash cannot be decrypted nor a ciphertext kept as a hash: the old secrets are
    revoked and the response carries one new secret, stored the new way."""
    created = (
        await jwt_api.post("/admin/v1/clients", {**SERVICE, "token_endpoint_auth_method": before})
    ).json()
    client_id, old = created["client_id"], created["client_secret"]
    current = await jwt_api.get(f"/admin/v1/clients/{client_id}")
    changed = await jwt_api.patch(
        f"/admin/v1/clients/{client_id}",
        {"token_endpoint_auth_method": after},
        if_match=current.headers["ETag"],
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["secret_storage"] == storage
    new = body["client_secret"]
    assert new != old
    items = (await jwt_api.get(f"/admin/v1/clients/{client_id}/secrets")).json()["items"]
    assert sum(item["revoked_at"] is None for item in items) == 1
    if after == "client_secret_jwt":
        assert not refused(await token_with(jwt_api, assertion(client_id, new, clock, aud=issuer)))
        assert refused(await token_with(jwt_api, assertion(client_id, old, clock, aud=issuer)))
    else:
        posted = await jwt_api.http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": new},
        )
        assert not refused(posted)
        assert refused(await jwt_api.client_credentials(client_id, old))


async def test_a_secret_no_configured_key_decrypts_is_invalid_client_not_an_error(
    jwt_api, clock, issuer
):
    """A ciphertext made under a key since dropped (or altered in the database) cannot
    authenticate; the client gets invalid_client and the secret is never logged."""
    client_id, secret = await new_jwt_client(jwt_api)
    async with jwt_api.app.state.appward.sessions()() as session:
        row = await session.scalar(
            select(ClientSecret).where(ClientSecret.secret_encrypted.is_not(None))
        )
        assert row is not None
        assert row.secret_encrypted is not None
        row.secret_encrypted = row.secret_encrypted[:-1] + bytes([row.secret_encrypted[-1] ^ 1])
        await session.commit()
    assert refused(await token_with(jwt_api, assertion(client_id, secret, clock, aud=issuer)))


async def test_the_assertion_is_not_cached_as_a_secret(jwt_api, clock, issuer):
    """A successful assertion leaves nothing in the credential cache that an empty
    client_secret_basic secret could hit."""
    client_id, secret = await new_jwt_client(jwt_api)
    assert not refused(await token_with(jwt_api, assertion(client_id, secret, clock, aud=issuer)))
    assert refused(await jwt_api.client_credentials(client_id, ""))
