"""Database faults for tests, each undone on the way out whatever happens, and
the load to watch a server under them.

Only the test's own database is touched: the shared server is never restarted.
"""

import http.client
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
from databases import _pg_admin_conninfo
from http_client import Browser
from sqlalchemy.engine import make_url


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def terminate_backends(name: str) -> None:
    """Drop every connection to database ``name``, as a server restart would."""
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def refuse_connections(name: str) -> None:
    """Database ``name`` drops its connections and refuses new ones."""
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    terminate_backends(name)


def allow_connections(name: str) -> None:
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@contextmanager
def connections_refused(database_url: str):
    name = make_url(database_url).database
    try:
        refuse_connections(name)
        yield
    finally:
        allow_connections(name)


class TableLock:
    """``users`` locked by another connection, as a long migration would hold it.

    PostgreSQL: ``LOCK TABLE users`` in an open transaction. SQLite: an
    exclusive transaction, which locks the whole file.
    """

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._conn = None
        self._guard = threading.Lock()

    def __enter__(self) -> "TableLock":
        url = make_url(self.database_url)
        if url.get_backend_name() == "postgresql":
            self._conn = psycopg.connect(_conninfo(self.database_url))
            self._conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        else:
            path = Path(url.database)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("BEGIN EXCLUSIVE")
        return self

    def release(self) -> None:
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def release_after(self, seconds: float) -> None:
        """Release from another thread, so a test blocked on the lock ends anyway."""
        timer = threading.Timer(seconds, self.release)
        timer.daemon = True
        timer.start()

    def __exit__(self, *exc) -> None:
        self.release()


def timed_request(base: str, path: str, cookie: str | None = None, accept: str = "text/html"):
    """(status, headers, body, seconds) of one request on a new connection; status None if none."""
    browser = Browser()
    if cookie:
        browser.opener.addheaders = [("Cookie", f"custom_sessionid={cookie}")]
    started = time.monotonic()
    try:
        status, headers, body = browser.request("GET", base + path, accept=accept)
    except (OSError, http.client.HTTPException) as error:
        return None, {}, repr(error), time.monotonic() - started
    return status, headers, body, time.monotonic() - started


class Load:
    """Bounded load on a server: clients loading pages, and a load balancer's health check."""

    PAGES = (("/home/", "text/html"), ("/home/", "application/json"), ("/profile/", "text/html"))

    def __init__(self, server, cookies: list[str]):
        self.server = server
        self.cookies = cookies
        self.results: list[tuple] = []
        self.running = True
        self.threads = [threading.Thread(target=self.client, args=(c,)) for c in cookies]
        self.threads.append(threading.Thread(target=self.health_check))

    def client(self, cookie: str) -> None:
        turn = 0
        while self.running:
            path, accept = self.PAGES[turn % len(self.PAGES)]
            turn += 1
            started = time.monotonic()
            answer = timed_request(self.server.url, path, cookie, accept)
            self.results.append((started, path, accept, *answer))
            time.sleep(0.02)

    def health_check(self) -> None:
        while self.running:
            started = time.monotonic()
            answer = timed_request(self.server.url, "/healthz")
            self.results.append((started, "/healthz", "*/*", *answer))
            time.sleep(0.2)

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        for thread in self.threads:
            thread.join()


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def connections_per_worker(master: int, port: int) -> list[int]:
    """How many established connections to ``port`` each gunicorn worker holds (Linux)."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                established.add(fields[9])
    counts = []
    for pid in worker_pids(master):
        sockets = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
        counts.append(len(sockets & established))
    return counts
