"""SQL budgets per request, and the trigger-kept user counters."""

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from conftest import post
from sqlalchemy import event, func, select, text

from tz_app.extensions import db
from tz_app.models import Counter, Session, User


@contextmanager
def statements(app):
    """Collect the SQL statements the app sends while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("role", ["admin", "manager", "user"])
def test_home_page_one_costs_at_most_three_statements(app, signed_in, make_user, role):
    for _ in range(30):
        make_user("user")
    client, _ = signed_in(role)
    client.get("/home/")  # fills this process's policy cache
    with statements(app) as seen:
        response = client.get("/home/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("data-user-id=") == (1 if role == "user" else 20)
    assert len(seen) <= 3, "\n\n".join(seen)


def test_identity_is_one_statement(app, signed_in):
    client, _ = signed_in("user")
    client.get("/profile/")
    with statements(app) as seen:
        assert client.get("/profile/").status_code == 200
    # The identity, then the page's own: a pending change of address.
    assert len(seen) == 2, seen
    assert "sessions" in seen[0] and "users" in seen[0] and "roles" in seen[0]
    assert "mail_queue" in seen[1] and "link_tokens" in seen[1]


def test_last_seen_is_written_at_most_once_a_minute(app, signed_in):
    client, account = signed_in("user")
    with statements(app) as seen:
        for _ in range(5):
            client.get("/profile/")
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    with app.app_context():
        row = db.session.scalar(select(Session).where(Session.user_id == account.id))
        row.last_seen_at -= timedelta(minutes=2)
        db.session.commit()
        stale = row.last_seen_at
    with statements(app) as seen:
        client.get("/profile/")
    assert len([s for s in seen if s.lstrip().upper().startswith("UPDATE")]) == 1
    with app.app_context():
        assert db.session.get(Session, row.id).last_seen_at > stale


def test_a_rule_change_costs_one_reload_then_nothing(app, signed_in):
    admin, _ = signed_in("admin")
    client, _ = signed_in("manager")
    client.get("/home/")
    post(admin, "/admin/rules/", {"cell": ["manager:sessions"], "manager:sessions:read": "on"})
    with statements(app) as first:
        client.get("/profile/")
    with statements(app) as second:
        client.get("/profile/")
    # Identity, the manager's rules and the role names, and the page's pending email change.
    assert len(first) == 4
    assert len(second) == 2


def counters(app):
    with app.app_context():
        values = dict(db.session.execute(select(Counter.name, Counter.value)).all())
        active = db.session.scalar(select(func.count(User.id)).where(User.is_active))
        deleted = db.session.scalar(select(func.count(User.id)).where(~User.is_active))
    return values, active, deleted


def assert_counters_match(app):
    values, active, deleted = counters(app)
    assert values == {"users.active": active, "users.deleted": deleted}


def test_counters_follow_every_change(app, client, runner, signed_in, make_user):
    assert_counters_match(app)
    admin, _ = signed_in("admin")
    victim = make_user("user")
    make_user("user", is_active=False)
    assert_counters_match(app)
    post(admin, f"/users/{victim.id}/delete/", {})
    assert_counters_match(app)
    post(admin, f"/users/{victim.id}/restore/", {})
    assert_counters_match(app)
    post(admin, f"/users/{victim.id}/update/", {"name": "Only a name"})
    assert_counters_match(app)
    assert runner.invoke(args=["seed", "--fake-users", "250"]).exit_code == 0
    assert_counters_match(app)
    with app.app_context():
        db.session.execute(db.delete(User).where(User.id == victim.id))
        db.session.commit()
    assert_counters_match(app)
    _, active, _ = counters(app)
    page = admin.get("/home/").get_data(as_text=True)
    assert f"of {active:,} users." in page


def test_search_counts_stop_at_the_cap(app, runner, signed_in, monkeypatch):
    from tz_app.users import routes

    monkeypatch.setattr(routes, "SEARCH_COUNT_CAP", 50)
    assert runner.invoke(args=["seed", "--fake-users", "120"]).exit_code == 0
    admin, _ = signed_in("admin")
    page = admin.get("/home/?q=example.com").get_data(as_text=True)
    assert "of more than 50 matching" in page
    narrow = admin.get("/home/?q=fake7.").get_data(as_text=True)
    assert "more than" not in narrow


def test_search_words_are_written_into_the_statement(app, backend, runner, signed_in, make_user):
    """Each search is planned for its own words: a prepared statement's generic
    plan on PostgreSQL reads the whole trigram index for a one-letter word."""
    client, _ = signed_in("admin")
    # Someone holds the characters, so the search goes on past the index of them;
    # a crowd holds neither, so PostgreSQL's statistics call them rare.
    quinn = make_user("user", name="Quinn", last_name="Fifty_%")
    assert runner.invoke(args=["seed", "--fake-users", "150"]).exit_code == 0
    if backend == "postgresql":
        with app.app_context():
            db.session.execute(text("ANALYZE users"))
            db.session.commit()
    with statements(app) as seen:
        # Two words too short for a trigram index: "q" and "_%", wildcards escaped.
        page = client.get("/home/", query_string={"q": "q _%"}).get_data(as_text=True)
    assert f'data-user-id="{quinn.id}"' in page
    likes = [s for s in seen if "search_text LIKE" in s]
    assert likes
    for statement in likes:
        assert re.search(r"search_text LIKE '%+q%+' ESCAPE '/'", statement), statement
        assert re.search(r"search_text LIKE '%+/_/%+' ESCAPE '/'", statement), statement
        if backend == "postgresql":
            # Rare characters are written in too, for the planner to weigh.
            assert "string_to_array(users.search_text, NULL) @> ARRAY['q']" in statement
            assert re.search(r"ARRAY\['_', '%+'\]", statement), statement
    with statements(app) as seen:
        # A character nearly everyone holds is left to LIKE.
        assert client.get("/home/", query_string={"q": "e"}).status_code == 200
    assert not [s for s in seen if "string_to_array" in s]
