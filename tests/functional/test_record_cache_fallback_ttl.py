"""F1: while this process cannot hear other hosts' change announcements (Redis down or
not yet subscribed) the credential cache promises to remember for
APPWARD_CREDENTIAL_CACHE_FALLBACK_TTL only. CredentialCache.remember_client keeps a
client's *record* (private_key_jwt, client_secret_jwt, mTLS, public clients) for the full
APPWARD_CREDENTIAL_CACHE_TTL instead, so a client disabled (or re-keyed, deleted, its
tokens revoked) on another host keeps getting tokens here for up to the full TTL.

Fails while the bug exists."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from appward.clients.models import Client
from appward.services import unit_of_work
from tests.factories import SETUP_ACTOR
from tests.functional.conftest import open_api
from tests.functional.test_private_key_jwt import claims_for, register, sign, token
from tests.keys import ec_key

pytestmark = pytest.mark.anyio

TTL, FALLBACK_TTL = 60, 5


async def test_a_remembered_record_lives_only_the_fallback_ttl_while_deaf(settings, clock):
    deaf = settings.model_copy(
        update={"credential_cache_ttl": TTL, "credential_cache_fallback_ttl": FALLBACK_TTL}
    )
    async with open_api(deaf, clock) as api:
        cache = api.app.state.appward.credential_cache
        # What listen_for_changes does while Redis is unreachable or not yet subscribed.
        cache.use_short_lifetime()
        assert cache.short_lived
        created = await api.post("/admin/v1/scopes", {"name": "orders", "description": "O"})
        assert created.status_code == 201, created.text
        key = ec_key()
        client_id = (await register(api, key))["client_id"]
        first = await token(api, sign(key, claims_for(client_id, clock)))
        assert first.status_code == 200, first.text
        # Another host disables the client: its announcement cannot reach this process
        # (no shared epoch file, Redis unheard).
        async with unit_of_work(api.app.state.appward, SETUP_ACTOR) as services:
            await services.session.execute(
                update(Client).where(Client.client_id == client_id).values(status="disabled")
            )
        clock.advance(FALLBACK_TTL + 1)
        late = await token(api, sign(key, claims_for(client_id, clock)))
        assert late.status_code == 401, (
            f"a client disabled elsewhere still got a token {FALLBACK_TTL + 1} s later, "
            f"past the fallback TTL: the record is remembered for the full {TTL} s"
        )
