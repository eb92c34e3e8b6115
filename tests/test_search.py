"""Searching users: every word, anywhere in the names or the email, in any case, page by page."""

import re
import threading
from math import ceil

import pytest
from conftest import login, post
from sqlalchemy import select, text

from tz_app.extensions import db
from tz_app.models import User
from tz_app.users import routes, search


def listed_ids(html: str) -> list[int]:
    return [int(uid) for uid in re.findall(r'<tr data-user-id="(\d+)"', html)]


def found(client, query: str, per_page: int = 100, show: str = "") -> list[int]:
    """Every user a search lists, page after page, in list order."""
    ids, page = [], 1
    while True:
        html = client.get(
            "/home/", query_string={"q": query, "per_page": per_page, "page": page, "show": show}
        ).get_data(as_text=True)
        more = listed_ids(html)
        if not more or (ids and more[0] in ids):
            return ids
        ids += more
        if 'rel="next"' not in html:
            return ids
        page += 1


def expected(app, query: str, active: bool = True) -> list[int]:
    """The users whose stored search text holds every folded word, in list order."""
    words = query.casefold().split()
    with app.app_context():
        users = db.session.scalars(
            select(User)
            .where(User.is_active.is_(active))
            .order_by(User.last_name, User.name, User.id)
        ).all()
        return [u.id for u in users if all(w in u.search_text for w in words)]


PEOPLE = [
    ("Олена", "Шевченко", "Іванівна", "olena.s@example.com"),
    ("Петро", "ШЕВЧЕНКО", None, "petro@приклад.укр"),
    ("Straße", "Groß", None, "strasse@example.de"),
    ('Quote"d', "O'Brien", None, "obrien@example.com"),
    ("Star*", "NEAR(x)", "AND", "near@example.com"),
    ("Under_score", "100%Sure", "-minus", "pct@example.com"),
    ("Q", "Xu", None, "xu@example.cn"),
    ("Ivan", "Ivanov", "Ivanovych", "ivan@example.com"),
]
QUERIES = [
    "шевченко",
    "ШЕВЧЕНКО олена",
    "олена шевченко",
    "strasse",
    "STRASSE GROSS",
    "groß",
    'quote"d',
    '"',
    "o'brien",
    "near(x)",
    "near(",
    "and",
    "star*",
    "*",
    "100%",
    "%",
    "_",
    "under_",
    "-minus",
    "q",
    "xu",
    "xu q",
    "iv",
    "ivan ivanovych iv",
    "example.com",
    "@example",
    "приклад.укр",
    "nobody",
    "ivan nobody",
    "ав",
]


@pytest.fixture
def crowd(make_user):
    return [
        make_user("user", name=n, last_name=ln, paternity_name=p, email=e) for n, ln, p, e in PEOPLE
    ]


# Both ways of finding a word's users: from the words holding it, and (none
# allowed) through the trigram index alone.
WAYS = pytest.mark.parametrize("max_words", [search.MAX_WORDS, 0], ids=["words", "trigrams"])


@WAYS
@pytest.mark.parametrize("query", QUERIES)
def test_every_word_anywhere_in_any_case(app, signed_in, crowd, monkeypatch, max_words, query):
    monkeypatch.setattr(search, "MAX_WORDS", max_words)
    admin, _ = signed_in("admin")
    assert found(admin, query) == expected(app, query)


def test_deleted_users_are_searched_among_the_deleted(app, signed_in, crowd, make_user):
    admin, _ = signed_in("admin")
    gone = make_user("user", name="Vanished", last_name="Shevchenko", is_active=False)
    assert found(admin, "shevchenko", show="deleted") == [gone.id]
    assert gone.id not in found(admin, "shevchenko")


def index_holds(app, word: str) -> set[int]:
    """The users the SQLite search index finds for ``word``."""
    with app.app_context():
        rows = db.session.execute(
            text("SELECT rowid FROM users_search WHERE users_search MATCH :q"),
            {"q": '"' + word.replace('"', '""') + '"'},
        )
        return {row[0] for row in rows}


def chars_hold(app, char: str) -> set[int]:
    """The users the SQLite index of characters lists for ``char``."""
    with app.app_context():
        rows = db.session.execute(
            text("SELECT user_id FROM users_search_chars WHERE ch = :ch"), {"ch": char}
        )
        return {row[0] for row in rows}


def held_words(app) -> set[tuple]:
    """What the words of migration 0010 say: (word, last name, name, user id)."""
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT words.word, held.last_name, held.name, held.user_id "
                "FROM users_search_words AS held "
                "JOIN search_words AS words ON words.id = held.word_id"
            )
        )
        return {tuple(row) for row in rows}


def words_of_active_users(app) -> set[tuple]:
    """The same, from the users table: each word between spaces of each active
    user's search text."""
    with app.app_context():
        users = db.session.scalars(select(User).where(User.is_active.is_(True))).all()
        words = {(u, word) for u in users for word in u.search_text.split(" ") if word}
        return {(word, u.last_name, u.name, u.id) for u, word in words}


def test_the_indexes_follow_every_change(app, backend, signed_in, runner, crowd):
    admin, _ = signed_in("admin")
    target = crowd[7]

    def agrees(*words):
        assert held_words(app) == words_of_active_users(app)
        if backend != "sqlite":  # PostgreSQL reads its other indexes from the table itself
            return
        for word in words:
            assert index_holds(app, word.casefold()) == set(expected(app, word)), word
            for char in word.casefold():
                assert chars_hold(app, char) == set(expected(app, char)), char

    agrees("ivanov", "шевченко", "example.com", "groß")
    post(admin, f"/users/{target.id}/update/", {"last_name": "Renamed", "email": "new@x.org"})
    agrees("ivanov", "renamed", "new@x.org", "ivan@example")
    post(admin, f"/users/{target.id}/update/", {"name": "Ivo Second"})
    agrees("ivo", "second", "renamed")
    post(admin, f"/users/{target.id}/update/", {"password": "a new long passphrase"})
    agrees("renamed")
    post(admin, f"/users/{target.id}/delete/", {})
    agrees("renamed", "example.com")
    post(admin, f"/users/{target.id}/restore/", {})
    agrees("renamed", "example.com")
    assert runner.invoke(args=["seed", "--fake-users", "40"]).exit_code == 0
    agrees("example.com", "fake1")
    with app.app_context():
        db.session.execute(db.delete(User).where(User.id == crowd[0].id))
        db.session.commit()
    agrees("шевченко", "example.com")
    moved = crowd[2].id + 100_000
    with app.app_context():  # no route changes an id; the indexes follow one anyway
        db.session.execute(
            text("UPDATE users SET id = :new WHERE id = :old"), {"new": moved, "old": crowd[2].id}
        )
        db.session.commit()
    agrees("strasse", "groß")
    assert found(admin, "strasse") == [moved]
    assert found(admin, "renamed") == [target.id]
    assert found(admin, "second") == [target.id]


def test_known_words_add_no_words_and_ids_cannot_run_out(app, backend, signed_in, crowd):
    """Rewriting a user's text with words already known adds no word. On
    PostgreSQL every write still takes ids from the words' sequence (ON
    CONFLICT does), so the ids are 64-bit."""
    admin, _ = signed_in("admin")

    def words():
        with app.app_context():
            return db.session.execute(text("SELECT count(*) FROM search_words")).scalar()

    before = words()
    for name in ("Ivan", "Олена", "Ivan"):  # words other users already hold
        post(admin, f"/users/{crowd[3].id}/update/", {"name": name})
    assert words() == before
    assert found(admin, "олена") == expected(app, "олена")
    if backend == "postgresql":
        with app.app_context():
            types = db.session.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE (table_name, column_name) IN "
                    "(('search_words', 'id'), ('users_search_words', 'word_id'))"
                )
            ).all()
        assert {row.data_type for row in types} == {"bigint"} and len(types) == 2


def test_users_given_a_new_word_at_once_both_hold_it(app, backend, make_user):
    """Two transactions adding the same new word: the second waits for the
    first's word and then holds it too."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs a server")
    first, second = make_user("user"), make_user("user")
    with app.app_context():
        engine = db.engine
    rename = text("UPDATE users SET last_name = 'Zyzzyva', search_text = :text WHERE id = :id")
    with engine.connect() as one, engine.connect() as two:
        one.execute(rename, {"text": "zyzzyva one", "id": first.id})
        done = threading.Event()

        def other():
            two.execute(rename, {"text": "zyzzyva two", "id": second.id})
            two.commit()
            done.set()

        waiting = threading.Thread(target=other)
        waiting.start()
        assert not done.wait(0.5)  # held up by the first transaction's new word
        one.commit()
        waiting.join(10)
        assert done.is_set()
    held = {user for word, _last, _name, user in held_words(app) if word == "zyzzyva"}
    assert held == {first.id, second.id}


@pytest.fixture
def clustered(make_user):
    """Many users; "zebra" only in last names that sort after everyone else's."""
    early = [make_user("user", name=f"A{n:02d}", last_name=f"Able{n:02d}") for n in range(40)]
    late = [make_user("user", name=f"Z{n:02d}", last_name=f"Zebra{n:02d}") for n in range(12)]
    return early, late


@pytest.mark.parametrize(
    "query",
    ["zebra", "able", "tester", "example.com", "a", "z0", "zebra z", "able0 a0"],
)
@WAYS
def test_pages_keep_the_list_order_whichever_way_they_are_found(
    app, signed_in, clustered, monkeypatch, max_words, query
):
    """Few matches, many spread through the list, many at its end: each way of
    finding them gives the same rows on the same pages."""
    monkeypatch.setattr(search, "MAX_WORDS", max_words)
    cap = 10
    monkeypatch.setattr(routes, "SEARCH_COUNT_CAP", cap)
    monkeypatch.setattr(search, "PROBE_ROWS_PER_MATCH", 3)
    admin, _ = signed_in("admin")
    matches = expected(app, query)
    for per_page in (1, 4, 7):
        # Past the cap the page count stops at "more than 10": the pages it shows.
        shown = matches if len(matches) <= cap else matches[: ceil(cap / per_page) * per_page]
        assert found(admin, query, per_page=per_page) == shown, per_page


def test_a_page_past_the_end_of_a_search_shows_its_last_page(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    matches = expected(app, "example")
    last = ceil(len(matches) / 2)
    html = admin.get("/home/", query_string={"q": "example", "per_page": 2, "page": 99})
    assert listed_ids(html.get_data(as_text=True)) == matches[(last - 1) * 2 :]
    assert f"Showing {(last - 1) * 2 + 1}–{len(matches)} of {len(matches)} users" in html.text
    nobody = admin.get("/home/", query_string={"q": "nobody", "page": 7})
    assert nobody.status_code == 200
    assert listed_ids(nobody.text) == []
    assert "No users match “nobody”." in nobody.text
    assert 'rel="prev"' not in nobody.text


def test_a_user_who_may_read_only_themselves_searches_only_themselves(app, crowd, make_user):
    me = make_user("user", name="Ivanka")
    client = app.test_client()
    login(client, me.email)
    assert found(client, "ivan") == [me.id]
    assert found(client, "ivanov") == []


def test_the_indexes_start_with_the_users_already_there(empty_database):
    from conftest import make_test_app
    from flask_migrate import downgrade, upgrade

    app = make_test_app(empty_database)
    sqlite = empty_database.startswith("sqlite")
    with app.app_context():
        upgrade(revision="0006_user_search_fts")
        downgrade(revision="-1")
        db.session.execute(
            text(
                "INSERT INTO roles (id, name, rules_version, created_at) "
                "VALUES (1, 'user', 'v', CURRENT_TIMESTAMP)"
            )
        )
        for n, active in ((1, True), (2, False), (3, True)):
            db.session.execute(
                text(
                    "INSERT INTO users (id, name, last_name, email, password_hash, role_id, "
                    "is_active, search_text, created_at, updated_at) VALUES (:id, 'Taras', "
                    ":last, :email, 'x', 1, :active, :text, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": n,
                    "last": f"Before{n}",
                    "email": f"b{n}@example.com",
                    "active": active,
                    "text": f"taras before{n} b{n}@example.com",
                },
            )
        db.session.commit()
        upgrade()
        if sqlite:
            assert index_holds(app, "taras") == {1, 3}
            assert chars_hold(app, "t") == {1, 3}
            assert chars_hold(app, "2") == set()
        db.session.remove()
    assert held_words(app) == {
        (word, f"Before{n}", "Taras", n)
        for n in (1, 3)
        for word in ("taras", f"before{n}", f"b{n}@example.com")
    }
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
