"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1, an ephemeral port), and the
``mailbox`` fixture that gives the messages it received.

    def test_something(mailbox):
        settings = Settings(..., **mailbox.settings())     # APPWARD_SMTP_* pointing at it
        ... the code under test sends ...
        [message] = mailbox.messages                      # email.message.EmailMessage
        assert message["To"] == "dev@example.com"

Import the fixture where it is used (``from tests.mailbox import mailbox``), or through a
conftest. ``authenticating_mailbox`` also offers AUTH (user "appward", password
MAILBOX_PASSWORD) and keeps the credentials it was given.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
MAILBOX_USER = "appward"
MAILBOX_PASSWORD = "mailbox password for tests"


@dataclass(frozen=True)
class Envelope:
    """What the SMTP transaction named, beside the message's own headers."""

    mail_from: str
    rcpt_tos: list[str]


@dataclass
class Mailbox:
    """The running server's address and everything it received, in order."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Settings keyword arguments that send mail here (plain SMTP, no TLS)."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": "none",
            "smtp_from": "Appward <no-reply@appward.test>",
            **extra,
        }

    def received(self, message: EmailMessage, envelope: Envelope) -> None:
        with self._lock:
            self.messages.append(message)
            self.envelopes.append(envelope)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mailbox.received(message, Envelope(envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's threaded controller on port 0: it must learn the port the system chose
    before it connects to itself to check the server is up."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _serve(mailbox_of: Any, **smtp: Any) -> Iterator[Mailbox]:
    mailbox = Mailbox(HOST, 0)
    controller = _Controller(
        _Handler(mailbox), hostname=HOST, port=0, **mailbox_of(mailbox), **smtp
    )
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A plain SMTP server (no TLS, no AUTH) on 127.0.0.1; yields its Mailbox."""
    yield from _serve(lambda _: {})


@pytest.fixture
def authenticating_mailbox() -> Iterator[Mailbox]:
    """As ``mailbox``, but offering AUTH (user MAILBOX_USER, password MAILBOX_PASSWORD);
    every login attempt is kept in ``logins``."""

    def authenticator(mailbox: Mailbox) -> dict[str, Any]:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            user, password = data.login.decode(), data.password.decode()
            mailbox.logins.append((user, password))
            # handled=False: aiosmtpd answers the failure itself (535).
            ok = (user, password) == (MAILBOX_USER, MAILBOX_PASSWORD)
            return AuthResult(success=ok, handled=False)

        # Plain text AUTH is acceptable only on the loopback interface, as here. Offered,
        # not required: aiosmtpd warns (an error under pytest) when both are set.
        return {"authenticator": check, "auth_require_tls": False}

    yield from _serve(authenticator)
