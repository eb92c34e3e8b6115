"""Getting back into an account by mail: password reset, email confirmation, invitations.

One blueprint, ``recovery``; its views live in ``password.py`` (forgot, reset,
invitations) and ``email.py`` (confirming an address from its link, resend),
and the letters they send in ``letters.py``. ``confirmation.py`` holds what
confirmation and changes of address do, for these views and the profile,
users and sign-up pages. ``routes.py`` brings the views together.
"""

from flask import Blueprint

bp = Blueprint("recovery", __name__)
