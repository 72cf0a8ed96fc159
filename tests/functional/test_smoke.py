import pytest

from tests.factories import SERVICE

pytestmark = pytest.mark.anyio


async def test_admin_creates_a_service_client_that_gets_a_token(api):
    created = await api.post("/admin/v1/clients", SERVICE)
    assert created.status_code == 201, created.text
    body = created.json()
    token = await api.client_credentials(body["client_id"], body["client_secret"])
    assert token.status_code == 200, token.text
