"""A real browser (Debian's Chromium, driven by Playwright) against gunicorn."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from servers import GunicornServer

from .support import e2e_database, people_on

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with e2e_database(tmp_path_factory, "browser") as url:
        instance = GunicornServer(url, workers=1, threads=8)
        instance.start()
        yield instance
        instance.stop()


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def people(browser, server):
    """``people()`` opens a new browser context; all are closed and checked after the test."""
    yield from people_on(browser, server.url)
