"""bench/results.md from what bench.run measured: the tables, then each target met or missed."""

import os
import platform
import re
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")

# The targets the figures are held to.
TARGET_AT_FIRST_SIZE = 1.0  # tz_app / baseline, page 1, at the smaller size
TARGET_AT_LAST_SIZE = 2.0  # the same at the larger size
TARGET_SEARCH_SHARE = 0.5  # a search's rate / page 1's rate, at the larger size


def render(
    rows, page_one, sizes, searches, can_rate, casbin_rate, login_ms, bcrypt_ms, identity, sign_ins
):
    """The report as Markdown.

    ``rows`` holds (database, users, seconds to insert them, figures) per
    database and size; ``searches`` the (label, query) pairs measured;
    ``sign_ins`` what bench.sign_in.measure found, per database.
    """
    lines = [
        f"Measured on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. "
        "Requests go through the whole WSGI stack in one process (Flask's test client), "
        "every figure of one database and size measured round by round in turn; figures "
        "are medians. The baseline (bench/baseline.py) is Flask-Login with its template "
        "loaded from a file, compiled once; the column after the ratio is the same "
        "baseline with the template compiled on every request (render_template_string), "
        "as it was measured before. tz_app's page carries more than the baseline's "
        "(navigation gated by can(), a language switch, translated labels, inline-edit "
        "markup, CSRF): see the bytes columns. `/profile/` is a signed-in page of tz_app "
        "with no list: what every page costs before its own content.",
        "",
        "Page 1 of `/home/`, signed in as admin:",
        "",
        "| database | users | tz_app req/s | SQL/request | page bytes | baseline req/s "
        "| SQL/request | page bytes | tz_app / baseline | baseline compiling per request "
        "req/s | tz_app `/profile/` req/s | page 4000 req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, size, _took, r in rows:
        lines.append(
            f"| {kind} | {size:,} | {r['tz']:.0f} | {r['tz_sql']} | {r['tz_bytes']:,} | "
            f"{r['base']:.0f} | {r['base_sql']} | {r['base_bytes']:,} | "
            f"**{r['tz'] / r['base']:.2f}** | {r['inline']:.0f} | {r['profile']:.0f} | "
            f"{r['deep']:.0f} |"
        )
    lines += [
        "",
        "Searches (`/home/?q=`): requests per second, SQL statements per request, and the "
        "rate as a share of page 1's in the same rounds:",
        "",
        "| database | users | page 1 req/s | "
        + " | ".join(f"{label} “{query}”" for label, query in searches)
        + " |",
        "| --- | ---: | ---: |" + " ---: |" * len(searches),
    ]
    for kind, size, _took, r in rows:
        cells = [
            f"{r[label]:.0f} ({r[label + ' sql']}) **{r[label] / r['tz']:.2f}**"
            for label, _query in searches
        ]
        lines.append(f"| {kind} | {size:,} | {r['tz']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Against the targets:", ""]
    lines += targets(rows, sizes, searches)
    lines += ["", "Other figures:", ""]
    for kind in dict.fromkeys(k for k, *_ in rows):
        if (kind, sizes[0]) in page_one and (kind, sizes[-1]) in page_one:
            ratio = page_one[(kind, sizes[-1])] / page_one[(kind, sizes[0])]
            lines.append(
                f"- {kind}: page 1 at {sizes[-1]:,} users runs at **{ratio:.2f}** of its rate "
                f"at {sizes[0]:,}."
            )
    for kind, size, took, _ in rows:
        if size == sizes[-1]:
            lines.append(f"- {kind}: `seed --fake-users` inserted {size:,} users in {took:.1f} s.")
    for kind, (before, after) in identity.items():
        lines.append(
            f"- {kind}: a signed-in page (`/profile/`) with 1,000,000 more rows in `sessions` "
            f"runs at **{after / before:.2f}** of its rate before "
            f"({before:.0f} → {after:.0f} req/s)."
        )
    lines += [
        f"- `can()`: {can_rate:,.0f} calls/s; pycasbin enforce(): {casbin_rate:,.0f} calls/s; "
        f"ratio **{can_rate / casbin_rate:.0f}**.",
        f"- Sign-in at bcrypt cost 12: {login_ms:.0f} ms, of which bcrypt {bcrypt_ms:.0f} ms "
        f"and everything else {login_ms - bcrypt_ms:.1f} ms.",
    ]
    for kind, (rate, checks, ratio, processes) in sign_ins.items():
        lines.append(
            f"- {kind}: sign-ins at bcrypt cost 12 (`POST /login/` with its CSRF token, a real "
            f"account, through the WSGI stack; {processes} processes, one per CPU, signing in "
            f"at once): **{rate:.2f}** per second per core; `bcrypt.checkpw` at cost 12 in the "
            f"same rounds: {checks:.2f} per second per core; sign-ins run at **{ratio:.2f}** of "
            "that floor. The hash is checked outside any transaction "
            "(`tests/test_hardening.py::test_no_transaction_stays_open_while_bcrypt_works`)."
        )
    lines.append("")
    return "\n".join(lines)


def verdict(value: float, target: float) -> str:
    return f"**{value:.2f}** {'met' if value >= target else 'missed'}"


def targets(rows, sizes, searches) -> list[str]:
    """One line per target: each database's figure, and whether it meets the target."""
    by_size = {size: [(kind, r) for kind, s, _took, r in rows if s == size] for size in sizes}
    lines = []
    for size, target in ((sizes[0], TARGET_AT_FIRST_SIZE), (sizes[-1], TARGET_AT_LAST_SIZE)):
        figures = "; ".join(
            f"{kind} {verdict(r['tz'] / r['base'], target)}" for kind, r in by_size[size]
        )
        lines.append(
            f"- Page 1, tz_app / baseline at {size:,} users (target ≥ {target:g}): {figures}."
        )
    for kind, r in by_size[sizes[-1]]:
        figures = "; ".join(
            f"{label} {verdict(r[label] / r['tz'], TARGET_SEARCH_SHARE)}"
            for label, _query in searches
        )
        lines.append(
            f"- {kind}: searches at {sizes[-1]:,} users against page 1 "
            f"(target ≥ {TARGET_SEARCH_SHARE:g}): {figures}."
        )
    return lines


def write_section(heading: str, lines: list[str]) -> None:
    """Put ``lines`` under ``### heading`` in bench/results.md, replacing an earlier run's.

    ``make bench`` writes the page figures first (bench.run), then each later
    script adds its own section, so one run leaves every figure in one file.
    """
    text = RESULTS.read_text() if RESULTS.exists() else ""
    block = f"### {heading}\n\n" + "\n".join(lines).rstrip() + "\n"
    pattern = re.compile(rf"^### {re.escape(heading)}\n.*?(?=^### |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.write_text(text)
