"""Schemathesis against the app's own OpenAPI document (/openapi.json), in-process.

Every operation of the document (the admin API, Dynamic Client Registration, the OAuth
endpoints) gets generated requests, each sent through the app's ASGI interface with the
credentials it needs to get past authentication (an admin token, an initial access
token, a registration access token, a client's Basic credentials), and every answer is
checked against the document: no 5xx, documented status, media type, headers and body.

Path parameters are sometimes swapped for the ids of real resources (and the OAuth form
fields for real tokens), so the fuzzer reaches the handlers behind the lookups too.

``run_fuzz`` is shared by the bounded test in ``make test`` (tests/functional/test_fuzz.py)
and the longer ``make fuzz``; APPWARD_FUZZ_EXAMPLES sets the examples per operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.python import asgi
from fastapi import FastAPI

from appward.clock import FrozenClock
from appward.config import Settings
from appward.web.app import create_app
from tests.factories import SERVICE, WEB_APP, basic
from tests.functional.conftest import create_admin_targets, open_api

# Every check schemathesis has, but one: schema-valid is not valid. An unknown client_id,
# a made-up code or a random token is well-formed and rightly refused (400 invalid_grant,
# the error page of /oauth2/authorize), which no schema can tell from the real ones.
# A request the schema forbids may also be refused as too large (413, documented).
# The fuzzer sends the credentials itself (Credentials.headers_for): a request without
# them is the admin API's and the endpoints' own tests' business (test_admin_auth.py,
# test_openapi.py). An unknown query parameter is ignored, as HTTP has it.
CONFIG = {
    "generation": {"with-security-parameters": False, "allow-extra-parameters": False},
    "checks": {
        "positive_data_acceptance": {"enabled": False},
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "428", "429"]
        },
    }
}
OAUTH_FORMS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")


@dataclass
class Credentials:
    """What the fuzzer presents, and the real resources it may aim at."""

    admin_token: str
    initial_access_token: str
    client_id: str  # a confidential client_credentials client (Basic)
    client_secret: str
    access_token: str  # one of that client's tokens
    registered_id: str  # a client registered through DCR
    registration_token: str  # its registration access token (changes on every PUT)
    known: dict[str, list[str]] = field(default_factory=dict)  # path parameter -> ids

    def headers_for(self, path: str) -> dict[str, str]:
        if path.startswith("/admin/v1/"):
            return {"Authorization": f"Bearer {self.admin_token}"}
        if path == "/oauth2/register":
            return {"Authorization": f"Bearer {self.initial_access_token}"}
        if path.startswith("/oauth2/register/"):
            return {"Authorization": f"Bearer {self.registration_token}"}
        if path in OAUTH_FORMS:
            return basic(self.client_id, self.client_secret)
        return {}


async def prepare(settings: Settings, clock: FrozenClock) -> Credentials:
    """Creates the admin, the targets, a client with a token and a registered client."""
    async with open_api(settings, clock) as api:
        targets = await create_admin_targets(api)
        service = (await api.post("/admin/v1/clients", SERVICE)).json()
        token = await api.client_credentials(service["client_id"], service["client_secret"])
        assert token.status_code == 200, token.text
        initial = await api.post("/admin/v1/initial-access-tokens", {})
        assert initial.status_code == 201, initial.text
        registered = await api.http.post("/oauth2/register", json=WEB_APP)
        assert registered.status_code == 201, registered.text
        return Credentials(
            admin_token=api.admin_token,
            initial_access_token=initial.json()["token"],
            client_id=service["client_id"],
            client_secret=service["client_secret"],
            access_token=token.json()["access_token"],
            registered_id=registered.json()["client_id"],
            registration_token=registered.json()["registration_access_token"],
            known={
                "client_id": [targets.client_id, service["client_id"]],
                "secret_id": [targets.secret_id],
                "name": [targets.name],
                "token_id": [targets.token_id],
                "public_id": [targets.public_id],
            },
        )


@dataclass
class Outcome:
    operations: int = 0
    examples: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run_fuzz(settings: Settings, clock: FrozenClock, examples: int) -> Outcome:
    """Fuzzes every operation with up to ``examples`` generated requests each."""
    credentials = asyncio.run(prepare(settings, clock))
    app = create_app(settings, clock=clock)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_dict(CONFIG)
    )
    outcome = Outcome()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            outcome.operations += 1
            for mode in _modes(operation):
                started = time.monotonic()
                try:
                    _fuzz_operation(operation, mode, credentials, examples, outcome)
                except (Exception, BaseExceptionGroup) as exc:  # every failure, all at once
                    outcome.failures.append(f"{operation.label} ({mode.value}): {exc}")
                outcome.seconds[f"{operation.label} ({mode.value})"] = time.monotonic() - started
    finally:
        asgi.shutdown_lifespans()
    return outcome


def _modes(operation: Any) -> list[GenerationMode]:
    """Valid requests for every operation; invalid ones where there is something to get
    wrong (any string is a valid path parameter here, so one without a query, a header or
    a body has no invalid request)."""
    raw = operation.definition.raw
    negatable = "requestBody" in raw or any(p["in"] != "path" for p in raw.get("parameters", []))
    return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if negatable else [GenerationMode.POSITIVE]


def _fuzz_operation(
    operation: Any, mode: GenerationMode, credentials: Credentials, examples: int, outcome: Outcome
) -> None:
    path = operation.path
    strategy = operation.as_strategy(generation_mode=mode).flatmap(lambda case: _aimed(case, credentials))

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(strategy)
    def fuzz(case: Any) -> None:
        outcome.examples += 1
        response = case.call_and_validate(
            headers=credentials.headers_for(path)
        )
        _follow(credentials, case, response)

    fuzz()


def _aimed(case: Any, credentials: Credentials) -> st.SearchStrategy[Any]:
    """The case as generated, or aimed at real resources: the ids of real ones in its
    path, a real access token in an OAuth form's ``token``."""
    aimed = {
        name: credentials.known.get(name, [value])
        for name, value in (case.path_parameters or {}).items()
    }
    if case.operation.path.startswith("/oauth2/register/"):
        aimed["client_id"] = [credentials.registered_id]
    real_token = isinstance(case.body, dict) and "token" in case.body
    if not aimed and not real_token:
        return st.just(case)

    def aim(choice: dict[str, str]) -> Any:
        if aimed:
            case.path_parameters = {**case.path_parameters, **choice}
        if real_token:
            case.body = {**case.body, "token": credentials.access_token}
        return case

    choices = st.fixed_dictionaries({name: st.sampled_from(ids) for name, ids in aimed.items()})
    return st.one_of(st.just(case), choices.map(aim))


def _follow(credentials: Credentials, case: Any, response: Any) -> None:
    """Keeps the registration access token current: every PUT replaces it."""
    if case.method.upper() == "PUT" and case.operation.path.startswith("/oauth2/register/"):
        if response.status_code == 200:
            credentials.registration_token = response.json()["registration_access_token"]
