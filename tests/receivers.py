"""Local receivers for notifications, started by the tests on 127.0.0.1: an SMTP server
(aiosmtpd) and an HTTP endpoint for webhooks, both keeping what they received."""

from __future__ import annotations

import contextlib
import email
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers import free_port

MAX_BODY = 1 << 20


@dataclass
class Inbox:
    address: str
    received: list = field(default_factory=list)


@contextlib.contextmanager
def smtp_server() -> Iterator[Inbox]:
    """``inbox.received``: one ``email.message.Message`` per mail; ``inbox.address`` is the
    Airflow connection URI (plain SMTP, no TLS) that reaches it."""
    from aiosmtpd.controller import Controller

    port = free_port()
    inbox = Inbox(f"smtp://127.0.0.1:{port}?disable_tls=true&disable_ssl=true"
                  "&from_email=stylecast%40example.org&retry_limit=0&timeout=10")

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content)
            message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
            inbox.received.append(message)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@contextlib.contextmanager
def webhook_server() -> Iterator[Inbox]:
    """``inbox.received``: the JSON body of each POST; ``inbox.address``: its URL."""
    port = free_port()
    inbox = Inbox(f"http://127.0.0.1:{port}/hooks/stylecast")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = min(int(self.headers.get("Content-Length", 0)), MAX_BODY)
            inbox.received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()


def mail_text(message) -> str:
    """A mail's body as text, whatever its MIME structure."""
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(p.get_payload(decode=True).decode() for p in parts
                   if p.get_content_maintype() == "text")


def notify_env(smtp: Inbox, webhook: Inbox) -> dict[str, str]:
    return {"AIRFLOW_CONN_SMTP_DEFAULT": smtp.address,
            "STYLECAST_NOTIFY_EMAIL": "analyst@example.org",
            "STYLECAST_NOTIFY_WEBHOOK": webhook.address}
