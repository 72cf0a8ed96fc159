"""Review: odd input on the new pages must never be a 500."""

from __future__ import annotations

import pytest

from tests.portal_helpers import browser_on, create_account, csrf, register_app, sign_in

pytestmark = pytest.mark.anyio

ODD_IDS = ["%00", "%ff", "a" * 5000, "..%2f..%2fetc", "%E2%80%AE", "1e9999", "-1", " "]


async def test_odd_input_is_never_a_500(api):
    await create_account(api, "olga")
    await create_account(api, "adam", "admin")
    problems = []
    async with browser_on(api) as dev, browser_on(api) as admin:
        await sign_in(dev, "olga")
        await sign_in(admin, "adam")
        client_id, _ = await register_app(dev)
        token = await csrf(dev)
        atoken = await csrf(admin, "/console/clients")
        paths = [
            "/portal/apps/{x}",
            "/portal/apps/{x}/edit",
            "/portal/apps/{x}/delete",
            "/portal/apps/{x}/secrets",
            "/portal/apps/{x}/owners",
            f"/portal/apps/{client_id}/secrets/{{x}}/revoke",
            f"/portal/apps/{client_id}/owners/{{x}}/role",
            f"/portal/apps/{client_id}/owners/{{x}}/remove",
            "/portal/verify/{x}",
            "/portal/signup/{x}",
            "/password-reset/{x}",
        ]
        console = [
            "/console/accounts/{x}",
            "/console/accounts/{x}/password",
            "/console/accounts/{x}/password/link",
            "/console/accounts/{x}/password/temporary",
            "/console/accounts/{x}/password/two-factor",
            "/console/invitations/{x}/revoke",
            "/console/clients/{x}",
        ]
        bodies = [
            None,
            b"csrf=" + token.encode() + b"&role=%ff&email=%ff&grace=%ff&revision=%ff",
            b"csrf=" + token.encode() + b"&csrf=" + token.encode() + b"&role=owner&role=viewer",
            b"csrf=" + token.encode() + b"&confirm_name=\xff\xfe&label=" + b"x" * 100000,
        ]
        for http, tok, templates in ((dev, token, paths), (admin, atoken, console)):
            for template in templates:
                for x in ODD_IDS:
                    url = template.replace("{x}", x)
                    r = await http.get(url)
                    if r.status_code >= 500:
                        problems.append(("GET", url[:80], r.status_code))
                    for body in bodies:
                        b = (body or b"csrf=" + tok.encode()).replace(token.encode(), tok.encode())
                        r = await http.post(
                            url,
                            content=b,
                            headers={"content-type": "application/x-www-form-urlencoded"},
                        )
                        if r.status_code >= 500:
                            problems.append(("POST", url[:80], b[:40], r.status_code))
        # the app's own forms with odd values
        for form in (
            {
                "client_name": "x",
                "app_type": "web",
                "redirect_uris": "https://a.example/cb\r\n" * 50,
            },
            {"client_name": "\x00", "app_type": "web", "redirect_uris": "https://a.example/cb"},
            {
                "client_name": "x",
                "app_type": "web",
                "redirect_uris": "https://a.example/cb",
                "scope": "\x00 " * 300,
            },
            {
                "client_name": "x",
                "app_type": "web",
                "redirect_uris": "https://a.example/cb",
                "logo_uri": "https://\x00",
            },
        ):
            for url in ("/portal/apps", f"/portal/apps/{client_id}/edit"):
                r = await dev.post(url, data={"csrf": token, "revision": "1", **form})
                if r.status_code >= 500:
                    problems.append(("POST", url, str(form)[:60], r.status_code))
    assert not problems, problems
