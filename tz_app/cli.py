"""Command-line tools: ``seed``, ``create-admin``, ``rules``, ``sessions``, ``mail``, ``mfa``."""

import signal

import click
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import delete, false, inspect, or_, select

from . import audit
from .accounts import ADMIN_ROLE, create_user, find_by_email, role_named
from .emails import normalize_email
from .extensions import db
from .mail import Delivery, MailDeliverer, deliver_batch
from .mfa import crypto, factors
from .models import EMAIL_MAX, FLAGS, BusinessElement, Role, Session, TotpSecret, utcnow
from .passwords import hash_password, password_problems
from .rules import LockedRuleError, describe_change, elements, matrix, roles, set_flags
from .seed import seed_demo_users, seed_fake_users, seed_rules
from .sessions import end_user_sessions, idle_cutoff


def _require_schema() -> None:
    if not inspect(db.engine).has_table(Role.__tablename__):
        raise click.ClickException(
            "The database has no tables yet: run 'flask --app wsgi db upgrade' first."
        )


def _refuse_in_production(what: str) -> None:
    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException(f"{what} is refused when APP_ENV=production.")


@click.command("seed")
@click.option("--demo", is_flag=True, help="Also add the demo users (not in production).")
@click.option(
    "--fake-users",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also add N generated users with role 'user' (not in production).",
)
@with_appcontext
def seed_command(demo: bool, fake_users: int) -> None:
    """Add missing roles, business elements and default rules; safe to run again."""
    _require_schema()
    if demo:
        _refuse_in_production("seed --demo (accounts with well-known passwords)")
    if fake_users:
        _refuse_in_production("seed --fake-users")
    added = seed_rules()
    if demo:
        db.session.flush()
        added += [f"demo user {email}" for email in seed_demo_users()]
    db.session.commit()
    for line in added:
        click.echo(f"added {line}")
    if not added:
        click.echo("Nothing to add: roles, elements and rules are in place.")
    if fake_users:
        count = seed_fake_users(fake_users)
        db.session.commit()
        click.echo(f"added {count} generated users")


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="Admin", show_default=True)
@click.option("--last-name", default="Administrator", show_default=True)
@with_appcontext
def create_admin_command(email: str, password: str, name: str, last_name: str) -> None:
    """Create an administrator account."""
    _require_schema()
    role = role_named(ADMIN_ROLE)
    if role is None:
        raise click.ClickException("No admin role yet: run 'flask seed' first.")
    email = normalize_email(email)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.ClickException(f"{email!r} is not a valid email address: {exc}") from None
    if len(email) > EMAIL_MAX:
        raise click.ClickException(f"The email address is longer than {EMAIL_MAX} characters.")
    problems = password_problems(password, email)
    if problems:
        raise click.ClickException(" ".join(problems))
    user = find_by_email(email)
    if user is not None:
        raise click.ClickException(
            f"{user.email} already has an account; use 'flask rules' or the site to change it."
        )
    user = create_user(
        name=name,
        last_name=last_name,
        email=email,
        password_hash=hash_password(password),
        role=role,
    )
    # Whoever runs the command vouches for the address.
    user.email_verified_at = utcnow()
    db.session.flush()
    audit.record("user.created", actor=None, target=user, role=ADMIN_ROLE, via="cli")
    db.session.commit()
    click.echo(f"Created administrator {user.email} (id {user.id}).")


@click.group("rules")
def rules_group() -> None:
    """Show and change the access rules."""


@rules_group.command("show")
@with_appcontext
def rules_show() -> None:
    """Print the role x element matrix."""
    _require_schema()
    table = matrix()
    header = ["role", "element", *FLAGS]
    rows = [
        [
            role.name,
            element.code,
            *("x" if f in table.get((role.name, element.code), ()) else "." for f in FLAGS),
        ]
        for role in roles()
        for element in elements()
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _change_rule(role_name: str, element_code: str, flags: tuple[str, ...], grant: bool) -> None:
    _require_schema()
    role = db.session.scalar(select(Role).where(Role.name == role_name))
    if role is None:
        raise click.ClickException(f"No role named {role_name!r}.")
    element = db.session.scalar(select(BusinessElement).where(BusinessElement.code == element_code))
    if element is None:
        raise click.ClickException(f"No business element {element_code!r}.")
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise click.ClickException(
            f"Unknown flag(s) {', '.join(unknown)}; use any of: {', '.join(FLAGS)}."
        )
    current = set(matrix().get((role_name, element_code), ()))
    wanted = current | set(flags) if grant else current - set(flags)
    try:
        turned_on, turned_off = set_flags(role, element, wanted)
    except LockedRuleError as exc:
        raise click.ClickException(str(exc)) from None
    lines = describe_change(role_name, element_code, turned_on, turned_off)
    if lines:
        audit.record("rules.changed", actor=None, changes=lines, via="cli")
    db.session.commit()
    for line in lines or ["Nothing changed."]:
        click.echo(line)


@rules_group.command("grant")
@click.argument("role")
@click.argument("element")
@click.argument("flags", nargs=-1, required=True)
@with_appcontext
def rules_grant(role: str, element: str, flags: tuple[str, ...]) -> None:
    """Turn FLAGS on for ROLE on ELEMENT (flags: read, read_all, create, ...)."""
    _change_rule(role, element, flags, grant=True)


@rules_group.command("revoke")
@click.argument("role")
@click.argument("element")
@click.argument("flags", nargs=-1, required=True)
@with_appcontext
def rules_revoke(role: str, element: str, flags: tuple[str, ...]) -> None:
    """Turn FLAGS off for ROLE on ELEMENT."""
    _change_rule(role, element, flags, grant=False)


@click.group("sessions")
def sessions_group() -> None:
    """Maintain the sessions table."""


@sessions_group.command("purge")
@with_appcontext
def sessions_purge() -> None:
    """Delete ended, expired and idle sessions (run it from cron)."""
    now = utcnow()
    result = db.session.execute(
        delete(Session).where(
            or_(
                Session.is_active == false(),
                Session.expires_at <= now,
                Session.last_seen_at <= idle_cutoff(now),
            )
        )
    )
    db.session.commit()
    click.echo(f"Deleted {result.rowcount} ended or expired sessions.")


@click.group("mail")
def mail_group() -> None:
    """Deliver queued mail."""


@mail_group.command("deliver")
@click.option("--watch", is_flag=True, help="Keep delivering until stopped (Ctrl-C, SIGTERM).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds between looks for due mail while watching (default MAIL_POLL_INTERVAL).",
)
@with_appcontext
def mail_deliver(watch: bool, interval: float | None) -> None:
    """Send the mail that is due: once (exit status 1 if any failed), or until stopped."""
    if not current_app.config["MAIL_ENABLED"]:
        raise click.ClickException("Mail is off: set MAIL_SERVER to deliver mail.")
    _require_schema()
    total = Delivery()

    def count(batch: Delivery) -> None:
        total.sent += batch.sent
        total.failed += batch.failed
        total.dropped += batch.dropped
        if watch and batch.claimed:
            click.echo(f"Sent {batch.sent}, failed {batch.failed}, dropped {batch.dropped}.")

    if watch:
        deliverer = MailDeliverer(
            current_app._get_current_object(), interval=interval, on_batch=count
        )
        # Stop between batches, never between SMTP and the record of a letter.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: deliverer.stop())
        deliverer.run()
    else:
        while (batch := deliver_batch()).claimed:
            count(batch)
    click.echo(f"Sent {total.sent}, failed {total.failed}.")
    if total.dropped:
        click.echo(f"Dropped {total.dropped} with nothing to send (no such account).")
    if total.failed and not watch:
        raise SystemExit(1)


@click.group("mfa")
def mfa_group() -> None:
    """Second factors: an administrator locked out, key rotation."""


@mfa_group.command("reset")
@click.option("--email", required=True, help="The account whose second factors go.")
@with_appcontext
def mfa_reset(email: str) -> None:
    """Remove an account's second factors and end its sessions (it signs in with its password)."""
    _require_schema()
    user = find_by_email(email)
    if user is None or not user.is_active:
        raise click.ClickException(f"No active account with the email {email!r}.")
    removed = [kind for kind, count in factors.remove_all(user).items() if count]
    ended = end_user_sessions(user)
    factors.changed(user, "reset", removed=removed, sessions_ended=ended, via="cli")
    db.session.commit()
    if removed:
        click.echo(f"Removed {', '.join(removed)} of {user.email}; {ended} session(s) ended.")
    else:
        click.echo(f"{user.email} had no second factors; {ended} session(s) ended.")
    if user.role.mfa_required:
        click.echo(f"The {user.role.name} role requires one: they will be led to set it up.")


@mfa_group.command("rotate-key")
@with_appcontext
def mfa_rotate_key() -> None:
    """Re-encrypt every authenticator secret with the first key of MFA_ENCRYPTION_KEYS."""
    _require_schema()
    rows = db.session.scalars(select(TotpSecret)).all()
    unreadable = 0
    for row in rows:
        try:
            row.secret = crypto.rotate(row.secret)
        except crypto.InvalidToken:
            unreadable += 1
    db.session.commit()
    click.echo(f"Re-encrypted {len(rows) - unreadable} secret(s) with the first key.")
    if unreadable:
        raise click.ClickException(
            f"{unreadable} secret(s) open with none of the configured keys: add the key "
            "they were made with to MFA_ENCRYPTION_KEYS and run this again."
        )


commands = [
    seed_command,
    create_admin_command,
    rules_group,
    sessions_group,
    mail_group,
    mfa_group,
]
