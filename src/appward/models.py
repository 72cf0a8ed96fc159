"""Imports every table module so Base.metadata knows the whole schema (Alembic, tests)."""

from appward.audit import AuditEvent
from appward.auth.models import ClientKeyUse, UsedJti
from appward.clients.models import Client, ClientScope, ClientSecret
from appward.clients.ownership import ClientOwner
from appward.clients.scopes import Scope
from appward.registration.models import InitialAccessToken, RegistrationToken
from appward.tokens.keys import SigningKey
from appward.tokens.models import AuthorizationCode, Grant, RefreshToken, RevokedAccessToken
from appward.users.models import Consent, User, UserSession

__all__ = [
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "ClientKeyUse",
    "ClientOwner",
    "ClientScope",
    "ClientSecret",
    "Consent",
    "Grant",
    "InitialAccessToken",
    "RefreshToken",
    "RegistrationToken",
    "RevokedAccessToken",
    "Scope",
    "SigningKey",
    "UsedJti",
    "User",
    "UserSession",
]
