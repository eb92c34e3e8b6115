"""Default roles, business elements and rules; demo and generated users."""

import random
from datetime import UTC, datetime

from psycopg import sql as psql
from sqlalchemy import func, insert, select

from .extensions import db
from .models import FLAGS, AccessRoleRule, BusinessElement, Role, User, search_key, utcnow
from .passwords import hash_password
from .permissions import ELEMENTS
from .rules import roles_changed, rules_changed

ALL = set(FLAGS)
OWN = {"read", "update", "delete"}

DEFAULT_RULES: dict[str, dict[str, set[str]]] = {
    "admin": {
        "users": ALL,
        "roles": ALL,
        "access_rules": ALL,
        "sessions": ALL,
        "audit": {"read", "read_all"},
    },
    "manager": {
        "users": {"read", "read_all", "update", "delete"},
        "roles": {"read", "read_all"},
        "sessions": {"read", "delete"},
    },
    "user": {
        "users": OWN,
        "sessions": {"read", "delete"},
    },
}

DEMO_USERS = [
    ("admin@test.com", "admin123", "admin", "Admin", "One"),
    ("manager@test.com", "manager123", "manager", "Manager", "Two"),
    ("user@test.com", "user123", "user", "User", "Three"),
]


def seed_rules() -> list[str]:
    """Add the roles, elements and default rules that are missing.

    A rule row that exists is never touched, so an administrator's changes
    survive every re-run. Returns what was added, for the CLI to report.
    """
    added = []
    roles = {r.name: r for r in db.session.scalars(select(Role))}
    for name in DEFAULT_RULES:
        if name not in roles:
            roles[name] = Role(name=name)
            db.session.add(roles[name])
            added.append(f"role {name}")
    elements = {e.code: e for e in db.session.scalars(select(BusinessElement))}
    for code, description in ELEMENTS.items():
        if code not in elements:
            elements[code] = BusinessElement(code=code, description=str(description))
            db.session.add(elements[code])
            added.append(f"element {code}")
    db.session.flush()
    if any(line.startswith("role ") for line in added):
        roles_changed()
    existing = set(db.session.execute(select(AccessRoleRule.role_id, AccessRoleRule.element_id)))
    for role_name, rules in DEFAULT_RULES.items():
        role = roles[role_name]
        for code in ELEMENTS:
            element = elements[code]
            if (role.id, element.id) in existing:
                continue
            rule = AccessRoleRule(role=role, element=element)
            rule.set_flags(rules.get(code, set()))
            db.session.add(rule)
            rules_changed(role)
            added.append(f"rule {role_name}/{code}")
    return added


def seed_demo_users() -> list[str]:
    """Add the demo accounts that are missing, addresses confirmed; never reset a password."""
    added = []
    for email, password, role_name, name, last_name in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.email == email)) is not None:
            continue
        role = db.session.scalar(select(Role).where(Role.name == role_name))
        db.session.add(
            User(
                name=name,
                last_name=last_name,
                email=email,
                password_hash=hash_password(password),
                role=role,
                email_verified_at=utcnow(),
            )
        )
        added.append(email)
    return added


FIRST_NAMES = (
    "Olena Ivan Maria Petro Anna Taras Oksana Dmytro Iryna Andrii Natalia Serhii Yulia "
    "Oleh Svitlana Mykola Kateryna Vasyl Tetiana Yurii Alice Bob Carol David Emma Frank"
).split()
LAST_NAMES = (
    "Shevchenko Kovalenko Bondarenko Tkachenko Kravchenko Oliinyk Shevchuk Polishchuk "
    "Ivanov Petrov Sidorov Smirnov Kuznetsov Popov Sokolov Smith Jones Brown Taylor Wilson"
).split()
PATERNITY_NAMES = (None, "Ivanovych", "Petrivna", "Olehovych", "Mykolaivna", "Serhiiovych")

BATCH = 5000


def seed_fake_users(count: int, password: str = "fake-user-password") -> int:
    """Insert ``count`` generated users with role ``user`` in bulk.

    One bcrypt hash is shared by all of them (they are for demos and
    benchmarks), and rows go in BATCH at a time.
    """
    role = db.session.scalar(select(Role).where(Role.name == "user"))
    start = db.session.scalar(select(func.count(User.id))) or 0
    password_hash = hash_password(password)
    rng = random.Random(start)
    now = utcnow()
    done = 0
    while done < count:
        rows = []
        for n in range(start + done, start + min(done + BATCH, count)):
            name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            paternity_name = rng.choice(PATERNITY_NAMES)
            email = f"fake{n}.{rng.randrange(16**6):06x}@example.com"
            rows.append(
                {
                    "name": name,
                    "last_name": last_name,
                    "paternity_name": paternity_name,
                    "email": email,
                    "search_text": search_key(name, last_name, paternity_name, email),
                    "password_hash": password_hash,
                    "role_id": role.id,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        _bulk_insert(rows)
        done += len(rows)
    return done


def _bulk_insert(rows: list[dict]) -> None:
    """Insert user rows as fast as the database allows.

    PostgreSQL takes them through COPY: one statement, so the counter trigger
    runs once per batch, not once per row. Elsewhere an executemany suffices.
    """
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(User.__table__), rows)
        return
    columns = list(rows[0])
    copy_sql = psql.SQL("COPY {} ({}) FROM STDIN").format(
        psql.Identifier(User.__tablename__), psql.SQL(", ").join(map(psql.Identifier, columns))
    )
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row([_naive_utc(row[c]) for c in columns])


def _naive_utc(value):
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
