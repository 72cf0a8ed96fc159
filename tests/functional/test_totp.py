"""users.totp: enrolment, codes (RFC 6238), replay, recovery codes, and what is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from appward.audit import AuditEvent, EventTag
from appward.clock import FrozenClock
from appward.errors import Conflict, InvalidInput
from appward.services import StandaloneResources, standalone_resources, unit_of_work
from appward.users.models import RecoveryCode, TotpFactor, User
from appward.users.totp import PERIOD, normal
from tests.factories import SETUP_ACTOR

pytestmark = pytest.mark.anyio


@dataclass
class Setup:
    resources: StandaloneResources
    clock: FrozenClock
    username: str = "alice"

    async def user(self, services: Any) -> User:
        user = await services.users._find(self.username)
        assert user is not None
        return user  # type: ignore[no-any-return]

    async def run(self, work: Any) -> Any:
        async with unit_of_work(self.resources, SETUP_ACTOR) as services:
            return await work(services, await self.user(services))


@pytest.fixture
async def setup(settings, clock) -> AsyncIterator[Setup]:
    async with standalone_resources(settings, clock=clock) as resources:
        async with unit_of_work(resources, SETUP_ACTOR) as services:
            await services.users.create("alice", "correct horse battery")
        yield Setup(resources, clock)


def code_at(seed: str, clock: FrozenClock, steps: int = 0) -> str:
    return pyotp.TOTP(seed).at(clock.now().timestamp() + steps * PERIOD)


async def enrol(setup: Setup) -> tuple[str, list[str]]:
    """Returns the seed and the recovery codes of a confirmed factor for alice."""
    enrolment = await setup.run(lambda s, u: s.totp.start_enrolment(u))
    codes = await setup.run(
        lambda s, u: s.totp.confirm_enrolment(u, code_at(enrolment.seed, setup.clock))
    )
    setup.clock.advance(PERIOD)  # the confirming code is used: move to a fresh one
    return enrolment.seed, codes


async def test_enrolment_gives_a_provisioning_uri_for_authenticator_apps(setup):
    enrolment = await setup.run(lambda s, u: s.totp.start_enrolment(u))
    uri = urlsplit(enrolment.provisioning_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert "alice" in uri.path
    assert parse_qs(uri.query)["secret"] == [enrolment.seed]
    assert not await setup.run(lambda s, u: s.totp.is_enrolled(u))


async def test_a_wrong_code_does_not_confirm_the_enrolment(setup):
    enrolment = await setup.run(lambda s, u: s.totp.start_enrolment(u))
    wrong = "000000" if code_at(enrolment.seed, setup.clock) != "000000" else "111111"
    with pytest.raises(InvalidInput) as refused:
        await setup.run(lambda s, u: s.totp.confirm_enrolment(u, wrong))
    assert refused.value.fields[0].field == "code"
    assert not await setup.run(lambda s, u: s.totp.is_enrolled(u))


async def test_confirming_without_an_enrolment_is_refused(setup):
    with pytest.raises(InvalidInput):
        await setup.run(lambda s, u: s.totp.confirm_enrolment(u, "123456"))


async def test_confirmed_factor_accepts_the_current_code_once(setup):
    """RFC 6238 §5.2: a code is accepted once; replaying it fails even inside its step."""
    seed, _ = await enrol(setup)
    code = code_at(seed, setup.clock)
    assert await setup.run(lambda s, u: s.totp.verify(u, code))
    assert not await setup.run(lambda s, u: s.totp.verify(u, code))


async def test_one_step_of_drift_is_accepted_and_two_are_not(setup):
    seed, _ = await enrol(setup)
    setup.clock.advance(5 * PERIOD)
    assert not await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock, 2)))
    assert not await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock, -2)))
    assert await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock, -1)))
    assert await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock, 1)))


async def test_an_older_code_is_refused_after_a_newer_one_was_used(setup):
    seed, _ = await enrol(setup)
    assert await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock, 1)))
    assert not await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock)))


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5"])
async def test_malformed_codes_are_refused(setup, code):
    await enrol(setup)
    assert not await setup.run(lambda s, u: s.totp.verify(u, code))


async def test_a_user_without_a_factor_never_verifies(setup):
    assert not await setup.run(lambda s, u: s.totp.verify(u, "123456"))


async def test_recovery_codes_work_once_each_in_any_spelling(setup):
    _, codes = await enrol(setup)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    sloppy = codes[0].lower().replace("-", " ")
    assert await setup.run(lambda s, u: s.totp.verify(u, sloppy))
    assert not await setup.run(lambda s, u: s.totp.verify(u, codes[0]))
    status = await setup.run(lambda s, u: s.totp.status(u))
    assert (status.enrolled, status.recovery_codes_left) == (True, 9)


async def test_regenerated_recovery_codes_replace_the_old_ones(setup):
    _, old = await enrol(setup)
    new = await setup.run(lambda s, u: s.totp.regenerate_recovery_codes(u))
    assert not set(old) & set(new)
    assert not await setup.run(lambda s, u: s.totp.verify(u, old[1]))
    assert await setup.run(lambda s, u: s.totp.verify(u, new[1]))


async def test_a_second_enrolment_needs_the_first_removed(setup):
    seed, _ = await enrol(setup)
    with pytest.raises(Conflict):
        await setup.run(lambda s, u: s.totp.start_enrolment(u))
    await setup.run(lambda s, u: s.totp.remove(u))
    assert not await setup.run(lambda s, u: s.totp.verify(u, code_at(seed, setup.clock)))
    assert (await setup.run(lambda s, u: s.totp.start_enrolment(u))).seed != seed


async def test_neither_seed_nor_recovery_codes_are_stored_in_plaintext(setup):
    seed, codes = await enrol(setup)

    async def stored(services: Any, user: User) -> tuple[list[str], list[str]]:
        factors = await services.session.scalars(select(TotpFactor.seed_encrypted))
        hashes = await services.session.scalars(select(RecoveryCode.code_hash))
        return list(factors), list(hashes)

    factors, hashes = await setup.run(stored)
    assert factors
    assert seed not in factors[0]
    assert not {normal(c) for c in codes} & set(hashes)
    assert not set(codes) & set(hashes)


async def test_second_factor_changes_are_audited_without_codes(setup):
    _, codes = await enrol(setup)
    await setup.run(lambda s, u: s.totp.verify(u, codes[0]))
    await setup.run(lambda s, u: s.totp.remove(u))

    async def events(services: Any, user: User) -> list[AuditEvent]:
        return list(await services.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))

    recorded = await setup.run(events)
    actions = [e.action for e in recorded]
    for tag in (
        EventTag.ACCOUNT_TOTP_ENROLLED,
        EventTag.ACCOUNT_RECOVERY_CODE_USED,
        EventTag.ACCOUNT_TOTP_REMOVED,
    ):
        assert tag in actions
    dumped = repr([(e.target, e.changes) for e in recorded])
    assert not any(normal(c) in dumped or c in dumped for c in codes)
