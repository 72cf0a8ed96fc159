"""One presenter per resource: the JSON-able shape the admin API answers with, for every
adapter that prints a resource (the admin API, the CLI's ``--json``). Datetimes stay
``datetime`` values for the adapter's encoder; no presenter shows a secret or its hash."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from appward.audit import AuditEvent
from appward.clients.auth_methods import uses_secret
from appward.clients.models import Client, ClientSecret
from appward.clients.names import client_name_warning
from appward.clients.ownership import CoOwner
from appward.clients.scopes import Scope
from appward.clients.secret_encryption import secret_storage
from appward.clients.service import ClientChange, metadata_of
from appward.pagination import Page
from appward.registration.initial_access_tokens import (
    describe_initial_access_token as present_initial_access_token,
)
from appward.users.models import OneTimeLink, User

T = TypeVar("T")
Presented = dict[str, Any]

__all__ = [
    "client_secret_expires_at",
    "present_audit_event",
    "present_client",
    "present_client_change",
    "present_initial_access_token",
    "present_items",
    "present_new_secret",
    "present_page",
    "present_scope",
    "present_secret",
    "present_user",
]


def present_items(items: Iterable[T], present: Callable[[T], Presented]) -> Presented:
    """Returns a whole collection: ``{"items": [...]}``."""
    return {"items": [present(item) for item in items]}


def present_page(page: Page[T], present: Callable[[T], Presented]) -> Presented:
    """Returns one page of a collection, with the cursor of the next page (or None)."""
    return {"items": [present(item) for item in page.items], "next_cursor": page.next_cursor}


# --- clients ---


def present_client(client: Client) -> Presented:
    """Returns the client's record: its RFC 7591 metadata and what the registry keeps."""
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "status": client.status,
        "registration_source": client.registration_source,
        "owner": client.owner,
        "approval": client.approval,
        "rejection_reason": client.rejection_reason,
        "verified": client.verified,
        "may_introspect_others": client.may_introspect_others,
        # How its secrets are kept: argon2id hashes, or AES-256-GCM ciphertexts for a
        # method that needs the plaintext (client_secret_jwt); None: it has no secrets.
        "secret_storage": (
            secret_storage(client.token_endpoint_auth_method)
            if uses_secret(client.token_endpoint_auth_method)
            else None
        ),
        "name_warning": client_name_warning(client.client_name, client.client_name_localized),
        "tokens_not_before": client.tokens_not_before,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
        "revision": client.revision,
        "metadata": metadata_of(client),
    }


def present_client_change(change: ClientChange) -> Presented:
    """Returns the changed client, with the id and expiry of the secret the change issued
    (None when it issued none). The secret itself is the caller's to add, once, as
    ``client_secret``."""
    secret = change.secret.record if change.secret is not None else None
    return {
        **present_client(change.client),
        "client_secret_id": secret.id if secret else None,
        "client_secret_expires_at": client_secret_expires_at(secret) if secret else None,
    }


def client_secret_expires_at(secret: ClientSecret) -> int:
    """Returns RFC 7591 §3.2.1's ``client_secret_expires_at``: epoch seconds, 0 for never."""
    return int(secret.expires_at.timestamp()) if secret.expires_at else 0


# --- secrets ---


def present_secret(secret: ClientSecret, now: datetime) -> Presented:
    """Returns what may be seen of a secret at ``now``: never its value or its hash."""
    return {
        "id": secret.id,
        "label": secret.label,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "revoked_at": secret.revoked_at,
        "last_used_at": secret.last_used_at,
        "usable": secret.is_usable(now),
    }


def present_new_secret(secret: ClientSecret, now: datetime) -> Presented:
    """Returns a secret just added, with its RFC 7591 expiry. The secret itself is the
    caller's to add, once, as ``client_secret``."""
    return {
        **present_secret(secret, now),
        "client_secret_expires_at": client_secret_expires_at(secret),
    }


# --- scopes, users, audit ---


def present_scope(scope: Scope) -> Presented:
    return {
        "name": scope.name,
        "description": scope.description,
        "admin_only": scope.admin_only,
        "sensitive": scope.sensitive,
        "created_at": scope.created_at,
        "updated_at": scope.updated_at,
    }


def present_user(user: User) -> Presented:
    """Returns an account, named by its public id (its tokens' ``sub``; the internal
    integer id is never shown): never the password's hash."""
    return {
        "id": user.public_id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "email_verified_at": user.email_verified_at,
        "role": user.role,
        "disabled_at": user.disabled_at,
        "created_at": user.created_at,
    }


def present_audit_event(event: AuditEvent) -> Presented:
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "client_id": event.client_id,
        "target": event.target,
        "changes": event.changes,
        "source_ip": event.source_ip,
    }


# --- the developer portal ("portal"): co-owners and invitations ---


def present_co_owner(owner: CoOwner) -> Presented:
    """Returns one of a client's owners or viewers: the account's public id, name and
    address, and its role."""
    return {
        "id": owner.user.public_id,
        "username": owner.user.username,
        "email": owner.user.email,
        "role": owner.role.value,
        "added_at": owner.added_at,
    }


def present_invitation(link: OneTimeLink) -> Presented:
    """Returns an invitation: never its link (only the token's hash is kept)."""
    return {
        "id": link.id,
        "email": link.email,
        "created_at": link.created_at,
        "created_by": link.created_by,
        "expires_at": link.expires_at,
    }
