"""Driving the authorization code flow through the server's own pages, as a browser would."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

PASSWORD = "correct horse battery"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def hidden_fields(html: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    return {name: _unescape(value) for name, value in fields}


def _unescape(value: str) -> str:
    return (
        value.replace("&#34;", '"')
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Browser:
    """An httpx client with a cookie jar, logging in and answering consent by form posts."""

    http: httpx.AsyncClient

    async def authorize(self, **params: str) -> httpx.Response:
        return await self.http.get(f"/oauth2/authorize?{urlencode(params)}")

    async def login(
        self, login_page: httpx.Response, username: str, password: str
    ) -> httpx.Response:
        fields = hidden_fields(login_page.text)
        return await self.http.post(
            "/login", data={**fields, "username": username, "password": password}
        )

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        if location.startswith("/"):
            return await self.http.get(location)
        return response

    async def consent_page(
        self, client_id: str, username: str = "alice", password: str = PASSWORD
    ) -> httpx.Response:
        """Starts an authorization request with PKCE, signs in, returns the consent page."""
        _, challenge = pkce_pair()
        login_page = await self.follow(
            await self.authorize(
                response_type="code",
                client_id=client_id,
                code_challenge=challenge,
                code_challenge_method="S256",
            )
        )
        return await self.follow(await self.login(login_page, username, password))

    async def decide(self, consent_page: httpx.Response, decision: str) -> httpx.Response:
        fields = hidden_fields(consent_page.text)
        return await self.http.post("/oauth2/authorize", data={**fields, "decision": decision})

    async def code_for(
        self,
        username: str = "alice",
        password: str = PASSWORD,
        *,
        consent: str = "allow",
        **params: str,
    ) -> dict[str, str]:
        """Runs authorize -> login -> consent and returns the final redirect's query."""
        response = await self.authorize(**params)
        if response.status_code == 303 and response.headers["location"].startswith("/login"):
            login_page = await self.follow(response)
            response = await self.follow(await self.login(login_page, username, password))
        if response.status_code == 200 and 'name="decision"' in response.text:
            response = await self.decide(response, consent)
        assert response.status_code == 303, response.text
        return query_of(response.headers["location"])


async def code_flow_tokens(
    http: httpx.AsyncClient,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    username: str = "alice",
    **params: str,
) -> dict[str, object]:
    """Runs authorize, login, consent and the code exchange (with PKCE) for a confidential
    client; returns the token response, which must be a 200."""
    verifier, challenge = pkce_pair()
    result = await Browser(http).code_for(
        username,
        response_type="code",
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        code_challenge_method="S256",
        **params,
    )
    credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    response = await http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        },
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, object] = response.json()
    return tokens
