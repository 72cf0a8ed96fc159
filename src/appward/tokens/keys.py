"""Signing keys: generated on first start, kept encrypted at rest, published as a JWKS."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import JSON, LargeBinary, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from appward.clients.secret_encryption import SecretCipher, fernet_key_bytes
from appward.clock import Clock
from appward.db import Base, UTCDateTime

SIGNING_ALG = "ES256"
KEY_FILE_NAME = "key-encryption.key"


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # PKCS#8 PEM, encrypted with the key-encryption key (Fernet: AES-128-CBC + HMAC).
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<SigningKey {self.kid}>"


@dataclass(frozen=True)
class KeyRing:
    """The key that signs new tokens and every public key that still verifies old ones."""

    signing_kid: str
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)
    public_keys: dict[str, ec.EllipticCurvePublicKey]
    jwks: dict[str, Any]


def load_key_encryption_key(configured: str | None, data_dir: Path) -> bytes:
    """Returns the key-encryption key, a Fernet key (url-safe base64): the configured
    one, or a key file in ``data_dir`` created with mode 0600 on first use (the embedded
    default; production requires a configured key). Both the Fernet cipher for private
    keys and the client-secret cipher come from this one key.

    Raises ValueError for a malformed key (the message never contains it).
    """
    if configured:
        key = configured.encode()
    else:
        key = generated_key_file(data_dir / KEY_FILE_NAME, Fernet.generate_key)
    Fernet(key)  # validates it: Fernet's message names the rule, never the key
    return key


def load_key_encryption(configured: str | None, data_dir: Path) -> Fernet:
    """Returns the cipher for private keys at rest (load_key_encryption_key's key)."""
    return Fernet(load_key_encryption_key(configured, data_dir))


@lru_cache(maxsize=8)
def load_secret_cipher(
    configured: str | None, data_dir: Path, previous: str | None = None
) -> SecretCipher:
    """Returns the cipher for encrypted client secrets: AES-256-GCM under a key derived
    from the key-encryption key (load_key_encryption_key), decrypting too under each of
    the comma-separated ``previous`` keys (APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS). Cached:
    every unit of work asks for it, and the settings never change in a process.

    Raises ValueError for a malformed key.
    """
    current = fernet_key_bytes(load_key_encryption_key(configured, data_dir))
    olds = [fernet_key_bytes(k) for k in (previous or "").split(",") if k.strip()]
    return SecretCipher(current, olds)


def generated_key_file(path: Path, generate: Callable[[], bytes]) -> bytes:
    """Returns the key in ``path``, creating it (mode 0600, never overwritten) if absent.

    The key is written whole to a file of its own, then linked in under ``path``: a
    process killed half-way, or one that reads while another creates, never finds an
    empty or partial key there (an empty session key would sign every CSRF token with
    nothing). Of processes creating it at once, the first link wins and all read it.
    """
    if not path.exists():
        # The data dir holds keys and the embedded database: no one else's to list.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(generate())
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process linked first
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return path.read_bytes().strip()


# Set in a session's info by a change of the signing keys; unit_of_work announces it.
SIGNING_KEYS_CHANGED = "appward.signing_keys_changed"
# Bumped on every change of the signing keys, for the other processes of the host.
KEYS_EPOCH_FILE = "signing-keys.epoch"


async def ensure_signing_key(session: AsyncSession, cipher: Fernet, clock: Clock) -> None:
    """Creates a signing key unless an active one exists."""
    active = await session.scalar(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)))
    if active is None:
        await add_signing_key(session, cipher, clock)


async def rotate_signing_key(session: AsyncSession, cipher: Fernet, clock: Clock) -> SigningKey:
    """Returns a new signing key; the old ones stop signing but stay published until every
    token they signed has expired. Once the unit of work commits, every server is told
    (auth/invalidation.py) and reloads its key ring within a second."""
    now = clock.now()
    for old in await session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now
    session.info[SIGNING_KEYS_CHANGED] = True
    return await add_signing_key(session, cipher, clock)


def signing_keys_changed(session: object) -> bool:
    """Returns (and forgets) whether this unit of work changed the signing keys."""
    info = getattr(session, "info", None)
    return isinstance(info, dict) and bool(info.pop(SIGNING_KEYS_CHANGED, False))


async def add_signing_key(session: AsyncSession, cipher: Fernet, clock: Clock) -> SigningKey:
    """Returns a new P-256 signing key, stored encrypted; it signs from now on."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = secrets.token_urlsafe(12)
    public_jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": kid, "use": "sig", "alg": SIGNING_ALG})
    record = SigningKey(
        kid=kid,
        alg=SIGNING_ALG,
        public_jwk=public_jwk,
        private_key_encrypted=cipher.encrypt(pem),
        created_at=clock.now(),
        retired_at=None,
    )
    session.add(record)
    await session.flush()
    return record


async def load_key_ring(
    session: AsyncSession, cipher: Fernet, *, now: datetime, publish_retired_for: int
) -> KeyRing:
    """Returns the key ring: the newest active key signs; retired keys verify (and are
    published) for ``publish_retired_for`` seconds, the longest a token they signed lives.

    Raises RuntimeError if there is no active key or it cannot be decrypted.
    """
    records = [
        r
        for r in await session.scalars(select(SigningKey).order_by(SigningKey.created_at))
        if r.retired_at is None or now < r.retired_at + timedelta(seconds=publish_retired_for)
    ]
    active = [r for r in records if r.retired_at is None]
    if not active:
        raise RuntimeError("no signing key: run 'appward db upgrade' and start the server")
    newest = active[-1]
    try:
        pem = cipher.decrypt(newest.private_key_encrypted)
    except InvalidToken:
        raise RuntimeError(
            "cannot decrypt the signing key: APPWARD_KEY_ENCRYPTION_KEY is not the key "
            "it was stored with"
        ) from None
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise RuntimeError(f"signing key {newest.kid} is not an EC key")
    public_keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for record in records:
        public = ECAlgorithm.from_jwk(record.public_jwk)
        if isinstance(public, ec.EllipticCurvePublicKey):
            public_keys[record.kid] = public
    return KeyRing(
        signing_kid=newest.kid,
        signing_key=private,
        public_keys=public_keys,
        jwks={"keys": [r.public_jwk for r in records]},
    )
