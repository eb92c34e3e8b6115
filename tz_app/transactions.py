"""How a request's transaction ends: one that only read commits, any other rolls back.

For a transaction that only read, COMMIT and ROLLBACK leave the database
the same; the difference is the driver's. psycopg forgets its prepared
statements on every ROLLBACK, so a page that ended with one has each of its
queries planned again by PostgreSQL on the next request, a few tenths of a
millisecond apiece; after COMMIT they stay prepared on the connection.

A transaction counts as read-only when every statement it sent was a
SELECT and the session holds no change it has not sent. Anything else, and
every request that ended in an unhandled error, rolls back as before: a
view that wrote and did not commit has its writes undone.
"""

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .http import release_session

# Set in a connection's info by its first statement that is not a SELECT;
# cleared when a transaction begins.
WROTE = "tz_wrote"


def watch(engine) -> None:
    """Note, per connection, whether its transaction sent anything but SELECTs."""
    event.listen(engine, "begin", _forget_writes)
    event.listen(engine, "before_cursor_execute", _note_write)


def _forget_writes(conn) -> None:
    conn.info.pop(WROTE, None)


def _note_write(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def end_request(error: BaseException | None = None) -> None:
    """The end of every app context: commit a read-only transaction, then release
    the session (tz_app.http.release_session), which rolls back anything else."""
    if error is None:
        session = db.session()
        pending = session.new or session.dirty or session.deleted
        if session.in_transaction() and not pending:
            try:
                if not session.connection().info.get(WROTE):
                    session.commit()
            except SQLAlchemyError:
                pass  # a connection that cannot commit is thrown away below
    release_session(error)
