"""Client secrets: their shape, the id they embed, and the argon2id hasher."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import argon2
import pytest

from appward.clients.secrets import (
    SECRET_PREFIX,
    check_safe_to_revoke,
    generate_secret,
    new_secret_id,
    secret_id_of,
)
from appward.config import Argon2Params
from appward.errors import ConfirmationRequired
from appward.hashing import Argon2Hasher

SECRET_ID = "0123456789abcdef"
RANDOM_PART = "A" * 43


@pytest.fixture(scope="module")
def hasher() -> Argon2Hasher:
    return Argon2Hasher(Argon2Params(time_cost=1, memory_cost_kib=64, parallelism=1))


# --- shape ---


def test_secret_ids_are_16_lowercase_hex_characters():
    assert re.fullmatch(r"[0-9a-f]{16}", new_secret_id())


def test_secret_ids_are_unique():
    assert len({new_secret_id() for _ in range(200)}) == 200


def test_generated_secret_starts_with_the_scanner_prefix_and_embeds_the_id():
    secret = generate_secret(SECRET_ID)
    assert SECRET_PREFIX == "apwcs_"
    assert secret.startswith(f"apwcs_{SECRET_ID}_")


def test_generated_secret_names_its_id():
    secret_id = new_secret_id()
    assert secret_id_of(generate_secret(secret_id)) == secret_id


def test_random_part_carries_at_least_256_bits():
    random_part = generate_secret(SECRET_ID).removeprefix(f"apwcs_{SECRET_ID}_")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", random_part)
    raw = base64.urlsafe_b64decode(random_part + "=")
    assert len(raw) * 8 >= 256


def test_generated_secrets_are_unique():
    assert len({generate_secret(SECRET_ID) for _ in range(200)}) == 200


def test_generated_secret_is_url_and_header_safe():
    assert re.fullmatch(r"[A-Za-z0-9_-]+", generate_secret(new_secret_id()))


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "apwcs_",
        f"apwcs_{SECRET_ID}",
        f"apwcs_{SECRET_ID}_",
        f"apwcs_{SECRET_ID}_{RANDOM_PART[:-1]}",
        f"apwcs_{SECRET_ID}_{RANDOM_PART}A",
        f"apwcx_{SECRET_ID}_{RANDOM_PART}",
        f"APWCS_{SECRET_ID}_{RANDOM_PART}",
        f"{SECRET_ID}_{RANDOM_PART}",
        f"apwcs_{SECRET_ID.upper()}_{RANDOM_PART}",
        f"apwcs_{SECRET_ID[:-1]}_{RANDOM_PART}",
        f"apwcs_{SECRET_ID}0_{RANDOM_PART}",
        f"apwcs_0123456789abcdeg_{RANDOM_PART}",
        f"apwcs_{SECRET_ID}_{RANDOM_PART[:-1]}+",
        f"apwcs_{SECRET_ID}_{RANDOM_PART[:-1]}=",
        f" apwcs_{SECRET_ID}_{RANDOM_PART}",
        f"apwcs_{SECRET_ID}_{RANDOM_PART} ",
        "correct horse battery staple",
    ],
)
def test_presented_garbage_names_no_secret(presented):
    assert secret_id_of(presented) is None


def test_secret_with_a_trailing_newline_names_no_secret():
    assert secret_id_of(f"apwcs_{SECRET_ID}_{RANDOM_PART}\n") is None


def test_well_formed_secret_names_its_id():
    assert secret_id_of(f"apwcs_{SECRET_ID}_{RANDOM_PART}") == SECRET_ID


# --- argon2id ---


def test_hash_is_argon2id_with_the_configured_cost(hasher):
    hashed = hasher.hash("apwcs_secret")
    assert hashed.startswith("$argon2id$")
    assert "$m=64,t=1,p=1$" in hashed


def test_hash_does_not_contain_the_secret(hasher):
    secret = generate_secret(SECRET_ID)
    assert secret not in hasher.hash(secret)


def test_hashes_are_salted(hasher):
    assert hasher.hash("same secret") != hasher.hash("same secret")


def test_verify_accepts_the_hashed_secret(hasher):
    secret = generate_secret(SECRET_ID)
    assert hasher.verify(hasher.hash(secret), secret) is True


@pytest.mark.parametrize("wrong", ["", "apwcs_wrong", "same secret ", "Same secret"])
def test_verify_refuses_any_other_secret(hasher, wrong):
    assert hasher.verify(hasher.hash("same secret"), wrong) is False


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=64,t=1,p=1$",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$!!!",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "plaintext-secret",
    ],
)
def test_verify_of_a_malformed_hash_returns_false(hasher, hashed):
    assert hasher.verify(hashed, "plaintext-secret") is False


def test_default_argon2_params_are_argon2_cffis_defaults():
    """RFC 9106 §4 second recommended option, as argon2-cffi ships it: t=3, 64 MiB, p=4."""
    params = Argon2Params()
    assert (params.time_cost, params.memory_cost_kib, params.parallelism) == (3, 65536, 4)
    assert params.time_cost == argon2.DEFAULT_TIME_COST
    assert params.memory_cost_kib == argon2.DEFAULT_MEMORY_COST
    assert params.parallelism == argon2.DEFAULT_PARALLELISM
    profile = argon2.profiles.RFC_9106_LOW_MEMORY
    assert (profile.time_cost, profile.memory_cost, profile.parallelism) == (3, 65536, 4)


def test_client_ids_are_alphanumeric_and_never_start_with_a_dash():
    from appward.clients.service import new_client_id

    ids = {new_client_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 24 and i.isalnum() and i.isascii() for i in ids)


# --- safe revoke ---

NOW_ = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "last_used_at", [None, NOW_ - timedelta(hours=24), NOW_ - timedelta(days=90)]
)
def test_a_secret_never_or_not_recently_used_is_revoked_without_asking(
    last_used_at: datetime | None,
) -> None:
    check_safe_to_revoke("s1", last_used_at, NOW_, confirmed=False)


def test_a_recently_used_secret_needs_confirmation_naming_its_last_use() -> None:
    used = NOW_ - timedelta(hours=2, minutes=5)
    with pytest.raises(ConfirmationRequired) as caught:
        check_safe_to_revoke("s1", used, NOW_, confirmed=False)
    assert caught.value.last_used_at == used
    assert "2026-06-01T09:55:00+00:00" in caught.value.description
    assert "2 h 5 min ago" in caught.value.description
    hinted = caught.value.with_hint("pass --confirm")
    assert hinted.description.endswith("; pass --confirm")
    assert hinted.status_code == 409
    check_safe_to_revoke("s1", used, NOW_, confirmed=True)
