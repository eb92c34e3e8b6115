"""The users page, update and delete, for each role, as the contract states them."""

import re

import pytest
from conftest import PASSWORD, auth_cookie, login, post

from tz_app.extensions import db
from tz_app.models import Role, Session, User


def rows(html: str) -> dict[int, str]:
    """{user id: the row's HTML} for each row on the users page."""
    found = re.findall(r'<tr data-user-id="(\d+)"(.*?)</tr>', html, flags=re.S)
    return {int(uid): body for uid, body in found}


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user("admin"),
        "manager": make_user("manager"),
        "user": make_user("user"),
        "other": make_user("user"),
    }


@pytest.mark.parametrize("role", ["admin", "manager", "user"])
def test_rows_and_buttons_follow_the_default_rules(app, people, role):
    client = app.test_client()
    me = people[role]
    login(client, me.email)
    listed = rows(client.get("/home/").get_data(as_text=True))
    everyone = {p.id for p in people.values()}
    assert set(listed) == (everyone if role in ("admin", "manager") else {me.id})
    for uid, body in listed.items():
        mine = uid == me.id
        may = role == "admin" or mine
        assert ('data-action="edit"' in body) == may, (role, uid)
        assert ('data-action="delete"' in body) == may, (role, uid)


def test_update_by_form_and_by_json(app, people):
    client = app.test_client()
    login(client, people["admin"].email)
    target = people["other"]
    response = post(client, f"/users/{target.id}/update/", {"name": "Nadia", "last_name": "Bondar"})
    assert response.status_code == 302 and response.headers["Location"] == "/home/"
    assert "Saved Nadia" in client.get("/home/").get_data(as_text=True)
    response = post(client, f"/users/{target.id}/update/", {"email": "NEW@Example.com"}, json=True)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": target.id,
        "name": "Nadia",
        "last_name": "Bondar",
        "paternity_name": "",
        "email": "new@example.com",
        "role": "user",
        "is_active": True,
    }


@pytest.mark.parametrize(
    "data, field",
    [({"name": ""}, "name"), ({"email": "nope"}, "email"), ({"last_name": " "}, "last_name")],
)
def test_invalid_update_changes_nothing(app, people, data, field):
    client = app.test_client()
    login(client, people["admin"].email)
    target = people["other"]
    response = post(client, f"/users/{target.id}/update/", data, json=True)
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == [field]
    with app.app_context():
        user = db.session.get(User, target.id)
        assert (user.name, user.email) == (target.name, target.email)


def test_duplicate_email_is_refused_case_insensitively(app, people):
    client = app.test_client()
    login(client, people["admin"].email)
    response = post(
        client,
        f"/users/{people['other'].id}/update/",
        {"email": people["user"].email.upper()},
        json=True,
    )
    assert response.status_code == 400 and "email" in response.get_json()["errors"]


def test_absent_fields_stay_and_an_empty_patronymic_clears(app, make_user, people):
    target = make_user("user", paternity_name="Ivanovych", last_name="Petrenko")
    client = app.test_client()
    login(client, people["admin"].email)
    post(client, f"/users/{target.id}/update/", {"name": "Taras"}, json=True)
    with app.app_context():
        user = db.session.get(User, target.id)
        assert (user.name, user.last_name, user.paternity_name) == (
            "Taras",
            "Petrenko",
            "Ivanovych",
        )
    post(client, f"/users/{target.id}/update/", {"paternity_name": ""}, json=True)
    with app.app_context():
        assert db.session.get(User, target.id).paternity_name is None


def test_password_update_ends_other_sessions_and_renews_the_editors(app, people):
    me = people["user"]
    editor, elsewhere = app.test_client(), app.test_client()
    login(editor, me.email)
    login(elsewhere, me.email)
    before = auth_cookie(editor).value
    post(editor, f"/users/{me.id}/update/", {"password": ""}, json=True)
    assert elsewhere.get("/home/").status_code == 200  # empty password: unchanged
    response = post(editor, f"/users/{me.id}/update/", {"password": "brand new phrase"}, json=True)
    assert response.status_code == 200
    assert auth_cookie(editor).value != before
    assert editor.get("/home/").status_code == 200
    assert elsewhere.get("/home/").status_code == 302
    assert login(app.test_client(), me.email, "brand new phrase").status_code == 302


def test_admin_changing_someones_password_signs_them_out(app, people):
    victim = app.test_client()
    login(victim, people["other"].email)
    admin = app.test_client()
    login(admin, people["admin"].email)
    post(admin, f"/users/{people['other'].id}/update/", {"password": "reset by admin 1"})
    assert victim.get("/home/").status_code == 302


def test_only_role_updaters_change_roles(app, people):
    user = app.test_client()
    login(user, people["user"].email)
    response = post(user, f"/users/{people['user'].id}/update/", {"role": "admin", "name": "Me"})
    assert response.status_code == 302
    with app.app_context():
        me = db.session.get(User, people["user"].id)
        assert me.role.name == "user" and me.name == "Me"
    admin = app.test_client()
    login(admin, people["admin"].email)
    response = post(admin, f"/users/{people['user'].id}/update/", {"role": "manager"}, json=True)
    assert response.get_json()["role"] == "manager"
    bad = post(admin, f"/users/{people['user'].id}/update/", {"role": "emperor"}, json=True)
    assert bad.status_code == 400 and "role" in bad.get_json()["errors"]


def test_mass_assignment_is_ignored(app, people):
    client = app.test_client()
    login(client, people["user"].email)
    post(
        client,
        f"/users/{people['user'].id}/update/",
        {"is_active": "0", "id": "999", "role_id": "1", "password_hash": "x", "name": "Still"},
    )
    with app.app_context():
        me = db.session.get(User, people["user"].id)
        assert me.is_active and me.id == people["user"].id and me.role.name == "user"
        assert me.password_hash != "x"


def test_last_admin_cannot_be_demoted_or_deleted(app, people):
    client = app.test_client()
    login(client, people["admin"].email)
    me = people["admin"].id
    demote = post(client, f"/users/{me}/update/", {"role": "user", "name": "Changed"})
    assert demote.status_code == 409
    assert "last active administrator" in demote.get_data(as_text=True)
    assert post(client, f"/users/{me}/delete/", {}).status_code == 409
    with app.app_context():
        user = db.session.get(User, me)
        assert user.role.name == "admin" and user.is_active and user.name != "Changed"


def test_with_two_admins_one_may_be_demoted(app, people, make_user):
    second = make_user("admin")
    client = app.test_client()
    login(client, people["admin"].email)
    assert post(client, f"/users/{second.id}/update/", {"role": "user"}).status_code == 302


def test_soft_delete_ends_every_session(app, people):
    victim = app.test_client()
    login(victim, people["other"].email)
    admin = app.test_client()
    login(admin, people["admin"].email)
    response = post(admin, f"/users/{people['other'].id}/delete/", {}, json=True)
    assert response.get_json() == {"deleted": people["other"].id, "signed_out": False}
    with app.app_context():
        user = db.session.get(User, people["other"].id)
        assert user is not None and user.is_active is False
        sessions = db.session.scalars(db.select(Session).where(Session.user_id == user.id))
        assert not any(s.is_active for s in sessions)
    assert victim.get("/home/").status_code == 302
    assert str(people["other"].id) not in rows(admin.get("/home/").get_data(as_text=True))
    for path in ("edit/", "update/", "delete/"):
        method = admin.get if path == "edit/" else (lambda p: post(admin, p, {}))
        assert method(f"/users/{people['other'].id}/{path}").status_code == 404
    assert login(app.test_client(), people["other"].email).status_code == 200


def test_deleting_yourself_signs_you_out(app, people):
    client = app.test_client()
    login(client, people["manager"].email)
    response = post(client, f"/users/{people['manager'].id}/delete/", {})
    assert response.status_code == 302 and response.headers["Location"] == "/login/"
    assert auth_cookie(client) is None
    assert client.get("/home/").status_code == 302


def test_idor_own_rights_never_reach_another_row(app, people):
    for role in ("user", "manager"):
        client = app.test_client()
        login(client, people[role].email)
        other = people["other"].id
        assert client.get(f"/users/{other}/edit/").status_code == 403
        assert post(client, f"/users/{other}/update/", {"name": "X"}).status_code == 403
        assert post(client, f"/users/{other}/update/", {"name": "X"}, json=True).status_code == 403
        assert post(client, f"/users/{other}/delete/", {}).status_code == 403
    with app.app_context():
        user = db.session.get(User, people["other"].id)
        assert user.name != "X" and user.is_active


def test_forbidden_answers_carry_the_reason(app, people):
    client = app.test_client()
    login(client, people["user"].email)
    page = client.get(f"/users/{people['other'].id}/edit/").get_data(as_text=True)
    assert "does not allow you to change user accounts that are not yours" in page


def test_search_and_paging(app, make_user, people):
    for n in range(25):
        make_user("user", name=f"Bulk{n:02d}", last_name="Zed")
    make_user("user", name="Under_score", last_name="Ostap")
    make_user("user", name="Percent", last_name="100%Sure", paternity_name="Mykolaiovych")
    client = app.test_client()
    login(client, people["admin"].email)
    page = client.get("/home/?q=zed&per_page=10").get_data(as_text=True)
    assert len(rows(page)) == 10 and "of 25 users matching" in page
    assert 'href="/home/?page=2&amp;q=zed&amp;per_page=10"' in page or "page=2" in page
    assert len(rows(client.get("/home/?q=zed&per_page=10&page=3").get_data(as_text=True))) == 5
    assert len(rows(client.get("/home/?q=_").get_data(as_text=True))) == 1
    assert len(rows(client.get("/home/?q=%25").get_data(as_text=True))) == 1
    assert len(rows(client.get("/home/?q=mykolaiovych").get_data(as_text=True))) == 1
    for query in ("page=0", "page=-3", "per_page=0", "per_page=1000", "page=abc", "page=99999"):
        assert client.get(f"/home/?{query}").status_code == 200
    assert len(rows(client.get("/home/?per_page=1000").get_data(as_text=True))) <= 100
    assert len(rows(client.get("/home/?per_page=0").get_data(as_text=True))) == 1


def test_password_column_never_leaves_the_server(app, people):
    client = app.test_client()
    login(client, people["admin"].email)
    body = client.get("/home/").get_data(as_text=True)
    assert "$2b$" not in body and PASSWORD not in body
    with app.app_context():
        assert db.session.scalar(db.select(Role).where(Role.name == "admin")) is not None
