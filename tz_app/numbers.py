"""Integers from URLs, query strings and forms, read one way everywhere.

``int()`` alone takes more than a person means by a number: Arabic-Indic and
full-width digits, a sign, spaces, underscores. And what it returns may not fit
the database: PostgreSQL refuses a 4-byte id of 9999999999 with an error. Here
a number is ASCII digits, with a minus sign at most, and what is read from a
request is bounded before a query sees it.
"""

import re

# The largest id a 4-byte integer column holds (PostgreSQL's ``integer``).
ID_MAX = 2**31 - 1
# Digits beyond this many make a number far outside every range used here.
_SIGNIFICANT_DIGITS = 19
_PLAIN_INTEGER = re.compile(r"-?[0-9]+")


def plain_int(raw: str | None) -> int | None:
    """``raw`` as an integer when it is ASCII digits with an optional minus; else None.

    A number too long to matter is read as ±10**19, beyond any bound a caller
    applies, so "10…0" with thirty zeros is "very large", not "not a number".
    """
    if raw is None or _PLAIN_INTEGER.fullmatch(raw) is None:
        return None
    digits = raw.lstrip("-").lstrip("0") or "0"
    sign = -1 if raw.startswith("-") else 1
    if len(digits) > _SIGNIFICANT_DIGITS:
        return sign * 10**_SIGNIFICANT_DIGITS
    return sign * int(digits)


def parse_id(raw: str | None) -> int | None:
    """A database id (1 to ID_MAX) written in ``raw``, or None: the caller answers 404."""
    value = plain_int(raw)
    return value if value is not None and 1 <= value <= ID_MAX else None
