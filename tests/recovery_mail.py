"""Mail for the recovery tests: an app sending to the test SMTP server, and the links in it."""

import re

import pytest
from conftest import make_test_app
from smtp import Received
from sqlalchemy import select

from tz_app import mail
from tz_app.extensions import db
from tz_app.models import AuditEvent

PUBLIC_URL = "http://localhost:5000"
FLASH = re.compile(r'<p class="flash flash-\w+">([^<]*)</p>')


def dispose(*apps) -> None:
    for each in apps:
        with each.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def mail_app(app, database_url, smtp_server):
    """An app on the test database (cleared by ``app``) that sends to the test SMTP server."""
    built = make_test_app(database_url, **smtp_server.config)
    yield built
    dispose(built)


def deliver(app) -> int:
    """Send what is due, as ``flask mail deliver`` does; how many were sent."""
    with app.app_context():
        return mail.deliver_due()


def link_in(received: Received, path: str, base: str = PUBLIC_URL) -> str:
    """The one link under ``base + path`` in a delivered mail, alike in both bodies, as a path."""
    pattern = re.compile(re.escape(base + path) + r"[A-Za-z0-9_-]+/")
    [link] = set(pattern.findall(received.body("plain")))
    html = received.body("html")
    assert f'href="{link}"' in html and f">{link}<" in html
    return link.removeprefix(base)


def flashes(client) -> list[str]:
    """The messages the next page shows (and so uses up)."""
    return FLASH.findall(client.get("/login/").get_data(as_text=True))


def audited(app, *wanted) -> list[tuple[str, str | None]]:
    """The audit events of the ``wanted`` kinds, oldest first: (kind, email)."""
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.kind, AuditEvent.email)
            .where(AuditEvent.kind.in_(wanted))
            .order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]
