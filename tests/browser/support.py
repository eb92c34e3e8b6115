"""People in browsers: a context, its console, and the steps everyone takes."""

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from databases import PostgresDatabase, _pg_available
from servers import prepare_database

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Failed fetches the page makes on purpose (an invalid inline save answers 400).
EXPECTED_CONSOLE = ("status of 400",)
DEMO = {
    "admin": ("admin@test.com", "admin123"),
    "manager": ("manager@test.com", "manager123"),
    "user": ("user@test.com", "user123"),
}


class Person:
    """One browser context: its page, what its console said, and how to sign in."""

    def __init__(self, browser, base_url, locale="en-US", javascript=True):
        self.context = browser.new_context(
            base_url=base_url,
            viewport={"width": 1280, "height": 800},
            locale=locale,
            java_script_enabled=javascript,
        )
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on(
            "console", lambda m: self.console.append(m.text) if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.page.on("dialog", lambda dialog: dialog.accept())

    def sign_in(self, email, password):
        self.page.goto("/login/")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("form button[type=submit].btn-primary")
        self.page.wait_for_url("**/home/")
        return self

    def sign_up(self, name="Test", last_name=None, password="a browser passphrase"):
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        self.page.goto("/signup/")
        self.page.fill("#name", name)
        self.page.fill("#last_name", last_name or "Browser")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.fill("#password_confirm", password)
        self.page.click("form button[type=submit].btn-primary")
        self.page.wait_for_url("**/home/")
        return email, password

    def unexpected_console(self) -> list[str]:
        return [m for m in self.console if not any(ok in m for ok in EXPECTED_CONSOLE)]


def people_on(browser, url: str, **defaults):
    """A fixture's body: yields ``open_person(**kwargs)``; then checks each console, closes all."""
    opened: list[Person] = []

    def open_person(**kwargs):
        person = Person(browser, url, **{**defaults, **kwargs})
        opened.append(person)
        return person

    yield open_person
    problems = {i: p.unexpected_console() for i, p in enumerate(opened)}
    for person in opened:
        person.context.close()
    assert not any(problems.values()), f"console errors: {problems}"


def screenshot(page, name):
    """Save the page for the README, when asked to (``make screenshots``)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name))


@contextmanager
def e2e_database(tmp_path_factory, name: str):
    """A migrated, seeded database for a browser test's server: PostgreSQL when it
    answers, else a SQLite file; dropped afterwards. Yields its URL."""
    if _pg_available() is None:
        database = PostgresDatabase()
        url, drop = database.url, database.drop
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp(name) / "e2e.sqlite3")
        drop = lambda: None  # noqa: E731
    prepare_database(url)
    try:
        yield url
    finally:
        drop()
