"""Sync or gthread workers? Page views while sign-ins hash at bcrypt cost 12.

Starts gunicorn twice on one SQLite database (2 sync workers; then 2 gthread
workers with 4 threads each), keeps 4 clients signing in back to back while 4
others load /profile/, and prints the page views' median and 95th percentile
latency and how many each worker class served. ``python -m bench.workers``.
"""

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from http_client import Browser
from servers import GunicornServer, prepare_database

from bench.report import write_section

SECONDS = 8


def run(url: str, worker_class: str, threads: int) -> tuple[float, float, int]:
    server = GunicornServer(url, workers=2, threads=threads, BCRYPT_ROUNDS="12")
    server.args += ["--worker-class", worker_class]
    with server:
        viewer = Browser()
        viewer.login(server.url, "user@test.com", "user123")
        stop = time.monotonic() + SECONDS
        latencies: list[float] = []

        def sign_in_loop():
            while time.monotonic() < stop:
                Browser().login(server.url, "manager@test.com", "manager123")

        def view_loop():
            while time.monotonic() < stop:
                started = time.perf_counter()
                viewer.get(server.url + "/profile/")
                latencies.append(time.perf_counter() - started)

        workers = [threading.Thread(target=sign_in_loop) for _ in range(4)]
        workers += [threading.Thread(target=view_loop) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    ordered = sorted(latencies)
    return (
        statistics.median(ordered) * 1000,
        ordered[int(len(ordered) * 0.95)] * 1000,
        len(ordered),
    )


def main() -> int:
    lines = []
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/workers.sqlite3"
        prepare_database(url)
        for worker_class, threads in (("sync", 1), ("gthread", 4)):
            median, p95, served = run(url, worker_class, threads)
            line = (
                f"{worker_class} 2 workers x {threads} threads: page view median "
                f"{median:.0f} ms, p95 {p95:.0f} ms, {served} page views in {SECONDS} s "
                "while 4 clients sign in"
            )
            print(line)
            lines.append(f"- {line}")
    write_section("Worker classes: page views beside sign-ins (bench/workers.py)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
