"""Database models: users, roles, sessions and the access rules between them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
    case,
    event,
    false,
    inspect,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

ACTIONS = ("read", "create", "update", "delete")
# The eight flags of a rule, in the order the rules page shows them.
FLAGS = tuple(flag for action in ACTIONS for flag in (action, f"{action}_all"))


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_version() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and read back as an aware UTC datetime.

    SQLite has no time zones; storing naive UTC everywhere keeps comparisons in
    SQL identical on both databases.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Role(db.Model):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Changes whenever any of this role's rules change. It is loaded with the
    # user on every request, so per-process rule caches are never stale.
    rules_version: Mapped[str] = mapped_column(String(32), default=new_version)
    # Whether the role's holders must have a second factor (tz_app.mfa.enforce).
    mfa_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rules: Mapped[list[AccessRoleRule]] = relationship(
        back_populates="role", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Role {self.name}>"


NAME_MAX = 100
EMAIL_MAX = 254
# str.casefold() makes at most three characters of one (ß → ss, ﬃ → ffi).
CASEFOLD_GROWTH = 3
# Room for the three names and the email folded, and the spaces between them.
SEARCH_TEXT_MAX = CASEFOLD_GROWTH * (3 * NAME_MAX + EMAIL_MAX) + 3
# An invited account's password hash starts with this: no bcrypt hash does,
# so no password matches it (tz_app.passwords.check_password).
UNUSABLE_PASSWORD_PREFIX = "!"


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_active_sort", "is_active", "last_name", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    last_name: Mapped[str] = mapped_column(String(NAME_MAX))
    paternity_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # Stored in one normal form (tz_app.emails.normalize_email), so uniqueness
    # and look-ups ignore case and compatibility forms on every database.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Moves on whenever every session of the user is ended (password change,
    # deletion): a sign-in that read the account before that cannot start a
    # session after it (tz_app.sessions.start_session).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Names and email folded to lower case, kept up to date on every flush:
    # one column to search, indexed for substring search (tz_app.users.search).
    search_text: Mapped[str] = mapped_column(String(SEARCH_TEXT_MAX), default="")
    # The interface language the user chose (tz_app.i18n.LANGUAGES), if any.
    locale: Mapped[str | None] = mapped_column(String(8))
    # When the owner of the address confirmed it; None while unconfirmed.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether the user has a second factor (a confirmed authenticator app or a
    # passkey): kept by tz_app.mfa.factors so identity needs no extra query.
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    role: Mapped[Role] = relationship(lazy="joined", innerjoin=True)

    @property
    def has_usable_password(self) -> bool:
        """False for an invited account, whose password nobody has set yet."""
        return not self.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX)

    @hybrid_property
    def email_state(self) -> str:
        """``invited``, ``confirmed`` or ``unconfirmed``, as pages show it."""
        if not self.has_usable_password:
            return "invited"
        return "confirmed" if self.email_verified_at is not None else "unconfirmed"

    @email_state.inplace.expression
    @classmethod
    def _email_state_expression(cls):
        """The same in SQL, for lists that select columns rather than users."""
        return case(
            (cls.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX), "invited"),
            (cls.email_verified_at.is_not(None), "confirmed"),
            else_="unconfirmed",
        )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.name, self.paternity_name, self.last_name) if p)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "last_name": self.last_name,
            "paternity_name": self.paternity_name or "",
            "email": self.email,
            "role": self.role.name,
            "is_active": self.is_active,
        }

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


def search_key(*parts: str | None) -> str:
    """Text folded for case-insensitive search, the same for rows and queries."""
    return " ".join(p.casefold() for p in parts if p)


SEARCHED_FIELDS = ("name", "last_name", "paternity_name", "email")


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _refresh_search_text(_mapper, _connection, user: User) -> None:
    """Keep ``search_text`` in step with the fields it is made of.

    Only when one of them changes: a password or status change must not write
    it from values another request may have changed meanwhile. Views that
    change names lock the row first (tz_app.accounts.lock_for_update).
    """
    state = inspect(user)
    if state.has_identity and not any(
        state.attrs[f].history.has_changes() for f in SEARCHED_FIELDS
    ):
        return
    user.search_text = search_key(*(getattr(user, f) for f in SEARCHED_FIELDS))


class Session(db.Model):
    """One sign-in. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_active", "user_id", "is_active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    # How the session signed in (tz_app.mfa.factors.METHODS), and when its
    # user last proved who they are: the sign-in or a re-authentication.
    auth_method: Mapped[str] = mapped_column(
        String(20), default="password", server_default="password"
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Session {self.id} user={self.user_id} active={self.is_active}>"


class BusinessElement(db.Model):
    """Something the rules talk about, such as ``users`` or ``access_rules``."""

    __tablename__ = "business_elements"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")

    def __repr__(self) -> str:
        return f"<BusinessElement {self.code}>"


class AccessRoleRule(db.Model):
    """What one role may do with one element: four actions, each own or all."""

    __tablename__ = "access_role_rules"
    __table_args__ = (UniqueConstraint("role_id", "element_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    element_id: Mapped[int] = mapped_column(
        ForeignKey("business_elements.id", ondelete="CASCADE"), index=True
    )
    read_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    read_all_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    create_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    create_all_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    update_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    update_all_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    delete_all_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    role: Mapped[Role] = relationship(back_populates="rules")
    element: Mapped[BusinessElement] = relationship()

    def flags(self) -> frozenset[str]:
        """The flag names that are set, e.g. ``{"read", "update_all"}``."""
        return frozenset(f for f in FLAGS if getattr(self, f"{f}_permission"))

    def set_flags(self, flags) -> None:
        for flag in FLAGS:
            setattr(self, f"{flag}_permission", flag in flags)

    def __repr__(self) -> str:
        return f"<AccessRoleRule role={self.role_id} element={self.element_id}>"


class Counter(db.Model):
    """A running total kept by database triggers (migration 0002).

    ``users.active`` and ``users.deleted`` let the user list show its total
    without a count(*) over the whole table on every page view.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)

    def __repr__(self) -> str:
        return f"<Counter {self.name}={self.value}>"


class AuditEvent(db.Model):
    """Who did what to whom, when and from where. Never a password or token."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_kind_email_created", "kind", "email", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    target_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str | None] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    target: Mapped[User | None] = relationship(foreign_keys=[target_id])

    def __repr__(self) -> str:
        return f"<AuditEvent {self.kind} actor={self.actor_id} target={self.target_id}>"


class MailMessage(db.Model):
    """A letter to send: what (``kind``) and to whom, never the rendered mail.

    The deliverer renders it, and issues any link token, just before handing
    it to SMTP (tz_app.mail), so no live link ever rests in this table.
    ``params`` are small JSON values for the letter, never a token.
    """

    __tablename__ = "mail_queue"
    __table_args__ = (Index("ix_mail_queue_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # For letters addressed to an address rather than to a user's own.
    to_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    language: Mapped[str | None] = mapped_column(String(8))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Failed attempts so far.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A deliverer's lease: until then no other deliverer takes the row, after
    # it (the deliverer died) any may.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<MailMessage {self.id} {self.kind} sent={self.sent_at is not None}>"


class LinkToken(db.Model):
    """A link sent by mail (password reset, email confirmation, invitation).

    Only the SHA-256 of the random token is stored. It is valid while unused,
    unexpired, and while the user's ``session_epoch`` is what it was at issue:
    a password change, a deletion or "end every session" voids it.
    """

    __tablename__ = "link_tokens"
    __table_args__ = (Index("ix_link_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The address being confirmed; for an email change, the new one.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<LinkToken {self.id} {self.purpose} user={self.user_id}>"


class TotpSecret(db.Model):
    """A user's authenticator app: the shared secret, encrypted (tz_app.mfa.crypto).

    ``confirmed_at`` is None while it is being set up; ``last_used_step`` is
    the RFC 6238 time step of the last code accepted, so no code works twice.
    """

    __tablename__ = "totp_secrets"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(db.Model):
    """One single-use recovery code; only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(db.Model):
    """A WebAuthn credential of a user: its id, public key and signature counter."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(1023))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(64))
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class WebAuthnChallenge(db.Model):
    """A challenge handed to a browser: single-use, short-lived, stored as a hash.

    ``purpose`` says which ceremony may use it (tz_app.mfa.passkeys);
    ``user_id`` whose it is, or None for "sign in with a passkey".
    """

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
