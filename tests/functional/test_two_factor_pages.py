"""The second factor through the pages: enrolment on /account/two-factor (QR code, seed,
recovery codes shown once), sign-in in two steps (the password step starts no session;
the code step does), wrong, old and reused codes, recovery codes, regenerating and
removing, and the console's requirement sending an admin to enrol and back."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pyotp
import pytest

from appward.users.totp import normal
from tests.auth_helpers import (
    audit_text,
    code_now,
    code_step,
    create_account,
    enrol,
    events,
    flushed_redis,
    password_step,
    sign_in,
)
from tests.functional.conftest import open_api
from tests.oauth_helpers import PASSWORD, hidden_fields, pkce_pair, query_of

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["database", "redis"])
async def api(request, settings, clock):
    """The app with its sessions (and throttling counts) in the database and memory, or
    in Redis: the sign-in steps and the sessions a reset ends behave the same on both."""
    if request.param == "redis":
        settings = settings.model_copy(update={"redis_url": flushed_redis()})
    async with open_api(settings, clock) as opened:
        yield opened


def _seed_of(html: str) -> str:
    match = re.search(r'<code id="totp-seed">([A-Z2-7 ]+)</code>', html)
    assert match, html
    return match.group(1).replace(" ", "")


def _codes_of(html: str) -> list[str]:
    block = html.split('id="recovery-codes"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r"<code>([A-Z2-7-]+)</code>", block)


async def _enrol_through_pages(http, clock, next: str | None = None) -> tuple[str, list[str]]:
    page = await http.get("/account/two-factor", params={"next": next} if next else None)
    assert page.status_code == 200
    started = await http.post("/account/two-factor/start", data=hidden_fields(page.text))
    assert started.status_code == 303
    pending = await http.get(started.headers["location"])
    seed = _seed_of(pending.text)
    confirmed = await http.post(
        "/account/two-factor/confirm",
        data={**hidden_fields(pending.text), "password": PASSWORD, "code": code_now(seed, clock)},
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(30)
    return seed, _codes_of(confirmed.text)


async def _gallery(api) -> dict:
    response = await api.post(
        "/admin/v1/clients",
        {"client_name": "Gallery", "redirect_uris": ["https://gallery.example/cb"]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _authorize_url(client_id: str, **extra: str) -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "xyz",
        **extra,
    }
    return f"/oauth2/authorize?{urlencode(params)}"


# --- enrolment ---


async def test_enrolment_shows_a_qr_code_and_the_seed_then_the_recovery_codes_once(api, clock):
    await create_account(api, "alice")
    await sign_in(api.http, "alice")
    off = await api.http.get("/account")
    assert "Two-factor sign-in is off" in off.text
    assert 'action="/account/two-factor/start"' in off.text  # set up from /account
    started = await api.http.post("/account/two-factor/start", data=hidden_fields(off.text))
    assert started.headers["location"] == "/account/two-factor"
    pending = await api.http.get(started.headers["location"])
    assert pending.headers["cache-control"] == "no-store"
    # The QR code is inline SVG (no data: image, no CSP change), the seed text beside it.
    assert '<svg width="' in pending.text
    assert 'class="segno"' in pending.text
    assert "data:" not in pending.text
    assert "img-src 'self'" in pending.headers["content-security-policy"]
    seed = _seed_of(pending.text)
    assert len(seed) == 32
    # Until confirmed, the same seed is shown again (the set-up survives a reload).
    assert _seed_of((await api.http.get("/account/two-factor")).text) == seed
    confirmed = await api.http.post(
        "/account/two-factor/confirm",
        data={
            **hidden_fields(pending.text),
            "password": PASSWORD,
            "code": pyotp.TOTP(seed).at(clock.now()),
        },
    )
    assert confirmed.status_code == 200
    assert confirmed.headers["cache-control"] == "no-store"
    codes = _codes_of(confirmed.text)
    assert len(codes) == 10
    on = await api.http.get("/account/two-factor")
    assert "Two-factor sign-in is <strong>on</strong>" in on.text
    assert "10 recovery codes left" in on.text
    assert not any(code in on.text for code in codes)  # shown once only
    assert (
        "Two-factor sign-in is on (10 recovery codes left)" in (await api.http.get("/account")).text
    )
    [enrolled] = await events(api.app, "account:totp:enrolled")
    assert enrolled.target == "alice"
    text = await audit_text(api.app)
    assert seed not in text
    assert not any(normal(c) in text or c in text for c in codes)


async def test_a_wrong_enrolment_code_is_refused_and_the_set_up_is_kept(api, clock):
    await create_account(api, "bob")
    await sign_in(api.http, "bob")
    page = await api.http.get("/account/two-factor")
    started = await api.http.post("/account/two-factor/start", data=hidden_fields(page.text))
    pending = await api.http.get(started.headers["location"])
    seed = _seed_of(pending.text)
    wrong = str((int(code_now(seed, clock)) + 1) % 1_000_000).zfill(6)
    for code in (wrong, "", "abcdef", "1" * 500):
        refused = await api.http.post(
            "/account/two-factor/confirm",
            data={**hidden_fields(pending.text), "password": PASSWORD, "code": code},
        )
        assert refused.status_code == 422
        assert 'id="code-error"' in refused.text
        assert "does not match" in refused.text
        assert _seed_of(refused.text) == seed
    assert "is off" in (await api.http.get("/account")).text


async def test_enrolment_goes_back_only_to_a_safe_next(api, clock):
    await create_account(api, "cora")
    await sign_in(api.http, "cora")
    page = await api.http.get("/account/two-factor", params={"next": "https://evil.example/"})
    assert hidden_fields(page.text)["next"] == "/account"
    page = await api.http.get("/account/two-factor", params={"next": "/console/scopes"})
    assert hidden_fields(page.text)["next"] == "/console/scopes"
    started = await api.http.post("/account/two-factor/start", data=hidden_fields(page.text))
    assert started.headers["location"] == "/account/two-factor?next=%2Fconsole%2Fscopes"
    pending = await api.http.get(started.headers["location"])
    confirmed = await api.http.post(
        "/account/two-factor/confirm",
        data={
            **hidden_fields(pending.text),
            "password": PASSWORD,
            "code": code_now(_seed_of(pending.text), clock),
        },
    )
    assert 'href="/console/scopes" id="continue"' in confirmed.text


@pytest.fixture
async def strict_api(settings, clock):
    """The app with the console's second-factor requirement on."""
    async with open_api(settings.model_copy(update={"console_require_2fa": True}), clock) as api:
        yield api


async def test_the_console_sends_an_admin_to_enrol_and_back(strict_api, clock):
    api = strict_api
    await create_account(api, "ada", role="admin")
    await sign_in(api.http, "ada")
    sent = await api.http.get("/console")
    assert sent.headers["location"] == "/account/two-factor?next=%2Fconsole"
    page = await api.http.get(sent.headers["location"])
    assert "The console asks administrators for a second factor" in page.text
    started = await api.http.post("/account/two-factor/start", data=hidden_fields(page.text))
    pending = await api.http.get(started.headers["location"])
    confirmed = await api.http.post(
        "/account/two-factor/confirm",
        data={
            **hidden_fields(pending.text),
            "password": PASSWORD,
            "code": code_now(_seed_of(pending.text), clock),
        },
    )
    assert 'href="/console" id="continue"' in confirmed.text
    assert (await api.http.get("/console")).headers["location"] == "/console/clients"


# --- signing in with a second factor ---


async def test_the_password_step_starts_no_session_anywhere(api, clock):
    """A pending sign-in is no way in: not the account page, the console, nor
    /authorize (with prompt=none, login_required)."""
    await create_account(api, "dora", role="admin")
    await enrol(api.app, "dora", clock)
    client = await _gallery(api)
    step = await password_step(api.http, "dora")
    assert step.status_code == 200
    assert "Enter your code" in step.text
    assert "set-cookie" not in step.headers  # the browser's cookie stays the anonymous one
    assert step.headers["cache-control"] == "no-store"
    assert (await api.http.get("/account")).headers["location"].startswith("/login?")
    assert (await api.http.get("/account/two-factor")).headers["location"].startswith("/login")
    assert (await api.http.get("/console")).headers["location"].startswith("/login?")
    silent = await api.http.get(_authorize_url(client["client_id"], prompt="none"))
    assert silent.status_code == 303
    assert query_of(silent.headers["location"])["error"] == "login_required"
    interactive = await api.http.get(_authorize_url(client["client_id"]))
    assert interactive.headers["location"].startswith("/login?")
    assert await events(api.app, "account:signed_in") == []


async def test_the_code_step_signs_in_and_the_next_survives(api, clock):
    await create_account(api, "erin")
    seed, _ = await enrol(api.app, "erin", clock)
    client = await _gallery(api)
    authorize = await api.http.get(_authorize_url(client["client_id"]))
    login_page = await api.http.get(authorize.headers["location"])
    next_url = hidden_fields(login_page.text)["next"]
    step = await api.http.post(
        "/login", data={**hidden_fields(login_page.text), "username": "erin", "password": PASSWORD}
    )
    assert step.status_code == 200
    # The code page still says which application the sign-in is for, and lets its form
    # go on to the client, as the login page does.
    assert 'to continue to <strong id="continue-to-name">Gallery</strong>' in step.text
    assert "https://gallery.example" in step.headers["content-security-policy"]
    assert hidden_fields(step.text)["next"] == next_url
    done = await code_step(api.http, step, code_now(seed, clock))
    assert done.status_code == 303
    assert done.headers["location"] == next_url
    assert "appward_session=" in done.headers["set-cookie"]
    assert (await api.http.get("/account")).status_code == 200
    [event] = await events(api.app, "account:signed_in")
    assert event.changes["second_factor"] == "totp"


async def test_wrong_old_and_reused_codes_are_refused(api, clock):
    await create_account(api, "fay")
    seed, _ = await enrol(api.app, "fay", clock)
    totp = pyotp.TOTP(seed)
    step = await password_step(api.http, "fay")
    now = clock.now()
    old = totp.at(now.timestamp() - 90)  # three steps ago: past the allowed drift
    future = totp.at(now.timestamp() + 90)
    wrong = str((int(totp.at(now)) + 1) % 1_000_000).zfill(6)
    for code in (wrong, old, future, "", "12345", "not a code", "9" * 300):
        refused = await code_step(api.http, step, code)
        assert refused.status_code == 401, code
        assert 'id="code-error"' in refused.text
        assert "wrong, expired or already used" in refused.text
        assert (await api.http.get("/account")).status_code == 303
    current = totp.at(now)
    assert (await code_step(api.http, step, current)).status_code == 303
    # Signed out and in again within the same 30 s: that code is spent.
    await api.http.post("/logout", data=hidden_fields((await api.http.get("/account")).text))
    again = await password_step(api.http, "fay")
    assert (await code_step(api.http, again, current)).status_code == 401
    failed = await events(api.app, "account:sign_in_failed")
    assert [e.changes["reason"] for e in failed] == ["wrong_second_factor"] * 8
    text = await audit_text(api.app)
    assert current not in text
    assert wrong not in text
    assert old not in text


async def test_a_recovery_code_signs_in_once(api, clock):
    await create_account(api, "gus")
    _, codes = await enrol(api.app, "gus", clock)
    step = await password_step(api.http, "gus")
    # Case and dashes do not matter when typing one.
    done = await code_step(api.http, step, codes[0].lower().replace("-", " "))
    assert done.status_code == 303
    [signed_in] = await events(api.app, "account:signed_in")
    assert signed_in.changes["second_factor"] == "recovery_code"
    [used] = await events(api.app, "account:recovery_code:used")
    assert used.target == "gus"
    await api.http.post("/logout", data=hidden_fields((await api.http.get("/account")).text))
    again = await password_step(api.http, "gus")
    assert (await code_step(api.http, again, codes[0])).status_code == 401
    assert codes[0] not in await audit_text(api.app)


async def test_a_pending_sign_in_expires_and_is_bound_to_its_browser(api, clock):
    await create_account(api, "hal")
    seed, _ = await enrol(api.app, "hal", clock)
    step = await password_step(api.http, "hal")
    fields = hidden_fields(step.text)
    # Another browser (another cookie), given the whole form, gets nowhere.
    api.http.cookies.clear()
    other = await api.http.get("/login")
    stolen = await api.http.post(
        "/login/code",
        data={**fields, "csrf": hidden_fields(other.text)["csrf"], "code": code_now(seed, clock)},
    )
    assert stolen.status_code == 400
    assert "sign in again" in stolen.text
    assert (await api.http.get("/account")).status_code == 303
    # A forged token for the account, or a mangled one, neither.
    step = await password_step(api.http, "hal")
    fields = hidden_fields(step.text)
    public_id, expires, mac = fields["pending"].split(".")
    for forged in (
        f"{public_id}.{int(expires) + 3600}.{mac}",
        f"{public_id}.{expires}.{'0' * 64}",
        "garbage",
        "",
        "a" * 5000,
    ):
        refused = await api.http.post(
            "/login/code", data={**fields, "pending": forged, "code": code_now(seed, clock)}
        )
        assert refused.status_code == 400, forged
    # Five minutes later, the pending sign-in is over.
    clock.advance(301)
    late = await api.http.post("/login/code", data={**fields, "code": code_now(seed, clock)})
    assert late.status_code == 400
    assert (await api.http.get("/account")).status_code == 303


async def test_the_code_step_keeps_to_the_csrf_check(api, clock):
    await create_account(api, "ian")
    seed, _ = await enrol(api.app, "ian", clock)
    step = await password_step(api.http, "ian")
    fields = hidden_fields(step.text)
    refused = await api.http.post(
        "/login/code", data={**fields, "csrf": "x", "code": code_now(seed, clock)}
    )
    assert refused.status_code == 400
    assert (await api.http.get("/account")).status_code == 303


@pytest.fixture
async def tight_api(settings, clock):
    """The app with a low per-username failure limit."""
    tight = settings.model_copy(update={"login_failures_per_username": 3})
    async with open_api(tight, clock) as api:
        yield api


async def test_wrong_codes_are_throttled_like_passwords(tight_api, clock):
    api = tight_api
    await create_account(api, "jo")
    seed, _ = await enrol(api.app, "jo", clock)
    step = await password_step(api.http, "jo")  # the password step counts too
    for _ in range(2):
        assert (await code_step(api.http, step, "000000")).status_code == 401
    throttled = await code_step(api.http, step, code_now(seed, clock))
    assert throttled.status_code == 429
    assert "too many failed sign-ins" in throttled.text
    assert "retry-after" in throttled.headers
    assert (await api.http.get("/account")).status_code == 303


async def test_a_right_code_after_a_right_password_clears_the_count(tight_api, clock):
    api = tight_api
    await create_account(api, "kim")
    seed, _ = await enrol(api.app, "kim", clock)
    for _ in range(3):
        step = await password_step(api.http, "kim")
        assert (await code_step(api.http, step, code_now(seed, clock))).status_code == 303
        await api.http.post("/logout", data=hidden_fields((await api.http.get("/account")).text))
        clock.advance(30)


# --- managing the second factor ---


async def test_new_recovery_codes_replace_the_old_ones(api, clock):
    await create_account(api, "lea")
    seed, old_codes = await enrol(api.app, "lea", clock)
    await sign_in(api.http, "lea", seed=seed, clock=clock)
    assert 'id="regenerate-codes"' in (await api.http.get("/account")).text  # offered there
    page = await api.http.get("/account/two-factor")
    assert 'data-confirm="Make new recovery codes?' in page.text
    made = await api.http.post(
        "/account/two-factor/recovery-codes",
        data={**hidden_fields(page.text), "codes_proof": PASSWORD},
    )
    assert made.status_code == 200
    new_codes = _codes_of(made.text)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    await api.http.post("/logout", data=hidden_fields((await api.http.get("/account")).text))
    step = await password_step(api.http, "lea")
    assert (await code_step(api.http, step, old_codes[1])).status_code == 401
    assert (await code_step(api.http, step, new_codes[1])).status_code == 303
    assert len(await events(api.app, "account:recovery_codes:regenerated")) == 1


async def test_removing_the_second_factor_asks_for_a_code_or_the_password(api, clock):
    await create_account(api, "max")
    seed, _ = await enrol(api.app, "max", clock)
    await sign_in(api.http, "max", seed=seed, clock=clock)
    clock.advance(30)
    page = await api.http.get("/account/two-factor")
    assert 'data-confirm="Remove two-factor sign-in?' in page.text
    fields = hidden_fields(page.text)
    for proof in ("", "wrong password here", "000000"):
        refused = await api.http.post("/account/two-factor/remove", data={**fields, "proof": proof})
        assert refused.status_code == 400
        assert 'id="proof-error"' in refused.text
        assert "neither a current code nor your password" in refused.text
    assert "is on" in (await api.http.get("/account")).text
    removed = await api.http.post(
        "/account/two-factor/remove", data={**fields, "proof": code_now(seed, clock)}
    )
    assert removed.headers["location"] == "/account?done=two_factor_removed"
    account = await api.http.get(removed.headers["location"])
    assert "Two-factor sign-in was removed." in account.text
    assert "Two-factor sign-in is off" in account.text
    await api.http.post("/logout", data=hidden_fields(account.text))
    assert (await password_step(api.http, "max")).status_code == 303  # the password alone
    assert len(await events(api.app, "account:totp:removed")) == 1


async def test_removing_with_the_password_works_too(api, clock):
    await create_account(api, "ned")
    seed, _ = await enrol(api.app, "ned", clock)
    await sign_in(api.http, "ned", seed=seed, clock=clock)
    page = await api.http.get("/account/two-factor")
    removed = await api.http.post(
        "/account/two-factor/remove", data={**hidden_fields(page.text), "proof": PASSWORD}
    )
    assert removed.status_code == 303
    assert "is off" in (await api.http.get("/account")).text


@pytest.mark.parametrize(
    "path",
    [
        "/account/two-factor/start",
        "/account/two-factor/confirm",
        "/account/two-factor/recovery-codes",
        "/account/two-factor/remove",
    ],
)
async def test_two_factor_forms_without_csrf_change_nothing(api, clock, path):
    await create_account(api, "olga")
    seed, _ = await enrol(api.app, "olga", clock)
    await sign_in(api.http, "olga", seed=seed, clock=clock)
    refused = await api.http.post(path, data={"csrf": "forged", "proof": PASSWORD})
    assert refused.status_code == 400
    assert "10 recovery codes left" in (await api.http.get("/account/two-factor")).text


@pytest.mark.parametrize("path", ["/account/two-factor", "/account/password"])
async def test_anonymous_visitors_are_sent_to_sign_in(api, path):
    response = await api.http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?{urlencode({'next': path})}"
    posted = await api.http.post(path + ("/start" if "two-factor" in path else ""), data={})
    assert posted.status_code == 303
    assert posted.headers["location"].startswith("/login?")


async def test_a_script_client_name_is_text_on_the_code_page(api, clock):
    await create_account(api, "pat")
    await enrol(api.app, "pat", clock)
    created = await api.post(
        "/admin/v1/clients",
        {"client_name": "<script>alert(1)</script>", "redirect_uris": ["https://x.example/cb"]},
    )
    authorize = await api.http.get(_authorize_url(created.json()["client_id"]))
    login_page = await api.http.get(authorize.headers["location"])
    step = await api.http.post(
        "/login", data={**hidden_fields(login_page.text), "username": "pat", "password": PASSWORD}
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in step.text
    assert "<script>alert" not in step.text


async def test_an_account_enrolled_on_the_pages_signs_in_with_its_code(api, clock):
    await create_account(api, "quin")
    await sign_in(api.http, "quin")
    seed, codes = await _enrol_through_pages(api.http, clock)
    assert len(codes) == 10
    await api.http.post("/logout", data=hidden_fields((await api.http.get("/account")).text))
    step = await password_step(api.http, "quin")
    assert step.status_code == 200
    done = await code_step(api.http, step, code_now(seed, clock))
    assert done.headers["location"] == "/account"


async def test_turning_on_two_factor_asks_for_the_password_again(api, clock):
    """A stolen session alone must not bind the thief's authenticator app."""
    await create_account(api, "stan")
    await sign_in(api.http, "stan")
    page = await api.http.get("/account/two-factor")
    started = await api.http.post("/account/two-factor/start", data=hidden_fields(page.text))
    pending = await api.http.get(started.headers["location"])
    seed = _seed_of(pending.text)
    for password in ("", "not the password"):
        refused = await api.http.post(
            "/account/two-factor/confirm",
            data={
                **hidden_fields(pending.text),
                "code": code_now(seed, clock),
                "password": password,
            },
        )
        assert refused.status_code == 422
        assert 'id="password-error"' in refused.text
        assert "is not your password" in refused.text
    assert "is off" in (await api.http.get("/account")).text


async def test_new_recovery_codes_need_a_code_or_the_password(api, clock):
    await create_account(api, "rhea")
    seed, old_codes = await enrol(api.app, "rhea", clock)
    await sign_in(api.http, "rhea", seed=seed, clock=clock)
    page = await api.http.get("/account/two-factor")
    for proof in ("", "wrong", "000000"):
        refused = await api.http.post(
            "/account/two-factor/recovery-codes",
            data={**hidden_fields(page.text), "codes_proof": proof},
        )
        assert refused.status_code == 400
        assert 'id="codes_proof-error"' in refused.text
        assert 'id="proof-error"' not in refused.text  # not beside the remove form's field
    clock.advance(30)
    made = await api.http.post(
        "/account/two-factor/recovery-codes",
        data={**hidden_fields(page.text), "codes_proof": code_now(seed, clock)},
    )
    assert made.status_code == 200
    assert not set(_codes_of(made.text)) & set(old_codes)
