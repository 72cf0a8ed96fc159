"""The client-secret cipher: AES-256-GCM under a key derived from the key-encryption key,
bound to the client and the secret record, rotatable with previous keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from appward.clients.secret_encryption import (
    ENCRYPTED_STORAGE,
    HASHED_STORAGE,
    KEY_ID_BYTES,
    NONCE_BYTES,
    SecretCipher,
    SecretDecryptionError,
    fernet_key_bytes,
    secret_storage,
)

SECRET = "apwcs_0123456789abcdef_" + "x" * 43


def kek() -> bytes:
    return fernet_key_bytes(Fernet.generate_key())


def test_round_trip():
    cipher = SecretCipher(kek())
    sealed = cipher.encrypt(SECRET, client_id="c1", secret_id="0123456789abcdef")
    assert cipher.decrypt(sealed, client_id="c1", secret_id="0123456789abcdef") == SECRET


def test_the_ciphertext_holds_no_plaintext_and_a_fresh_nonce_each_time():
    cipher = SecretCipher(kek())
    one = cipher.encrypt(SECRET, client_id="c1", secret_id="s1")
    two = cipher.encrypt(SECRET, client_id="c1", secret_id="s1")
    assert SECRET.encode() not in one
    assert b"x" * 8 not in one
    assert (
        one[1 + KEY_ID_BYTES : 1 + KEY_ID_BYTES + NONCE_BYTES]
        != two[1 + KEY_ID_BYTES : 1 + KEY_ID_BYTES + NONCE_BYTES]
    )
    assert one[1 : 1 + KEY_ID_BYTES] == bytes.fromhex(cipher.key_id)


def test_a_wrong_key_does_not_decrypt():
    sealed = SecretCipher(kek()).encrypt(SECRET, client_id="c1", secret_id="s1")
    with pytest.raises(SecretDecryptionError, match="neither the current") as caught:
        SecretCipher(kek()).decrypt(sealed, client_id="c1", secret_id="s1")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("position", [0, 1, 1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + NONCE_BYTES, -1])
def test_a_tampered_ciphertext_does_not_decrypt(position: int):
    cipher = SecretCipher(kek())
    sealed = bytearray(cipher.encrypt(SECRET, client_id="c1", secret_id="s1"))
    sealed[position] ^= 0x01
    with pytest.raises(SecretDecryptionError):
        cipher.decrypt(bytes(sealed), client_id="c1", secret_id="s1")


@pytest.mark.parametrize("garbage", [b"", b"\x01", b"\x02" + b"\0" * 40, b"\x01" + b"\0" * 20])
def test_garbage_is_refused(garbage: bytes):
    with pytest.raises(SecretDecryptionError):
        SecretCipher(kek()).decrypt(garbage, client_id="c1", secret_id="s1")


@pytest.mark.parametrize(
    ("client_id", "secret_id"), [("c1", "s2"), ("c2", "s1"), ("c1\0s", "1"), ("", "s1")]
)
def test_the_associated_data_binds_the_client_and_the_secret_id(client_id: str, secret_id: str):
    """A ciphertext copied onto another secret's row, or another client's, is useless."""
    cipher = SecretCipher(kek())
    sealed = cipher.encrypt(SECRET, client_id="c1", secret_id="s1")
    with pytest.raises(SecretDecryptionError, match="does not authenticate"):
        cipher.decrypt(sealed, client_id=client_id, secret_id=secret_id)


def test_previous_keys_still_decrypt_and_reencrypt_moves_to_the_current_key():
    old, new = kek(), kek()
    sealed = SecretCipher(old).encrypt(SECRET, client_id="c1", secret_id="s1")
    rotated = SecretCipher(new, [old])
    assert not rotated.is_current(sealed)
    assert rotated.decrypt(sealed, client_id="c1", secret_id="s1") == SECRET
    moved = rotated.reencrypt(sealed, client_id="c1", secret_id="s1")
    assert rotated.is_current(moved)
    # Once every secret is re-encrypted, the old key can go.
    assert SecretCipher(new).decrypt(moved, client_id="c1", secret_id="s1") == SECRET
    with pytest.raises(SecretDecryptionError):
        SecretCipher(new).decrypt(sealed, client_id="c1", secret_id="s1")


def test_the_key_is_derived_not_the_key_encryption_key_itself():
    """The same key-encryption key makes the Fernet cipher for signing keys: the AES key
    for secrets is a different, HKDF-derived one, and its id reveals neither."""
    raw = kek()
    cipher = SecretCipher(raw)
    assert cipher.key_id == SecretCipher(raw).key_id
    assert bytes.fromhex(cipher.key_id) not in raw
    assert raw.hex() not in repr(cipher)


@pytest.mark.parametrize("bad", ["", "short", "!" * 44, "YWJj"])
def test_a_malformed_key_encryption_key_is_refused_without_echoing_it(bad: str):
    with pytest.raises(ValueError, match="32 url-safe base64") as caught:
        fernet_key_bytes(bad)
    assert not bad or bad not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "storage"),
    [
        ("client_secret_jwt", ENCRYPTED_STORAGE),
        ("client_secret_basic", HASHED_STORAGE),
        ("client_secret_post", HASHED_STORAGE),
        ("none", HASHED_STORAGE),
    ],
)
def test_storage_per_method(method: str, storage: str):
    assert secret_storage(method) == storage
