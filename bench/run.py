"""tz_app against the plain way, side by side in one run: ``make bench``.

Builds databases with 1,000 and 100,000 users (SQLite, and PostgreSQL when it
answers), then measures, alternating round by round so that a busy machine
slows every figure alike: requests per second of /home/ page 1 signed in as
admin through the whole WSGI stack, for tz_app, the baseline (bench.baseline)
and the baseline as it used to be measured (its template compiled on every
request), with the SQL statements each request sends; searches for a common
word, a rare one and words of two and one characters; can() against
pycasbin's enforcer; sign-in latency at the default bcrypt cost, and
sign-ins per second per core next to bcrypt's own rate (bench.sign_in).
Prints the report (bench.report) and writes it to bench/results.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager

import bcrypt
import casbin
import psycopg
from casbin.model import Model
from flask_migrate import upgrade
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from bench import sign_in
from bench.baseline import create_baseline_app
from bench.report import RESULTS, render
from tz_app import create_app
from tz_app.extensions import db
from tz_app.models import User
from tz_app.passwords import hash_password
from tz_app.permissions import can
from tz_app.seed import DEFAULT_RULES, seed_demo_users, seed_fake_users, seed_rules

PG_ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CASBIN_MODEL = """
[request_definition]
r = role, obj, act, uid, owner

[policy_definition]
p = role, obj, act, scope

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.role == p.role && r.obj == p.obj && r.act == p.act && \
(p.scope == "all" || (p.scope == "own" && r.owner == r.uid))
"""


def _pg_conninfo() -> str:
    return make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(False)


@contextmanager
def database(kind: str, workdir: str):
    """A fresh database URL of ``kind``; dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/bench-{uuid.uuid4().hex[:8]}.sqlite3"
        return
    name = f"tz_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available() -> bool:
    try:
        with psycopg.connect(_pg_conninfo(), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def bench_app(url: str, **settings):
    """tz_app on ``url`` for measuring: no mail deliverer thread writing beside the runs."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "MAIL_DELIVERY": "command",
            **settings,
        }
    )


def build(url: str, users: int) -> tuple[float, int]:
    """Migrate, seed and add generated users; (seconds for the bulk insert, admin id)."""
    app = bench_app(url, BCRYPT_ROUNDS=4)
    with app.app_context():
        upgrade()
        seed_rules()
        seed_demo_users()
        db.session.commit()
        started = time.perf_counter()
        seed_fake_users(users - 3)
        db.session.commit()
        took = time.perf_counter() - started
        # Statistics and (on PostgreSQL) the visibility map, as autovacuum or an
        # operator's routine would leave them, so index-only scans can work.
        maintenance = "VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(maintenance)
        admin_id = db.session.scalar(select(User.id).where(User.email == "admin@test.com"))
        db.session.remove()
        db.engine.dispose()
    return took, admin_id


@contextmanager
def counting(app):
    seen = []

    def record(*_args):
        seen.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def tz_client(url: str):
    app = bench_app(url, BCRYPT_ROUNDS=4)
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/login/", data={"email": "admin@test.com", "password": "admin123", "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code
    return app, client


def baseline_client(url: str, admin_id: int):
    app = create_baseline_app(url)
    client = app.test_client()
    assert client.get(f"/login-as/{admin_id}").status_code == 200
    return app, client


def rate(client, path: str, seconds: float) -> float:
    """Requests per second over about ``seconds``."""
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        response = client.get(path)
        assert response.status_code == 200, response.status_code
        done += 1
    return done / elapsed


# What the search columns search for: (label, query). Fake users are named
# from 20 last names and 26 first names, and have hex emails.
SEARCHES = [
    # Every 20th user, all together near the middle of the list.
    ("common word", "shevchenko"),
    # One user, by the start of an address.
    ("rare word", "fake424."),
    # Two letters in a quarter of the names, both common characters: too short
    # for a trigram index, and the list's first rows hold a page.
    ("two letters", "ko"),
    # One letter nobody's name or address holds: without an index of
    # characters, every row is read to find none.
    ("one letter", "q"),
]


def compare_pages(url: str, admin_id: int, rounds: int, seconds: float) -> dict:
    """Page 1 of tz_app and both baselines, and tz_app's searches, round by round."""
    tz_app, tz = tz_client(url)
    base_app, base = baseline_client(url, admin_id)
    runs = {
        "tz": (tz, "/home/"),
        "profile": (tz, "/profile/"),
        "base": (base, "/home/"),
        "inline": (base, "/home/inline/"),
        **{label: (tz, "/home/?q=" + query) for label, query in SEARCHES},
    }
    for client, path in runs.values():  # warm caches, connections and templates
        rate(client, path, 0.3)
    rates = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (client, path) in runs.items():
            rates[name].append(rate(client, path, seconds))
    result = {name: statistics.median(values) for name, values in rates.items()}
    with counting(tz_app) as tz_sql:
        result["tz_bytes"] = len(tz.get("/home/").data)
    with counting(base_app) as base_sql:
        result["base_bytes"] = len(base.get("/home/").data)
    result["tz_sql"], result["base_sql"] = len(tz_sql), len(base_sql)
    for label, query in SEARCHES:
        with counting(tz_app) as sql:
            tz.get("/home/?q=" + query)
        result[label + " sql"] = len(sql)
    result["deep"] = rate(tz, "/home/?page=4000", seconds) if admin_id else 0.0
    for app in (tz_app, base_app):
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return result


def add_sessions(url: str, count: int) -> float:
    """Insert ``count`` ended sessions in bulk; seconds taken."""
    from datetime import UTC, datetime, timedelta

    from psycopg import sql as psql

    from tz_app.models import Session

    app = bench_app(url)
    with app.app_context():
        user_ids = list(db.session.scalars(select(User.id).limit(1000)))
        # Aware UTC times: the column type takes them on SQLite, and PostgreSQL's
        # COPY into a timestamp column keeps the UTC wall time.
        now = datetime.now(UTC)
        columns = ["user_id", "token_hash", "created_at", "expires_at", "last_seen_at", "is_active"]
        started = time.perf_counter()
        connection = db.session.connection()
        for first in range(0, count, 50_000):
            rows = [
                (
                    user_ids[i % len(user_ids)],
                    f"{i:064x}",
                    now,
                    now + timedelta(days=1),
                    now,
                    i % 2 == 0,
                )
                for i in range(first, min(first + 50_000, count))
            ]
            if connection.dialect.name == "postgresql":
                copy_sql = psql.SQL("COPY sessions ({}) FROM STDIN").format(
                    psql.SQL(", ").join(map(psql.Identifier, columns))
                )
                raw = connection.connection.driver_connection
                with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                connection.execute(
                    Session.__table__.insert(),
                    [dict(zip(columns, row, strict=True)) for row in rows],
                )
        db.session.commit()
        took = time.perf_counter() - started
        maintenance = "VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(maintenance)
        db.session.remove()
        db.engine.dispose()
    return took


def identity_cost(url: str, sessions: int, rounds: int, seconds: float) -> tuple[float, float]:
    """/profile/ requests per second (identity and a page, no list) before and after
    the sessions table grows by ``sessions`` rows."""
    _app, client = tz_client(url)
    rate(client, "/profile/", 0.3)
    before = statistics.median(rate(client, "/profile/", seconds) for _ in range(rounds))
    add_sessions(url, sessions)
    rate(client, "/profile/", 0.3)
    after = statistics.median(rate(client, "/profile/", seconds) for _ in range(rounds))
    with _app.app_context():
        db.session.remove()
        db.engine.dispose()
    return before, after


def compare_can(url: str, calls: int) -> tuple[float, float]:
    """can() calls per second and pycasbin enforce() calls per second, same questions."""
    app = bench_app(url)
    model = Model()
    model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(model)
    for role, elements in DEFAULT_RULES.items():
        for element, flags in elements.items():
            for flag in flags:
                action, _, scope = flag.partition("_")
                enforcer.add_policy(role, element, action, "all" if scope else "own")
    questions = [
        ("users", "update", 1),
        ("users", "update", None),
        ("sessions", "delete", 2),
        ("access_rules", "read", None),
        ("audit", "read", None),
    ]
    with app.test_request_context():
        manager = db.session.scalar(select(User).where(User.email == "manager@test.com"))
        answers = [can(manager, e, a, o) for e, a, o in questions]
        casbin_answers = [enforcer.enforce("manager", e, a, manager.id, o) for e, a, o in questions]
        started = time.perf_counter()
        for i in range(calls):
            element, action, owner = questions[i % 5]
            can(manager, element, action, owner)
        can_rate = calls / (time.perf_counter() - started)
        casbin_calls = max(1000, calls // 20)
        started = time.perf_counter()
        for i in range(casbin_calls):
            element, action, owner = questions[i % 5]
            enforcer.enforce("manager", element, action, manager.id, owner)
        casbin_rate = casbin_calls / (time.perf_counter() - started)
        db.session.remove()
        db.engine.dispose()
    same = [a == b for a, b in zip(answers, casbin_answers, strict=True)]
    assert all(same), f"can() and casbin disagree: {answers} vs {casbin_answers}"
    return can_rate, casbin_rate


def login_latency(url: str, tries: int) -> tuple[float, float]:
    """(median sign-in milliseconds at cost 12, median bcrypt check milliseconds)."""
    app = bench_app(url, BCRYPT_ROUNDS=12)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "admin@test.com"))
        user.password_hash = hash_password("admin123")
        db.session.commit()
        stored = user.password_hash.encode()
    logins, checks = [], []
    for _ in range(tries):
        # A new browser each time: signing in replaces the CSRF token.
        client = app.test_client()
        page = client.get("/login/").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        started = time.perf_counter()
        response = client.post(
            "/login/",
            data={"email": "admin@test.com", "password": "admin123", "csrf_token": token},
        )
        logins.append(time.perf_counter() - started)
        assert response.status_code == 302
        from tz_app.passwords import _prehash

        started = time.perf_counter()
        bcrypt.checkpw(_prehash("admin123"), stored)
        checks.append(time.perf_counter() - started)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return statistics.median(logins) * 1000, statistics.median(checks) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=0.6)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    rows, page_one, identity, sign_ins = [], {}, {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for kind in kinds:
            for size in sizes:
                with database(kind, workdir) as url:
                    took, admin_id = build(url, size)
                    result = compare_pages(url, admin_id, args.rounds, args.seconds)
                    page_one[(kind, size)] = result["tz"]
                    rows.append((kind, size, took, result))
                    print(
                        f"{kind:10} {size:>7} users: built in {took:5.1f}s, tz_app "
                        f"{result['tz']:6.0f} req/s ({result['tz_sql']} SQL), baseline "
                        f"{result['base']:6.0f} req/s ({result['base_sql']} SQL), ratio "
                        f"{result['tz'] / result['base']:.2f}; searches "
                        + ", ".join(f"{q} {result[label]:.0f}" for label, q in SEARCHES),
                        flush=True,
                    )
                    if size == sizes[-1]:
                        identity[kind] = identity_cost(url, 1_000_000, args.rounds, args.seconds)
                        print(
                            f"{kind:10} identity with 1,000,000 sessions: "
                            f"{identity[kind][1] / identity[kind][0]:.2f} of before",
                            flush=True,
                        )
                    if size == sizes[0] and kind == kinds[0]:
                        can_rate, casbin_rate = compare_can(url, 200_000)
                        login_ms, bcrypt_ms = login_latency(url, 5)
                    if size == sizes[0]:
                        sign_ins[kind] = sign_in.measure(url)
                        print(
                            f"{kind:10} sign-ins per core at cost 12: "
                            f"{sign_ins[kind][0]:.2f}/s, bcrypt {sign_ins[kind][1]:.2f}/s",
                            flush=True,
                        )
    report = render(
        rows,
        page_one,
        sizes,
        SEARCHES,
        can_rate,
        casbin_rate,
        login_ms,
        bcrypt_ms,
        identity,
        sign_ins,
    )
    print()
    print(report)
    RESULTS.write_text(report)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
