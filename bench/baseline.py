"""The plain way, for comparison: Flask-Login's signed cookie and a role check in code.

Same tables, same query, a page of the same size; what differs is how the
user is identified (a signed cookie, then the user loaded by id), how rights
are decided (role names compared in the view and the template), and how the
list is paged (Flask-SQLAlchemy's paginate: count(*) then OFFSET).
"""

from flask import Flask, abort, render_template_string, request
from flask_login import LoginManager, current_user, login_required, login_user
from sqlalchemy import select

from tz_app.extensions import db
from tz_app.models import User

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Users</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body><header><a href="/">tz_app</a> {{ current_user.name }} {{ current_user.role.name }}</header>
<main><h1>Users</h1>
<p>Showing {{ page.first }}–{{ page.last }} of {{ page.total }}.</p>
<table><thead><tr><th>Last name</th><th>First name</th><th>Patronymic</th><th>Email</th>
<th>Role</th><th></th></tr></thead><tbody>
{% for u in page.items %}
<tr data-user-id="{{ u.id }}"><td>{{ u.last_name }}</td><td>{{ u.name }}</td>
<td>{{ u.paternity_name or '' }}</td><td>{{ u.email }}</td><td>{{ u.role.name }}</td>
<td>{% if current_user.role.name == 'admin' or u.id == current_user.id %}
<a href="/users/{{ u.id }}/edit/" data-action="edit">Edit</a>
<form method="post" action="/users/{{ u.id }}/delete/"><button data-action="delete">Delete</button>
</form>{% endif %}</td></tr>
{% endfor %}
</tbody></table>
{% for n in range(1, [page.pages, 8]|min + 1) %}<a href="?page={{ n }}">{{ n }}</a> {% endfor %}
</main></body></html>"""


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


def create_baseline_app(database_url: str) -> Flask:
    app = Flask(__name__)
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

    @app.get("/home/")
    @login_required
    def home():
        if current_user.role.name not in ("admin", "manager"):
            abort(403)
        stmt = (
            select(User)
            .where(User.is_active.is_(True))
            .order_by(User.last_name, User.name, User.id)
        )
        page = db.paginate(stmt, page=request.args.get("page", 1, type=int), per_page=20)
        return render_template_string(PAGE, page=page)

    return app
