"""Back in by mail, in a browser: forgot → mail → reset → sign in; invitation → signed in."""

import re
import time
import uuid

import pytest
from servers import GunicornServer
from smtp import SmtpServer

from .support import DEMO, e2e_database, people_on

NEW_PASSWORD = "a password from the mail"


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_server(smtp, tmp_path_factory):
    """gunicorn sending mail to ``smtp`` from its own deliverer, its links under its own URL."""
    with e2e_database(tmp_path_factory, "recovery") as url:
        instance = GunicornServer(
            url, workers=1, threads=4, MAIL_SERVER=smtp.host, MAIL_PORT=str(smtp.port)
        )
        instance.env["PUBLIC_URL"] = instance.url
        with instance:
            yield instance


@pytest.fixture
def visitors(browser, mail_server):
    """``visitors()`` opens a browser context on the mail-sending server; all checked after."""
    yield from people_on(browser, mail_server.url)


def mail_to(smtp, address: str, subject: str, timeout: float = 15):
    """The first mail to ``address`` with ``subject``, once it has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with smtp.lock:
            found = [r for r in smtp.received if r.rcpt_tos == [address] and r.subject == subject]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject!r} to {address} in {timeout} s")


def link_in(received, server, path: str) -> str:
    [link] = re.findall(re.escape(server.url + path) + r"[A-Za-z0-9_-]+/", received.body("plain"))
    return link


def test_forgot_password_mail_reset_then_sign_in(visitors, mail_server, smtp):
    email, _old = visitors().sign_up(name="Forgetful", last_name="Person")
    person = visitors()
    page = person.page
    page.goto("/login/")
    page.click("text=Forgot your password?")
    page.wait_for_url("**/password/forgot/")
    page.fill("#email", email)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/login/")
    assert "a link to choose a new password is on its way" in page.inner_text(".flashes")

    letter = mail_to(smtp, email, "Reset your password")
    page.goto(link_in(letter, mail_server, "/password/reset/"))
    assert page.inner_text("h1") == "Choose a new password"
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_confirm", NEW_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/login/")
    assert "Sign in with the new one" in page.inner_text(".flashes")
    person.sign_in(email, NEW_PASSWORD)
    assert page.locator("tr[data-user-id]", has_text=email).count() == 1
    assert mail_to(smtp, email, "Your password was changed")


def test_an_invitation_leads_to_a_first_password_and_a_signed_in_home(visitors, mail_server, smtp):
    admin = visitors().sign_in(*DEMO["admin"])
    email = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    page = admin.page
    page.goto("/users/new/")
    page.fill("#name", "Invited")
    page.fill("#last_name", "Newcomer")
    page.fill("#email", email)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_url("**/home/")
    assert "sent an invitation by mail" in page.inner_text(".flashes")

    letter = mail_to(smtp, email, f"Your account at {mail_server.url.removeprefix('http://')}")
    invited = visitors()
    invited.page.goto(link_in(letter, mail_server, "/invite/"))
    assert invited.page.inner_text("h1") == "Choose your password"
    invited.page.fill("#new_password", NEW_PASSWORD)
    invited.page.fill("#new_password_confirm", NEW_PASSWORD)
    invited.page.click("main form button[type=submit]")
    invited.page.wait_for_url("**/home/")
    assert "Welcome, Invited!" in invited.page.inner_text(".flashes")
    assert invited.page.locator("tr[data-user-id]", has_text="Newcomer").count() == 1
