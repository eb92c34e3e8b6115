"""Gunicorn settings for tz_app: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os
import selectors
import socket
import time
from concurrent import futures
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

HEALTH_CHECKS = (b"GET /healthz ", b"GET /healthz?")
PEEK = len(HEALTH_CHECKS[0])


class HealthCheckFirstWorker(ThreadWorker):
    """gthread, with /healthz served on threads of its own.

    Stock gthread queues every request for the same ``threads`` threads: while
    they all wait on the database (a lock, a database that stopped answering),
    a load balancer's health check waits behind them and the instance is taken
    out of service for being busy. Here the main thread peeks at each request
    line before queueing it, and health checks go to a pool of their own;
    /healthz then bounds its own wait (tz_app/health.py). A connection that
    has sent nothing yet waits on the poller, not on a thread.
    """

    def init_process(self):
        self.health_pool = futures.ThreadPoolExecutor(2, thread_name_prefix="healthz")
        super().init_process()

    def run(self):
        try:
            super().run()
        finally:
            self.health_pool.shutdown(wait=False)

    def enqueue_req(self, conn):
        head = self._next_request_head(conn)
        if head is None:
            conn.timeout = time.monotonic() + self.cfg.keepalive
            self.pending_conns.append(conn)
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
            )
            return
        pool = self.health_pool if head in HEALTH_CHECKS else self.tpool
        future = pool.submit(self.handle, conn)
        future.add_done_callback(
            lambda done: self.method_queue.defer(self.finish_request, conn, done)
        )

    @staticmethod
    def _next_request_head(conn) -> bytes | None:
        """The first bytes of the next request, left in place; None if none arrived yet."""
        unreader = getattr(conn.parser, "unreader", None)
        if unreader is not None and unreader.buf.getvalue():
            return unreader.buf.getvalue()[:PEEK]
        try:
            return conn.sock.recv(PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except (OSError, ValueError):
            return b""  # closed, or TLS (no peeking): the ordinary path deals with it


bind = os.environ.get("BIND", "127.0.0.1:8000")
# Threads let a worker keep serving pages while another request spends ~300 ms
# in bcrypt at cost 12 (bcrypt releases the GIL while it hashes). Measured by
# `python -m bench.workers`: page views took 30 ms (median) beside sign-ins
# with gthread workers, 297 ms with sync workers.
worker_class = HealthCheckFirstWorker
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Each worker listens on a socket of its own and the kernel spreads new
# connections over them. With one shared socket, whichever worker wakes first
# takes the connection, busy or not, and keep-alive clients pile up on one or
# two workers. Measured by `python -m bench.keepalive`.
reuse_port = True
# Room for long search queries in the URL, still far below abuse.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
