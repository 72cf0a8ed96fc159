"""Audit event tags: what happened, as stable machine-readable names."""

from enum import StrEnum


class EventTag(StrEnum):
    CLIENT_CREATED = "client:created"
    CLIENT_UPDATED = "client:updated"
    CLIENT_DISABLED = "client:disabled"
    CLIENT_ENABLED = "client:enabled"
    CLIENT_DELETED = "client:deleted"
    SECRET_ADDED = "client:secret:added"
    SECRET_EXPIRY_SET = "client:secret:expiry_set"
    SECRET_REVOKED = "client:secret:revoked"
    SCOPE_CREATED = "scope:created"
    SCOPE_UPDATED = "scope:updated"
    SCOPE_DELETED = "scope:deleted"
    USER_CREATED = "user:created"
    DCR_REGISTERED = "dcr:registered"
    DCR_REPLACED = "dcr:replaced"
    DCR_DELETED = "dcr:deleted"
    INITIAL_ACCESS_TOKEN_CREATED = "dcr:initial_access_token:created"
    INITIAL_ACCESS_TOKEN_REVOKED = "dcr:initial_access_token:revoked"


CREDENTIALS_CHANGED = "appward.credentials_changed"


def mark_credentials_changed(session: object, client_id: str) -> None:
    """Notes, on the unit of work, that a client's credentials or policy changed; the
    adapter tells every credential cache once the transaction has committed."""
    info = getattr(session, "info", None)
    if isinstance(info, dict):
        info.setdefault(CREDENTIALS_CHANGED, set()).add(client_id)


def changed_credentials(session: object) -> set[str]:
    """Returns (and forgets) the clients whose credentials this unit of work changed."""
    info = getattr(session, "info", None)
    if not isinstance(info, dict):
        return set()
    changed: set[str] = info.pop(CREDENTIALS_CHANGED, set())
    return changed
