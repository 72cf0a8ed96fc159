"""`appward keys reencrypt-secrets`: after a change of the key-encryption key, the previous
key still decrypts client_secret_jwt secrets until the command rewrites them all under the
current one; then the previous key can go."""

from __future__ import annotations

import asyncio
import json

from cryptography.fernet import Fernet
from sqlalchemy import select
from typer.testing import CliRunner

from appward.cli import app
from appward.clients.models import ClientSecret
from appward.clients.secret_encryption import SecretCipher, fernet_key_bytes
from appward.config import Settings
from appward.db import create_engine, create_sessionmaker
from tests.conftest import settings_env

JWT_CLIENT = {
    "client_name": "HMAC Service",
    "grant_types": ["client_credentials"],
    "token_endpoint_auth_method": "client_secret_jwt",
}


def run(settings: Settings, *args: str, stdin: str | None = None, **env: str):
    return CliRunner().invoke(app, list(args), env={**settings_env(settings), **env}, input=stdin)


def stored(settings: Settings) -> list[ClientSecret]:
    async def read() -> list[ClientSecret]:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            async with create_sessionmaker(engine)() as session:
                return list(
                    await session.scalars(
                        select(ClientSecret).where(ClientSecret.secret_encrypted.is_not(None))
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_reencryption_after_a_key_change(settings: Settings):
    created = run(
        settings, "clients", "create", "--metadata", "-", "--json", stdin=json.dumps(JWT_CLIENT)
    )
    assert created.exit_code == 0, created.stderr
    body = json.loads(created.stdout)
    client_id, secret = body["client_id"], body["client_secret"]
    assert body["secret_storage"] == "aes-256-gcm"
    old_key = settings.key_encryption_key
    assert old_key is not None
    new_key = Fernet.generate_key().decode()
    rotated = settings.model_copy(update={"key_encryption_key": new_key})

    # The new key alone cannot read the old ciphertexts: the command says which, and why.
    refused = run(rotated, "keys", "reencrypt-secrets")
    assert refused.exit_code == 2
    assert "APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS" in refused.stderr
    assert secret not in refused.stderr + refused.stdout

    done = run(rotated, "keys", "reencrypt-secrets", APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS=old_key)
    assert done.exit_code == 0, done.stderr
    assert "re-encrypted 1 client secrets; 0 were under the current key" in done.stdout
    (row,) = stored(settings)
    assert row.secret_encrypted is not None
    assert row.secret_hash is None
    # Now the new key alone decrypts it, and the old one no longer does.
    current_only = SecretCipher(fernet_key_bytes(new_key))
    plain = current_only.decrypt(row.secret_encrypted, client_id=client_id, secret_id=row.id)
    assert plain == secret
    assert not SecretCipher(fernet_key_bytes(old_key)).is_current(row.secret_encrypted)

    again = run(rotated, "keys", "reencrypt-secrets")
    assert again.exit_code == 0, again.stderr
    assert "re-encrypted 0 client secrets; 1 were under the current key" in again.stdout


def test_a_malformed_previous_key_is_one_line_without_the_key(settings: Settings):
    bad = "not-a-fernet-key-but-secret-material"
    result = run(settings, "keys", "reencrypt-secrets", APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS=bad)
    assert result.exit_code == 2
    assert "PREVIOUS_KEY_ENCRYPTION_KEYS" in result.stderr.upper()
    assert bad not in result.stderr + result.stdout
