"""Administration: the rules matrix, roles, creating users and the audit log."""

import re
from pathlib import Path

from conftest import login, make_test_app, post

from tz_app.admin.audit_log import KINDS
from tz_app.extensions import db
from tz_app.models import FLAGS, AuditEvent, BusinessElement, Role, User
from tz_app.rules import matrix, set_flags


def checked_boxes(html: str) -> set[str]:
    """Names of the checked checkboxes on the rules page."""
    return {
        m.group(1)
        for m in re.finditer(r'<input type="checkbox" name="([^"]+)"[^>]*\bchecked\b', html)
    }


def current_form(client) -> dict:
    """The rules form as a browser would submit it: checked, enabled boxes and cells."""
    html = client.get("/admin/rules/").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="([^"]+)"([^>]*)>', html)
    data = {name: "on" for name, attrs in boxes if "checked" in attrs and "disabled" not in attrs}
    data["cell"] = re.findall(r'<input type="hidden" name="cell" value="([^"]+)">', html)
    return data


def rules_of(app):
    with app.app_context():
        return matrix()


def test_matrix_shows_the_seeded_rules(signed_in):
    client, _ = signed_in("admin")
    html = client.get("/admin/rules/").get_data(as_text=True)
    boxes = checked_boxes(html)
    assert {f"admin:users:{f}" for f in FLAGS} <= boxes
    assert "manager:users:read_all" in boxes
    assert "manager:users:update_all" not in boxes
    assert "user:users:update" in boxes
    assert not any(b.startswith("user:access_rules:") for b in boxes)


def test_round_trip_grant_and_revoke(app, signed_in):
    admin, _ = signed_in("admin")
    manager, account = signed_in("manager")
    other = signed_in("user")[1]
    page = manager.get("/home/").get_data(as_text=True)
    assert f'data-user-id="{other.id}"' in page
    assert f'href="/users/{other.id}/edit/"' not in page

    form = current_form(admin)
    form["manager:users:update_all"] = "on"
    response = post(admin, "/admin/rules/", form, follow_redirects=True)
    assert "manager: users: update_all on" in response.get_data(as_text=True)
    assert ("manager", "users") in rules_of(app)
    assert "update_all" in rules_of(app)[("manager", "users")]
    # The manager, already signed in, sees the edit control on the next request.
    page = manager.get("/home/").get_data(as_text=True)
    assert f'href="/users/{other.id}/edit/"' in page
    assert post(manager, f"/users/{other.id}/update/", {"name": "Renamed"}).status_code == 302

    form = current_form(admin)
    del form["manager:users:update_all"]
    response = post(admin, "/admin/rules/", form, follow_redirects=True)
    assert "manager: users: update_all off" in response.get_data(as_text=True)
    assert post(manager, f"/users/{other.id}/update/", {"name": "Again"}).status_code == 403
    with app.app_context():
        changes = db.session.scalars(
            db.select(AuditEvent.detail).where(AuditEvent.kind == "rules.changed")
        ).all()
    assert [c["changes"] for c in changes] == [
        ["manager: users: update_all on"],
        ["manager: users: update_all off"],
    ]
    assert account.id


def test_post_sets_exactly_the_flags_sent(app, signed_in):
    admin, _ = signed_in("admin")
    before = rules_of(app)
    response = post(admin, "/admin/rules/", {"user:sessions:read": "on"})
    assert response.status_code == 302
    after = rules_of(app)
    assert after[("user", "sessions")] == {"read"}
    assert after[("user", "users")] == frozenset()
    assert after[("manager", "users")] == frozenset()
    # Locked cells stay whole even though the post left them out.
    assert after[("admin", "roles")] == set(FLAGS) == after[("admin", "access_rules")]
    assert before[("admin", "users")] == set(FLAGS) != after[("admin", "users")]


def test_cells_limit_what_a_post_touches(app, signed_in):
    admin, _ = signed_in("admin")
    post(admin, "/admin/rules/", {"cell": ["user:users"], "user:users:read": "on"})
    after = rules_of(app)
    assert after[("user", "users")] == {"read"}
    assert after[("user", "sessions")] == {"read", "delete"}
    assert after[("manager", "users")] == {"read", "read_all", "update", "delete"}


def test_locked_cells_refuse_crafted_posts(app, signed_in):
    admin, _ = signed_in("admin")
    form = current_form(admin)
    form["cell"] = [*form["cell"], "admin:access_rules"]
    form = {k: v for k, v in form.items() if not k.startswith("admin:roles:")}
    response = post(admin, "/admin/rules/", form)
    assert response.status_code in (302, 400)
    after = rules_of(app)
    assert after[("admin", "roles")] == set(FLAGS)
    assert after[("admin", "access_rules")] == set(FLAGS)
    html = admin.get("/admin/rules/").get_data(as_text=True)
    assert re.search(r'name="admin:roles:read_all"[^>]*disabled', html)


def test_unknown_fields_are_rejected_and_nothing_changes(app, signed_in):
    admin, _ = signed_in("admin")
    before = rules_of(app)
    for bad in (
        {"ghost:users:read": "on"},
        {"user:nothing:read": "on"},
        {"user:users:fly": "on"},
        {"user:users": "on"},
        {"cell": "x:y"},
    ):
        assert post(admin, "/admin/rules/", bad).status_code == 400
    assert rules_of(app) == before


def test_rules_page_access(signed_in):
    manager, _ = signed_in("manager")
    assert manager.get("/admin/rules/").status_code == 403
    assert post(manager, "/admin/rules/", {"manager:users:update_all": "on"}).status_code == 403


def test_read_only_viewer_sees_disabled_boxes_and_cannot_save(app, signed_in):
    with app.app_context():
        role = db.session.scalar(db.select(Role).where(Role.name == "manager"))
        element = db.session.scalar(
            db.select(BusinessElement).where(BusinessElement.code == "access_rules")
        )
        set_flags(role, element, {"read_all"})
        db.session.commit()
    manager, _ = signed_in("manager")
    html = manager.get("/admin/rules/").get_data(as_text=True)
    assert "Save rules" not in html
    assert re.search(r'name="user:users:read"[^>]*disabled', html)
    assert post(manager, "/admin/rules/", {}).status_code == 403


def test_change_through_one_instance_is_seen_by_another(database_url, app, make_user):
    other_app = make_test_app(database_url)
    admin_account = make_user("admin")
    manager_account = make_user("manager")
    target = make_user("user")
    admin = app.test_client()
    login(admin, admin_account.email)
    manager = other_app.test_client()
    login(manager, manager_account.email)
    assert post(manager, f"/users/{target.id}/update/", {"name": "X"}).status_code == 403
    form = current_form(admin)
    form["manager:users:update_all"] = "on"
    post(admin, "/admin/rules/", form)
    assert post(manager, f"/users/{target.id}/update/", {"name": "X"}).status_code == 302
    with other_app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_roles_page_lists_counts_and_creates(app, signed_in, make_user):
    admin, _ = signed_in("admin")
    make_user("user")
    html = admin.get("/admin/roles/").get_data(as_text=True)
    assert "manager" in html and "user" in html
    response = post(admin, "/admin/roles/", {"name": "Auditor"}, follow_redirects=True)
    assert "Created role auditor" in response.get_data(as_text=True)
    with app.app_context():
        role = db.session.scalar(db.select(Role).where(Role.name == "auditor"))
        assert role is not None
        assert not any(flags for (r, _), flags in matrix().items() if r == "auditor")
    assert 'name="auditor:users:read"' in admin.get("/admin/rules/").get_data(as_text=True)
    again = post(admin, "/admin/roles/", {"name": "auditor"})
    assert again.status_code == 400
    assert "already exists" in again.get_data(as_text=True)
    assert post(admin, "/admin/roles/", {"name": "bad:name"}).status_code == 400


def test_role_rename_and_delete(app, signed_in, make_user):
    admin, _ = signed_in("admin")
    post(admin, "/admin/roles/", {"name": "temp"})
    with app.app_context():
        role_id = db.session.scalar(db.select(Role.id).where(Role.name == "temp"))
    assert post(admin, f"/admin/roles/{role_id}/rename/", {"name": "interim"}).status_code == 302
    holder = make_user("interim")
    response = post(admin, f"/admin/roles/{role_id}/delete/", {})
    assert response.status_code == 409
    assert "held by 1 user" in response.get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, holder.id)
        user.role = db.session.scalar(db.select(Role).where(Role.name == "user"))
        db.session.commit()
    assert post(admin, f"/admin/roles/{role_id}/delete/", {}).status_code == 302
    with app.app_context():
        assert db.session.get(Role, role_id) is None


def test_built_in_roles_cannot_be_renamed_or_deleted(app, signed_in):
    admin, _ = signed_in("admin")
    with app.app_context():
        ids = dict(db.session.execute(db.select(Role.name, Role.id)).all())
    assert post(admin, f"/admin/roles/{ids['admin']}/rename/", {"name": "boss"}).status_code == 409
    assert post(admin, f"/admin/roles/{ids['user']}/delete/", {}).status_code == 409


def test_roles_access(signed_in):
    manager, _ = signed_in("manager")
    assert manager.get("/admin/roles/").status_code == 200  # read all on roles
    assert post(manager, "/admin/roles/", {"name": "x"}).status_code == 403
    user, _ = signed_in("user")
    assert user.get("/admin/roles/").status_code == 403


def test_deleted_role_cache_is_not_reused(app, signed_in):
    """A role id reused after deletion must not inherit the old role's cached rules."""
    admin, _ = signed_in("admin")
    post(admin, "/admin/roles/", {"name": "gone"})
    with app.app_context():
        gone = db.session.scalar(db.select(Role).where(Role.name == "gone"))
    form = current_form(admin)
    form["gone:users:read_all"] = "on"
    post(admin, "/admin/rules/", form)
    probe, _ = signed_in("gone")
    assert probe.get("/home/").status_code == 200
    with app.app_context():
        user = db.session.scalar(db.select(User).join(User.role).where(Role.name == "gone"))
        db.session.delete(user)
        db.session.delete(db.session.get(Role, gone.id))
        db.session.commit()
        fresh = Role(id=gone.id, name="fresh")
        db.session.add(fresh)
        db.session.commit()
    newcomer, _ = signed_in("fresh")
    assert newcomer.get("/home/").status_code == 403


def test_admin_creates_a_user(app, signed_in):
    admin, _ = signed_in("admin")
    assert admin.get("/users/new/").status_code == 200
    response = post(
        admin,
        "/users/new/",
        {
            "name": "Nina",
            "last_name": "Nova",
            "email": "Nina@Example.com",
            "role": "manager",
            "password": "a fresh passphrase",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "nina@example.com"))
        assert user.role.name == "manager" and user.is_active
    assert login(app.test_client(), "nina@example.com", "a fresh passphrase").status_code == 302
    bad = post(
        admin,
        "/users/new/",
        {"name": "", "last_name": "N", "email": "nope", "role": "user", "password": "123"},
        json=True,
    )
    assert bad.status_code == 400
    assert set(bad.get_json()["errors"]) >= {"name", "email", "password"}


def test_only_create_all_may_create_users(signed_in):
    manager, _ = signed_in("manager")
    assert manager.get("/users/new/").status_code == 403
    assert 'data-action="create"' not in manager.get("/home/").get_data(as_text=True)
    admin, _ = signed_in("admin")
    assert 'data-action="create"' in admin.get("/home/").get_data(as_text=True)


def test_audit_page_filters(app, signed_in, make_user):
    admin, admin_account = signed_in("admin")
    victim = make_user("user")
    login(app.test_client(), victim.email, "wrong password")
    post(admin, f"/users/{victim.id}/delete/", {})
    page = admin.get("/admin/audit/").get_data(as_text=True)
    assert page.index('data-kind="user.deleted"') < page.index('data-kind="auth.login_failed"')
    filtered = admin.get("/admin/audit/?kind=user.deleted").get_data(as_text=True)
    assert 'data-kind="user.deleted"' in filtered
    assert 'data-kind="auth.login_failed"' not in filtered
    by_target = admin.get(f"/admin/audit/?target={victim.email}").get_data(as_text=True)
    assert 'data-kind="auth.login_failed"' in by_target
    assert 'data-kind="user.deleted"' in by_target
    by_actor = admin.get(f"/admin/audit/?actor={admin_account.email}").get_data(as_text=True)
    assert 'data-kind="auth.login_failed"' not in by_actor
    assert 'data-kind="user.deleted"' in by_actor
    assert admin.get("/admin/audit/?page=99999&per_page=0").status_code == 200


def test_audit_page_is_admin_only(signed_in):
    for role in ("manager", "user"):
        client, _ = signed_in(role)
        assert client.get("/admin/audit/").status_code == 403


def test_every_audit_kind_the_code_records_has_a_label():
    """The audit log names each event in words, never by its code."""
    source = "\n".join(p.read_text() for p in Path("tz_app").rglob("*.py"))
    recorded = set(
        re.findall(
            r'^[A-Z_]+ = "((?:auth|user|password|email|role|rules|session)\.\w+)"', source, re.M
        )
    )
    recorded |= set(re.findall(r'audit\.record\(\s*"([a-z_]+\.[a-z_]+)"', source))
    assert len(recorded) > 25
    assert sorted(recorded - set(KINDS)) == []
