"""Mail: a queue of letters, written in the transaction of the change that causes them.

A queued row (tz_app.models.MailMessage) says what to send and to whom, never
the rendered mail: the deliverer renders it, and issues any link token, just
before handing it to SMTP, so no live link rests in the database and a retry
renders afresh. Flask-Mailman builds and sends the MIME message; this
package only queues, claims, retries and records.

The API:

- ``queue(kind, *, user=None, to_email=None, language=None, **params)``
  adds a letter to the current transaction (the caller commits, with the
  change that causes it) and wakes this process's deliverer after commit.
- ``register(kind)`` decorates the builder of a kind of letter,
  ``build(message) -> Letter | None``, called under the message's language
  (Flask-Babel's ``force_locale``); None drops the message (no such
  account). A builder returns ``compose(message, to=..., subject=...,
  **context)``, rendered from ``templates/mail/<kind>.txt`` and ``.html``
  (each extends ``mail/base.txt`` / ``mail/base.html``; the context may give
  ``user``, and ``link`` with ``link_label``), and builds links with
  ``public_url(endpoint, **values)``: from PUBLIC_URL, never the request.
- ``Letter(to, subject, text, html)``: one rendered mail.
- ``deliver_due(limit=50) -> int`` claims and sends what is due, once
  (``deliver_batch`` says what was sent, failed and dropped). A failure
  keeps the message: its next try comes 30 s later, doubling to hourly.
- ``notify_security_change(user, what, *, old_email=None)``: the notice that
  a password, an email address or second factors changed.
- ``MailDeliverer``: the loop behind the in-process thread
  (``MAIL_DELIVERY=process``) and ``flask mail deliver --watch``.

Without MAIL_SERVER, development and testing write each message to
``instance/outbox/`` (MAIL_OUTBOX) and log a line; production has no mail.
"""

import logging

from flask import Flask

from ..extensions import mailman
from .deliverer import MailDeliverer
from .delivery import DELIVERER, Delivery, deliver_batch, deliver_due, queue
from .letters import Letter, compose, public_url, register
from .notices import notify_security_change

__all__ = [
    "Delivery",
    "Letter",
    "MailDeliverer",
    "compose",
    "deliver_batch",
    "deliver_due",
    "init_app",
    "notify_security_change",
    "public_url",
    "queue",
    "register",
]

log = logging.getLogger("tz_app.mail")


def init_app(app: Flask) -> None:
    """Bind Flask-Mailman; arrange for this process's deliverer to start with its first request."""
    mailman.init_app(app)
    if not app.config["MAIL_ENABLED"]:
        log.warning(
            "Mail is off: MAIL_SERVER is not set. Password reset, invitations and email "
            "confirmation are unavailable until it is."
        )
        return
    if app.config["MAIL_DELIVERY"] == "process":
        deliverer = MailDeliverer(app)
        app.extensions[DELIVERER] = deliverer
        app.before_request(deliverer.start)
