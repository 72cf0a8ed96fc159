"""A client's approval state: whether an administrator let it get tokens yet.

Clients an administrator registers, and those DCR admits (DCR has its own admission
rules: registration/policy.py), are approved at once. A client registered on the developer
portal that asks for a scope marked ``sensitive`` in the registry waits, ``pending``, until
an administrator approves it or rejects it with a reason the developer sees. The policy
module (``check_client_approved``) refuses anything else tokens and authorizations.
"""

from __future__ import annotations

from collections.abc import Collection

from appward.clients.models import Client
from appward.clients.names import client_name_warning
from appward.errors import FieldError, InvalidInput
from appward.text import unsafe_character

APPROVED = "approved"
PENDING = "pending"
REJECTED = "rejected"
APPROVAL_STATES = (APPROVED, PENDING, REJECTED)
# The sources whose clients are reviewed when they ask for a sensitive scope.
REVIEWED_SOURCES = ("portal",)
MAX_REASON = 500
# Sources whose clients registered themselves: nobody vouched for them until an
# administrator marks them verified.
SELF_REGISTERED_SOURCES = ("portal", "dcr")


def needs_approval(registration_source: str, sensitive_scopes: Collection[str]) -> bool:
    """Returns whether a client of ``registration_source`` asking for scopes of which
    ``sensitive_scopes`` are marked sensitive must wait for an administrator's review."""
    return registration_source in REVIEWED_SOURCES and bool(sensitive_scopes)


def initial_approval(registration_source: str, sensitive_scopes: Collection[str]) -> str:
    """Returns the approval state a new client starts in."""
    return PENDING if needs_approval(registration_source, sensitive_scopes) else APPROVED


def check_rejection_reason(reason: object) -> str:
    """Returns the reason, stripped. Raises InvalidInput unless it is 1-500 printable
    characters: the developer reads it, so it must say something."""
    if (
        not isinstance(reason, str)
        or not reason.strip()
        or len(reason) > MAX_REASON
        or unsafe_character(reason) is not None
    ):
        raise InvalidInput(
            f"reason must be 1-{MAX_REASON} printable characters",
            fields=[FieldError("reason", f"1-{MAX_REASON} printable characters, not blank")],
        )
    return reason.strip()


def shows_unverified_notice(client: Client) -> bool:
    """Returns whether consent must warn that the application is unverified: it registered
    itself and no administrator verified it, or its name is deceptive (clients/names.py),
    which no verification excuses."""
    if client_name_warning(client.client_name, client.client_name_localized) is not None:
        return True
    return client.registration_source in SELF_REGISTERED_SOURCES and not client.verified
