"""A product's webhook endpoint on loopback: verifies Standard Webhooks signatures and records what arrived."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ame_local.background import ServedInBackground

logger = logging.getLogger("ame_local.webhook_receiver")

DROP = "drop"  # a planned answer: close the connection without answering (a connection error for AME)
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Received:
    path: str
    webhook_id: str | None
    timestamp: str | None
    body: Any  # the parsed JSON body, or None when it was not JSON
    verified: bool
    error: str | None  # why the signature did not verify
    answered: int | str  # the status sent back, or DROP


def verify(secret_value: str, body: bytes, headers: Mapping[str, str]) -> str | None:
    """None when any key of `secret_value` (whitespace-separated whsec_ keys) verifies; else why not."""
    error = "no secret"
    for key in (secret_value or "").split():
        try:
            Webhook(key).verify(body, dict(headers), json_parse=False)
            return None
        except WebhookVerificationError as exc:
            error = str(exc)
    return error


class WebhookReceiver(ServedInBackground):
    """POST <path> with a Standard Webhooks signature made with the path's secret → 200 (or the planned
    answer for the event's external_reference); a bad signature → 401; an unknown path → 404.
    GET /_received lists what arrived."""

    def __init__(
        self,
        secrets: Mapping[str, str] | Callable[[str], str | None],
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
    ):
        self._secret_for: Callable[[str], str | None] = secrets.get if isinstance(secrets, Mapping) else secrets
        self.delay_seconds = delay_seconds
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._plans: dict[str, list[int | str]] = {}
        self._server = _QuietServer((host, port), _handler_for(self))

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def _thread_name(self) -> str:
        return f"ame-webhook-{self.port}"

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what tests script and read ------------------------------------------------------------
    def plan(self, external_reference: str, answers: list[int | str]) -> None:
        """Answer the next deliveries of events with this external_reference with `answers` in turn
        (a status, or DROP); after them, 200."""
        with self._lock:
            self._plans[external_reference] = list(answers)

    def received(self, webhook_id: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if webhook_id is None or r.webhook_id == webhook_id]

    def accepted(self, webhook_id: str) -> list[Received]:
        return [r for r in self.received(webhook_id) if isinstance(r.answered, int) and 200 <= r.answered < 300]

    # -- the endpoint --------------------------------------------------------------------------
    def _answer(self, path: str, headers: Mapping[str, str], raw: bytes) -> int | str:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)  # the product's own processing time (benchmarks)
        secret = self._secret_for(path)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        error = "unknown path" if secret is None else verify(secret, raw, headers)
        with self._lock:
            answer: int | str
            if secret is None:
                answer = 404
            elif error is not None:
                answer = 401
            else:
                plan = self._plans.get((body or {}).get("external_reference") or "") if isinstance(body, dict) else None
                answer = plan.pop(0) if plan else 200
            self._received.append(
                Received(
                    path,
                    headers.get("webhook-id"),
                    headers.get("webhook-timestamp"),
                    body,
                    error is None,
                    error,
                    answer,
                )
            )
        if error is not None:
            logger.warning("webhook on %s refused: %s", path, error)
        return answer

    def _listing(self) -> list[dict[str, Any]]:
        return [
            {
                "path": r.path,
                "webhook_id": r.webhook_id,
                "verified": r.verified,
                "error": r.error,
                "answered": r.answered,
                "event_type": (r.body or {}).get("event_type") if isinstance(r.body, dict) else None,
            }
            for r in self.received()
        ]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A planned DROP closes the socket under the handler; that is the point, not an error.
        logger.debug("webhook receiver connection from %s ended abruptly", client_address)


def _handler_for(receiver: WebhookReceiver) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as two writes; with Nagle on, the body waits for the client's
            # delayed ACK (~40 ms) on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            from ame_local.access_log import access_line

            logger.debug("%s", access_line(format, *args))

        def _reply(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path == "/_received":
                self._reply(200, {"received": receiver._listing()})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, {"error": "too large"})
                return
            raw = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver._answer(self.path.split("?", 1)[0], headers, raw)
            if answer == DROP:
                self.close_connection = True
                self.connection.close()
                return
            self._reply(int(answer), {"received": 200 <= int(answer) < 300})

    return Handler


def webhooks_in(areas: Any) -> list[dict[str, str]]:
    """The `webhook` objects ({"url", "secret_ref"}) of a list of area settings (the simulator's seed)."""
    found = []
    for area in areas if isinstance(areas, list) else []:
        webhook = area.get("webhook") if isinstance(area, dict) else None
        if isinstance(webhook, dict) and webhook.get("url") and webhook.get("secret_ref"):
            found.append({"url": str(webhook["url"]), "secret_ref": str(webhook["secret_ref"])})
    return found
