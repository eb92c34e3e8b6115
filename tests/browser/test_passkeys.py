"""Second factors in Chromium: a passkey on its virtual authenticator, an authenticator app.

The relying party id must be a domain, so this server's PUBLIC_URL, and the
address the browser opens, is http://localhost:<port>.
"""

import time

import pyotp
import pytest
from servers import GunicornServer

from .support import e2e_database, people_on

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory):
    with e2e_database(tmp_path_factory, "passkeys") as url:
        instance = GunicornServer(url, workers=1, threads=4)
        instance.url = f"http://localhost:{instance.port}"
        instance.env["PUBLIC_URL"] = instance.url
        with instance:
            yield instance


@pytest.fixture
def people(browser, localhost_server):
    yield from people_on(browser, localhost_server.url)


def virtual_authenticator(person):
    """Chromium's virtual authenticator on this person's page: (CDP session, its id)."""
    cdp = person.context.new_cdp_session(person.page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return cdp, added["authenticatorId"]


def test_add_a_passkey_sign_out_sign_in_with_it_alone_then_lose_it(people):
    person = people()
    email, _password = person.sign_up(name="Keyholder")
    page = person.page
    cdp, authenticator = virtual_authenticator(person)

    page.goto("/mfa/")
    page.fill("#passkey_name", "Virtual laptop")
    page.click('button[data-passkey="register"]')
    page.wait_for_selector("li[data-passkey-id]")
    assert "Virtual laptop" in page.inner_text("[data-factor=passkey]")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]

    page.click("header form button[type=submit]")  # sign out
    page.wait_for_url("**/login/")
    assert all(c["name"] != "custom_sessionid" for c in person.context.cookies())

    page.click('button[data-passkey="sign-in"]')
    page.wait_for_url("**/home/")
    # Signed in as the owner of the passkey: a user sees their own row only.
    assert page.locator("tr[data-user-id]").count() == 1
    assert email in page.inner_text("tr[data-user-id]")
    page.goto("/sessions/")
    assert "Passkey" in page.inner_text("td[data-auth-method=passkey]")
    assert any(c["name"] == "custom_sessionid" for c in person.context.cookies())

    # The device is gone: a clean refusal, and no session.
    page.click("header form button[type=submit]")
    page.wait_for_url("**/login/")
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    other = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    page.click('button[data-passkey="sign-in"]')
    error = page.locator("[data-passkey-box] [data-passkey-error]")
    error.wait_for(state="visible")
    assert "No passkey was used" in error.inner_text()
    assert page.url.endswith("/login/")
    assert all(c["name"] != "custom_sessionid" for c in person.context.cookies())
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": other["authenticatorId"]})


def test_authenticator_app_set_up_and_sign_in_with_a_code(people):
    person = people()
    email, password = person.sign_up(name="Coder")
    page = person.page
    page.goto("/mfa/")
    page.click("text=Set up")
    page.wait_for_url("**/mfa/totp/")
    assert page.locator("figure.qr svg").is_visible()
    secret = page.get_attribute("[data-totp-secret]", "data-totp-secret")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main form button[type=submit]")
    codes = page.locator("[data-recovery-code]")
    codes.first.wait_for()
    assert codes.count() == 10

    page.click("header form button[type=submit]")
    page.wait_for_url("**/login/")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_url("**/login/mfa/")
    assert all(c["name"] != "custom_sessionid" for c in person.context.cookies())
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/home/")
    assert any(c["name"] == "custom_sessionid" for c in person.context.cookies())
