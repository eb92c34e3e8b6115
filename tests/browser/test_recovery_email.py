"""Email confirmation in a browser: sign-up → mail → confirm, with and without it being required."""

import uuid

import pytest
from servers import GunicornServer
from smtp import SmtpServer

from .support import Person, e2e_database
from .test_recovery_password import link_in, mail_to

PASSWORD = "a browser passphrase"
CONFIRM = "Confirm your email address"


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["optional", "required"])
def mail_server(request, smtp, tmp_path_factory):
    """gunicorn mailing ``smtp``, where confirmation is optional or required for signing in."""
    with e2e_database(tmp_path_factory, "confirm") as url:
        instance = GunicornServer(
            url,
            workers=1,
            threads=4,
            MAIL_SERVER=smtp.host,
            MAIL_PORT=str(smtp.port),
            REQUIRE_VERIFIED_EMAIL="true" if request.param == "required" else "false",
        )
        instance.env["PUBLIC_URL"] = instance.url
        instance.required = request.param == "required"
        with instance:
            yield instance


@pytest.fixture
def person(browser, mail_server):
    opened = Person(browser, mail_server.url)
    yield opened
    # The sign-in page refusing an unconfirmed address answers 403.
    problems = [m for m in opened.unexpected_console() if "status of 403" not in m]
    opened.context.close()
    assert not problems, f"console errors: {problems}"


def sign_up(page) -> str:
    email = f"confirm-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/signup/")
    page.fill("#name", "Marusia")
    page.fill("#last_name", "Churai")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("form button[type=submit].btn-primary")
    return email


def confirm_from(page, letter, server) -> None:
    page.goto(link_in(letter, server, "/email/verify/"))
    assert page.inner_text("h1") == CONFIRM
    page.click("main form button[type=submit]")


def test_sign_up_mail_confirm(person, mail_server, smtp):
    page = person.page
    email = sign_up(page)
    if mail_server.required:
        page.wait_for_url("**/login/")
        assert f"We sent a message to {email}" in page.inner_text(".flashes")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("form button[type=submit].btn-primary")
        alert = page.locator("[role=alert][data-email-state=unconfirmed]")
        assert "not confirmed yet" in alert.inner_text()
        alert.locator("button[type=submit]").click()
        page.wait_for_url("**/login/")
        assert "a new link is on its way" in page.inner_text(".flashes")
    else:
        page.wait_for_url("**/home/")
        page.goto("/profile/")
        assert page.locator("dd[data-email-state=unconfirmed]").count() == 1

    confirm_from(page, mail_to(smtp, email, CONFIRM), mail_server)
    if mail_server.required:
        page.wait_for_url("**/login/")
        assert f"Your email address {email} is confirmed." in page.inner_text(".flashes")
        person.sign_in(email, PASSWORD)
        page.goto("/profile/")
    else:
        page.wait_for_url("**/profile/")
        assert f"Your email address {email} is confirmed." in page.inner_text(".flashes")
    assert page.locator("dd[data-email-state=confirmed]").count() == 1


def test_a_change_of_address_waits_for_the_new_one(person, mail_server, smtp):
    page = person.page
    email = sign_up(page)
    if mail_server.required:
        confirm_from(page, mail_to(smtp, email, CONFIRM), mail_server)
        page.wait_for_url("**/login/")
        person.sign_in(email, PASSWORD)
    new_email = "new-" + email
    page.goto("/profile/")
    page.fill("#email", new_email)
    page.click("form[action='/profile/email/'] button[type=submit]")
    page.wait_for_url("**/profile/")
    assert page.locator(f"[data-pending-email='{new_email}']").count() == 1
    assert mail_to(smtp, email, "Your email address is about to change")

    confirm_from(page, mail_to(smtp, new_email, "Confirm your new email address"), mail_server)
    page.wait_for_url("**/profile/")
    assert f"Your email address is now {new_email}." in page.inner_text(".flashes")
    assert new_email in page.inner_text("dd[data-email-state=confirmed]")
