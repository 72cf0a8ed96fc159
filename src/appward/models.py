"""Imports every table module so Base.metadata knows the whole schema (Alembic, tests)."""

from appward.audit import AuditEvent
from appward.clients.models import Client, ClientScope, ClientSecret
from appward.scopes import Scope
from appward.tokens.keys import SigningKey

__all__ = ["AuditEvent", "Client", "ClientScope", "ClientSecret", "Scope", "SigningKey"]
