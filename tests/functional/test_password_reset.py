"""Passwords through the pages, the admin API and the CLI: changing one's own on
/account/password, an admin's resets on /console/accounts/{id}/password (a single-use
link, mailed or shown once; a temporary password that must be changed at the next
sign-in; the second factor), the self-service reset through a mailed single-use link,
and that no link's token ever reaches a log."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from appward.cli import app as cli
from tests.auth_helpers import (
    audit_text,
    code_now,
    create_account,
    enrol,
    events,
    flushed_redis,
    password_step,
    sign_in,
)
from tests.conftest import settings_env
from tests.functional.conftest import open_api
from tests.mailbox import mailbox  # noqa: F401 (fixture)
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


NEW = "a brand new passphrase"
LINK = re.compile(r"http://[^\s]+/password-reset/([A-Za-z0-9_-]{43})")


async def _other_browser(api):
    """A second signed-in browser (session) for the same app: its own cookie jar."""
    import httpx

    transport = httpx.ASGITransport(app=api.app, client=("127.0.0.8", 4712))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --- changing one's own password ---


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"current_password": "wrong password!"}, "current_password", "is not your current"),
        ({"current_password": ""}, "current_password", "is not your current"),
        ({"new_password": "short", "repeat_password": "short"}, "new_password", "10-512"),
        ({"new_password": "x" * 513, "repeat_password": "x" * 513}, "new_password", "10-512"),
        ({"repeat_password": "something else"}, "repeat_password", "does not match"),
        (
            {"new_password": PASSWORD, "repeat_password": PASSWORD},
            "new_password",
            "must differ",
        ),
    ],
)
async def test_a_bad_password_change_names_its_field_and_changes_nothing(api, form, field, message):
    await create_account(api, "alice")
    await sign_in(api.http, "alice")
    page = await api.http.get("/account/password")
    data = {
        **hidden_fields(page.text),
        "current_password": PASSWORD,
        "new_password": NEW,
        "repeat_password": NEW,
        **form,
    }
    refused = await api.http.post("/account/password", data=data)
    assert refused.status_code == 400
    assert f'id="{field}-error"' in refused.text
    assert message in refused.text
    assert 'href="#' + field + '"' in refused.text  # the error summary links to it
    assert NEW not in refused.text
    assert PASSWORD not in refused.text
    assert await events(api.app, "account:password:changed") == []
    api.http.cookies.clear()
    assert (await password_step(api.http, "alice")).status_code == 303


async def test_changing_the_password_signs_out_everywhere_else(api):
    await create_account(api, "bob")
    async with await _other_browser(api) as other:
        await sign_in(other, "bob")
        await sign_in(api.http, "bob")
        page = await api.http.get("/account/password")
        changed = await api.http.post(
            "/account/password",
            data={
                **hidden_fields(page.text),
                "current_password": PASSWORD,
                "new_password": NEW,
                "repeat_password": NEW,
            },
        )
        assert changed.headers["location"] == "/account?done=password_changed"
        account = await api.http.get(changed.headers["location"])
        assert account.status_code == 200  # this browser goes on, in a new session
        assert "Your password was changed" in account.text
        assert "Signed in on this browser only." in account.text
        assert (await other.get("/account")).status_code == 303  # the other one is out
    api.http.cookies.clear()
    assert (await password_step(api.http, "bob")).status_code == 401
    assert (await password_step(api.http, "bob", NEW)).status_code == 303
    [event] = await events(api.app, "account:password:changed")
    assert event.changes["sessions_ended"] == 2
    assert NEW not in await audit_text(api.app)


async def test_the_password_form_needs_its_csrf_token(api):
    await create_account(api, "cid")
    await sign_in(api.http, "cid")
    refused = await api.http.post(
        "/account/password",
        data={
            "csrf": "x",
            "current_password": PASSWORD,
            "new_password": NEW,
            "repeat_password": NEW,
        },
    )
    assert refused.status_code == 400
    assert await events(api.app, "account:password:changed") == []


# --- the admin's resets in the console ---


async def _admin(api, name: str = "root") -> None:
    await create_account(api, name, role="admin")
    await sign_in(api.http, name)


@pytest.mark.parametrize("role", [None, "developer"])
async def test_the_console_reset_page_refuses_who_is_no_admin(api, role):
    target = await create_account(api, "dan")
    await create_account(api, "eve", role=role)
    await sign_in(api.http, "eve")
    for method, path in [
        ("GET", f"/console/accounts/{target}/password"),
        ("POST", f"/console/accounts/{target}/password/link"),
        ("POST", f"/console/accounts/{target}/password/temporary"),
        ("POST", f"/console/accounts/{target}/password/two-factor"),
    ]:
        response = await api.http.request(method, path, data={"csrf": "x"})
        assert response.status_code == 403, path
    assert await events(api.app, "account:password_reset:link_issued") == []
    assert await events(api.app, "account:password:temporary_set") == []


async def test_the_console_reset_page_asks_an_anonymous_visitor_to_sign_in(api):
    target = await create_account(api, "dan")
    response = await api.http.get(f"/console/accounts/{target}/password")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Faccounts%2F")


@pytest.mark.parametrize("public_id", ["AAAAAAAAAAAAAAAAAAAAAA", "nope", "%3Cscript%3E"])
async def test_the_console_reset_page_of_an_unknown_account_is_a_404(api, public_id):
    await _admin(api)
    page = await api.http.get(f"/console/accounts/{public_id}/password")
    assert page.status_code == 404
    assert "No such account" in page.text
    csrf = hidden_fields((await api.http.get("/account")).text)["csrf"]
    for action in ("link", "temporary", "two-factor"):
        posted = await api.http.post(
            f"/console/accounts/{public_id}/password/{action}", data={"csrf": csrf}
        )
        assert posted.status_code == 404


async def test_an_admin_temporary_password_must_be_changed_at_the_next_sign_in(api):
    target = await create_account(api, "fred")
    async with await _other_browser(api) as fred:
        await sign_in(fred, "fred")
        await _admin(api)
        page = await api.http.get(f"/console/accounts/{target}/password")
        assert 'data-confirm="Replace the password of fred' in page.text
        shown = await api.http.post(
            f"/console/accounts/{target}/password/temporary", data=hidden_fields(page.text)
        )
        assert shown.status_code == 200
        assert shown.headers["cache-control"] == "no-store"
        temporary = re.search(r'id="temporary-password" type="text" value="([^"]+)"', shown.text)
        assert temporary
        password = temporary.group(1)
        assert (await fred.get("/account")).status_code == 303  # signed out at once
        fred.cookies.clear()
        assert (await password_step(fred, "fred")).status_code == 401  # the old one is gone
        signed_in = await password_step(fred, "fred", password)
        assert signed_in.headers["location"] == "/account/password?next=%2Faccount"
        # Every page, and the authorization endpoint, send it to /account/password.
        for path in ("/account", "/account/two-factor", "/console"):
            sent = await fred.get(path)
            assert sent.status_code == 303, path
            assert sent.headers["location"].startswith("/account/password?next="), path
        form = await fred.get("/account/password")
        assert "An administrator gave you a temporary password" in form.text
        changed = await fred.post(
            "/account/password",
            data={
                **hidden_fields(form.text),
                "current_password": password,
                "new_password": NEW,
                "repeat_password": NEW,
            },
        )
        assert changed.status_code == 303
        assert (await fred.get("/account")).status_code == 200
    [event] = await events(api.app, "account:password:temporary_set")
    assert event.actor.startswith("user:")
    assert event.target == "fred"
    assert password not in await audit_text(api.app)


async def test_a_temporary_password_holds_the_authorization_request_until_changed(api):
    target = await create_account(api, "gil")
    created = await api.post(
        "/admin/v1/clients", {"client_name": "Gallery", "redirect_uris": ["https://g.example/cb"]}
    )
    client_id = created.json()["client_id"]
    reset = await api.post(f"/admin/v1/users/{target}/password-reset", {"temporary": True})
    password = reset.json()["temporary_password"]
    await sign_in(api.http, "gil", password)
    _, challenge = pkce_pair()
    authorize = (
        f"/oauth2/authorize?response_type=code&client_id={client_id}&state=s"
        f"&code_challenge={challenge}&code_challenge_method=S256"
    )
    sent = await api.http.get(authorize)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/account/password?next=%2Foauth2%2Fauthorize")
    silent = await api.http.get(authorize + "&prompt=none")
    assert query_of(silent.headers["location"])["error"] == "login_required"


async def test_an_admin_reset_link_is_shown_once_and_works_once(api, clock):
    target = await create_account(api, "hugo")
    await _admin(api)
    page = await api.http.get(f"/console/accounts/{target}/password")
    assert "Create a reset link" in page.text  # no SMTP: the link is shown to pass on
    shown = await api.http.post(
        f"/console/accounts/{target}/password/link", data=hidden_fields(page.text)
    )
    assert shown.status_code == 200
    token = LINK.search(shown.text).group(1)
    assert token not in (await api.http.get(f"/console/accounts/{target}/password")).text
    async with await _other_browser(api) as hugo:
        await sign_in(hugo, "hugo")
        form = await hugo.get(f"/password-reset/{token}")
        assert form.status_code == 200
        done = await hugo.post(
            f"/password-reset/{token}",
            data={**hidden_fields(form.text), "new_password": NEW, "repeat_password": NEW},
        )
        assert done.headers["location"] == "/login?done=password_reset"
        assert "Your password was changed" in (await hugo.get(done.headers["location"])).text
        assert (await hugo.get("/account")).status_code == 303  # its sessions ended
        again = await hugo.get(f"/password-reset/{token}")
        assert again.status_code == 404
        assert "expired or was already used" in again.text
        assert (await password_step(hugo, "hugo", NEW)).status_code == 303
    [issued] = await events(api.app, "account:password_reset:link_issued")
    assert issued.target == "hugo"
    [redeemed] = await events(api.app, "account:password_reset:completed")
    assert redeemed.changes["sessions_ended"] == 1
    assert token not in await audit_text(api.app)


async def test_an_admin_resets_the_second_factor(api, clock):
    target = await create_account(api, "ines")
    await enrol(api.app, "ines", clock)
    await _admin(api)
    page = await api.http.get(f"/console/accounts/{target}/password")
    assert "Second factor: on" in page.text
    reset = await api.http.post(
        f"/console/accounts/{target}/password/two-factor", data=hidden_fields(page.text)
    )
    assert reset.headers["location"].endswith("?done=two_factor_reset")
    after = await api.http.get(reset.headers["location"])
    assert "The second factor was removed" in after.text
    assert "Second factor: off" in after.text
    api.http.cookies.clear()
    assert (await password_step(api.http, "ines")).status_code == 303
    [removed] = await events(api.app, "account:totp:removed")
    assert removed.target == "ines"
    assert removed.actor.startswith("user:")


# --- the admin API and the CLI ---


async def test_the_admin_api_resets_a_password_and_a_second_factor(api, clock):
    target = await create_account(api, "jan")
    link = await api.post(f"/admin/v1/users/{target}/password-reset", {})
    assert link.status_code == 200
    assert link.headers["cache-control"] == "no-store"
    body = link.json()
    assert set(body) == {"link", "expires_at"}
    token = LINK.search(body["link"]).group(1)
    assert (await api.http.get(urlsplit(body["link"]).path)).status_code == 200
    temporary = await api.post(f"/admin/v1/users/{target}/password-reset", {"temporary": True})
    assert set(temporary.json()) == {"temporary_password"}
    # The temporary password made the earlier link stop working.
    assert (await api.http.get(f"/password-reset/{token}")).status_code == 404
    for bad in ({"temporary": "yes"}, {"other": 1}, []):
        refused = await api.post(f"/admin/v1/users/{target}/password-reset", bad)
        assert refused.status_code == 400
    missing = await api.post("/admin/v1/users/AAAAAAAAAAAAAAAAAAAAAA/password-reset", {})
    assert missing.status_code == 404
    await enrol(api.app, "jan", clock)
    removed = await api.post(f"/admin/v1/users/{target}/reset-two-factor")
    assert removed.json() == {"removed": True}
    assert (await api.post(f"/admin/v1/users/{target}/reset-two-factor")).json() == {
        "removed": False
    }
    text = await audit_text(api.app)
    assert token not in text
    assert temporary.json()["temporary_password"] not in text


def _cli(settings, *args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), env=settings_env(settings), input=stdin)


def test_the_cli_resets_a_password_and_a_second_factor(settings):
    made = _cli(settings, "users", "create", "kai", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    link = _cli(settings, "users", "reset-password", "KAI", "--json")
    assert link.exit_code == 0, link.output
    assert LINK.search(json.loads(link.stdout)["link"])
    temporary = _cli(settings, "users", "reset-password", "kai", "--temporary")
    assert temporary.exit_code == 0
    assert temporary.stdout.startswith("temporary password (shown once): ")
    reset = _cli(settings, "users", "reset-2fa", "kai")
    assert reset.exit_code == 0
    assert reset.stdout.strip() == "the account had no second factor"
    unknown = _cli(settings, "users", "reset-password", "nobody")
    assert unknown.exit_code == 2
    assert "not_found" in unknown.stderr


# --- self-service reset ---


@pytest.fixture
async def mail_api(settings, clock, mailbox):  # noqa: F811 (the fixture)
    async with open_api(settings.model_copy(update=mailbox.settings()), clock) as api:
        yield api, mailbox


async def _ask_for_reset(http, identifier: str):
    page = await http.get("/password-reset")
    return await http.post(
        "/password-reset", data={**hidden_fields(page.text), "identifier": identifier}
    )


def _token_of(message) -> str:
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


async def test_a_mailed_link_resets_the_password_once(mail_api, clock):
    api, box = mail_api
    await create_account(api, "lena", email="lena@example.com")
    async with await _other_browser(api) as lena:
        await sign_in(lena, "lena")
        login = await api.http.get("/login")
        assert 'href="/password-reset" id="forgot-password"' in login.text
        asked = await _ask_for_reset(api.http, "LENA@example.com")
        assert asked.headers["location"] == "/password-reset?done=sent"
        sent_page = await api.http.get(asked.headers["location"])
        assert "If an account matches" in sent_page.text
        [message] = box.messages
        assert message["To"] == "lena@example.com"
        token = _token_of(message)
        assert token not in message["Subject"]
        form = await api.http.get(f"/password-reset/{token}")
        assert form.headers["cache-control"] == "no-store"
        done = await api.http.post(
            f"/password-reset/{token}",
            data={**hidden_fields(form.text), "new_password": NEW, "repeat_password": NEW},
        )
        assert done.status_code == 303
        assert (await lena.get("/account")).status_code == 303  # every session ended
    reused = await api.http.post(
        f"/password-reset/{token}",
        data={
            **hidden_fields(form.text),
            "new_password": "yet another one!",
            "repeat_password": "yet another one!",
        },
    )
    assert reused.status_code == 404
    assert (await password_step(api.http, "lena", NEW)).status_code == 303


async def test_the_answer_is_the_same_whether_or_not_the_account_exists(mail_api):
    api, box = mail_api
    await create_account(api, "mia", email="mia@example.com")
    await create_account(api, "noemail")
    answers = []
    for identifier in ("mia", "nobody", "nobody@example.com", "noemail", "<script>x</script>"):
        asked = await _ask_for_reset(api.http, identifier)
        page = await api.http.get(asked.headers["location"])
        answers.append((asked.status_code, asked.headers["location"], page.text))
    assert len(set(answers)) == 1
    assert len(box.messages) == 1  # mia only
    requested = await events(api.app, "account:password_reset:requested")
    assert len(requested) == 4
    text = await audit_text(api.app)
    assert "nobody" not in text
    assert "script" not in text


async def test_reset_requests_are_throttled(mail_api):
    api, box = mail_api
    await create_account(api, "nils", email="nils@example.com")
    for _ in range(3):
        assert (await _ask_for_reset(api.http, "nils")).status_code == 303
    throttled = await _ask_for_reset(api.http, "nils")
    assert throttled.status_code == 429
    assert "too many password reset requests" in throttled.text
    assert "retry-after" in throttled.headers
    assert len(box.messages) == 3


async def test_a_reset_link_expires_after_thirty_minutes(mail_api, clock):
    api, box = mail_api
    await create_account(api, "otto", email="otto@example.com")
    await _ask_for_reset(api.http, "otto")
    token = _token_of(box.messages[0])
    clock.advance(30 * 60 + 1)
    assert (await api.http.get(f"/password-reset/{token}")).status_code == 404


async def test_a_new_link_replaces_the_earlier_one(mail_api):
    api, box = mail_api
    await create_account(api, "pia", email="pia@example.com")
    await _ask_for_reset(api.http, "pia")
    await _ask_for_reset(api.http, "pia@example.com")
    first, second = (_token_of(m) for m in box.messages)
    assert (await api.http.get(f"/password-reset/{first}")).status_code == 404
    assert (await api.http.get(f"/password-reset/{second}")).status_code == 200


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"new_password": "short", "repeat_password": "short"}, "new_password", "10-512"),
        ({"new_password": "", "repeat_password": ""}, "new_password", "10-512"),
        ({"repeat_password": "not the same one"}, "repeat_password", "does not match"),
    ],
)
async def test_a_bad_new_password_keeps_the_link_usable(mail_api, form, field, message):
    api, box = mail_api
    await create_account(api, "quin", email="quin@example.com")
    await _ask_for_reset(api.http, "quin")
    token = _token_of(box.messages[0])
    page = await api.http.get(f"/password-reset/{token}")
    data = {**hidden_fields(page.text), "new_password": NEW, "repeat_password": NEW, **form}
    refused = await api.http.post(f"/password-reset/{token}", data=data)
    assert refused.status_code == 400
    assert f'id="{field}-error"' in refused.text
    assert message in refused.text
    assert (await api.http.get(f"/password-reset/{token}")).status_code == 200
    assert await events(api.app, "account:password_reset:completed") == []


async def test_the_reset_request_form_wants_an_identifier(mail_api):
    api, box = mail_api
    refused = await _ask_for_reset(api.http, "   ")
    assert refused.status_code == 422
    assert 'id="identifier-error"' in refused.text
    assert box.messages == []


async def test_a_console_reset_link_is_mailed_when_smtp_is_configured(mail_api):
    api, box = mail_api
    target = await create_account(api, "rita", email="rita@example.com")
    await _admin(api)
    page = await api.http.get(f"/console/accounts/{target}/password")
    assert "Mail a reset link" in page.text
    mailed = await api.http.post(
        f"/console/accounts/{target}/password/link", data=hidden_fields(page.text)
    )
    assert mailed.headers["location"].endswith("?done=link_mailed")
    after = await api.http.get(mailed.headers["location"])
    token = _token_of(box.messages[0])
    assert token not in after.text
    assert "A reset link was mailed" in after.text


async def test_self_service_reset_is_unavailable_without_a_mailer(api):
    api.app.state.appward.mailer = None  # production without SMTP
    page = await api.http.get("/password-reset")
    assert page.status_code == 404
    assert "Ask yours for a reset link" in page.text
    assert "forgot-password" not in (await api.http.get("/login")).text
    await create_account(api, "sam", email="sam@example.com")
    csrf = hidden_fields((await api.http.get("/login")).text)["csrf"]
    posted = await api.http.post("/password-reset", data={"csrf": csrf, "identifier": "sam"})
    assert posted.status_code == 404
    assert await events(api.app, "account:password_reset:link_issued") == []


async def test_a_second_factor_sign_in_needs_its_code_after_a_reset_too(mail_api, clock):
    api, box = mail_api
    await create_account(api, "tess", email="tess@example.com")
    seed, _ = await enrol(api.app, "tess", clock)
    await _ask_for_reset(api.http, "tess")
    token = _token_of(box.messages[0])
    form = await api.http.get(f"/password-reset/{token}")
    await api.http.post(
        f"/password-reset/{token}",
        data={**hidden_fields(form.text), "new_password": NEW, "repeat_password": NEW},
    )
    step = await password_step(api.http, "tess", NEW)
    assert step.status_code == 200
    assert "Enter your code" in step.text
    assert code_now(seed, clock)  # the factor is still there; only the password changed


# --- logs ---


async def test_no_reset_token_reaches_a_log_line(mail_api, caplog):
    api, box = mail_api
    caplog.set_level(logging.DEBUG)
    await create_account(api, "uma", email="uma@example.com")
    await _ask_for_reset(api.http, "uma")
    token = _token_of(box.messages[0])
    form = await api.http.get(f"/password-reset/{token}")
    await api.http.post(f"/password-reset/{token}", data={"csrf": "forged"})  # refused
    await api.http.request("PATCH", f"/password-reset/{token}")  # 405
    await api.http.get(f"/password-reset/{token}/more?x=1")  # 404, logged
    await api.http.post(
        f"/password-reset/{token}",
        data={**hidden_fields(form.text), "new_password": NEW, "repeat_password": NEW},
    )
    # uvicorn's access log, as uvicorn writes it: (client, method, path, version, status).
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        f"/password-reset/{token}?a=b",
        "1.1",
        200,
    )
    # What the server writes: Appward's own loggers and uvicorn's (httpx's lines are the
    # test client's own, not the server's).
    server = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("appward", "uvicorn"))
    )
    assert "/password-reset/[redacted]" in server
    assert "GET /password-reset/[redacted]?" not in server  # the query goes too
    assert token not in server
    assert NEW not in server


async def test_a_mail_that_cannot_be_sent_changes_nothing_in_the_answer(settings, clock, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_from": "Appward <no-reply@appward.test>",
        "smtp_timeout": 2,
    }
    async with open_api(settings.model_copy(update=unreachable), clock) as api:
        await create_account(api, "vic", email="vic@example.com")
        caplog.set_level(logging.WARNING, logger="appward")
        asked = await _ask_for_reset(api.http, "vic")
        unknown = await _ask_for_reset(api.http, "nobody-here")
        assert asked.status_code == unknown.status_code == 303
        assert asked.headers["location"] == unknown.headers["location"]
        assert "password reset mail for link" in caplog.text
        assert "/password-reset/" not in caplog.text
