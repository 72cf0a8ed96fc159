"""Announcing credential changes: after the commit, a Redis outage must not undo the
answer to a change that is done."""

from __future__ import annotations

import pytest

from appward.auth.epoch_file import EpochFile
from appward.auth.invalidation import announce_change
from appward.services import redis_client

pytestmark = pytest.mark.anyio


async def test_an_unreachable_redis_is_logged_not_raised(tmp_path, caplog):
    epoch = EpochFile(tmp_path / "epoch")
    before = epoch.read()
    redis = redis_client("redis://127.0.0.1:1/0")
    try:
        await announce_change(["c1"], epoch=epoch, redis=redis)
    finally:
        if redis is not None:
            await redis.aclose()
    assert epoch.read() != before  # this host's processes heard of it all the same
    assert "not announced on Redis" in caplog.text


async def test_no_change_announces_nothing(tmp_path):
    epoch = EpochFile(tmp_path / "epoch")
    before = epoch.read()
    await announce_change([], epoch=epoch, redis=None)
    assert epoch.read() == before
