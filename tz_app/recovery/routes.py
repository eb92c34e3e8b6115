"""The recovery blueprint with every view registered on it."""

from . import bp, email, password

__all__ = ["bp", "email", "password"]
