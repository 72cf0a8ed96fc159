"""The developer portal (/portal): a developer's own apps, over the same domain services
as the console and the admin API. Routes take their caller from
page_access.PortalDeveloper (sign-up and e-mail verification excepted); an app the
caller neither owns nor co-owns answers 404 on every route, like an unknown one.

One module per part of the portal, each with its own router, gathered here."""

from __future__ import annotations

from fastapi import APIRouter

from appward.web.portal import app_credentials, app_keys, apps, co_owners, signup

router = APIRouter(prefix="/portal", include_in_schema=False)  # PREFIX
router.add_api_route("", signup.portal_home, methods=["GET"])

PREFIX = "/portal"
PARTS = (signup, apps, app_credentials, app_keys, co_owners)

for part in PARTS:
    router.include_router(part.router)
