"""Real servers for end-to-end tests: gunicorn on 127.0.0.1, stopped by PID."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from databases import TEST_OUTBOX
from flask_migrate import upgrade

from tz_app.extensions import db
from tz_app.seed import seed_demo_users, seed_rules

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(database_url: str, demo: bool = True) -> None:
    """Migrate and seed ``database_url`` (demo users included) at bcrypt cost 4."""
    from databases import make_test_app

    app = make_test_app(database_url)
    with app.app_context():
        upgrade()
        seed_rules()
        if demo:
            seed_demo_users()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


class GunicornServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` on a free local port."""

    def __init__(self, database_url: str, workers: int = 2, threads: int = 2, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tz_app-gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "end-to-end-secret",
            "APP_ENV": "development",
            "BCRYPT_ROUNDS": "4",
            "MAIL_OUTBOX": TEST_OUTBOX,
            **env,
        }
        self.args = [
            str(GUNICORN),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--no-control-socket",
            "wsgi:app",
        ]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "GunicornServer":
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early: {self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout}s: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
