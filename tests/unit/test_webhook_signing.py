"""Webhook signatures verify with the `standardwebhooks` library; the sender, against a receiver on loopback,
never follows a redirect and reports every failure as a failed attempt."""

import base64
import json
import socket
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ame_local.webhook_receiver import DROP, WebhookReceiver
from chalicelib.adapters.webhooks import (
    WebhookSecretInvalid,
    WebhookSender,
    parse_secret,
    sign,
)

SECRET = "whsec_" + base64.b64encode(b"area-secret-of-credito-pj-32bytes").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some-other-area-secret-32-bytes!").decode()
BODY = json.dumps({"event_id": "evt_01J", "event_type": "ORDER_QUORUM_MET", "order_key": "01J"}).encode()


def Sender(secrets, **options) -> WebhookSender:
    """The local stack's sender: loopback over http is allowed there (and only there)."""
    return WebhookSender(secrets, allow_local=True, **options)


class Secrets:
    def __init__(self, value: str):
        self.value = value

    def get(self, secret_ref: str) -> str:
        assert secret_ref == "ame/webhooks/CREDITO_PJ"
        return self.value


def signed_headers(secret: str = SECRET, at: float | None = None, body: bytes = BODY) -> dict[str, str]:
    sender = Sender(Secrets(secret), unix_time=lambda: time.time() if at is None else at)
    return sender.headers("evt_01J", body, "ame/webhooks/CREDITO_PJ")


def test_signature_verifies_with_the_area_secret():
    assert Webhook(SECRET).verify(BODY, signed_headers())["event_id"] == "evt_01J"


def test_signature_fails_with_another_secret():
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET).verify(BODY, signed_headers())


def test_signature_fails_when_the_body_was_tampered_with():
    tampered = BODY.replace(b"ORDER_QUORUM_MET", b"ORDER_NO_QUORUM")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, signed_headers())


def test_signature_fails_when_the_timestamp_is_stale():
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, signed_headers(at=time.time() - 3600))


def test_while_a_secret_rotates_both_the_old_and_the_new_key_verify():
    headers = signed_headers(secret=f"{OTHER_SECRET} {SECRET}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(SECRET).verify(BODY, headers) and Webhook(OTHER_SECRET).verify(BODY, headers)


def test_headers_carry_the_event_id_and_the_attempt_time():
    headers = signed_headers(at=1_790_000_000.7)
    assert headers["webhook-id"] == "evt_01J" and headers["webhook-timestamp"] == "1790000000"
    key = parse_secret(SECRET)
    assert headers["webhook-signature"] == sign("evt_01J", 1_790_000_000, BODY, key)


@pytest.mark.parametrize("value", ["", "not-a-whsec", "whsec_***", "whsec_"])
def test_a_secret_that_is_not_whsec_base64_is_refused(value):
    with pytest.raises(WebhookSecretInvalid):
        parse_secret(value)


@pytest.fixture()
def product():
    with WebhookReceiver({"/hooks/ame": SECRET}) as receiver:
        yield receiver


def reference_body(reference: str) -> bytes:
    return json.dumps({"event_id": "evt_01J", "external_reference": reference}).encode()


def test_a_2xx_is_a_delivery_with_the_signed_body_as_sent(product):
    attempt = Sender(Secrets(SECRET)).send(product.base_url + "/hooks/ame", "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
    [received] = product.received()
    assert attempt.delivered and attempt.status == 200
    assert received.verified and received.webhook_id == "evt_01J" and received.body == json.loads(BODY)


def test_a_redirect_is_not_followed_and_counts_as_a_failure(product):
    product.plan("moved", [307])
    attempt = Sender(Secrets(SECRET)).send(
        product.base_url + "/hooks/ame", "ame/webhooks/CREDITO_PJ", "evt_01J", reference_body("moved")
    )
    assert (attempt.delivered, attempt.status, attempt.error) == (False, 307, "HTTP 307")
    assert len(product.received()) == 1


def test_a_500_a_dropped_connection_and_a_slow_answer_are_failed_attempts(product):
    product.plan("flaky", [500, DROP])
    sender = Sender(Secrets(SECRET), timeout=0.3)
    url = product.base_url + "/hooks/ame"
    server_error = sender.send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", reference_body("flaky"))
    dropped = sender.send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", reference_body("flaky"))
    product.delay_seconds = 1.0
    slow = sender.send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", reference_body("flaky"))
    assert (server_error.delivered, server_error.status) == (False, 500)
    assert (dropped.delivered, dropped.error) == (False, "falha de conexão")
    assert (slow.delivered, slow.error) == (False, "timeout")


def test_a_receiver_that_is_not_listening_is_a_failed_attempt():
    with WebhookReceiver({}) as gone:
        url = gone.base_url + "/hooks/ame"
    attempt = Sender(Secrets(SECRET), timeout=1).send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
    assert (attempt.delivered, attempt.error) == (False, "conexão recusada")


@pytest.mark.parametrize("url", ["ftp://product.example/x", "file:///etc/passwd", "http:///nohost", "javascript:x"])
def test_only_http_and_https_urls_are_called(url):
    attempt = Sender(Secrets(SECRET)).send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
    assert (attempt.delivered, attempt.error) == (False, "destino recusado")


class CountingProduct:
    """A bare HTTP/1.1 endpoint on loopback that answers 200 and counts connections; with
    `close_after_answer` it closes each connection after one answer, without saying so."""

    def __init__(self, close_after_answer: bool = False):
        self.close_after_answer = close_after_answer
        self.connections = 0
        self.closed = threading.Semaphore(0)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/hooks/ame"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as stream:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = stream.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                stream.read(length)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                if self.close_after_answer:
                    conn.shutdown(socket.SHUT_RDWR)
                    self.closed.release()
                    return

    def stop(self) -> None:
        self._server.close()


def test_posts_to_one_product_reuse_a_kept_alive_connection():
    product = CountingProduct()
    sender = Sender(Secrets(SECRET))
    try:
        attempts = [sender.send(product.url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY) for _ in range(3)]
    finally:
        product.stop()
    assert [a.delivered for a in attempts] == [True, True, True]
    assert product.connections == 1


def test_a_connection_the_product_closed_while_idle_is_not_reused():
    product = CountingProduct(close_after_answer=True)
    sender = Sender(Secrets(SECRET))
    try:
        first = sender.send(product.url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
        assert product.closed.acquire(timeout=5)  # the product hung up after answering
        second = sender.send(product.url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
    finally:
        product.stop()
    assert (first.delivered, second.delivered) == (True, True)
    assert product.connections == 2


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/hooks", "http://127.0.0.1:port/hooks"])
def test_a_url_with_an_impossible_port_is_refused(url):
    attempt = Sender(Secrets(SECRET)).send(url, "ame/webhooks/CREDITO_PJ", "evt_01J", BODY)
    assert (attempt.delivered, attempt.error) == (False, "destino recusado")
