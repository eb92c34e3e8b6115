"""Recovery codes: ten single-use codes for when the phone or the passkey is gone.

Each has 80 random bits (16 characters of Crockford's base32, shown in
groups of four), so, as with link tokens, a SHA-256 of it is enough to store:
a copy of the table opens nothing. A new set replaces the old one whole.
"""

import hashlib
import re
import secrets

from sqlalchemy import delete, func, select, update

from ..extensions import db
from ..models import RecoveryCode, User, utcnow

KIND = "recovery"
COUNT = 10
# Crockford's base32: no I, L, O or U, so nothing is misread.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 16
_MISREAD = str.maketrans({"I": "1", "L": "1", "O": "0"})


def normalize(code: str | None) -> str:
    """A code as typed: any case, with or without its dashes and spaces."""
    return re.sub(r"[\s-]", "", (code or "")).upper().translate(_MISREAD)


def _hash(code: str) -> str:
    return hashlib.sha256(normalize(code).encode("ascii", "replace")).hexdigest()


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def generate(user: User) -> list[str]:
    """Ten new codes for ``user``, replacing any left; shown once, the caller commits."""
    remove(user)
    codes = [_new_code() for _ in range(COUNT)]
    now = utcnow()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_hash(code), created_at=now) for code in codes
    )
    return codes


def remaining(user: User) -> int:
    return db.session.scalar(
        select(func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )


def describe(user: User) -> dict:
    return {"remaining": remaining(user)}


def verify(user: User, code: str) -> bool:
    """Whether ``code`` is one of the user's unused codes; a right one is used up.

    One conditional UPDATE decides, so of two requests with one code only one
    gets in. The caller commits.
    """
    normalized = normalize(code)
    if len(normalized) != LENGTH or not set(normalized) <= set(ALPHABET):
        return False
    won = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(normalized),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return won == 1


def remove(user: User) -> int:
    return db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id)).rowcount
