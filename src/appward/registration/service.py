"""RegistrationService: clients registering themselves (RFC 7591) and managing their own
registration (RFC 7592), within the server's registration policy.

Every rule about metadata is ClientMetadata's and every change goes through
ClientService; this module only decides who may register, what of the request counts,
and what policy bounds the result.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.auth.client_secret import verify_client_secret
from appward.clients.metadata import TLS_FIELDS, check_web_uri
from appward.clients.models import Client
from appward.clients.scopes import Scope
from appward.clients.service import ClientService, IssuedSecret, metadata_of
from appward.clock import Clock
from appward.config import RegistrationPolicy
from appward.errors import (
    FieldError,
    InvalidClient,
    InvalidClientMetadata,
    InvalidInput,
    InvalidRedirectUri,
    InvalidSoftwareStatement,
    InvalidToken,
    NotFound,
)
from appward.hashing import SecretVerifier, token_hash
from appward.pagination import check_limit
from appward.registration.models import InitialAccessToken, RegistrationToken
from appward.registration.software_statement import (
    stored_statement_claims,
    verify_software_statement,
)
from appward.text import unsafe_character

# The RFC 7591 §2 fields a client may send about itself (plus OpenID's application_type,
# which decides whether private-use redirect schemes are allowed). Anything else in a
# request, Appward's own policy fields included, is ignored and never stored.
DCR_FIELDS = (
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
    "application_type",
    *TLS_FIELDS,
)
LOCAL_FIELDS = ("client_name_localized",)  # stored under another name than on the wire
LOCALIZED_NAME = "client_name#"  # RFC 7591 §2.2: client_name#<language tag>
IAT_PREFIX = "apwiat_"
REFUSED_TOKEN = "the registration access token is not valid for this client"
RAT_PREFIX = "apwrat_"
MAX_IAT_LIFETIME = 365 * 86400
MAX_IAT_USES = 1_000_000
KNOWN_GRANTS = ("authorization_code", "client_credentials", "refresh_token")


@dataclass(frozen=True, slots=True)
class Registration:
    """A registration as it stands after a request, with credentials issued by it: their
    plaintext exists only here, for one response."""

    client: Client
    secret: IssuedSecret | None = None
    registration_token: str | None = None
    software_statement: str | None = None

    def __repr__(self) -> str:
        return f"Registration({self.client.client_id})"


@dataclass(frozen=True, slots=True)
class IssuedInitialAccessToken:
    record: InitialAccessToken
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedInitialAccessToken({self.record.id})"


@dataclass(frozen=True, slots=True)
class Template:
    """What an initial access token lets its registrations have, beyond the defaults."""

    grant_types: tuple[str, ...] | None = None
    scopes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Template:
        grants, scopes = data.get("grant_types"), data.get("scopes")
        return cls(
            tuple(grants) if grants is not None else None,
            tuple(scopes) if scopes is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.grant_types is not None:
            data["grant_types"] = list(self.grant_types)
        if self.scopes is not None:
            data["scopes"] = list(self.scopes)
        return data


def registration_metadata(client: Client) -> dict[str, Any]:
    """Returns the client's metadata as a self-registered client sees it: the RFC 7591
    fields only, as stored (after defaults and any down-scoping)."""
    current = metadata_of(client)
    wire = {name: current[name] for name in DCR_FIELDS if name in current}
    for tag, name in (client.client_name_localized or {}).items():
        wire[f"{LOCALIZED_NAME}{tag}"] = name
    return wire


def _new_bearer(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class RegistrationService:
    session: AsyncSession
    clock: Clock
    clients: ClientService
    policy: RegistrationPolicy
    verifier: SecretVerifier
    audit: AuditLog

    # --- RFC 7591 ---

    async def register(
        self, body: Mapping[str, Any], *, initial_access_token: str | None
    ) -> Registration:
        """Registers a client from its own request.

        Raises NotFound when registration is closed; InvalidToken for a missing or
        unusable initial access token where one is required; InvalidSoftwareStatement /
        UnapprovedSoftwareStatement; InvalidClientMetadata / InvalidRedirectUri. Nothing
        is stored when it raises.
        """
        modes = self.policy.modes
        if not modes:
            raise NotFound("dynamic client registration is not enabled on this server")
        iat = None
        if initial_access_token is not None and "initial_access_token" in modes:
            iat = await self._consume_initial_access_token(initial_access_token)
        statement = body.get("software_statement")
        claims = None
        if statement is not None:
            claims = verify_software_statement(
                statement, self.policy.publishers, now=self.clock.now()
            )
        self._check_admitted(iat, claims is not None, initial_access_token is not None)
        template = Template.of(iat.template) if iat is not None else Template()
        requested = _requested_fields(body)
        if claims is not None:
            _overlay_vetted(requested, claims)
        data = await self._within_policy(requested, template)
        change = await self.clients.create(data, registration_source="dcr")
        kept_statement = statement if claims is not None else None
        token = await self._issue_registration_token(change.client, template, kept_statement)
        await self.audit.record(
            EventTag.DCR_REGISTERED,
            client_id=change.client.client_id,
            changes={
                "initial_access_token": iat.id if iat is not None else None,
                "software_statement_issuer": _issuer(statement) if claims is not None else None,
                "software_id": data.get("software_id"),
            },
        )
        return Registration(change.client, change.secret, token, kept_statement)

    def _check_admitted(
        self, iat: InitialAccessToken | None, has_statement: bool, presented_token: bool
    ) -> None:
        modes = self.policy.modes
        if "open" in modes:
            return
        if iat is not None or (has_statement and "software_statement" in modes):
            return
        if "initial_access_token" in modes:
            alternative = (
                " or a software statement of a trusted publisher"
                if "software_statement" in modes
                else ""
            )
            raise InvalidToken(
                f"registration needs an initial access token (Authorization: Bearer){alternative}",
                missing=iat is None and not presented_token,
            )
        raise InvalidSoftwareStatement(
            "registration needs a software_statement signed by a trusted publisher"
        )

    # --- RFC 7592 ---

    async def read(self, client_id: str, registration_token: str | None) -> Registration:
        """Returns the registration. Raises InvalidToken unless ``registration_token`` is
        this client's, whether or not the client exists."""
        client, record = await self._authorized(client_id, registration_token)
        return Registration(client, software_statement=record.software_statement)

    async def replace(
        self, client_id: str, registration_token: str | None, body: Mapping[str, Any]
    ) -> Registration:
        """Replaces the client's metadata with ``body`` (fields left out go back to their
        defaults, RFC 7592 §2.2) and rotates the registration access token.

        Raises InvalidToken, InvalidClientMetadata / InvalidRedirectUri.
        """
        client, record = await self._authorized(client_id, registration_token)
        if body.get("client_id") != client_id:
            raise InvalidClientMetadata(
                "the body's client_id must be this registration's (RFC 7592 §2.2)",
                fields=[FieldError("client_id", "missing or different from the URL's")],
            )
        if "client_secret" in body:
            await self._check_current_secret(client, body["client_secret"])
        statement, claims = self._statement_for_update(
            body.get("software_statement"), record.software_statement
        )
        requested = _requested_fields(body)
        if claims is not None:
            _overlay_vetted(requested, claims)
        data = await self._within_policy(requested, Template.of(record.template))
        assert registration_token is not None  # _authorized refused it otherwise
        token = await self._rotate_registration_token(record, registration_token, statement)
        patch: dict[str, Any] = {name: data.get(name) for name in (*DCR_FIELDS, *LOCAL_FIELDS)}
        change = await self.clients.update(client_id, patch, expected_revision=None)
        await self.audit.record(EventTag.DCR_REPLACED, client_id=client_id)
        return Registration(change.client, change.secret, token, statement)

    def _statement_for_update(
        self, presented: object, stored: str | None
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Returns the statement that vouches for the registration after an update, and
        its claims. A registration made with a statement stays under it: an update that
        leaves it out, or sends back the stored one (even expired since), keeps its
        claims on top; a new statement must verify."""
        if presented is None or presented == stored:
            return stored, stored_statement_claims(stored) if stored is not None else None
        claims = verify_software_statement(presented, self.policy.publishers, now=self.clock.now())
        assert isinstance(presented, str)  # verify_software_statement refuses anything else
        return presented, claims

    async def _rotate_registration_token(
        self, record: RegistrationToken, presented: str, statement: str | None
    ) -> str:
        """Replaces the presented token with a new one, on the condition that it is still
        the current one: of concurrent updates with one token, exactly one succeeds."""
        token = _new_bearer(RAT_PREFIX)
        rotated = await self.session.scalar(
            update(RegistrationToken)
            .where(
                RegistrationToken.client_pk == record.client_pk,
                RegistrationToken.token_hash == token_hash(presented),
            )
            .values(
                token_hash=token_hash(token),
                issued_at=self.clock.now(),
                software_statement=statement,
            )
            .returning(RegistrationToken.client_pk)
            .execution_options(synchronize_session=False)
        )
        if rotated is None:
            raise InvalidToken(REFUSED_TOKEN)
        return token

    async def delete(self, client_id: str, registration_token: str | None) -> None:
        """Deletes the client: its secrets, tokens and registration access token stop
        working at once. Raises InvalidToken."""
        _, record = await self._authorized(client_id, registration_token)
        await self.session.delete(record)
        await self.clients.delete(client_id)
        await self.audit.record(EventTag.DCR_DELETED, client_id=client_id)

    async def _authorized(
        self, client_id: str, presented: str | None
    ) -> tuple[Client, RegistrationToken]:
        # One answer for a wrong token, another client's token and an unknown client, so
        # a token reveals nothing about registrations other than its own.
        refused = InvalidToken(REFUSED_TOKEN, missing=not presented)
        if not presented or not presented.isascii() or len(presented) > 200:
            raise refused
        digest = token_hash(presented)
        row = (
            await self.session.execute(
                select(Client, RegistrationToken)
                .join(RegistrationToken, RegistrationToken.client_pk == Client.pk)
                .where(Client.client_id == client_id, Client.deleted_at.is_(None))
                .with_for_update()
            )
        ).first()
        if row is None or not hmac.compare_digest(row[1].token_hash, digest):
            raise refused
        return row[0], row[1]

    async def _check_current_secret(self, client: Client, presented: object) -> None:
        problem = InvalidClientMetadata(
            "client_secret must be the client's current secret, or left out (RFC 7592 §2.2)",
            fields=[FieldError("client_secret", "not a current secret of this client")],
        )
        if not isinstance(presented, str):
            raise problem
        try:
            await verify_client_secret(self.session, client, presented, self.verifier, self.clock)
        except InvalidClient:
            raise problem from None

    # --- policy ---

    async def _within_policy(self, data: dict[str, Any], template: Template) -> dict[str, Any]:
        """Returns ``data`` with the policy applied: refused where it asks for something
        the policy forbids, down-scoped where the policy says so."""
        method = data.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in self.policy.auth_methods:
            raise InvalidClientMetadata(
                f"token_endpoint_auth_method {method!r} is not available to self-registered "
                f"clients; use one of {', '.join(self.policy.auth_methods)}",
                fields=[FieldError("token_endpoint_auth_method", "not allowed by policy")],
            )
        allowed_grants = template.grant_types or self.policy.grant_types
        grants = data.get("grant_types", ["authorization_code"])
        if isinstance(grants, list):
            refused = [g for g in grants if isinstance(g, str) and g not in allowed_grants]
            if refused:
                raise InvalidClientMetadata(
                    f"grant type(s) {', '.join(refused)} not available to this registration; "
                    f"allowed: {', '.join(allowed_grants)}",
                    fields=[FieldError("grant_types", "not allowed by policy")],
                )
        self._check_redirect_uris(data.get("redirect_uris"))
        if isinstance(data.get("scope"), str):
            data["scope"] = await self._granted_scope(data["scope"], template)
            if data["scope"] is None:
                del data["scope"]
        return data

    def _check_redirect_uris(self, uris: object) -> None:
        if not isinstance(uris, list):
            return  # ClientMetadata says what is wrong with it
        limit = self.policy.max_redirect_uris
        if len(uris) > limit:
            raise InvalidRedirectUri(
                f"at most {limit} redirect URIs per self-registered client",
                fields=[FieldError("redirect_uris", f"more than {limit}")],
            )
        problems = []
        for index, uri in enumerate(uris):
            if not isinstance(uri, str):
                continue  # ClientMetadata names the type error
            try:
                # Stricter than for admin-registered clients: no private-use schemes.
                check_web_uri(uri)
            except ValueError as exc:
                problems.append(FieldError(f"redirect_uris[{index}]", f"{uri!r} {exc}"))
        if problems:
            raise InvalidRedirectUri(
                f"{problems[0].field}: {problems[0].message} (self-registered clients)",
                fields=problems,
            )

    async def _granted_scope(self, requested: str, template: Template) -> str | None:
        wanted = list(dict.fromkeys(requested.split()))
        grantable = set(await self._grantable_scopes(template))
        beyond = [s for s in wanted if s not in grantable]
        if beyond and not self.policy.downscope:
            raise InvalidClientMetadata(
                f"scope(s) {', '.join(beyond)} not available to this registration",
                fields=[FieldError("scope", f"not allowed: {', '.join(beyond)}")],
            )
        granted = [s for s in wanted if s in grantable]
        return " ".join(granted) or None

    async def _grantable_scopes(self, template: Template) -> list[str]:
        # Never an admin-only scope, whatever the template or the configuration says.
        names = await self.session.scalars(select(Scope.name).where(Scope.admin_only.is_(False)))
        registry = set(names)
        bound = template.scopes if template.scopes is not None else self.policy.scopes
        return sorted(registry if bound is None else registry & set(bound))

    # --- tokens ---

    async def _issue_registration_token(
        self, client: Client, template: Template, statement: str | None
    ) -> str:
        token = _new_bearer(RAT_PREFIX)
        self.session.add(
            RegistrationToken(
                client_pk=client.pk,
                token_hash=token_hash(token),
                issued_at=self.clock.now(),
                template=template.to_json(),
                software_statement=statement,
            )
        )
        await self.session.flush()
        return token

    async def _consume_initial_access_token(self, presented: str) -> InitialAccessToken:
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


def _overlay_vetted(requested: dict[str, Any], claims: Mapping[str, Any]) -> None:
    """Puts a software statement's metadata over the request's (RFC 7591 §2.3). Where the
    publisher names the client, every name is the publisher's: localized names from the
    request could otherwise show users something else than the vetted name."""
    vetted = _requested_fields(claims)
    if "client_name" in vetted or "client_name_localized" in vetted:
        requested.pop("client_name_localized", None)
    requested.update(vetted)


def _requested_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: data[name] for name in DCR_FIELDS if name in data and data[name] is not None}
    localized = {
        key.removeprefix(LOCALIZED_NAME): value
        for key, value in data.items()
        if isinstance(key, str) and key.startswith(LOCALIZED_NAME)
    }
    if localized:
        fields["client_name_localized"] = localized
    return fields


def _issuer(statement: object) -> str | None:
    try:
        issuer = jwt.decode(str(statement), options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


# --- initial access tokens (admin) ---


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
        plaintext = _new_bearer(IAT_PREFIX)
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
        unknown = [g for g in grants if g not in KNOWN_GRANTS]
        if unknown or not grants:
            problems.append(
                FieldError(
                    "grant_types", f"must be a non-empty choice of {', '.join(KNOWN_GRANTS)}"
                )
            )
    return problems


def _summary(problems: list[FieldError]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


__all__ = [
    "DCR_FIELDS",
    "InitialAccessTokenService",
    "IssuedInitialAccessToken",
    "Registration",
    "RegistrationService",
    "describe_initial_access_token",
    "registration_metadata",
]
