"""The command line, through Flask's CLI runner."""

from datetime import timedelta

from conftest import login, make_test_app

from tz_app.extensions import db
from tz_app.models import AccessRoleRule, BusinessElement, Role, Session, User
from tz_app.permissions import can
from tz_app.rules import matrix


def counts(app):
    with app.app_context():
        return tuple(
            db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (Role, BusinessElement, AccessRoleRule, User)
        )


def test_seed_is_idempotent_and_keeps_admin_changes(app, runner):
    before = counts(app)
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0 and "Nothing to add" in result.output
    assert counts(app) == before
    assert runner.invoke(args=["rules", "grant", "user", "audit", "read_all"]).exit_code == 0
    assert runner.invoke(args=["seed"]).exit_code == 0
    assert "read_all" in rules_of(app)[("user", "audit")]


def rules_of(app):
    with app.app_context():
        return matrix()


def test_seed_demo_users_can_sign_in_and_keep_changed_passwords(app, runner):
    result = runner.invoke(args=["seed", "--demo"])
    assert result.exit_code == 0 and "demo user admin@test.com" in result.output
    for email, password in [
        ("admin@test.com", "admin123"),
        ("manager@test.com", "manager123"),
        ("user@test.com", "user123"),
    ]:
        assert login(app.test_client(), email, password).status_code == 302
    with app.app_context():
        db.session.scalar(db.select(User).where(User.email == "user@test.com")).password_hash = (
            "$2b$04$" + "x" * 53
        )
        db.session.commit()
    assert runner.invoke(args=["seed", "--demo"]).exit_code == 0
    assert login(app.test_client(), "user@test.com", "user123").status_code == 200


def test_demo_and_fake_users_are_refused_in_production(database_url, app):
    prod = make_test_app(database_url, APP_ENV="production", SECRET_KEY="p" * 40)
    runner = prod.test_cli_runner()
    for args in (["seed", "--demo"], ["seed", "--fake-users", "5"]):
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and "refused" in result.output
    assert counts(app)[3] == 0
    with prod.app_context():
        db.engine.dispose()


def test_fake_users_in_bulk(app, runner):
    result = runner.invoke(args=["seed", "--fake-users", "500"])
    assert result.exit_code == 0 and "added 500 generated users" in result.output
    with app.app_context():
        emails = db.session.scalars(db.select(User.email)).all()
        roles = set(db.session.scalars(db.select(Role.name).join(User.role)))
    assert len(emails) == len(set(emails)) == 500 and roles == {"user"}


def test_create_admin(app, runner):
    result = runner.invoke(
        args=["create-admin", "--email", "Boss@Example.com", "--password", "a strong one 42"]
    )
    assert result.exit_code == 0, result.output
    assert login(app.test_client(), "boss@example.com", "a strong one 42").status_code == 302
    again = runner.invoke(args=["create-admin", "--email", "boss@example.com", "--password", "x"])
    assert again.exit_code != 0
    weak = runner.invoke(args=["create-admin", "--email", "w@example.com", "--password", "123"])
    assert weak.exit_code != 0 and "at least 8" in weak.output
    prompted = runner.invoke(
        args=["create-admin", "--email", "p@example.com"],
        input="prompted pass 1\nprompted pass 1\n",
    )
    assert prompted.exit_code == 0


def test_rules_show_grant_revoke(app, runner, make_user):
    shown = runner.invoke(args=["rules", "show"])
    assert shown.exit_code == 0
    assert any(line.split()[:2] == ["manager", "users"] for line in shown.output.splitlines())
    manager = make_user("manager")
    result = runner.invoke(args=["rules", "grant", "manager", "users", "update_all"])
    assert result.exit_code == 0 and "manager: users: update_all on" in result.output
    with app.test_request_context():
        assert can(db.session.get(User, manager.id), "users", "update", owner_id=0)
    result = runner.invoke(args=["rules", "revoke", "manager", "users", "update_all"])
    assert "manager: users: update_all off" in result.output
    with app.test_request_context():
        assert not can(db.session.get(User, manager.id), "users", "update", owner_id=0)


def test_rules_locks_and_bad_names(app, runner):
    before = rules_of(app)
    for args, message in [
        (["rules", "revoke", "admin", "access_rules", "update_all"], "cannot be changed"),
        (["rules", "revoke", "admin", "roles", "read"], "cannot be changed"),
        (["rules", "grant", "ghost", "users", "read"], "No role named"),
        (["rules", "grant", "user", "nothing", "read"], "No business element"),
        (["rules", "grant", "user", "users", "fly"], "Unknown flag"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, result.output
    assert rules_of(app) == before


def test_sessions_purge(app, runner, make_user):
    keep, ended, expired = (make_user("user") for _ in range(3))
    for account in (keep, ended, expired):
        login(app.test_client(), account.email)
    with app.app_context():
        by_user = {s.user_id: s for s in db.session.scalars(db.select(Session))}
        by_user[ended.id].is_active = False
        by_user[expired.id].expires_at -= timedelta(days=60)
        db.session.commit()
    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0 and "Deleted 2" in result.output
    with app.app_context():
        assert set(db.session.scalars(db.select(Session.user_id))) == {keep.id}


def test_commands_before_migrations_say_what_to_do(tmp_path):
    app = make_test_app("sqlite:///" + str(tmp_path / "empty.sqlite3"))
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code != 0 and "db upgrade" in result.output
