"""Password hashing with bcrypt, and the password policy."""

import base64
import gzip
import hashlib
from functools import cache
from importlib.resources import files

import bcrypt
from flask import current_app
from flask_babel import gettext as _

MIN_LENGTH = 8
# Pre-hashing lifts bcrypt's 72-byte limit, so this bound only guards against
# absurd input; it is far above any passphrase a person types.
MAX_LENGTH = 1024


def _prehash(password: str) -> bytes:
    """SHA-256 the password, then base64 it: 44 bytes, no NULs.

    bcrypt reads at most 72 bytes (bcrypt 5 raises past that) and stops at a
    NUL. Pre-hashing makes every character of a long passphrase count, the
    same way Django's BCryptSHA256PasswordHasher does.
    """
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


def hash_password(password: str, rounds: int | None = None) -> str:
    if rounds is None:
        rounds = current_app.config["BCRYPT_ROUNDS"]
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches. A malformed stored hash never matches."""
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made at a cost other than the configured one."""
    try:
        rounds = int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return True
    return rounds != current_app.config["BCRYPT_ROUNDS"]


@cache
def _dummy_hash(rounds: int) -> str:
    return hash_password("not-a-real-password", rounds)


def burn_check_time(password: str) -> None:
    """Spend the same bcrypt work as a real check, for a login with no account.

    Without it, an unknown email answers faster than a known one and the
    response time tells which addresses have accounts.
    """
    check_password(_dummy_hash(current_app.config["BCRYPT_ROUNDS"]), password)


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords (the list Django ships, BSD-licensed)."""
    data = files("tz_app").joinpath("data/common-passwords.txt.gz").read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Why a new password is not acceptable; an empty list when it is."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("Use at least %(num)d characters.", num=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("Use at most %(num)d characters.", num=MAX_LENGTH))
    lowered = password.strip().lower()
    if email and lowered in {email.strip().lower(), email.strip().lower().partition("@")[0]}:
        problems.append(_("The password must not be your email address."))
    if lowered in common_passwords():
        problems.append(_("This password is too common; choose a less guessable one."))
    return problems
