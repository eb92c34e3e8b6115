"""The health check's own look at the database, answered within a bounded time."""

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswerYet

from sqlalchemy import create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from .config import database_connect_args

log = logging.getLogger("tz_app.health")

# /healthz answers within this many seconds whatever the database does; load
# balancers commonly give up on a check after 2.
ANSWER_WITHIN = 1.5
PROBE_STATEMENT_TIMEOUT = 1
PROBE_CONNECT_TIMEOUT = 2  # psycopg's shortest


class DatabaseProbe:
    """Whether the database answers ``SELECT 1``, known within ``ANSWER_WITHIN`` seconds.

    The probe opens a connection of its own, with short timeouts: it never
    waits behind pages holding the pool, and never finds a connection left
    stale by a restart. It runs on its own thread, so a database that accepts
    connections and then says nothing still gets a prompt "unavailable".
    Checks arriving while a probe runs share its answer instead of starting
    another, so a burst of checks costs one connection at a time.
    """

    def __init__(self, url: str):
        self.engine = create_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            connect_args=database_connect_args(url, PROBE_STATEMENT_TIMEOUT, PROBE_CONNECT_TIMEOUT),
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tz-health")
        self._lock = threading.Lock()
        self._running: Future | None = None

    def database_answers(self) -> bool:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._probe)
            running = self._running
        try:
            return running.result(timeout=ANSWER_WITHIN)
        except NoAnswerYet:
            log.error("health check: no answer from the database within %s s", ANSWER_WITHIN)
            return False

    def _probe(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError as exc:
            log.error("health check: database unreachable: %s", exc.__class__.__name__)
            return False
        return True
