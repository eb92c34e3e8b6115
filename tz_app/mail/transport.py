"""Handing letters over: SMTP through Flask-Mailman, or the outbox folder in development."""

import logging
from pathlib import Path

from flask import current_app
from flask_mailman import EmailMultiAlternatives

from ..extensions import mailman
from ..models import utcnow
from .letters import Letter

log = logging.getLogger("tz_app.mail")


def _email(letter: Letter, connection=None) -> EmailMultiAlternatives:
    """The MIME message Flask-Mailman builds: plain text, with HTML as the alternative."""
    email = EmailMultiAlternatives(
        letter.subject, letter.text, to=[letter.to], connection=connection
    )
    email.attach_alternative(letter.html, "text/html")
    return email


class SmtpTransport:
    """One SMTP connection (Flask-Mailman's backend) for a batch of letters."""

    def __init__(self, connection):
        self.connection = connection

    def send(self, letter: Letter, message_id: int) -> None:
        """Raises OSError (smtplib's errors are OSErrors) when the server refuses or fails."""
        _email(letter, self.connection).send()
        log.info("Mail #%d sent", message_id)

    def close(self) -> None:
        try:
            self.connection.close()
        except OSError as exc:  # the letters are handed over; a lost goodbye changes nothing
            log.info("SMTP connection closed uncleanly: %s", exc.__class__.__name__)


class Outbox:
    """Development without an SMTP server: each message as an ``.eml`` file, and one log line."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def send(self, letter: Letter, message_id: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{message_id}.eml"
        path.write_bytes(_email(letter).message().as_bytes())
        log.info("Mail to %s, %r: written to %s", letter.to, letter.subject, path)

    def close(self) -> None:
        pass


def open_transport() -> SmtpTransport | Outbox:
    """A transport for a batch of letters; the caller closes it.

    Raises OSError when the SMTP server cannot be reached (or refuses the
    sign-in), before any letter of the batch is built.
    """
    config = current_app.config
    if not config["MAIL_SERVER"]:
        return Outbox(config["MAIL_OUTBOX"])
    connection = mailman.get_connection()
    connection.open()
    return SmtpTransport(connection)
