"""Dynamic Client Registration Management (RFC 7592): a self-registered client reads,
replaces and deletes its own registration with its registration access token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.auth.client_secret import verify_client_secret
from appward.clients.models import Client
from appward.clients.service import ClientService, IssuedSecret, metadata_of
from appward.clock import Clock
from appward.errors import FieldError, InvalidClient, InvalidClientMetadata, InvalidToken
from appward.hashing import SecretVerifier, token_hash
from appward.registration.models import RegistrationToken, new_bearer
from appward.registration.policy import (
    DCR_FIELDS,
    LOCAL_FIELDS,
    LOCALIZED_NAME,
    RegistrationPolicy,
    Template,
    apply_policy,
    overlay_vetted,
    requested_fields,
)
from appward.registration.software_statement import (
    stored_statement_claims,
    verify_software_statement,
)

RAT_PREFIX = "apwrat_"
REFUSED_TOKEN = "the registration access token is not valid for this client"


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


def registration_metadata(client: Client) -> dict[str, Any]:
    """Returns the client's metadata as a self-registered client sees it: the RFC 7591
    fields only, as stored (after defaults and any down-scoping)."""
    current = metadata_of(client)
    wire = {name: current[name] for name in DCR_FIELDS if name in current}
    for tag, name in (client.client_name_localized or {}).items():
        wire[f"{LOCALIZED_NAME}{tag}"] = name
    return wire


async def issue_registration_token(
    session: AsyncSession,
    clock: Clock,
    client: Client,
    template: Template,
    statement: str | None,
) -> str:
    """Returns the new client's registration access token (only its hash is stored),
    keeping the template and statement its updates stay bound by."""
    token = new_bearer(RAT_PREFIX)
    session.add(
        RegistrationToken(
            client_pk=client.pk,
            token_hash=token_hash(token),
            issued_at=clock.now(),
            template=template.to_json(),
            software_statement=statement,
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True, slots=True)
class RegistrationManagementService:
    session: AsyncSession
    clock: Clock
    clients: ClientService
    policy: RegistrationPolicy
    verifier: SecretVerifier
    audit: AuditLog

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
        requested = requested_fields(body)
        if claims is not None:
            overlay_vetted(requested, claims)
        data = await apply_policy(
            requested,
            self.policy,
            Template.of(record.template),
            bounds=self.clients.bounds,
            session=self.session,
        )
        assert registration_token is not None  # _authorized refused it otherwise
        token = await self._rotate_registration_token(record, registration_token, statement)
        patch: dict[str, Any] = {name: data.get(name) for name in (*DCR_FIELDS, *LOCAL_FIELDS)}
        change = await self.clients.update(
            client_id, patch, expected_revision=None, by_developer=True
        )
        await self.audit.record(EventTag.DCR_REPLACED, client_id=client_id)
        return Registration(change.client, change.secret, token, statement)

    async def delete(self, client_id: str, registration_token: str | None) -> None:
        """Deletes the client: its secrets, tokens and registration access token stop
        working at once. Raises InvalidToken."""
        _, record = await self._authorized(client_id, registration_token)
        await self.session.delete(record)
        await self.clients.delete(client_id)
        await self.audit.record(EventTag.DCR_DELETED, client_id=client_id)

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
        token = new_bearer(RAT_PREFIX)
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

    async def _authorized(
        self, client_id: str, presented: str | None
    ) -> tuple[Client, RegistrationToken]:
        # One answer for a wrong token, another client's token and an unknown client, so
        # a token reveals nothing about registrations other than its own. A client an
        # administrator disabled cannot manage its registration either: it could otherwise
        # change its redirect URIs or auth method and come back, when re-enabled, with
        # metadata no administrator reviewed.
        refused = InvalidToken(REFUSED_TOKEN, missing=not presented)
        if not presented or not presented.isascii() or len(presented) > 200:
            raise refused
        digest = token_hash(presented)
        row = (
            await self.session.execute(
                select(Client, RegistrationToken)
                .join(RegistrationToken, RegistrationToken.client_pk == Client.pk)
                .where(
                    Client.client_id == client_id,
                    Client.deleted_at.is_(None),
                    Client.status == "active",
                )
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
            await verify_client_secret(
                self.session, client.pk, presented, self.verifier, self.clock
            )
        except InvalidClient:
            raise problem from None
