"""The in-process memory of verified secrets: freshness, bounds and invalidation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from appward.auth.credential_cache import CredentialCache
from appward.auth.epoch_file import EpochFile
from appward.clients.snapshot import ClientSnapshot
from tests.factories import client_snapshot

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def snapshot(client_id: str = "c1", status: str = "active") -> ClientSnapshot:
    return client_snapshot(client_id=client_id, status=status)


def cache(tmp_path, **kw) -> CredentialCache:
    return CredentialCache(
        ttl=kw.pop("ttl", 60),
        max_entries=kw.pop("max_entries", 100),
        epoch=EpochFile(tmp_path / "epoch"),
        **kw,
    )


def remember(c: CredentialCache, client_id="c1", secret="s", expires=None, now=NOW):
    c.remember(
        snapshot(client_id),
        secret,
        secret_id="id",
        secret_expires_at=expires,
        epoch=c.epoch(),
        now=now,
    )


def test_hit_only_for_the_exact_secret(tmp_path):
    c = cache(tmp_path)
    remember(c)
    assert c.lookup("c1", "s", NOW) is not None
    assert c.lookup("c1", "S", NOW) is None
    assert c.lookup("c2", "s", NOW) is None


def test_entries_expire_after_ttl_and_with_the_secret(tmp_path):
    c = cache(tmp_path, ttl=60)
    remember(c, expires=NOW + timedelta(seconds=30))
    assert c.lookup("c1", "s", NOW + timedelta(seconds=29)) is not None
    assert c.lookup("c1", "s", NOW + timedelta(seconds=30)) is None
    remember(c, secret="t")
    assert c.lookup("c1", "t", NOW + timedelta(seconds=61)) is None


def test_oldest_entries_are_evicted_beyond_the_bound(tmp_path):
    c = cache(tmp_path, max_entries=2)
    for i in range(3):
        remember(c, client_id=f"c{i}")
    assert len(c) == 2
    assert c.lookup("c0", "s", NOW) is None


def test_another_process_bumping_the_epoch_file_drops_everything(tmp_path):
    c = cache(tmp_path)
    remember(c)
    c.remember_failure("c1", "bad", NOW, epoch=c.epoch())
    EpochFile(tmp_path / "epoch").bump()  # as the CLI does after a commit
    assert c.lookup("c1", "s", NOW) is None
    assert not c.failed_recently("c1", "bad", NOW)


def test_verification_read_before_a_change_is_not_remembered(tmp_path):
    c = cache(tmp_path)
    epoch = c.epoch()
    c.invalidate(["c1"])  # a change lands while the verification was running
    c.remember(snapshot(), "s", secret_id="id", secret_expires_at=None, epoch=epoch, now=NOW)
    assert c.lookup("c1", "s", NOW) is None


def test_disabled_clients_are_never_remembered(tmp_path):
    c = cache(tmp_path)
    c.remember(
        snapshot(status="disabled"),
        "s",
        secret_id="id",
        secret_expires_at=None,
        epoch=c.epoch(),
        now=NOW,
    )
    assert c.lookup("c1", "s", NOW) is None


def test_zero_ttl_disables_the_cache(tmp_path):
    c = cache(tmp_path, ttl=0)
    remember(c)
    assert c.lookup("c1", "s", NOW) is None


def test_last_use_is_due_once_per_resolution(tmp_path):
    c = cache(tmp_path, last_used_resolution=60)
    remember(c)
    assert c.lookup("c1", "s", NOW + timedelta(seconds=10)).note_use is False
    assert c.lookup("c1", "s", NOW + timedelta(seconds=59)).note_use is False


@pytest.mark.anyio
async def test_concurrent_verifications_of_one_secret_run_once(tmp_path):
    c = cache(tmp_path)
    runs = 0

    async def verify() -> ClientSnapshot:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return snapshot()

    results = await asyncio.gather(*(c.once("c1", "s", verify) for _ in range(10)))
    assert runs == 1
    assert {r.client_id for r in results} == {"c1"}


@pytest.mark.anyio
async def test_a_failed_single_flight_fails_every_waiter(tmp_path):
    c = cache(tmp_path)

    async def verify() -> ClientSnapshot:
        await asyncio.sleep(0.01)
        raise ValueError("wrong secret")

    results = await asyncio.gather(
        *(c.once("c1", "s", verify) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)


def test_the_key_is_per_process_and_entries_hold_no_secret(tmp_path):
    a, b = cache(tmp_path), cache(tmp_path)
    assert a._fingerprint("c1", "s") != b._fingerprint("c1", "s")
    remember(a, secret="apwcs_secret_value")
    assert "apwcs_secret_value" not in repr(a._entries)


def test_a_change_drops_only_the_clients_it_names(tmp_path):
    """One client's change (a developer's own update, RFC 7592) leaves every other
    client's remembered verification, failure and record in place."""
    c = cache(tmp_path)
    told = []
    c.on_change(told.append)
    for client_id in ("c1", "c2"):
        remember(c, client_id)
        c.remember_failure(client_id, "wrong", NOW, epoch=c.epoch())
        c.remember_client(snapshot(client_id), epoch=c.epoch(), now=NOW)
    c.invalidate(["c1"])
    assert told == [("c1",)]
    assert c.lookup("c1", "s", NOW) is None
    assert not c.failed_recently("c1", "wrong", NOW)
    assert c.client("c1", NOW) is None
    assert c.lookup("c2", "s", NOW) is not None
    assert c.failed_recently("c2", "wrong", NOW)
    assert c.client("c2", NOW) is not None
    remember(c, "c1")  # remembered again after the change: fresh
    assert c.lookup("c1", "s", NOW) is not None


def test_another_process_change_drops_only_the_clients_it_names(tmp_path):
    c = cache(tmp_path)
    told = []
    c.on_change(told.append)
    remember(c, "c1")
    remember(c, "c2")
    EpochFile(tmp_path / "epoch").bump(["c1"])  # as another worker does after a commit
    assert c.lookup("c2", "s", NOW) is not None
    assert c.lookup("c1", "s", NOW) is None
    assert told == [frozenset({"c1"})]
    EpochFile(tmp_path / "epoch").bump()  # nothing named: everything changed
    assert c.lookup("c2", "s", NOW) is None
    assert told[-1] == ()


def test_many_changed_clients_drop_everything_rather_than_grow(tmp_path):
    """Per-client drop counts are bounded by max_entries: past it, everything goes."""
    c = cache(tmp_path, max_entries=3)
    remember(c, "keep")
    c.invalidate(["a", "b"])
    assert c.lookup("keep", "s", NOW) is not None
    c.invalidate(["c", "d"])
    assert c.lookup("keep", "s", NOW) is None
    assert c._drops == {}


def test_short_lifetime_while_changes_may_go_unheard(tmp_path):
    """Redis unheard (auth/invalidation.py): what was remembered is forgotten, and what
    is remembered lives fallback_ttl, failures included, until announcements are heard."""
    c = cache(tmp_path, ttl=60, fallback_ttl=5)
    remember(c, secret="before")
    c.use_short_lifetime()
    assert c.short_lived
    assert c.lookup("c1", "before", NOW) is None
    remember(c)
    c.remember_failure("c1", "wrong", NOW, epoch=c.epoch())
    assert c.lookup("c1", "s", NOW + timedelta(seconds=4)) is not None
    assert c.failed_recently("c1", "wrong", NOW + timedelta(seconds=4))
    assert c.lookup("c1", "s", NOW + timedelta(seconds=5)) is None
    assert not c.failed_recently("c1", "wrong", NOW + timedelta(seconds=5))
    c.use_full_lifetime()
    assert not c.short_lived
    remember(c)
    assert c.lookup("c1", "s", NOW + timedelta(seconds=59)) is not None


def test_a_fallback_ttl_beyond_the_ttl_is_the_ttl(tmp_path):
    c = cache(tmp_path, ttl=10, fallback_ttl=30)
    c.use_short_lifetime()
    remember(c)
    assert c.lookup("c1", "s", NOW + timedelta(seconds=10)) is None


def test_a_failure_read_before_a_change_is_not_remembered(tmp_path):
    """The security review's F8: a verification that read the database before a new
    secret landed fails; remembered after the change's announcement, it would refuse the
    new, right secret for the entry's lifetime."""
    c = cache(tmp_path)
    before = c.epoch()
    c.invalidate(["c1"])  # the new secret's announcement
    c.remember_failure("c1", "new-secret", NOW, epoch=before)
    assert not c.failed_recently("c1", "new-secret", NOW)


@pytest.mark.anyio
async def test_a_request_after_a_change_does_not_join_an_earlier_verification(tmp_path):
    """F9: a request arriving after a revocation was announced verifies afresh instead of
    taking the answer of a verification that read the database before it."""
    c = cache(tmp_path)
    release = asyncio.Event()
    runs = []

    async def verify(answer: str):
        runs.append(answer)
        await release.wait()
        return snapshot(answer)

    first = asyncio.create_task(c.once("c1", "s", lambda: verify("before")))
    await asyncio.sleep(0)
    joined = asyncio.create_task(c.once("c1", "s", lambda: verify("unused")))
    await asyncio.sleep(0)
    c.invalidate(["c1"])  # the revocation is announced
    after = asyncio.create_task(c.once("c1", "s", lambda: verify("after")))
    await asyncio.sleep(0)
    release.set()
    assert (await first).client_id == "before"
    assert (await joined).client_id == "before"  # same epoch: one argon2 run shared
    assert (await after).client_id == "after"
    assert runs == ["before", "after"]
