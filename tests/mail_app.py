"""A letter kind for the tests only, and an app serving a route that queues it (for gunicorn)."""

from flask import request
from flask_babel import gettext as _
from jinja2 import ChoiceLoader, DictLoader

from tz_app import create_app, mail
from tz_app.extensions import csrf, db
from tz_app.models import User

KIND = "test_note"
TEMPLATES = {
    "mail/test_note.txt": (
        "{% extends 'mail/base.txt' %}{% block body %}{{ _('Password') }}: #{{ number }}"
        "{% endblock %}"
    ),
    "mail/test_note.html": (
        "{% extends 'mail/base.html' %}{% block body %}<p>{{ _('Password') }}: #{{ number }}</p>"
        "{% endblock %}"
    ),
}


@mail.register(KIND)
def build_test_note(message):
    """To the user (None once the account is gone), or to the address alone."""
    user = None
    if message.user_id is not None:
        user = db.session.get(User, message.user_id)
        if user is None or not user.is_active:
            return None
    return mail.compose(
        message,
        to=message.to_email or user.email,
        subject=f"{_('Sign in')} #{message.id}",
        user=user,
        number=message.params.get("number", message.id),
        link=mail.public_url("auth.login", next=f"/note/{message.id}/"),
        link_label=_("Sign in"),
    )


def with_test_letters(app):
    """``app`` able to render the test letter's templates."""
    app.jinja_env.loader = ChoiceLoader([DictLoader(TEMPLATES), app.jinja_env.loader])
    return app


def create_test_app():
    """tz_app plus ``POST /test/mail/`` (field ``to``), which queues a test letter and commits.

    The deliverer polls only hourly here: a letter that arrives at once was
    woken by the commit.
    """
    app = with_test_letters(create_app({"MAIL_POLL_INTERVAL": 3600}))

    @csrf.exempt
    def queue_test_mail():
        mail.queue(KIND, to_email=request.form["to"])
        db.session.commit()
        return "queued", 201

    app.add_url_rule("/test/mail/", view_func=queue_test_mail, methods=["POST"])
    return app
