"""Mail through a real SMTP server (tests/mailbox.py), and the development log mailer."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from cryptography.fernet import Fernet

from appward.clock import FrozenClock
from appward.config import Settings
from appward.errors import InvalidInput, TemporarilyUnavailable
from appward.mail import LogMailer, Message, SmtpMailer, mailer_for
from tests.mailbox import MAILBOX_PASSWORD, MAILBOX_USER, authenticating_mailbox, mailbox

__all__ = ["authenticating_mailbox", "mailbox"]  # fixtures, used by name below

pytestmark = pytest.mark.anyio

CLOCK = FrozenClock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
LINK = "https://id.example/portal/verify?token=apwv_secret-token-value"


def verification() -> Message:
    return Message(
        to="dev@example.com",
        subject="Verify your address",
        text=f"Open this link to verify your address:\n\n{LINK}\n\nIt works once, for 1 hour.",
    )


def smtp_settings(**extra: object) -> Settings:
    return Settings(**extra)  # type: ignore[arg-type]


async def test_smtp_mailer_delivers_the_message_with_its_headers(mailbox):
    mailer = mailer_for(smtp_settings(**mailbox.settings()), CLOCK)
    assert isinstance(mailer, SmtpMailer)
    assert mailer.development is False
    await mailer.send(verification())

    [message] = mailbox.messages
    assert message["From"] == "Appward <no-reply@appward.test>"
    assert message["To"] == "dev@example.com"
    assert message["Subject"] == "Verify your address"
    assert parsedate_to_datetime(message["Date"]) == CLOCK.now()
    assert message["Message-ID"].endswith("@appward.test>")
    assert message.get_content_type() == "text/plain"
    assert LINK in message.get_content()
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "no-reply@appward.test"
    assert envelope.rcpt_tos == ["dev@example.com"]


async def test_smtp_mailer_sends_non_ascii_text_and_subjects(mailbox):
    mailer = mailer_for(smtp_settings(**mailbox.settings()), CLOCK)
    assert mailer is not None
    await mailer.send(Message("zoe@example.com", "Bienvenue, Zoë", "Vérifiez votre adresse ✓"))
    [message] = mailbox.messages
    assert message["Subject"] == "Bienvenue, Zoë"
    assert message["To"] == "zoe@example.com"
    assert message.get_content().strip() == "Vérifiez votre adresse ✓"


async def test_smtp_mailer_logs_in_when_configured(authenticating_mailbox):
    settings = smtp_settings(
        **authenticating_mailbox.settings(
            smtp_username=MAILBOX_USER, smtp_password=MAILBOX_PASSWORD
        )
    )
    mailer = mailer_for(settings, CLOCK)
    assert mailer is not None
    await mailer.send(verification())
    assert authenticating_mailbox.logins == [(MAILBOX_USER, MAILBOX_PASSWORD)]
    assert len(authenticating_mailbox.messages) == 1


async def test_smtp_mailer_refused_login_is_temporarily_unavailable(authenticating_mailbox):
    settings = smtp_settings(
        **authenticating_mailbox.settings(smtp_username=MAILBOX_USER, smtp_password="wrong")
    )
    mailer = mailer_for(settings, CLOCK)
    assert mailer is not None
    with pytest.raises(TemporarilyUnavailable) as refused:
        await mailer.send(verification())
    assert authenticating_mailbox.messages == []
    assert "wrong" not in str(refused.value.detail)
    assert LINK not in str(refused.value.detail)


async def test_starttls_is_required_not_skipped_when_the_server_cannot(mailbox):
    """APPWARD_SMTP_SECURITY=starttls (the default) never falls back to plain text."""
    settings = smtp_settings(**mailbox.settings(smtp_security="starttls"))
    mailer = mailer_for(settings, CLOCK)
    assert mailer is not None
    with pytest.raises(TemporarilyUnavailable) as refused:
        await mailer.send(verification())
    assert mailbox.messages == []
    assert "STARTTLS" in str(refused.value.detail)


async def test_unreachable_server_is_temporarily_unavailable_and_logs_no_body(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens on it once closed
    settings = smtp_settings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_from="a@b.example"
    )
    mailer = mailer_for(settings, CLOCK)
    assert mailer is not None
    with caplog.at_level(logging.DEBUG), pytest.raises(TemporarilyUnavailable) as refused:
        await mailer.send(verification())
    assert refused.value.description == "the mail could not be sent; try again later"
    assert f"127.0.0.1:{port}" in str(refused.value.detail)
    assert LINK not in str(refused.value.detail)
    assert all(LINK not in r.getMessage() for r in caplog.records if r.name.startswith("appward"))


async def test_smtp_mailer_never_logs_the_body(mailbox, caplog):
    """The body carries the single-use link: the SMTP mailer's log names only the
    recipient and the subject."""
    mailer = mailer_for(smtp_settings(**mailbox.settings()), CLOCK)
    assert mailer is not None
    with caplog.at_level(logging.DEBUG):
        await mailer.send(verification())
    assert mailbox.messages
    # (The test server's own logger, mail.log, shows what it received.)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("appward"))
    assert "secret-token-value" not in logged
    assert "dev@example.com" in logged


async def test_development_default_writes_the_message_to_the_log_marked_as_such(caplog):
    mailer = mailer_for(Settings(), CLOCK)
    assert isinstance(mailer, LogMailer)
    assert mailer.development is True
    with caplog.at_level(logging.INFO, logger="appward.mail"):
        await mailer.send(verification())
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert text.startswith("DEVELOPMENT ONLY, NOT SENT")
    assert LINK in text
    assert "To: dev@example.com" in text
    assert "From: Appward <no-reply@localhost>" in text


def test_production_without_smtp_has_no_mailer():
    """The log mailer is the development mode's alone: in production a link is never
    written to the log."""
    settings = Settings(
        environment="production",
        issuer="https://id.example",
        key_encryption_key=Fernet.generate_key().decode(),
        session_secret="s" * 40,
    )
    assert mailer_for(settings, CLOCK) is None


def test_production_with_smtp_sends_through_it(mailbox):
    settings = Settings(
        environment="production",
        issuer="https://id.example",
        key_encryption_key=Fernet.generate_key().decode(),
        session_secret="s" * 40,
        **mailbox.settings(),
    )
    assert isinstance(mailer_for(settings, CLOCK), SmtpMailer)


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("dev@example.com\r\nBcc: victim@example.com", "Hello"),
        ("dev@example.com, other@example.com", "Hello"),
        ("Dev <dev@example.com>", "Hello"),
        ("not an address", "Hello"),
        ("", "Hello"),
        ("dev@example.com", "Hello\r\nBcc: victim@example.com"),
        ("dev@example.com", ""),
        ("dev@example.com", "x" * 201),
    ],
)
def test_message_refuses_header_injection_and_bad_addresses(to, subject):
    with pytest.raises(InvalidInput):
        Message(to, subject, "body")


async def test_app_state_holds_the_mailer_chosen_at_start(mailbox, settings, clock):
    from appward.web.app import create_app

    assert isinstance(create_app(settings, clock=clock).state.appward.mailer, LogMailer)
    with_smtp = settings.model_copy(update=mailbox.settings())
    mailer = create_app(with_smtp, clock=clock).state.appward.mailer
    assert isinstance(mailer, SmtpMailer)
    await mailer.send(verification())
    assert mailbox.messages[0]["Date"] is not None
