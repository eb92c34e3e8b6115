"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, collecting what it receives."""

import email
import email.policy
import threading
import time
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller
from servers import free_port


@dataclass
class Received:
    """One message as the server got it: the envelope's recipients and the parsed MIME."""

    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    def body(self, subtype: str) -> str:
        """The ``text/<subtype>`` part, decoded."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None and part.get_content_subtype() == subtype, self.message
        return part.get_content()


class _Collector:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_DATA(self, _server, _session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


class SmtpServer:
    """An SMTP server on a free local port that can be stopped and started again on it."""

    def __init__(self):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> "SmtpServer":
        self._controller = Controller(
            _Collector(self), hostname=self.host, port=self.port, ready_timeout=15
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def config(self) -> dict:
        """The app settings that send mail here."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5}

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """What arrived once at least ``count`` messages have; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.lock:
            assert len(self.received) >= count, f"{len(self.received)} of {count} arrived"
            return list(self.received)


@pytest.fixture
def smtp_server():
    """A running SMTP server, stopped after the test whatever happened."""
    server = SmtpServer().start()
    yield server
    server.stop()
