"""can() exactly as the contract defines it, against the seeded default rules."""

import pytest
from conftest import csrf_token, login, make_test_app, post

from tz_app.extensions import db
from tz_app.models import ACTIONS, BusinessElement, Role, User
from tz_app.permissions import can
from tz_app.rules import set_flags

# (role, element, action) -> (allowed on own, allowed on someone else's), from the contract.
DEFAULTS = {
    "admin": {
        e: {a: (True, True) for a in ACTIONS}
        for e in ("users", "roles", "access_rules", "sessions")
    }
    | {
        "audit": {
            "read": (True, True),
            "create": (False, False),
            "update": (False, False),
            "delete": (False, False),
        }
    },
    "manager": {
        "users": {
            "read": (True, True),
            "create": (False, False),
            "update": (True, False),
            "delete": (True, False),
        },
        "roles": {
            "read": (True, True),
            "create": (False, False),
            "update": (False, False),
            "delete": (False, False),
        },
        "access_rules": {a: (False, False) for a in ACTIONS},
        "sessions": {
            "read": (True, False),
            "create": (False, False),
            "update": (False, False),
            "delete": (True, False),
        },
        "audit": {a: (False, False) for a in ACTIONS},
    },
    "user": {
        "users": {
            "read": (True, False),
            "create": (False, False),
            "update": (True, False),
            "delete": (True, False),
        },
        "roles": {a: (False, False) for a in ACTIONS},
        "access_rules": {a: (False, False) for a in ACTIONS},
        "sessions": {
            "read": (True, False),
            "create": (False, False),
            "update": (False, False),
            "delete": (True, False),
        },
        "audit": {a: (False, False) for a in ACTIONS},
    },
}
CASES = [
    (role, element, action, own, other)
    for role, elements in DEFAULTS.items()
    for element, actions in elements.items()
    for action, (own, other) in actions.items()
]


@pytest.mark.parametrize("role, element, action, own, other", CASES)
def test_default_rules(app, make_user, role, element, action, own, other):
    account = make_user(role)
    with app.test_request_context():
        user = db.session.get(User, account.id)
        assert can(user, element, action, owner_id=user.id) is own
        assert can(user, element, action, owner_id=user.id + 1000) is other
        # Nobody owns it: only the *_all flag counts.
        assert can(user, element, action) is other


def test_denials_by_default(app, make_user):
    account = make_user("admin")
    with app.test_request_context():
        admin = db.session.get(User, account.id)
        assert can(None, "users", "read") is False
        assert can(admin, "no_such_element", "read") is False
        with pytest.raises(ValueError):
            can(admin, "users", "fly")
        admin.is_active = False
        assert can(admin, "users", "read") is False
        db.session.rollback()


def test_a_role_without_a_rule_row_gets_nothing(app, make_user):
    with app.app_context():
        db.session.add(Role(name="visitor"))
        db.session.commit()
    account = make_user("visitor")
    with app.test_request_context():
        user = db.session.get(User, account.id)
        assert not any(can(user, "users", a, owner_id=user.id) for a in ACTIONS)


def test_a_rule_change_is_seen_on_the_next_call(app, make_user):
    account = make_user("manager")
    with app.test_request_context():
        user = db.session.get(User, account.id)
        assert can(user, "users", "update", owner_id=0) is False
        role = user.role
        element = db.session.scalar(
            db.select(BusinessElement).where(BusinessElement.code == "users")
        )
        set_flags(role, element, {"read", "read_all", "update", "update_all"})
        db.session.commit()
        assert can(user, "users", "update", owner_id=0) is True


def test_a_second_instance_honours_a_change_on_its_next_request(database_url, app, make_user):
    manager_account = make_user("manager")
    other = make_user("user")
    second = make_test_app(database_url)
    manager = second.test_client()
    login(manager, manager_account.email)
    assert manager.get(f"/users/{other.id}/edit/").status_code == 403
    with app.app_context():
        role = db.session.scalar(db.select(Role).where(Role.name == "manager"))
        element = db.session.scalar(
            db.select(BusinessElement).where(BusinessElement.code == "users")
        )
        set_flags(role, element, {"read", "read_all", "update", "update_all", "delete"})
        db.session.commit()
    assert manager.get(f"/users/{other.id}/edit/").status_code == 200
    with app.app_context():
        set_flags(role, element, {"read", "update", "delete"})
        db.session.commit()
    page = manager.get("/home/").get_data(as_text=True)
    assert page.count("data-user-id=") == 1  # read_all is gone: only self
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_role_change_takes_effect_on_the_next_request(app, make_user):
    target = make_user("user")
    others = [make_user("user") for _ in range(2)]
    client = app.test_client()
    login(client, target.email)
    assert client.get("/home/").get_data(as_text=True).count("data-user-id=") == 1
    admin = app.test_client()
    login(admin, make_user("admin").email)
    post(admin, f"/users/{target.id}/update/", {"role": "manager"})
    assert client.get("/home/").get_data(as_text=True).count("data-user-id=") >= len(others) + 2
    assert csrf_token(client, "/home/")
