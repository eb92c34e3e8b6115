"""The interface language: the user's choice, then the browser's, then English."""

from babel import Locale
from flask import current_app, g, has_request_context, request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from jinja2 import pass_eval_context
from markupsafe import Markup

LANGUAGES = {"en": "English", "ru": "Русский", "uk": "Українська"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "lang"

# Built-in roles and elements get names in every language; roles an
# administrator creates are shown as they were named.
ROLE_LABELS = {"admin": _l("Administrator"), "manager": _l("Manager"), "user": _l("User")}
FLAG_LABELS = {
    "read": _l("read own"),
    "read_all": _l("read all"),
    "create": _l("create own"),
    "create_all": _l("create all"),
    "update": _l("update own"),
    "update_all": _l("update all"),
    "delete": _l("delete own"),
    "delete_all": _l("delete all"),
}


# Parsed once: Flask-Babel takes a Locale as it is, and parses a code anew
# on every request.
LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


def select_locale() -> Locale:
    """The language for this request. Never queries, so error pages can be built
    while the database is gone: the user's choice counts only as already loaded."""
    return LOCALES[_language()]


def _language() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    user = g.get("user")
    if user is not None:
        # Loaded attributes live in the instance's __dict__; an expired one is
        # simply absent there, where reading it would query.
        saved = vars(user).get("locale")
        if saved in LANGUAGES:
            return saved
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def _translations():
    """This request's catalogue, looked up once rather than on every string."""
    cached = g.get("_tz_translations")
    if cached is None:
        cached = g._tz_translations = get_translations()
    return cached


def template_gettext(string: str) -> str:
    return _translations().ugettext(string)


def template_ngettext(singular: str, plural: str, n: int) -> str:
    return _translations().ungettext(singular, plural, n)


def install_template_gettext(env) -> None:
    """``_``, ``gettext`` and ``ngettext`` in templates, as Jinja's newstyle gettext.

    The same answers as ``install_gettext_callables(..., newstyle=True)``, a
    translation marked safe where the template escapes and always formatted
    with its (escaped) variables, in one call rather than three nested ones:
    a users page holds about fifty of them.
    """
    env.install_gettext_callables(template_gettext, template_ngettext, newstyle=True)
    env.globals.update(_=_jinja_gettext, gettext=_jinja_gettext, ngettext=_jinja_ngettext)


@pass_eval_context
def _jinja_gettext(eval_ctx, string: str, /, **variables) -> str:
    translated = _translations().ugettext(string)
    if eval_ctx.autoescape:
        translated = Markup(translated)  # noqa: S704  (our own catalogue, as Jinja does)
    return translated % variables


@pass_eval_context
def _jinja_ngettext(eval_ctx, singular: str, plural: str, n: int, /, **variables) -> str:
    variables.setdefault("num", n)
    translated = _translations().ungettext(singular, plural, n)
    if eval_ctx.autoescape:
        translated = Markup(translated)  # noqa: S704  (our own catalogue, as Jinja does)
    return translated % variables


def role_label(name: str) -> str:
    """A role's name in the interface language (built-in roles only), memoised per request."""
    if not has_request_context():
        return str(ROLE_LABELS.get(name, name))
    labels = g.setdefault("_tz_role_labels", {})
    if name not in labels:
        labels[name] = str(ROLE_LABELS.get(name, name))
    return labels[name]


def set_language_cookie(response, language: str):
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
