"""What a request presented as proof of a client's identity, and the shape of a method's
check of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from appward.clients.models import Client, ClientSecret
from appward.clock import Clock
from appward.hashing import SecretVerifier


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    """What a request offered as proof: the method it used, the client_id and the secret."""

    method: str
    client_id: str
    secret: str | None = None

    def __repr__(self) -> str:
        # Never the secret: this object reaches log lines and exception details.
        return f"PresentedCredentials({self.method!r}, {self.client_id!r})"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What a method's check may use besides the request: the database and the verifiers."""

    session: AsyncSession
    verifier: SecretVerifier
    clock: Clock


class Authenticate(Protocol):
    """Checks the proof ``presented`` for ``client``, the record of the client it names,
    whose registered method is ``presented.method``.

    Returns the secret record the proof matched (for the credential cache and last-used
    time), or None for a method whose proof is not a stored secret. Raises InvalidClient
    when the proof does not hold.
    """

    async def __call__(
        self, client: Client, presented: PresentedCredentials, context: AuthContext
    ) -> ClientSecret | None: ...
