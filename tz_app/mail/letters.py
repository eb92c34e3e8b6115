"""Letters: what a queued message becomes just before it is sent."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, render_template

from ..i18n import DEFAULT_LANGUAGE
from ..models import MailMessage


@dataclass(frozen=True)
class Letter:
    """One rendered mail: the recipient's address, the subject, and the body twice."""

    to: str
    subject: str
    text: str
    html: str


Builder = Callable[[MailMessage], Letter | None]
KIND_MAX = 40
_builders: dict[str, Builder] = {}


def register(kind: str) -> Callable[[Builder], Builder]:
    """Decorate ``build(message) -> Letter | None``, the builder of the letters of ``kind``.

    The deliverer calls it under the message's language, just before sending;
    it reads what it needs (the user, ``message.params``), issues any link
    token (tz_app.tokens.issue) and returns ``compose(...)``, or None when
    there is nothing to send (no such account, a deleted one): the message is
    then dropped. Raises ValueError when another builder has ``kind``.
    """
    if not kind or len(kind) > KIND_MAX:
        raise ValueError(f"a letter kind has 1 to {KIND_MAX} characters, got {kind!r}")

    def decorate(build: Builder) -> Builder:
        known = _builders.get(kind)
        # The same function again (its module imported twice) is no conflict.
        if known is not None and _name(known) != _name(build):
            raise ValueError(f"letter kind {kind!r} is already registered")
        _builders[kind] = build
        return build

    return decorate


def _name(build: Builder) -> str:
    return f"{build.__module__}.{build.__qualname__}"


def builder_for(kind: str) -> Builder | None:
    return _builders.get(kind)


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` under PUBLIC_URL.

    Never built from the request: a forged Host or X-Forwarded-Host header
    cannot put another site's address into a mail.
    """
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def compose(message: MailMessage, *, to: str, subject, **context) -> Letter:
    """The letter rendered from ``templates/mail/<kind>.txt`` and ``.html``.

    Both extend ``mail/base.txt`` / ``mail/base.html``, which greet ``user``
    (when given), show ``link`` as a button labelled ``link_label`` and as
    text, and say where the mail comes from; the letter fills ``body``.
    ``subject`` may be a lazy string: it is rendered here, in the message's
    language.
    """
    subject = str(subject)
    context = {
        "subject": subject,
        "language": message.language or DEFAULT_LANGUAGE,
        "site": urlsplit(current_app.config["PUBLIC_URL"]).netloc,
        "user": None,
        "link": None,
        "link_label": None,
        **context,
    }
    return Letter(
        to=to,
        subject=subject,
        text=render_template(f"mail/{message.kind}.txt", **context),
        html=render_template(f"mail/{message.kind}.html", **context),
    )
