"""A browser's User-Agent header in words, for the sessions page."""

import re

from flask_babel import gettext as _

_BROWSERS = [
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+).*Safari/")),
    ("curl", re.compile(r"^curl/(\d+)")),
    ("Python", re.compile(r"python-requests/(\d+)|Python-urllib/(\d+)")),
]
_SYSTEMS = [
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
]


def describe(user_agent: str | None) -> str:
    """E.g. "Firefox 128 on Windows"; "Unknown browser" when it cannot tell."""
    if not user_agent:
        return _("Unknown browser")
    browser = next(
        (
            f"{name} {next(g for g in m.groups() if g)}"
            for name, pattern in _BROWSERS
            if (m := pattern.search(user_agent))
        ),
        None,
    )
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    if browser:
        return browser
    return _("A browser on %(system)s", system=system) if system else _("Unknown browser")
