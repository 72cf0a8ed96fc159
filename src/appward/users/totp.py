"""The second factor: TOTP (RFC 6238) codes from an authenticator app, and single-use
recovery codes for when the device is lost.

Enrolment is two steps, so a user is never left with a factor their app does not have:
``start_enrolment`` makes a seed the user scans, ``confirm_enrolment`` turns it on once a
code from the app checks out, and only then are the recovery codes made (shown once,
kept as hashes). The seed is encrypted at rest with the key-encryption key.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clock import Clock
from appward.errors import Conflict, FieldError, InvalidInput
from appward.hashing import token_hash
from appward.users.models import RecoveryCode, TotpFactor, User

PERIOD = 30  # seconds a code lasts (RFC 6238 §5.2's recommended time step)
DIGITS = 6
# Codes of the step before and after are accepted too: clocks drift and people are slow
# (RFC 6238 §5.2 recommends at most one step of delay in each direction).
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: a plain hash is then as safe as argon2 would be


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A seed waiting for confirmation: what the user's app needs, shown only now."""

    seed: str
    provisioning_uri: str


@dataclass(frozen=True, slots=True)
class SecondFactorStatus:
    enrolled: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class TotpService:
    session: AsyncSession
    clock: Clock
    cipher: Fernet
    issuer: str  # the name the authenticator app shows next to the code
    audit: AuditLog | None = None  # needed by the methods that change something

    async def status(self, user: User) -> SecondFactorStatus:
        factor = await self._factor(user)
        left = await self.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
        enrolled = factor is not None and factor.confirmed_at is not None
        return SecondFactorStatus(enrolled, len(list(left)) if enrolled else 0)

    async def is_enrolled(self, user: User) -> bool:
        factor = await self._factor(user)
        return factor is not None and factor.confirmed_at is not None

    async def start_enrolment(self, user: User) -> Enrolment:
        """Returns a new seed for ``user`` to add to their app, replacing an unconfirmed one.
        Raises Conflict when a confirmed factor exists (it is reset first, on purpose)."""
        factor = await self._factor(user)
        if factor is not None and factor.confirmed_at is not None:
            raise Conflict("a second factor is already set up; remove it before adding another")
        seed = pyotp.random_base32()
        encrypted = self.cipher.encrypt(seed.encode()).decode()
        if factor is None:
            self.session.add(
                TotpFactor(user_id=user.id, seed_encrypted=encrypted, created_at=self.clock.now())
            )
        else:
            factor.seed_encrypted = encrypted
            factor.created_at = self.clock.now()
        await self.session.flush()
        return Enrolment(seed, self._provisioning_uri(user, seed))

    async def pending_enrolment(self, user: User) -> Enrolment | None:
        """Returns the set-up waiting for its first code (to show the seed again until it
        is confirmed), or None when there is none or the factor is already on."""
        factor = await self._factor(user)
        if factor is None or factor.confirmed_at is not None:
            return None
        try:
            seed = self.cipher.decrypt(factor.seed_encrypted.encode()).decode()
        except InvalidToken:
            return None  # the key-encryption key changed: start again
        return Enrolment(seed, self._provisioning_uri(user, seed))

    def _provisioning_uri(self, user: User, seed: str) -> str:
        return pyotp.TOTP(seed, digits=DIGITS, interval=PERIOD).provisioning_uri(
            name=user.username, issuer_name=self.issuer
        )

    async def confirm_enrolment(self, user: User, code: str) -> list[str]:
        """Turns the pending factor on when ``code`` comes from it, and returns the recovery
        codes, which are shown once. Raises InvalidInput on a wrong code or when no
        enrolment was started."""
        audit = self._require_audit()
        factor = await self._factor(user)
        if factor is None or factor.confirmed_at is not None:
            raise InvalidInput(
                "start setting up the authenticator app first",
                fields=[FieldError("code", "no set-up is waiting for a code")],
            )
        step = self._matching_step(factor, code)
        if step is None:
            raise InvalidInput(
                "that code does not match; check the app's clock and try the next code",
                fields=[FieldError("code", "does not match the authenticator app's code")],
            )
        factor.confirmed_at = self.clock.now()
        factor.last_used_step = step
        codes = await self._replace_recovery_codes(user)
        await audit.record(EventTag.ACCOUNT_TOTP_ENROLLED, target=user.username)
        return codes

    async def verify(self, user: User, code: str) -> bool:
        """Returns whether ``code`` is a current TOTP code of the user's factor, not used
        before, or one of their unused recovery codes (which is then used up)."""
        factor = await self._factor(user)
        if factor is None or factor.confirmed_at is None:
            return False
        step = self._matching_step(factor, code)
        if step is not None:
            # Conditional, so two requests racing with one code cannot both succeed.
            accepted = await self.session.execute(
                update(TotpFactor)
                .where(
                    TotpFactor.user_id == user.id,
                    (TotpFactor.last_used_step.is_(None)) | (TotpFactor.last_used_step < step),
                )
                .values(last_used_step=step)
            )
            return bool(accepted.rowcount)  # type: ignore[attr-defined]
        return await self._use_recovery_code(user, code)

    async def regenerate_recovery_codes(self, user: User) -> list[str]:
        """Returns a fresh set of recovery codes; the old ones stop working. Raises
        Conflict when the user has no second factor."""
        audit = self._require_audit()
        if not await self.is_enrolled(user):
            raise Conflict("set up an authenticator app first")
        codes = await self._replace_recovery_codes(user)
        await audit.record(EventTag.ACCOUNT_RECOVERY_CODES_REGENERATED, target=user.username)
        return codes

    async def remove(self, user: User) -> None:
        """Removes the user's second factor and recovery codes (the user, or an admin's
        "reset 2FA"). Removing none is no error."""
        audit = self._require_audit()
        removed = await self.session.execute(
            delete(TotpFactor).where(TotpFactor.user_id == user.id)
        )
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        if removed.rowcount:  # type: ignore[attr-defined]
            await audit.record(EventTag.ACCOUNT_TOTP_REMOVED, target=user.username)

    # --- internals ---

    async def _factor(self, user: User) -> TotpFactor | None:
        return await self.session.get(TotpFactor, user.id)

    def _matching_step(self, factor: TotpFactor, code: str) -> int | None:
        """Returns the time step ``code`` is the code of, within the allowed drift and not
        before the last accepted one, or None."""
        code = "".join(code.split())
        if len(code) != DIGITS or not code.isdigit():
            return None
        try:
            seed = self.cipher.decrypt(factor.seed_encrypted.encode()).decode()
        except InvalidToken:
            return None  # the key-encryption key changed: the factor cannot be checked
        totp = pyotp.TOTP(seed, digits=DIGITS, interval=PERIOD)
        now_step = int(self.clock.now().timestamp()) // PERIOD
        for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
            if factor.last_used_step is not None and step <= factor.last_used_step:
                continue
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    async def _replace_recovery_codes(self, user: User) -> list[str]:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        now = self.clock.now()
        self.session.add_all(
            RecoveryCode(user_id=user.id, code_hash=token_hash(normal(c)), created_at=now)
            for c in codes
        )
        await self.session.flush()
        return codes

    async def _use_recovery_code(self, user: User, code: str) -> bool:
        used = await self.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == token_hash(normal(code)),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=self.clock.now())
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            return False
        await self._require_audit().record(
            EventTag.ACCOUNT_RECOVERY_CODE_USED, target=user.username
        )
        return True

    def _require_audit(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("second-factor changes are audited: give TotpService an AuditLog")
        return self.audit


def new_recovery_code() -> str:
    """Returns a code like ``K7QF-2M4X-PZ9A-H3TB``: 80 random bits in groups of four."""
    raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def kind_of_code(code: str) -> str:
    """Returns which second factor ``code`` looks like: "totp" (digits) or "recovery_code"."""
    compact = "".join(code.split())
    return "totp" if len(compact) == DIGITS and compact.isdigit() else "recovery_code"


def normal(code: str) -> str:
    """Returns a recovery code as it is hashed: without dashes and spaces, upper case, so
    ``k7qf 2m4x-pz9a-h3tb`` is the same code."""
    return "".join(ch for ch in code.upper() if ch.isalnum())
