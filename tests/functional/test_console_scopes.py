"""The console's scopes registry (/console/scopes): list, create, edit, delete, with each
invalid field's message beside it, and who may do any of it."""

from __future__ import annotations

import pytest

from tests.factories import WEB_APP
from tests.functional.console_helpers import (
    ESCAPED_SCRIPT,
    SCRIPT,
    csrf,
    field_error,
    notice,
    post,
    sign_in,
)

pytestmark = pytest.mark.anyio


async def _scope(api, name: str) -> dict | None:
    response = await api.get(f"/admin/v1/scopes/{name}")
    return response.json() if response.status_code == 200 else None


async def _create(api, name="calendar:read", description="Read your calendar", **flags) -> None:
    response = await api.post(
        "/admin/v1/scopes", {"name": name, "description": description, **flags}
    )
    assert response.status_code == 201, response.text


async def test_the_registry_starts_with_the_built_in_admin_scope(api):
    await sign_in(api, "ada")
    page = await api.http.get("/console/scopes")
    assert page.status_code == 200
    assert "appward:admin" in page.text
    assert 'aria-current="page">Scopes' in page.text


async def test_create_a_scope_and_see_it_listed(api):
    account = await sign_in(api, "ada")
    form = await api.http.get("/console/scopes/new")
    assert form.status_code == 200
    assert '<label class="label" for="name">Name</label>' in form.text
    response = await post(
        api.http,
        "/console/scopes",
        name="photos:read",
        description="See your photos",
        sensitive="on",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/scopes?done=created"
    listed = await api.http.get(response.headers["location"])
    assert notice(listed.text) == "The scope was created."
    assert "photos:read" in listed.text
    assert "See your photos" in listed.text
    scope = await _scope(api, "photos:read")
    assert scope is not None
    assert (scope["description"], scope["sensitive"], scope["admin_only"]) == (
        "See your photos",
        True,
        False,
    )
    events = (await api.get("/admin/v1/audit-events?action=scope:created")).json()["items"]
    assert events[0]["actor"] == f"user:{account['id']}"


@pytest.mark.parametrize(
    ("form", "field", "message", "status"),
    [
        ({"name": "", "description": "x"}, "name", "not a valid scope-token", 400),
        ({"name": "has space", "description": "x"}, "name", "not a valid scope-token", 400),
        ({"name": 'quote"', "description": "x"}, "name", "not a valid scope-token", 400),
        ({"name": "a" * 129, "description": "x"}, "name", "not a valid scope-token", 400),
        ({"name": "ok:scope", "description": ""}, "description", "1-500 printable", 400),
        ({"name": "ok:scope", "description": "   "}, "description", "1-500 printable", 400),
        ({"name": "ok:scope", "description": "x" * 501}, "description", "1-500 printable", 400),
        ({"name": "ok:scope", "description": "bell\x07"}, "description", "1-500 printable", 400),
        ({"name": "appward:admin", "description": "x"}, "name", "exists already", 409),
    ],
)
async def test_create_with_bad_input_shows_the_message_beside_the_field_and_stores_nothing(
    api, form, field, message, status
):
    await sign_in(api, "ada")
    before = (await api.get("/admin/v1/scopes")).json()
    response = await post(api.http, "/console/scopes", **form, sensitive="on")
    assert response.status_code == status
    assert message in (field_error(response.text, field) or "")
    assert "There is a problem" in response.text
    # The form is kept.
    assert 'name="sensitive" value="on" checked' in response.text
    assert (await api.get("/admin/v1/scopes")).json() == before


async def test_edit_a_scope(api):
    await _create(api)
    await sign_in(api, "ada")
    form = await api.http.get("/console/scopes/edit/calendar:read")
    assert form.status_code == 200
    assert "Read your calendar" in form.text
    response = await post(
        api.http,
        "/console/scopes/edit/calendar:read",
        description="Read your calendars",
        admin_only="on",
    )
    assert response.headers["location"] == "/console/scopes?done=updated"
    assert notice((await api.http.get(response.headers["location"])).text) == "The scope was saved."
    scope = await _scope(api, "calendar:read")
    assert scope is not None
    assert (scope["description"], scope["admin_only"], scope["sensitive"]) == (
        "Read your calendars",
        True,
        False,
    )


async def test_a_scope_name_with_a_slash_or_percent_has_its_own_page(api):
    await _create(api, name="files/read%")
    await sign_in(api, "ada")
    listed = await api.http.get("/console/scopes")
    assert 'href="/console/scopes/edit/files/read%25"' in listed.text
    page = await api.http.get("/console/scopes/edit/files/read%25")
    assert page.status_code == 200
    assert "files/read%" in page.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"description": ""}, "description", "1-500 printable"),
        ({"description": "x" * 501}, "description", "1-500 printable"),
    ],
)
async def test_edit_with_bad_input_changes_nothing(api, form, field, message):
    await _create(api, sensitive=True)
    await sign_in(api, "ada")
    before = await _scope(api, "calendar:read")
    response = await post(api.http, "/console/scopes/edit/calendar:read", **form)
    assert response.status_code == 400
    assert message in (field_error(response.text, field) or "")
    assert await _scope(api, "calendar:read") == before


async def test_the_admin_scope_stays_admin_only(api):
    await sign_in(api, "ada")
    before = await _scope(api, "appward:admin")
    response = await post(
        api.http, "/console/scopes/edit/appward:admin", description="Administer Appward"
    )
    assert response.status_code == 400
    assert "always admin-only" in (field_error(response.text, "admin_only") or "")
    # Nothing changed: not the description either.
    assert await _scope(api, "appward:admin") == before


async def test_delete_a_scope_after_confirmation(api):
    await _create(api)
    await sign_in(api, "ada")
    listed = await api.http.get("/console/scopes")
    assert 'data-confirm="Delete the scope calendar:read?"' in listed.text
    response = await post(api.http, "/console/scopes/delete/calendar:read")
    assert response.headers["location"] == "/console/scopes?done=deleted"
    assert (
        notice((await api.http.get(response.headers["location"])).text) == "The scope was deleted."
    )
    assert await _scope(api, "calendar:read") is None


async def test_a_scope_in_use_is_not_deleted_and_the_page_says_why(api):
    await _create(api)
    client = await api.post("/admin/v1/clients", {**WEB_APP, "scope": "calendar:read"})
    assert client.status_code == 201, client.text
    await sign_in(api, "ada")
    response = await post(api.http, "/console/scopes/delete/calendar:read")
    assert response.status_code == 409
    assert (
        "Not deleted: scope &#39;calendar:read&#39; is still allowed for 1 client(s)."
        in response.text
    )
    assert await _scope(api, "calendar:read") is not None


async def test_the_built_in_admin_scope_is_never_deleted(api):
    await sign_in(api, "ada")
    response = await post(api.http, "/console/scopes/delete/appward:admin")
    assert response.status_code == 409
    assert "built in" in response.text


async def test_a_description_is_shown_as_text(api):
    await _create(api, description=SCRIPT)
    await sign_in(api, "ada")
    for url in ("/console/scopes", "/console/scopes/edit/calendar:read"):
        page = await api.http.get(url)
        assert SCRIPT not in page.text
        assert ESCAPED_SCRIPT in page.text


# --- who may do it ---

GETS = ["/console/scopes", "/console/scopes/new", "/console/scopes/edit/calendar:read"]
POSTS = [
    "/console/scopes",
    "/console/scopes/edit/calendar:read",
    "/console/scopes/delete/calendar:read",
]


@pytest.mark.parametrize(
    ("method", "path"), [("GET", p) for p in GETS] + [("POST", p) for p in POSTS]
)
async def test_anonymous_is_sent_to_sign_in(api, method, path):
    await _create(api)
    response = await api.http.request(method, path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Fconsole%2Fscopes")


@pytest.mark.parametrize("role", [None, "developer"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", p) for p in GETS] + [("POST", p) for p in POSTS]
)
async def test_an_end_user_or_developer_is_refused(api, role, method, path):
    await _create(api)
    await sign_in(api, "nadia", role)
    token = await csrf(api.http)
    data = {"csrf": token, "name": "x:y", "description": "d"} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 403
    assert "administrator" in response.text
    assert (await _scope(api, "calendar:read"))["description"] == "Read your calendar"
    assert await _scope(api, "x:y") is None


@pytest.mark.parametrize("token", [None, "wrong"])
@pytest.mark.parametrize("path", POSTS)
async def test_a_post_without_the_right_csrf_token_changes_nothing(api, token, path):
    await _create(api)
    await sign_in(api, "ada")
    data = {"name": "x:y", "description": "changed"}
    if token:
        data["csrf"] = token
    response = await api.http.post(path, data=data)
    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    assert (await _scope(api, "calendar:read"))["description"] == "Read your calendar"
    assert await _scope(api, "x:y") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/scopes/edit/no:such"),
        ("POST", "/console/scopes/edit/no:such"),
        ("POST", "/console/scopes/delete/no:such"),
    ],
)
async def test_an_unknown_scope_is_a_404_page(api, method, path):
    await sign_in(api, "ada")
    data = {"csrf": await csrf(api.http), "description": "d"} if method == "POST" else None
    response = await api.http.request(method, path, data=data)
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_an_empty_registry_says_so():
    """The built-in admin scope makes an empty registry unreachable over HTTP: the template
    alone."""
    from types import SimpleNamespace

    from appward.web.templates import Site, _env

    caller = SimpleNamespace(user=SimpleNamespace(username="ada"), csrf="t")
    html = _env.get_template("console/scopes.html").render(
        site=Site("Appward", None),
        caller=caller,
        section="scopes",
        scopes=[],
        notice=None,
        error=None,
    )
    assert "No scope is in the registry yet." in html
