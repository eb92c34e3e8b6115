"""The plain way, for comparison: Flask-Login's signed cookie and a role check in code.

Same tables, same query, the same columns and rows; what differs is how the
user is identified (a signed cookie, then the user loaded by id), how rights
are decided (role names compared in the view and the template), and how the
list is paged (Flask-SQLAlchemy's paginate: count(*) then OFFSET).

``/home/`` renders ``templates/baseline/home.html``, loaded by name and so
compiled once, as anyone would write it. ``/home/inline/`` renders the same
source with render_template_string, which compiles it on every request: how
this baseline used to be measured, kept to show what that cost.
"""

from pathlib import Path

from flask import Flask, abort, render_template, render_template_string, request
from flask_login import LoginManager, current_user, login_required, login_user
from sqlalchemy import select

from tz_app.extensions import db
from tz_app.models import User


class LoginUser:
    """What Flask-Login wants around a user row."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)

    def __getattr__(self, name):
        return getattr(self.user, name)


TEMPLATE = "baseline/home.html"


def create_baseline_app(database_url: str) -> Flask:
    app = Flask(__name__)
    inline_source = (Path(app.root_path) / "templates" / TEMPLATE).read_text()
    app.config.update(SECRET_KEY="baseline", SQLALCHEMY_DATABASE_URI=database_url)
    db.init_app(app)
    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        user = db.session.get(User, int(user_id))
        return LoginUser(user) if user is not None else None

    @app.get("/login-as/<int:user_id>")
    def login_as(user_id):
        login_user(LoginUser(db.get_or_404(User, user_id)))
        return "ok"

    def users_page():
        if current_user.role.name not in ("admin", "manager"):
            abort(403)
        stmt = (
            select(User)
            .where(User.is_active.is_(True))
            .order_by(User.last_name, User.name, User.id)
        )
        return db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=20)

    @app.get("/home/")
    @login_required
    def home():
        return render_template(TEMPLATE, page=users_page())

    @app.get("/home/inline/")
    @login_required
    def home_inline():
        return render_template_string(inline_source, page=users_page())

    return app
