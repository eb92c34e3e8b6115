"""One line per event on stdout, each tagged with the request's id."""

import logging
import re
import sys
import uuid

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class OneLineFormatter(logging.Formatter):
    """Folds tracebacks and multi-line messages into one line, so each event is one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when the event happens."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging(app: Flask) -> None:
    """Send the ``tz_app`` loggers to stdout, once per process."""
    logger = logging.getLogger("tz_app")
    logger.removeHandler(default_handler)
    if not any(isinstance(h.formatter, OneLineFormatter) for h in logger.handlers):
        handler = StdoutHandler()
        handler.setFormatter(OneLineFormatter(FORMAT))
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG if app.debug else logging.INFO)


def assign_request_id() -> None:
    """Take a sane X-Request-ID from the proxy, or make one."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _SAFE_ID.match(sent) else uuid.uuid4().hex


def echo_request_id(response):
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response
