"""Client secrets kept encrypted rather than hashed: only for a method that needs the
plaintext back (client_secret_jwt's HMAC key, RFC 7523 §2.2).

AES-256-GCM (cryptography's AESGCM) under a key derived with HKDF-SHA256 from the
key-encryption key that also protects the signing keys, so there is one key to keep and
rotate. A ciphertext reads ``version (1) | key id (8) | nonce (12) | AES-GCM output``:
the key id (the first 8 bytes of SHA-256 of the derived key) says which key-encryption
key made it, so after a rotation the previous keys still decrypt until ``appward keys
reencrypt-secrets`` has rewritten every secret under the current one. The client_id and
the secret id are the associated data: a ciphertext copied onto another secret's row, or
another client's, fails to decrypt instead of authenticating the wrong client.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appward.clients.auth_methods import secret_is_encrypted

# What the admin API, the console and the CLI call each storage (``secret_storage``).
HASHED_STORAGE = "argon2id"
ENCRYPTED_STORAGE = "aes-256-gcm"

FORMAT_VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12  # 96 bits, random per encryption (NIST SP 800-38D §8.2.2)
_HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
# Binds the derived key to this one use: the same key-encryption key also makes the
# Fernet cipher for signing keys and TOTP seeds, and the two must never share a key.
_HKDF_INFO = b"appward client secrets aes-256-gcm v1"


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted: made under a key-encryption key that is
    neither the current nor a previous one, tampered with, or moved to another row.
    Its message names the secret id, never the secret."""


def derive_secret_key(key_encryption_key: bytes) -> bytes:
    """Returns the 256-bit AES key for client secrets derived from ``key_encryption_key``
    (the raw bytes of the Fernet key, url-safe base64 decoded)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        key_encryption_key
    )


def fernet_key_bytes(fernet_key: bytes | str) -> bytes:
    """Returns the 32 raw bytes of a Fernet key (32 url-safe base64-encoded bytes).

    Raises ValueError for anything else (the message never contains the key).
    """
    text = fernet_key.encode() if isinstance(fernet_key, str) else fernet_key
    try:
        raw = base64.urlsafe_b64decode(text.strip())
    except ValueError:
        raise ValueError("a key-encryption key must be 32 url-safe base64-encoded bytes") from None
    if len(raw) != 32:
        raise ValueError("a key-encryption key must be 32 url-safe base64-encoded bytes")
    return raw


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: bytes
    aead: AESGCM = field(repr=False)


def _key(key_encryption_key: bytes) -> _Key:
    derived = derive_secret_key(key_encryption_key)
    return _Key(hashlib.sha256(derived).digest()[:KEY_ID_BYTES], AESGCM(derived))


def _associated_data(client_id: str, secret_id: str) -> bytes:
    # NUL cannot occur in either id, so no two pairs share an encoding.
    return f"appward-client-secret\0{client_id}\0{secret_id}".encode()


class SecretCipher:
    """Encrypts client secrets under the current key-encryption key; decrypts under it or
    any previous one (``APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS``)."""

    __slots__ = ("_current", "_keys")

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        """``current`` and ``previous``: raw key-encryption keys (fernet_key_bytes)."""
        self._current = _key(current)
        self._keys = {self._current.key_id: self._current}
        for old in previous:
            key = _key(old)
            self._keys.setdefault(key.key_id, key)

    @property
    def key_id(self) -> str:
        """The current key's id, in hex (what new ciphertexts carry)."""
        return self._current.key_id.hex()

    def encrypt(self, plaintext: str, *, client_id: str, secret_id: str) -> bytes:
        """Returns ``plaintext`` encrypted under the current key, bound to the client and
        the secret record it belongs to."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.aead.encrypt(
            nonce, plaintext.encode(), _associated_data(client_id, secret_id)
        )
        return bytes([FORMAT_VERSION]) + self._current.key_id + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, client_id: str, secret_id: str) -> str:
        """Returns the plaintext secret of ``ciphertext``.

        Raises SecretDecryptionError when it is not of this format, names a key this
        cipher does not hold, was tampered with or belongs to another client or secret.
        """
        if len(ciphertext) <= _HEADER_BYTES or ciphertext[0] != FORMAT_VERSION:
            raise SecretDecryptionError(f"secret {secret_id}: not an encrypted client secret")
        key = self._keys.get(ciphertext[1 : 1 + KEY_ID_BYTES])
        if key is None:
            raise SecretDecryptionError(
                f"secret {secret_id}: encrypted under key-encryption key "
                f"{ciphertext[1 : 1 + KEY_ID_BYTES].hex()}, which is neither the current "
                "nor one of APPWARD_PREVIOUS_KEY_ENCRYPTION_KEYS"
            )
        nonce = ciphertext[1 + KEY_ID_BYTES : _HEADER_BYTES]
        try:
            plain = key.aead.decrypt(
                nonce, ciphertext[_HEADER_BYTES:], _associated_data(client_id, secret_id)
            )
        except InvalidTag:
            raise SecretDecryptionError(
                f"secret {secret_id}: the ciphertext does not authenticate (tampered, or "
                "not this client's secret)"
            ) from None
        return plain.decode()

    def is_current(self, ciphertext: bytes) -> bool:
        """Returns whether ``ciphertext`` was made under the current key."""
        return ciphertext[1 : 1 + KEY_ID_BYTES] == self._current.key_id

    def reencrypt(self, ciphertext: bytes, *, client_id: str, secret_id: str) -> bytes:
        """Returns ``ciphertext`` decrypted and encrypted again under the current key.

        Raises SecretDecryptionError as decrypt does.
        """
        plain = self.decrypt(ciphertext, client_id=client_id, secret_id=secret_id)
        return self.encrypt(plain, client_id=client_id, secret_id=secret_id)

    def __repr__(self) -> str:
        return f"SecretCipher(key_id={self.key_id!r}, keys={len(self._keys)})"


def secret_storage(method: str) -> str:
    """Returns how the secrets of a client registered with ``method`` are stored:
    ENCRYPTED_STORAGE for a method that needs the plaintext (client_secret_jwt),
    HASHED_STORAGE for every other."""
    return ENCRYPTED_STORAGE if secret_is_encrypted(method) else HASHED_STORAGE
