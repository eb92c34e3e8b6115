"""Sign-ins per second per core at bcrypt cost 12, next to bcrypt's own rate there.

One process per CPU, each with its own app on one database: in every round
all of them first sign in back to back for a while (a fresh browser each
time: GET /login/ for the CSRF token, then POST /login/ with the demo admin's
email and password through the whole WSGI stack, a new session row and audit
row each), then all of them run ``bcrypt.checkpw`` at cost 12 on the same
stored hash, the same password, for as long. A barrier starts each phase in
every process at once, so sign-ins meet each other in the database as they
would under load. Only the POSTs are timed. Per core: the rates of every
process added up, divided by the number of processes (one per CPU). Called
by bench.run for ``make bench``; ``python -m bench.sign_in`` measures alone.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

import bcrypt
from sqlalchemy import select

from tz_app import create_app
from tz_app.extensions import db
from tz_app.models import User
from tz_app.passwords import _prehash, hash_password

ROUNDS = 12
EMAIL, PASSWORD = "admin@test.com", "admin123"


def _app(url: str, outbox: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "BCRYPT_ROUNDS": ROUNDS,
            "MAIL_OUTBOX": outbox,
            "MAIL_DELIVERY": "command",
        }
    )


def set_password(url: str, outbox: str) -> None:
    """Give the demo admin a cost-12 hash, as a real account would have."""
    app = _app(url, outbox)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        user.password_hash = hash_password(PASSWORD, ROUNDS)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _sign_in(app) -> float:
    """One sign-in in a new browser; seconds the POST took."""
    client = app.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    started = time.perf_counter()
    response = client.post(
        "/login/", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    took = time.perf_counter() - started
    assert response.status_code == 302, response.status_code
    assert "custom_sessionid=" in response.headers.get("Set-Cookie", "")
    return took


def _worker(url, outbox, rounds, seconds, barrier, results) -> None:
    app = _app(url, outbox)
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == EMAIL))
        db.session.remove()
    stored = stored.encode("ascii")
    _sign_in(app)  # warm: templates, connections
    mine = []
    for _ in range(rounds):
        barrier.wait()
        spent, done, stop = 0.0, 0, time.perf_counter() + seconds
        while time.perf_counter() < stop:
            spent += _sign_in(app)
            done += 1
        sign_in_rate = done / spent
        barrier.wait()
        checks, stop = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < stop:
            assert bcrypt.checkpw(_prehash(PASSWORD), stored)
            checks += 1
        mine.append((sign_in_rate, checks / (time.perf_counter() - started)))
    results.put(mine)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def measure(url: str, rounds: int = 5, seconds: float = 2.0, processes: int | None = None):
    """(sign-ins per second per core, bcrypt checks per second per core, their
    ratio, processes).

    Medians over the rounds: of the per-core rates, and of each round's ratio
    (its sign-ins and checks measured back to back).
    """
    processes = processes or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as outbox:
        set_password(url, outbox)
        barrier = context.Barrier(processes)
        results = context.Queue()
        workers = [
            context.Process(target=_worker, args=(url, outbox, rounds, seconds, barrier, results))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        per_process = [results.get() for _ in workers]
        for worker in workers:
            worker.join()
            assert worker.exitcode == 0, worker.exitcode
    sign_ins = [sum(p[i][0] for p in per_process) / processes for i in range(rounds)]
    checks = [sum(p[i][1] for p in per_process) / processes for i in range(rounds)]
    ratio = statistics.median(s / c for s, c in zip(sign_ins, checks, strict=True))
    return statistics.median(sign_ins), statistics.median(checks), ratio, processes


def main() -> int:
    from bench.run import build, database, postgres_available

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    with tempfile.TemporaryDirectory() as workdir:
        for kind in kinds:
            with database(kind, workdir) as url:
                build(url, 1000)
                sign_ins, checks, ratio, processes = measure(
                    url, args.rounds, args.seconds, args.processes
                )
                print(
                    f"{kind}: {processes} processes; per core: {sign_ins:.2f} sign-ins/s, "
                    f"bcrypt.checkpw at cost {ROUNDS} {checks:.2f}/s; ratio {ratio:.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
