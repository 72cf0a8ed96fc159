"""Initial access tokens (RFC 7591 §3): bearer tokens an administrator hands out to let
someone register clients, each with a template bounding what those clients may get."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clients.metadata import field_errors
from appward.clients.scopes import Scope
from appward.clock import Clock
from appward.errors import FieldError, InvalidInput, InvalidToken, NotFound
from appward.hashing import token_hash
from appward.pagination import check_limit
from appward.registration.models import InitialAccessToken, new_bearer
from appward.registration.policy import Template
from appward.text import unsafe_character
from appward.tokens.grant_types import GRANT_TYPES

IAT_PREFIX = "apwiat_"
MAX_IAT_LIFETIME = 365 * 86400
MAX_IAT_USES = 1_000_000
UNKNOWN_FIELD = "is not a known initial access token field"


@dataclass(frozen=True, slots=True)
class IssuedInitialAccessToken:
    record: InitialAccessToken
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedInitialAccessToken({self.record.id})"


class InitialAccessTokenRequest(BaseModel):
    """What an administrator asks for when creating a token (the admin API's body)."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=100)
    expires_in: StrictInt | None = Field(None, description="Seconds until the token expires.")
    max_uses: StrictInt | None = Field(None, description="Registrations it allows in all.")
    grant_types: list[str] | None = Field(
        None, description="Grant types its clients may have (default: the server's DCR policy)."
    )
    scopes: list[str] | None = Field(
        None, description="Scopes its clients may have (never an admin-only one)."
    )


def parse_initial_access_token_request(data: Any) -> InitialAccessTokenRequest:
    """Returns the request validated. Raises InvalidInput with one FieldError per problem,
    an unknown field named as what it is not: a field of an initial access token."""
    try:
        return InitialAccessTokenRequest.model_validate(data)
    except ValidationError as exc:
        unknown = {str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"}
        problems = [
            FieldError(p.field, UNKNOWN_FIELD) if p.field in unknown else p
            for p in field_errors(exc)
        ]
        raise InvalidInput(_summary(problems), fields=problems) from None


def describe_initial_access_token(record: InitialAccessToken) -> dict[str, Any]:
    """Returns what an administrator may see of a token: everything but the token."""
    return {
        "id": record.id,
        "label": record.label,
        "template": record.template,
        "max_uses": record.max_uses,
        "uses": record.uses,
        "created_by": record.created_by,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
    }


def token_state(record: InitialAccessToken, now: datetime) -> str:
    """Returns whether the token still registers clients: "active", or why not:
    "revoked", "expired" or "used up" (the order ``consume`` refuses them in)."""
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    if record.max_uses is not None and record.uses >= record.max_uses:
        return "used up"
    return "active"


@dataclass(frozen=True, slots=True)
class InitialAccessTokenService:
    session: AsyncSession
    clock: Clock
    audit: AuditLog

    async def create(
        self,
        *,
        label: str | None = None,
        expires_in: int | None = None,
        max_uses: int | None = None,
        grant_types: list[str] | None = None,
        scopes: list[str] | None = None,
    ) -> IssuedInitialAccessToken:
        """Returns a new token; its plaintext is in the result only. Raises InvalidInput."""
        problems = _token_problems(label, expires_in, max_uses, grant_types)
        if scopes is not None:
            problems.extend(await self._scope_problems(scopes))
        if problems:
            raise InvalidInput(_summary(problems), fields=problems)
        now = self.clock.now()
        plaintext = new_bearer(IAT_PREFIX)
        template = Template(
            tuple(dict.fromkeys(grant_types)) if grant_types is not None else None,
            tuple(dict.fromkeys(scopes)) if scopes is not None else None,
        )
        record = InitialAccessToken(
            id=secrets.token_hex(8),
            token_hash=token_hash(plaintext),
            label=label,
            template=template.to_json(),
            max_uses=max_uses,
            uses=0,
            created_by=self.audit.actor.name,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in) if expires_in is not None else None,
        )
        self.session.add(record)
        await self.session.flush()
        await self.audit.record(
            EventTag.DCR_INITIAL_ACCESS_TOKEN_CREATED,
            target=record.id,
            changes={
                "label": label,
                "expires_at": record.expires_at.isoformat() if record.expires_at else None,
                "max_uses": max_uses,
                "template": record.template,
            },
        )
        return IssuedInitialAccessToken(record, plaintext)

    async def all(self, *, limit: int = 200) -> list[InitialAccessToken]:
        """Returns the tokens, newest first, revoked and used-up ones included."""
        check_limit(limit)
        result = await self.session.scalars(
            select(InitialAccessToken)
            .order_by(InitialAccessToken.created_at.desc(), InitialAccessToken.id)
            .limit(limit)
        )
        return list(result)

    async def revoke(self, token_id: str) -> InitialAccessToken:
        """Revokes the token at once; clients it registered stay. Raises NotFound."""
        record = await self.session.get(InitialAccessToken, token_id, with_for_update=True)
        if record is None:
            raise NotFound(f"no initial access token {token_id!r}")
        if record.revoked_at is None:
            record.revoked_at = self.clock.now()
            await self.session.flush()
            await self.audit.record(EventTag.DCR_INITIAL_ACCESS_TOKEN_REVOKED, target=token_id)
        return record

    async def consume(self, presented: str) -> InitialAccessToken:
        """Counts one use of the token, atomically. Raises InvalidToken when it is
        unknown, revoked, expired or used up."""
        refused = InvalidToken("the initial access token is not valid, or used up")
        if not presented.startswith(IAT_PREFIX) or len(presented) > 200:
            raise refused
        now = self.clock.now()
        counted = await self.session.scalar(
            update(InitialAccessToken)
            .where(
                InitialAccessToken.token_hash == token_hash(presented),
                InitialAccessToken.revoked_at.is_(None),
                (InitialAccessToken.expires_at.is_(None)) | (InitialAccessToken.expires_at > now),
                (InitialAccessToken.max_uses.is_(None))
                | (InitialAccessToken.uses < InitialAccessToken.max_uses),
            )
            .values(uses=InitialAccessToken.uses + 1)
            .returning(InitialAccessToken.id)
        )
        if counted is None:
            raise refused
        record = await self.session.get(InitialAccessToken, counted, populate_existing=True)
        assert record is not None
        return record

    async def _scope_problems(self, scopes: list[str]) -> list[FieldError]:
        known = {
            s.name: s.admin_only
            for s in await self.session.scalars(select(Scope).where(Scope.name.in_(scopes)))
        }
        unknown = [s for s in scopes if s not in known]
        reserved = [s for s in scopes if known.get(s)]
        problems = []
        if unknown:
            problems.append(FieldError("scopes", f"not in the registry: {', '.join(unknown)}"))
        if reserved:
            problems.append(
                FieldError(
                    "scopes", f"admin-only, never given by registration: {', '.join(reserved)}"
                )
            )
        return problems


def _token_problems(
    label: str | None, expires_in: int | None, max_uses: int | None, grants: list[str] | None
) -> list[FieldError]:
    problems = []
    if label is not None and (not 1 <= len(label) <= 100 or unsafe_character(label)):
        problems.append(FieldError("label", "must be 1 to 100 printable characters"))
    if expires_in is not None and not 1 <= expires_in <= MAX_IAT_LIFETIME:
        problems.append(FieldError("expires_in", f"must be 1..{MAX_IAT_LIFETIME} seconds"))
    if max_uses is not None and not 1 <= max_uses <= MAX_IAT_USES:
        problems.append(FieldError("max_uses", f"must be 1..{MAX_IAT_USES}"))
    if grants is not None:
        unknown = [g for g in grants if g not in GRANT_TYPES]
        if unknown or not grants:
            problems.append(
                FieldError("grant_types", f"must be a non-empty choice of {', '.join(GRANT_TYPES)}")
            )
    return problems


def _summary(problems: list[FieldError]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems)
