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
