"""Client secrets: how they are made, recognised and hashed.

A secret reads ``apwcs_<secret id>_<43 random characters>``: the prefix lets secret
scanners spot a leaked one, the embedded id lets the server check exactly one argon2id
hash instead of trying each of a client's secrets in turn, and the random part carries
256 bits from ``secrets``. Only the argon2id hash of the whole string is stored.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from appward.errors import ConfirmationRequired

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


def check_safe_to_revoke(
    secret_id: str, last_used_at: datetime | None, now: datetime, *, confirmed: bool
) -> None:
    """Raises ConfirmationRequired, naming when the secret was last used, when it was used
    within RECENT_USE of ``now`` and the caller did not confirm. A secret never used, or
    not for a day, is revoked without asking."""
    if confirmed or last_used_at is None or now - last_used_at >= RECENT_USE:
        return
    ago = now - last_used_at
    hours, minutes = divmod(int(ago.total_seconds()) // 60, 60)
    raise ConfirmationRequired(
        f"secret {secret_id} was last used at {last_used_at.isoformat(timespec='seconds')} "
        f"({hours} h {minutes} min ago): whatever uses it will stop working; "
        "confirm to revoke it anyway",
        last_used_at=last_used_at,
    )
