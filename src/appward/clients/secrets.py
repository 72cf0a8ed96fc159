"""Client secrets: how they are made, recognised and hashed.

A secret reads ``apwcs_<secret id>_<43 random characters>``: the prefix lets secret
scanners spot a leaked one, the embedded id lets the server check exactly one argon2id
hash instead of trying each of a client's secrets in turn, and the random part carries
256 bits from ``secrets``. Only the argon2id hash of the whole string is stored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from appward.errors import ConfirmationRequired, FieldError, InvalidInput

SECRET_PREFIX = "apwcs_"
SECRET_BYTES = 32
_SECRET_SHAPE = re.compile(r"apwcs_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")


def new_secret_id() -> str:
    return secrets.token_hex(8)


def generate_secret(secret_id: str) -> str:
    """Returns a fresh plaintext secret for the secret record ``secret_id``."""
    return f"{SECRET_PREFIX}{secret_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def secret_id_of(presented: str) -> str | None:
    """Returns the secret id a presented secret names, or None if it is not one of ours.

    Shape checks are cheap and public knowledge, so refusing garbage here before any
    argon2 work leaks nothing and keeps floods of junk off the slow path.
    """
    match = _SECRET_SHAPE.fullmatch(presented)
    return match.group(1) if match else None


# Revoking a secret used this recently asks for an explicit confirmation (safe revoke):
# something is very likely still using it.
RECENT_USE = timedelta(hours=24)


def time_since(then: datetime, now: datetime) -> str:
    """Returns how long ago ``then`` was, in hours and minutes ("3 h 12 min")."""
    hours, minutes = divmod(max(0, int((now - then).total_seconds())) // 60, 60)
    return f"{hours} h {minutes} min"


def check_safe_to_revoke(
    secret_id: str, last_used_at: datetime | None, now: datetime, *, confirmed: bool
) -> None:
    """Raises ConfirmationRequired, naming when the secret was last used, when it was used
    within RECENT_USE of ``now`` and the caller did not confirm. A secret never used, or
    not for a day, is revoked without asking."""
    if confirmed or last_used_at is None or not used_recently(last_used_at, now):
        return
    raise ConfirmationRequired(
        f"secret {secret_id} was last used at {last_used_at.isoformat(timespec='seconds')} "
        f"({time_since(last_used_at, now)} ago): whatever uses it will stop working; "
        "confirm to revoke it anyway",
        last_used_at=last_used_at,
    )


# --- how a page states a new secret's expiry and its rotation ---

# A new secret's expiry, as the console and the portal offer it: a number of days, a date
# of one's own, or never.
EXPIRY_PRESET_DAYS = (30, 60, 90, 180)
EXPIRY_CUSTOM = "custom"
EXPIRY_NEVER = "never"
EXPIRY_CHOICES = (*(str(days) for days in EXPIRY_PRESET_DAYS), EXPIRY_CUSTOM, EXPIRY_NEVER)
# What becomes of the client's other secrets when one is added.
OTHERS_KEEP = "keep"
OTHERS_GRACE = "grace"
OTHERS_CHOICES = (OTHERS_KEEP, OTHERS_GRACE)
MAX_SECRET_LIFETIME = timedelta(days=5 * 366)
MAX_GRACE_DAYS = 365
# An expiry this close is shown as a warning: time to rotate.
EXPIRING_SOON = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class NewSecretChoice:
    """A new secret's expiry (None: never) and the grace, in seconds, left to the others
    (None: they stay as they are)."""

    expires_at: datetime | None
    expire_others_in: int | None


def read_new_secret_choice(
    *,
    expiry: str | None,
    expiry_date: str | None,
    others: str | None,
    grace_days: str | None,
    now: datetime,
) -> NewSecretChoice:
    """Returns what a "new secret" form chose: ``expiry`` one of EXPIRY_CHOICES (a
    ``custom`` one on ``expiry_date``, YYYY-MM-DD: the secret stops working at 00:00 UTC
    that day), ``others`` one of OTHERS_CHOICES (``grace``: they expire ``grace_days``
    days from now, 0 to MAX_GRACE_DAYS).

    Raises InvalidInput with one FieldError per bad field (expiry, expiry_date, others,
    grace_days).
    """
    problems: list[FieldError] = []
    expires_at: datetime | None = None
    if expiry not in EXPIRY_CHOICES:
        problems.append(FieldError("expiry", "choose when the new secret expires"))
    elif expiry == EXPIRY_CUSTOM:
        expires_at = _custom_expiry(expiry_date, now, problems)
    elif expiry != EXPIRY_NEVER:
        expires_at = now + timedelta(days=int(expiry))
    expire_others_in: int | None = None
    if others not in OTHERS_CHOICES:
        problems.append(FieldError("others", "choose what happens to the other secrets"))
    elif others == OTHERS_GRACE:
        if grace_days is None or not grace_days.isascii() or not grace_days.isdigit():
            problems.append(FieldError("grace_days", "enter a whole number of days"))
        elif int(grace_days) > MAX_GRACE_DAYS:
            problems.append(FieldError("grace_days", f"at most {MAX_GRACE_DAYS} days"))
        else:
            expire_others_in = int(grace_days) * 86400
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems), fields=problems)
    return NewSecretChoice(expires_at, expire_others_in)


def _custom_expiry(text: str | None, now: datetime, problems: list[FieldError]) -> datetime | None:
    if not text:
        problems.append(FieldError("expiry_date", "enter the date the secret expires"))
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        problems.append(FieldError("expiry_date", "enter a date as YYYY-MM-DD"))
        return None
    expires_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        check_secret_expiry(expires_at, now)
    except InvalidInput as exc:
        problems.extend(FieldError("expiry_date", p.message) for p in exc.fields)
        return None
    return expires_at


def check_secret_expiry(expires_at: datetime | None, now: datetime) -> None:
    """Raises InvalidInput (field expires_at) unless a new secret's expiry is after
    ``now`` and within MAX_SECRET_LIFETIME of it; None (never) is always allowed."""
    if expires_at is None:
        return
    if expires_at <= now:
        message = "must be in the future"
    elif expires_at - now > MAX_SECRET_LIFETIME:
        message = f"must be within {MAX_SECRET_LIFETIME.days} days"
    else:
        return
    raise InvalidInput(f"expires_at {message}", fields=[FieldError("expires_at", message)])


def expires_soon(expires_at: datetime | None, now: datetime) -> bool:
    """Returns whether a secret that still works at ``now`` stops within EXPIRING_SOON:
    time to rotate it."""
    return expires_at is not None and now < expires_at <= now + EXPIRING_SOON


def used_recently(last_used_at: datetime | None, now: datetime) -> bool:
    """Returns whether revoking a secret last used at ``last_used_at`` needs a
    confirmation (check_safe_to_revoke)."""
    return last_used_at is not None and now - last_used_at < RECENT_USE
