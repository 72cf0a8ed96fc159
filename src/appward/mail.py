"""Mail: what the portal sends (address verification, password reset and invitation
links), behind one seam with two real implementations.

    mailer = mailer_for(settings, clock)        # once, at app start (AppState.mailer)
    await mailer.send(Message(to, subject, text))

- SmtpMailer sends through the SMTP server of APPWARD_SMTP_* (stdlib smtplib in a worker
  thread: STARTTLS or implicit TLS with certificate checks, AUTH only over TLS unless
  the relay is on this host). It never logs a message's body, which carries the links'
  single-use tokens: its log lines name only the recipient and the subject.
- LogMailer, the embedded default in development mode, writes the whole message, links
  included, to the server log, marked as a development convenience; ``development`` is
  True so a page may also show the link to the person who asked for it. It is never
  chosen in production mode, where without SMTP there is no mailer (``mailer_for``
  returns None) and what needs mail says it is unavailable.

Put a secret only in the body, never in the subject or the address: those are logged.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

from appward.clock import Clock
from appward.config import Settings, SmtpSettings, single_address
from appward.errors import FieldError, InvalidInput, TemporarilyUnavailable

log = logging.getLogger("appward.mail")

MAX_SUBJECT = 200


@dataclass(frozen=True, slots=True)
class Message:
    """One plain-text message to one address.

    Raises InvalidInput when ``to`` is not one address or a header would hold a line
    break (header injection).
    """

    to: str
    subject: str
    text: str

    def __post_init__(self) -> None:
        problems = []
        address = single_address(self.to)
        if address is None or address.display_name or address.addr_spec != self.to.strip():
            problems.append(FieldError("to", "must be one e-mail address"))
        if any(c in self.subject for c in "\r\n") or not 0 < len(self.subject) <= MAX_SUBJECT:
            problems.append(FieldError("subject", f"one line of 1 to {MAX_SUBJECT} characters"))
        if problems:
            raise InvalidInput(
                "; ".join(f"{p.field}: {p.message}" for p in problems), fields=problems
            )


class Mailer(Protocol):
    """Sends messages; two real implementations, SmtpMailer and LogMailer."""

    @property
    def development(self) -> bool:
        """True when messages go to the server log, not to anyone's mailbox (development
        mode only): a page may then show the message's link on screen as well."""
        ...

    async def send(self, message: Message) -> None:
        """Sends ``message``. Raises TemporarilyUnavailable when it could not be handed
        to the mail server (its reply in the error's detail, never the message)."""
        ...


def compose(message: Message, sender: str, clock: Clock) -> EmailMessage:
    """Returns the MIME message: From, To, Subject, Date (from ``clock``), Message-ID and
    the text as UTF-8."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(clock.now())
    mail["Message-ID"] = make_msgid(domain=_domain(sender))
    mail.set_content(message.text, charset="utf-8")
    return mail


def _domain(sender: str) -> str:
    address = single_address(sender)
    return address.domain if address is not None else "appward.invalid"


class SmtpMailer:
    """Sends through an SMTP server (see the module docstring)."""

    development = False

    def __init__(self, smtp: SmtpSettings, clock: Clock) -> None:
        self.smtp = smtp
        self.clock = clock

    async def send(self, message: Message) -> None:
        mail = compose(message, self.smtp.sender, self.clock)
        try:
            await asyncio.to_thread(self._deliver, mail)
        except (smtplib.SMTPException, OSError) as exc:
            # smtplib's errors carry the server's reply or the socket's, never the body.
            raise TemporarilyUnavailable(
                "the mail could not be sent; try again later",
                detail=f"SMTP {self.smtp.host}:{self.smtp.port}: {type(exc).__name__}: {exc}",
            ) from None
        log.info("mail %r sent to %s", message.subject, message.to)

    def _deliver(self, mail: EmailMessage) -> None:
        smtp = self.smtp
        context = ssl.create_default_context()
        connection: smtplib.SMTP
        if smtp.security == "tls":
            connection = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with connection:
            if smtp.security == "starttls":
                # starttls raises SMTPNotSupportedError when the server cannot: never a
                # silent fall back to plain text.
                connection.starttls(context=context)
            if smtp.username is not None and smtp.password is not None:
                connection.login(smtp.username, smtp.password)
            connection.send_message(mail)


class LogMailer:
    """Writes each message to the server log instead of sending it: the embedded
    default's development convenience (see the module docstring)."""

    development = True

    def __init__(self, sender: str, clock: Clock) -> None:
        self.sender = sender
        self.clock = clock

    async def send(self, message: Message) -> None:
        mail = compose(message, self.sender, self.clock)
        log.warning(
            "DEVELOPMENT ONLY, NOT SENT (APPWARD_SMTP_HOST is unset): this message, with "
            "any link in it, is written here instead of mailed; never run like this in "
            "production.\n%s",
            mail.as_string(),
        )


def mailer_for(settings: Settings, clock: Clock) -> Mailer | None:
    """Returns the mailer the settings choose: SMTP when APPWARD_SMTP_HOST is set, else in
    development mode the log, else (production without SMTP) None: nothing can be mailed."""
    smtp = settings.smtp
    if smtp is not None:
        return SmtpMailer(smtp, clock)
    if settings.environment == "production":
        return None
    sender = Address(display_name=settings.display_name, username="no-reply", domain="localhost")
    return LogMailer(str(sender), clock)
