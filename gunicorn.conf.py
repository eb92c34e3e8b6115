"""Gunicorn settings for tz_app: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Threads let a worker keep serving pages while another request spends ~300 ms
# in bcrypt at cost 12 (bcrypt releases the GIL while it hashes). Measured by
# `python -m bench.workers`: page views took 30 ms (median) beside sign-ins
# with gthread workers, 297 ms with sync workers.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Room for long search queries in the URL, still far below abuse.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
