"""Helpers for second-factor tests: set up an authenticator app as a person would, make codes."""

import re
import time

import pyotp
from conftest import CSRF_META, login, post
from sqlalchemy import update

from tz_app.extensions import db
from tz_app.models import Session, TotpSecret, utcnow

SECRET = re.compile(r'data-totp-secret="([A-Z2-7]+)"')
RECOVERY = re.compile(r"<code data-recovery-code>([0-9A-Z-]+)</code>")
STEP = 30


def code(secret: str, steps_from_now: int = 0) -> str:
    """The app's code for the step ``steps_from_now`` away from the present one."""
    return pyotp.TOTP(secret).at(time.time() + steps_from_now * STEP)


def page_token(response) -> str:
    return CSRF_META.search(response.get_data(as_text=True)).group(1)


def enable_totp(client) -> tuple[str, list[str]]:
    """Turn the authenticator app on through the pages; (secret, recovery codes)."""
    page = client.get("/mfa/totp/")
    assert page.status_code == 200, page.status_code
    secret = SECRET.search(page.get_data(as_text=True)).group(1)
    done = post(client, "/mfa/totp/", {"code": code(secret)}, token=page_token(page))
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = RECOVERY.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def forget_used_codes(app, user_id: int) -> None:
    """As if the last code was used long ago: the next test step may use any fresh one."""
    with app.app_context():
        db.session.execute(
            update(TotpSecret).where(TotpSecret.user_id == user_id).values(last_used_step=None)
        )
        db.session.commit()


def age_sessions(app, user_id: int, seconds: int) -> None:
    """Move the user's last confirmation ``seconds`` into the past."""
    from datetime import timedelta

    with app.app_context():
        db.session.execute(
            update(Session)
            .where(Session.user_id == user_id)
            .values(confirmed_at=utcnow() - timedelta(seconds=seconds))
        )
        db.session.commit()


def password_step(client, email, password, next=None):
    """The first step of signing in; for an account with a second factor, no session yet."""
    return login(client, email, password, next=next)


def second_step(client, answer: str):
    """Send ``answer`` to the second step, with the CSRF token a page of it (or /login/) has."""
    page = client.get("/login/mfa/")
    if page.status_code != 200:
        page = client.get("/login/")
    return post(client, "/login/mfa/", {"code": answer}, token=page_token(page))
