"""Mailing a one-time link (address verification, invitation) from a page or the admin
API: through the app's mailer (SMTP, or the development log), and what the page may show.

The link is shown on the page only when the mailer is the development log
(``Mailer.development``): the embedded default, never chosen in production. Otherwise it
exists only in the mail's body.
"""

from __future__ import annotations

from appward.config import Settings
from appward.errors import TemporarilyUnavailable
from appward.mail import Mailer, Message
from appward.services import Services
from appward.users.invitations import invitation_message
from appward.users.one_time_links import IssuedLink

NO_MAILER = "this server cannot send mail (no SMTP server is configured); ask an administrator"


def link_url(settings: Settings, path: str, token: str) -> str:
    """Returns the absolute URL of a one-time link: the issuer's base, ``path``, the token."""
    return f"{settings.issuer.rstrip('/')}{path}{token}"


async def send_link(
    services: Services, mailer: Mailer | None, message: Message, url: str
) -> str | None:
    """Sends ``message`` (whose body holds ``url``); returns ``url`` when the page may show
    it too (the development log mailer), else None. Raises TemporarilyUnavailable when
    there is no mailer or the mail server refused, having rolled back ``services``' unit
    of work: what the link was made for (an account, an invitation) is not kept."""
    try:
        if mailer is None:
            raise TemporarilyUnavailable(NO_MAILER)
        await mailer.send(message)
    except TemporarilyUnavailable:
        # The page that renders this error returns normally, and its unit of work would
        # commit: roll back here instead.
        await services.session.rollback()
        raise
    return url if mailer.development else None


async def send_invitation(
    settings: Settings, mailer: Mailer | None, services: Services, email: str
) -> tuple[IssuedLink, str | None]:
    """Invites ``email`` (users/invitations.py) and mails the link; returns the
    invitation and the link when the page may show it (see send_link). Raises what
    InvitationService.invite and send_link raise."""
    issued = await services.invitations.invite(email)
    message, url = invitation_message(issued, settings.issuer, settings.display_name)
    return issued, await send_link(services, mailer, message, url)
