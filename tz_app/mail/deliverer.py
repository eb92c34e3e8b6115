"""The deliverer loop: in a thread of each app process, or in ``flask mail deliver --watch``."""

import atexit
import logging
import os
import threading
from collections.abc import Callable

from flask import Flask

from .delivery import Delivery, deliver_batch

log = logging.getLogger("tz_app.mail")
BATCH = 50
STOP_WAIT = 15


class MailDeliverer:
    """Delivers due mail until stopped: at once when woken, else every ``interval`` seconds.

    In an app process (``MAIL_DELIVERY=process``) it is a daemon thread,
    started by the first request the process serves, never at import or in
    ``create_app``: gunicorn forks workers after loading the app, and a
    thread does not survive a fork. ``queue()`` wakes it once the
    transaction that queued a letter commits. Any number of deliverers, in
    any number of processes and machines, may run at once: each message is
    claimed by one of them (tz_app.mail.delivery.claim_due).
    """

    def __init__(
        self,
        app: Flask,
        *,
        interval: float | None = None,
        on_batch: Callable[[Delivery], None] | None = None,
    ):
        self.app = app
        self.interval = interval if interval is not None else app.config["MAIL_POLL_INTERVAL"]
        self.on_batch = on_batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run in a daemon thread of this process, unless one runs already or it was stopped."""
        if self._pid == os.getpid() or self._stopping.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._thread = threading.Thread(target=self.run, name="tz-mail-deliverer", daemon=True)
            self._thread.start()
            self._pid = os.getpid()
            atexit.register(self.stop)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Stop after the batch in hand, so no letter is cut off between SMTP and its record."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def run(self) -> None:
        """Deliver until ``stop()``; a full batch is followed by another at once."""
        while not self._stopping.is_set():
            self._wake.clear()
            batch = self._deliver()
            if batch is not None and self.on_batch is not None:
                self.on_batch(batch)
            if batch is not None and batch.claimed >= BATCH:
                continue
            self._wake.wait(self.interval)

    def _deliver(self) -> Delivery | None:
        try:
            with self.app.app_context():
                return deliver_batch(BATCH)
        except Exception:  # the loop outlives a database that is away
            log.exception("Mail delivery failed; trying again in %s s", self.interval)
            return None
