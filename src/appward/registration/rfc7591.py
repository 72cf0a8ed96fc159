"""Dynamic Client Registration (RFC 7591): a client registers itself, within the server's
registration policy.

Every rule about metadata is ClientMetadata's and every change goes through
ClientService; this module only runs a registration: who is admitted, what of the
request counts, and the policy's bounds (registration/policy.py) on the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from appward.audit import AuditLog, EventTag
from appward.clients.service import ClientService
from appward.clock import Clock
from appward.errors import NotFound
from appward.registration.initial_access_tokens import InitialAccessTokenService
from appward.registration.models import InitialAccessToken
from appward.registration.policy import (
    RegistrationPolicy,
    Template,
    apply_policy,
    check_admitted,
    overlay_vetted,
    requested_fields,
)
from appward.registration.rfc7592 import Registration, issue_registration_token
from appward.registration.software_statement import (
    statement_issuer,
    verify_software_statement,
)


@dataclass(frozen=True, slots=True)
class RegistrationService:
    session: AsyncSession
    clock: Clock
    clients: ClientService
    initial_access_tokens: InitialAccessTokenService
    policy: RegistrationPolicy
    audit: AuditLog

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
        iat: InitialAccessToken | None = None
        if initial_access_token is not None and "initial_access_token" in modes:
            iat = await self.initial_access_tokens.consume(initial_access_token)
        statement = body.get("software_statement")
        claims = None
        if statement is not None:
            claims = verify_software_statement(
                statement, self.policy.publishers, now=self.clock.now()
            )
        check_admitted(
            self.policy,
            has_token=iat is not None,
            has_statement=claims is not None,
            presented_token=initial_access_token is not None,
        )
        template = Template.of(iat.template) if iat is not None else Template()
        requested = requested_fields(body)
        if claims is not None:
            overlay_vetted(requested, claims)
        data = await apply_policy(
            requested, self.policy, template, bounds=self.clients.bounds, session=self.session
        )
        change = await self.clients.create(data, registration_source="dcr")
        kept_statement = statement if claims is not None else None
        token = await issue_registration_token(
            self.session, self.clock, change.client, template, kept_statement
        )
        await self.audit.record(
            EventTag.DCR_REGISTERED,
            client_id=change.client.client_id,
            changes={
                "initial_access_token": iat.id if iat is not None else None,
                "software_statement_issuer": (
                    statement_issuer(statement) if claims is not None else None
                ),
                "software_id": data.get("software_id"),
            },
        )
        return Registration(change.client, change.secret, token, kept_statement)
