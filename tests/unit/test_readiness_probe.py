"""ReadinessProbe: one check for everyone waiting, reused for its max age, and a waiter's
cancellation cancels nobody else's answer (the security review's F10)."""

from __future__ import annotations

import asyncio

import pytest

from appward import readiness as module
from appward.readiness import Readiness, ReadinessProbe

pytestmark = pytest.mark.anyio


async def test_a_cancelled_first_caller_leaves_the_others_their_answer(monkeypatch):
    calls = []
    release = asyncio.Event()

    async def slow(_engine, _redis, *, wait):
        calls.append(wait)
        await release.wait()
        return Readiness({"database": "ok"})

    monkeypatch.setattr(module, "readiness", slow)
    probe = ReadinessProbe(max_age=60)
    first = asyncio.create_task(probe.check(None, None, wait=1))
    second = asyncio.create_task(probe.check(None, None, wait=1))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert (await second).ready
    assert first.cancelled()
    assert (await probe.check(None, None, wait=1)).ready  # reused, not asked again
    assert calls == [1]


def test_a_database_ahead_of_the_code_is_ready_and_said_apart_from_ok():
    from appward.readiness import AHEAD, OK

    assert Readiness({"database": OK, "migrations": AHEAD}).ready
    assert AHEAD != OK
    assert not Readiness({"database": OK, "migrations": "the database is at 0001"}).ready
