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
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.python import asgi

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
    },
}
FORM = "application/x-www-form-urlencoded"
OAUTH_FORMS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")
CLIENT_FIELDS = frozenset(
    {"client_id", "client_secret", "client_assertion", "client_assertion_type"}
)


@dataclass
class Credentials:
    """What the fuzzer presents, and the real resources it may aim at."""

    admin_token: str
    initial_access_token: str
    # A confidential client_credentials client for the OAuth forms (Basic), and one of its
    # tokens; the admin API is never aimed at it, so it stays usable to the end.
    client_id: str
    client_secret: str
    access_token: str
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
                "client_id": [targets.client_id],
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
    seconds: dict[str, float] = field(default_factory=dict)  # operation and mode -> time
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # operation -> answers

    def summary(self) -> str:
        """One line for the run, then one per operation: its answers by status."""
        answers = Counter[int]()
        for seen in self.statuses.values():
            answers.update(seen)
        lines = [
            f"fuzz: {self.operations} operations, {self.examples} examples, "
            f"{len(self.failures)} failures in {sum(self.seconds.values()):.0f} s; "
            f"answers {dict(sorted(answers.items()))}"
        ]
        lines += [
            f"  {label}: {dict(sorted(seen.items()))}" for label, seen in self.statuses.items()
        ]
        return "\n".join(lines)


def run_fuzz(settings: Settings, clock: FrozenClock, examples: int, only: str = "") -> Outcome:
    """Fuzzes every operation (whose label contains ``only``) with up to ``examples``
    generated requests each, valid and invalid."""
    credentials = asyncio.run(prepare(settings, clock))
    app = create_app(settings, clock=clock)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_dict(CONFIG)
    )
    outcome = Outcome()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if only not in operation.label:
                continue
            outcome.operations += 1
            for mode in _modes(operation):
                started = time.monotonic()
                try:
                    _fuzz_operation(operation, mode, credentials, examples, outcome)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (all reported)
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
    return (
        [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        if negatable
        else [GenerationMode.POSITIVE]
    )


def _fuzz_operation(
    operation: Any, mode: GenerationMode, credentials: Credentials, examples: int, outcome: Outcome
) -> None:
    path = operation.path
    strategy = operation.as_strategy(generation_mode=mode).flatmap(
        lambda case: _aimed(case, mode, credentials)
    )

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
        response = case.call_and_validate(headers=credentials.headers_for(path))
        outcome.statuses.setdefault(operation.label, Counter())[response.status_code] += 1
        _follow(credentials, case, response)

    fuzz()


def _aimed(case: Any, mode: GenerationMode, credentials: Credentials) -> st.SearchStrategy[Any]:
    """The case as generated, or aimed at real resources: the ids of real ones in its
    path; for a valid OAuth form (it must stay valid), only the fields it documents but
    the credentials (the Basic ones are sent: one method only, RFC 6749 §2.3), a real
    access token as ``token``, the client's own grant (client_credentials, no scope)."""
    aimed = {
        name: credentials.known.get(name, [value])
        for name, value in (case.path_parameters or {}).items()
    }
    if case.operation.path.startswith("/oauth2/register/"):
        aimed["client_id"] = [credentials.registered_id]
    form = (
        mode is GenerationMode.POSITIVE
        and case.operation.path in OAUTH_FORMS
        and isinstance(case.body, dict)
    )
    if not aimed and not form:
        return st.just(case)

    def aim(choice: dict[str, str]) -> Any:
        if aimed:
            case.path_parameters = {**case.path_parameters, **choice}
        if form:
            fields = (
                set(
                    case.operation.definition.raw["requestBody"]["content"][FORM]["schema"][
                        "properties"
                    ]
                )
                - CLIENT_FIELDS
            )
            body = {k: v for k, v in case.body.items() if k in fields}
            if "token" in body:
                body["token"] = credentials.access_token
            if case.operation.path == "/oauth2/token":  # the grant this client has
                body = {**body, "grant_type": "client_credentials", "scope": None}
            case.body = {k: v for k, v in body.items() if v is not None}
        return case

    choices = st.fixed_dictionaries({name: st.sampled_from(ids) for name, ids in aimed.items()})
    return st.one_of(st.just(case), choices.map(aim))


def _follow(credentials: Credentials, case: Any, response: Any) -> None:
    """Keeps the credentials and the targets current: every PUT of a registration
    replaces its token, and a deleted target is replaced by a new one, so the operations
    after a DELETE still reach a real resource."""
    path, method = case.operation.path, case.method.upper()
    if method == "PUT" and path.startswith("/oauth2/register/") and response.status_code == 200:
        credentials.registration_token = response.json()["registration_access_token"]
    if method != "DELETE" or response.status_code != 204:
        return
    with asgi.get_client(case.operation.app) as http:
        if path == "/oauth2/register/{client_id}":
            registered = http.post("/oauth2/register", json=WEB_APP).json()
            credentials.registered_id = registered["client_id"]
            credentials.registration_token = registered["registration_access_token"]
            return
        admin = credentials.headers_for("/admin/v1/")
        deleted = case.path_parameters or {}
        if (
            path == "/admin/v1/clients/{client_id}"
            and deleted["client_id"] in credentials.known["client_id"]
        ):
            client = http.post("/admin/v1/clients", json=WEB_APP, headers=admin).json()
            secrets = http.get(f"/admin/v1/clients/{client['client_id']}/secrets", headers=admin)
            credentials.known["client_id"] = [client["client_id"]]
            credentials.known["secret_id"] = [secrets.json()["items"][0]["id"]]
        if (
            path == "/admin/v1/users/{public_id}"
            and deleted["public_id"] in credentials.known["public_id"]
        ):
            user = {"username": f"fuzz-{time.monotonic_ns()}", "password": "long enough pw"}
            created = http.post("/admin/v1/users", json=user, headers=admin).json()
            credentials.known["public_id"] = [created["id"]]
