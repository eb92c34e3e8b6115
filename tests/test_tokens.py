"""Link tokens: random, stored only as a hash, single-use, expiring, voided by the epoch."""

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tz_app import tokens
from tz_app.accounts import set_password_hash
from tz_app.extensions import db
from tz_app.models import LinkToken, User, utcnow
from tz_app.passwords import hash_password


@pytest.fixture
def user_id(make_user):
    return make_user().id


def _user(user_id) -> User:
    return db.session.get(User, user_id)


def _issue(app, user_id, purpose="password_reset", **kwargs) -> str:
    with app.app_context():
        raw = tokens.issue(_user(user_id), purpose, **kwargs)
        db.session.commit()
        return raw


def _rows(app) -> list[LinkToken]:
    with app.app_context():
        return db.session.scalars(select(LinkToken).order_by(LinkToken.id)).all()


def test_issue_peek_consume(app, user_id):
    raw = _issue(app, user_id)
    with app.app_context():
        found = tokens.peek(raw, "password_reset")
        assert found is not None and found.user_id == user_id
        assert found.email == _user(user_id).email
        db.session.commit()
    assert _rows(app)[0].used_at is None  # a GET of the link consumes nothing
    with app.app_context():
        used = tokens.consume(raw, "password_reset")
        assert used is not None and used.user.id == user_id
        db.session.commit()
    with app.app_context():
        assert tokens.consume(raw, "password_reset") is None
        assert tokens.peek(raw, "password_reset") is None
    assert _rows(app)[0].used_at is not None


def test_only_the_sha256_is_stored_and_the_token_has_at_least_128_bits(app, user_id):
    raws = {_issue(app, user_id, "email_verify") for _ in range(20)}
    assert len(raws) == 20
    for raw in raws:
        # token_urlsafe: 6 bits a character.
        assert len(raw) * 6 >= 128 and raw.replace("-", "").replace("_", "").isalnum()
    stored = {row.token_hash for row in _rows(app)}
    assert stored == {hashlib.sha256(raw.encode()).hexdigest() for raw in raws}
    for row in _rows(app):
        values = [str(getattr(row, c.key)) for c in LinkToken.__table__.columns]
        assert not any(raw in value for raw in raws for value in values)


def test_purpose_ttl_and_expiry(app, user_id):
    app.config["EMAIL_TOKEN_TTL"] = 120
    raw = _issue(app, user_id, "email_verify")
    row = _rows(app)[0]
    assert timedelta(seconds=110) < row.expires_at - row.created_at <= timedelta(seconds=120)
    with app.app_context():
        assert tokens.peek(raw, "password_reset") is None  # another purpose's link
        assert tokens.consume(raw, "invite") is None
        db.session.execute(update(LinkToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert tokens.peek(raw, "email_verify") is None
        assert tokens.consume(raw, "email_verify") is None


def test_a_password_change_voids_the_link(app, user_id):
    raw = _issue(app, user_id)
    with app.app_context():
        set_password_hash(_user(user_id), hash_password("another good passphrase"))
        db.session.commit()
    with app.app_context():
        assert tokens.peek(raw, "password_reset") is None
        assert tokens.consume(raw, "password_reset") is None


def test_a_deleted_account_has_no_valid_link(app, user_id):
    raw = _issue(app, user_id, "email_verify")
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
        db.session.commit()
        assert tokens.peek(raw, "email_verify") is None


def test_a_new_reset_link_voids_the_older_one_but_confirmations_stay(app, user_id):
    first = _issue(app, user_id)
    second = _issue(app, user_id)
    verify = [_issue(app, user_id, "email_verify") for _ in range(2)]
    with app.app_context():
        assert tokens.peek(first, "password_reset") is None
        assert tokens.peek(second, "password_reset") is not None
        assert all(tokens.peek(raw, "email_verify") is not None for raw in verify)


def test_void_by_purpose_and_all(app, user_id):
    reset = _issue(app, user_id)
    change = _issue(app, user_id, "email_change", email="new@example.com")
    with app.app_context():
        assert tokens.peek(change, "email_change").email == "new@example.com"
        assert tokens.void(_user(user_id), "email_change") == 1
        db.session.commit()
        assert tokens.peek(change, "email_change") is None
        assert tokens.peek(reset, "password_reset") is not None
        assert tokens.void(_user(user_id)) == 1
        db.session.commit()
        assert tokens.peek(reset, "password_reset") is None


@pytest.mark.parametrize("raw", ["", "x", "not-a-token-at-all", "a" * 5000, "\x00bad"])
def test_anything_else_is_no_token(app, user_id, raw):
    _issue(app, user_id)
    with app.app_context():
        assert tokens.peek(raw, "password_reset") is None
        assert tokens.consume(raw, "password_reset") is None


def test_unknown_purpose_is_a_programming_error(app, user_id):
    with app.app_context(), pytest.raises(ValueError):
        tokens.issue(_user(user_id), "free_beer")


ROUNDS = 8


def _race(app, raw: str) -> list[bool]:
    """Two threads with their own connections consume ``raw`` at once; who won."""
    barrier = threading.Barrier(2)
    results, errors = [], []

    def consume():
        try:
            with app.app_context():
                assert tokens.peek(raw, "email_verify") is not None
                barrier.wait(timeout=10)
                won = tokens.consume(raw, "email_verify")
                db.session.commit()
                results.append(won is not None)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    return sorted(results)


def test_two_concurrent_consumers_exactly_one_wins(app, user_id):
    """Two POSTs of one link at once, on real connections: one wins, each time."""
    for _ in range(ROUNDS):
        assert _race(app, _issue(app, user_id, "email_verify")) == [False, True]
