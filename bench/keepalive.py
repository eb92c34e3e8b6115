"""Keep-alive clients straight at gunicorn: does each worker get its share?

Starts gunicorn on one PostgreSQL database (SQLite when PostgreSQL does not
answer) twice: first with one listening socket shared by every worker (how
gunicorn listens unless told otherwise), then with ``gunicorn.conf.py`` as it
is. Each time 50 clients hold one keep-alive connection each and load /home/
signed in, back to back. Prints how many connections each worker holds and
every client's median and 95th-percentile latency. ``python -m bench.keepalive``.
"""

import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from databases import PostgresDatabase, _pg_available
from faults import connections_per_worker
from http_client import Browser
from servers import ROOT, GunicornServer, prepare_database

from bench.report import write_section

CLIENTS = 50
WORKERS = 4
THREADS = 4
SECONDS = 10
SHARED_SOCKET = "reuse_port = False\n"


def client_loop(server, cookie: str, stop: float, latencies: list, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Cookie": f"custom_sessionid={cookie}"}
    while time.monotonic() < stop:
        started = time.perf_counter()
        conn.request("GET", "/home/", headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(response.status)
    conn.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(url: str, label: str, config: Path) -> list[str]:
    """Serve ``CLIENTS`` keep-alive clients for a while; the report's lines, also printed."""
    server = GunicornServer(url, workers=WORKERS, threads=THREADS)
    server.args[server.args.index("-c") + 1] = str(config)
    with server:
        browser = Browser()
        browser.login(server.url, "user@test.com", "user123")
        cookie = browser.cookie()
        stop = time.monotonic() + SECONDS
        results: list[list[float]] = [[] for _ in range(CLIENTS)]
        errors: list[int] = []
        clients = [
            threading.Thread(target=client_loop, args=(server, cookie, stop, results[i], errors))
            for i in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        time.sleep(SECONDS / 2)
        spread = connections_per_worker(server.process.pid, server.port)
        for client in clients:
            client.join()
    rows = sorted(
        (statistics.median(r) * 1000, percentile(r, 0.95) * 1000, len(r)) for r in results if r
    )
    medians = [row[0] for row in rows]
    cells = [f"{p50:.0f}/{p95:.0f}" for p50, p95, _ in rows]
    lines = [
        f"**{label}**: {WORKERS} workers x {THREADS} threads, {CLIENTS} keep-alive clients",
        f"- connections per worker: {' / '.join(map(str, spread))}",
        f"- client p50: lowest {medians[0]:.0f} ms, median {statistics.median(medians):.0f} ms, "
        f"highest {medians[-1]:.0f} ms; pages served: {sum(row[2] for row in rows)}, "
        f"of which not 200: {len(errors)}",
        f"- every client, p50/p95 ms (sorted): {' '.join(cells)}",
        "",
    ]
    print("\n" + "\n".join(lines))
    return lines


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        database = None
        if _pg_available() is None:
            database = PostgresDatabase()
            url = database.url
        else:
            url = f"sqlite:///{workdir}/keepalive.sqlite3"
        try:
            prepare_database(url)
            shared = Path(workdir) / "shared-socket.conf.py"
            shared.write_text((ROOT / "gunicorn.conf.py").read_text() + SHARED_SOCKET)
            lines = run(url, "one shared listening socket", shared)
            lines += run(url, "gunicorn.conf.py (reuse_port)", ROOT / "gunicorn.conf.py")
            write_section("Keep-alive clients across workers (bench/keepalive.py)", lines)
        finally:
            if database is not None:
                database.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
