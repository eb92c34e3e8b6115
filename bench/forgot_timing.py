"""Does forgot-password answer as fast for an unknown address as for an account's? ``make bench``.

On SQLite, and on PostgreSQL when it answers, with the app's own deliverer
thread sending every letter (to the outbox folder) as it would in
development: posts /password/forgot/ through the whole WSGI stack, CSRF token
included, alternating an existing account's address and an unknown one
(which goes first alternates too), each address at most three times so no
request meets the hourly limit. Prints, per database, the median time of each
kind, their difference, and next to it the run-to-run noise: how far the
medians of the same kind move between runs of the same requests.
``python -m bench.forgot_timing [--pairs N] [--runs N]``.
"""

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from databases import PostgresDatabase, _pg_available
from flask_migrate import upgrade
from sqlalchemy import select

from tz_app import create_app
from tz_app.extensions import db
from tz_app.mail import deliver_due
from tz_app.models import User
from tz_app.seed import seed_fake_users, seed_rules

# Each address is asked for at most this often: the limit is three an hour.
USES_PER_ADDRESS = 3
WARM_UP = 20
CSRF_MARK = 'name="csrf-token" content="'


def build_app(url: str, outbox: str):
    return create_app(
        {
            "APP_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "BCRYPT_ROUNDS": 4,
            "MAIL_OUTBOX": outbox,
            "MAIL_DELIVERY": "process",
        }
    )


def prepare(app, accounts: int) -> list[str]:
    """A migrated database with ``accounts`` users; their addresses."""
    with app.app_context():
        upgrade()
        seed_rules()
        seed_fake_users(accounts)
        db.session.commit()
        return list(db.session.scalars(select(User.email).order_by(User.id)))


def measure(app, existing: list[str], unknown: list[str]) -> tuple[list[float], list[float]]:
    """Seconds per forgot-password request for each kind of address, requests alternating."""
    client = app.test_client()
    page = client.get("/password/forgot/").get_data(as_text=True)
    token = page.split(CSRF_MARK, 1)[1].split('"', 1)[0]
    times: dict[str, list[float]] = {"existing": [], "unknown": []}
    for n, pair in enumerate(zip(existing, unknown, strict=True)):
        order = [("existing", pair[0]), ("unknown", pair[1])]
        for kind, email in order if n % 2 == 0 else reversed(order):
            started = time.perf_counter()
            response = client.post("/password/forgot/", data={"email": email, "csrf_token": token})
            times[kind].append(time.perf_counter() - started)
            assert response.status_code == 302, response.status_code
            with client.session_transaction() as session:  # the message is never shown
                session.pop("_flashes", None)
    return times["existing"], times["unknown"]


def run(label: str, url: str, pairs: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as outbox:
        app = build_app(url, outbox)
        needed = -(-pairs * runs // USES_PER_ADDRESS)
        existing = prepare(app, WARM_UP + needed)
        unknown = [f"nobody-{uuid.uuid4().hex[:12]}@example.com" for _ in existing]
        measure(app, existing[:WARM_UP], unknown[:WARM_UP])  # not counted
        existing, unknown = existing[WARM_UP:], unknown[WARM_UP:]
        addresses = [(existing[i % needed], unknown[i % needed]) for i in range(pairs * runs)]
        medians: dict[str, list[float]] = {"existing": [], "unknown": []}
        for r in range(runs):
            chunk = addresses[r * pairs : (r + 1) * pairs]
            found, missing = measure(app, *zip(*chunk, strict=True))
            medians["existing"].append(statistics.median(found) * 1000)
            medians["unknown"].append(statistics.median(missing) * 1000)
        deliverer = app.extensions.get("tz_mail_deliverer")
        if deliverer is not None:
            deliverer.stop()
        with app.app_context():
            deliver_due(limit=10**6)
            sent = len(list(Path(outbox).iterdir()))
            db.session.remove()
            db.engine.dispose()
    report(label, pairs, runs, medians, sent - WARM_UP)


def report(label: str, pairs: int, runs: int, medians: dict[str, list[float]], sent: int) -> None:
    existing = statistics.median(medians["existing"])
    unknown = statistics.median(medians["unknown"])
    per_run = [e - u for e, u in zip(medians["existing"], medians["unknown"], strict=True)]
    noise = statistics.median(
        abs(a - b) for kind in medians.values() for a, b in itertools.pairwise(kind)
    )
    print(f"\nforgot-password on {label}: {runs} runs of {pairs} alternating pairs")
    print(f"  existing account: median {existing:.2f} ms")
    print(f"  unknown address:  median {unknown:.2f} ms")
    print(
        f"  difference: {existing - unknown:+.2f} ms "
        f"(per run: {', '.join(f'{d:+.2f}' for d in per_run)})"
    )
    print(f"  run-to-run noise (median change of one kind's median between runs): {noise:.2f} ms")
    print(
        f"  letters written by the deliverer: {sent} for {pairs * runs} existing-address requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=150, help="alternating pairs per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("tz_app").setLevel(logging.WARNING)  # a line per letter otherwise
    with tempfile.TemporaryDirectory() as workdir:
        run("SQLite", "sqlite:///" + str(Path(workdir) / "forgot.sqlite3"), args.pairs, args.runs)
    if _pg_available() is None:
        database = PostgresDatabase()
        try:
            run("PostgreSQL", database.url, args.pairs, args.runs)
        finally:
            database.drop()
    else:
        print("\nPostgreSQL does not answer: measured on SQLite only.")


if __name__ == "__main__":
    main()
